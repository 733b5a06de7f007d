"""The style every figure of the book shares, applied per figure, never to the user's matplotlib settings.

Each chapter's figures (``lrc_utils.book.chapters.<name>.figures``) draw from the study's tidy tables and compute
nothing new. Sizes are chosen for the book's text column (at most 7.5 inches wide, fonts of at least 8 pt); curves
over seeds are seaborn's ``lineplot`` with the mean and a band (one standard deviation, or the range over seeds
where there are only a few); legends sit outside the axes, never on the data. A figure function decorated with
:func:`styled` draws under the book's seaborn theme inside :func:`matplotlib.pyplot.rc_context`, so importing
or calling it leaves the caller's global settings as they were.
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib import cycler

#: seaborn's theme of the book's figures (the arguments of ``seaborn.set_theme``).
THEME = {"context": "paper", "style": "ticks", "font_scale": 1.0, "palette": "deep",
         "rc": {"axes.grid": True, "grid.alpha": 0.3}}


def theme_rc() -> dict:
    """The matplotlib rc values ``seaborn.set_theme(**THEME)`` would set globally."""
    return {**sns.axes_style(THEME["style"]), **sns.plotting_context(THEME["context"], THEME["font_scale"]),
            "axes.prop_cycle": cycler(color=sns.color_palette(THEME["palette"])), **THEME["rc"]}


def styled(draw):
    """Run the figure function ``draw`` under the book's theme, restoring the caller's rc values after."""
    @functools.wraps(draw)
    def in_theme(*args, **kwargs):
        with plt.rc_context(theme_rc()):
            return draw(*args, **kwargs)
    return in_theme


#: The band of a seed-aggregated VIB curve: the range over seeds (there are 2 or 3).
SEED_RANGE = ("pi", 100)
CONVENTIONS = {"local_rank_abs": ("tab:blue", "o", "absolute"), "local_rank_rel": ("tab:red", "s", "relative")}


def seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def legend_below(ax, handles=None, labels=None, ncol: int = 2, offset: float = -0.22, **kwargs):
    """A legend centred under ``ax`` (outside the data)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, offset), ncol=ncol, frameon=False,
                     **kwargs)


def legend_right(ax, **kwargs):
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, **kwargs)
