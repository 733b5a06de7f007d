"""The style every figure of the book shares: set by a notebook of the book, never by importing a figure module.

Each chapter's figures (``lrc_utils.book.chapters.<name>.figures``) draw from the study's tidy tables and compute
nothing new. Sizes are chosen for the book's text column (at most 7.5 inches wide, fonts of at least 8 pt); curves
over seeds are seaborn's ``lineplot`` with the mean and a band (one standard deviation, or the range over seeds
where there are only a few); legends sit outside the axes, never on the data. The theme (:data:`THEME`) is set
by :func:`apply_theme`, which a notebook's :func:`~lrc_utils.book.notebook.start` calls: importing this module or a
chapter's figures changes none of the user's matplotlib settings.
"""

from __future__ import annotations

import seaborn as sns
from matplotlib import transforms

#: seaborn's theme of the book's figures (the arguments of ``seaborn.set_theme``).
THEME = {"context": "paper", "style": "ticks", "font_scale": 1.0, "palette": "deep",
         "rc": {"axes.grid": True, "grid.alpha": 0.3}}


def apply_theme() -> None:
    """Set the book's theme globally (``seaborn.set_theme(**THEME)``). :func:`lrc_utils.book.notebook.start` calls
    it, so a notebook of the book draws in it; importing or calling a figure function changes no global setting."""
    sns.set_theme(**THEME)


#: The band of a seed-aggregated VIB curve: the range over seeds (there are 2 or 3).
SEED_RANGE = ("pi", 100)
CONVENTIONS = {"local_rank_abs": ("tab:blue", "o", "absolute"), "local_rank_rel": ("tab:red", "s", "relative")}
#: How the VIB bottleneck's measures beside the two conventions are drawn (column: colour, marker, line style).
BESIDE_STYLES = {"local_rank_noise": ("tab:green", "D", "-"), "effective_rank": ("tab:purple", "v", "--")}


def seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def legend_below(ax, handles=None, labels=None, ncol: int = 2, offset: float = -0.22, below_pt: float | None = None,
                 **kwargs):
    """A legend centred under ``ax`` (outside the data): its top ``offset`` axes heights below the axes' top edge,
    or, with ``below_pt``, that many points below the axes' bottom edge whatever the axes' height (which a
    ``tight_layout`` that makes room for tall legends changes, moving an axes-fraction offset onto the x label)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if below_pt is None:
        return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, offset), ncol=ncol, frameon=False,
                         **kwargs)
    shift = transforms.ScaledTranslation(0, -below_pt / 72, ax.figure.dpi_scale_trans)
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                     bbox_transform=ax.transAxes + shift, ncol=ncol, frameon=False, **kwargs)


def legend_right(ax, **kwargs):
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, **kwargs)


#: The book's text column at a 1280 px window, in CSS pixels (measured by the browser test, tests/browser.py).
COLUMN_PX = 740
#: The smallest text a figure may show, in points as the reader sees it.
MIN_TEXT_PT = 8.0


def smallest_text(fig, column_px: int = COLUMN_PX) -> tuple[float, str]:
    """The smallest visible text of ``fig`` in points as shown in the book (``pt``, its text), the figure being
    displayed at ``fig.dpi`` CSS pixels per inch (the inline backend's retina PNG), shrunk to ``column_px`` where
    its tight bounding box is wider; a CSS pixel is 0.75 pt. Texts of axes drawn without axis (``axis("off")``)
    and empty or invisible texts are not counted. ``(inf, "")`` for a figure without text."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    width_px = fig.get_tightbbox(renderer).width * fig.dpi  # the tight box is in inches
    scale = fig.dpi / 72 * 0.75 * min(1.0, column_px / width_px)  # shown pt per figure pt
    hidden = {id(t) for ax in fig.axes if not ax.axison for axis in (ax.xaxis, ax.yaxis) for t in axis.findobj(Text)}
    sizes = [(t.get_fontsize() * scale, t.get_text()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and id(t) not in hidden
             and (t.axes is None or t.axes.get_visible())]
    return min(sizes, default=(float("inf"), ""), key=lambda s: s[0])


def require_readable_text(fig, name: str, column_px: int = COLUMN_PX) -> None:
    """Stop (``ValueError`` naming the text) where ``fig``'s smallest text (:func:`smallest_text`) would show
    below :data:`MIN_TEXT_PT` in the book's column."""
    size, text = smallest_text(fig, column_px)
    if size < MIN_TEXT_PT:
        raise ValueError(f"figure {name}: the text {text!r} would show at {size:.1f} pt in the book's column; its "
                         f"figures keep text at {MIN_TEXT_PT:g} pt or more (lrc_utils.book.style)")
