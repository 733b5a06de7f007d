"""The introduction's summary figure: the paper's three figure claims as the book reproduces them, one panel each
(Figure 1's MNIST network, Figure 2, Figure 3 on MNIST and on Fashion-MNIST), each titled with its verdict from the
claims table. Drawn from the committed tables of a preset by ``python -m lrc_utils.book.claims``, which writes it
to ``book/_static/claims_summary.png`` beside the claims pages; it computes nothing new."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns

from .chapters.vib.figures import rank_and_accuracy
from .paths import REPO_ROOT
from .readings import first_step_at_accuracy
from .store import atomic_write, read_stored_table
from .style import THEME, require_readable_text, seeds

#: Where the claims command writes the figure (the introduction shows it).
FIGURE = REPO_ROOT / "book" / "_static" / "claims_summary.png"


def _verdict(claims: pd.DataFrame, chapter: str, recipe: str = "") -> str:
    """The verdict's words (before its colon) of ``chapter``'s row of the claims table (the row whose claim ends
    with ``(recipe)`` where several rows share the chapter)."""
    rows = claims[claims.chapter == chapter]
    if recipe:
        rows = rows[rows.claim.str.endswith(f"({recipe})")]
    return rows.verdict.iloc[0].partition(":")[0]


def summary_figure(results_dir: Path, claims: pd.DataFrame):
    """Four panels: (a) Figure 1's MNIST network, seed-mean local rank per hidden layer against the step, dotted at
    99% training accuracy; (b) Figure 2 (Gaussian data) and (c, d) Figure 3 (MNIST, Fashion-MNIST): the
    bottleneck's local rank under both tolerances and the test accuracy against beta. Each title gives the
    paper's claim and the claims table's verdict (``claims``, :func:`lrc_utils.book.claims.claims_table`)."""
    import matplotlib.pyplot as plt

    local_rank, info1 = read_stored_table(results_dir / "figure1", "local_rank")
    figure2, info2 = read_stored_table(results_dir / "figure2", "vib_sweep")
    figure3, info3 = read_stored_table(results_dir / "figure3", "vib_sweep")
    fig, axes = plt.subplots(2, 2, figsize=(7.5, 7.4))
    ours = _verdict(claims, "figure1", "our recipe") if claims.claim.str.endswith("(our recipe)").any() \
        else _verdict(claims, "figure1")
    author = (f"; the first author's recipe: {_verdict(claims, 'figure1', 'the first author' + chr(39) + 's recipe')}"
              if claims.claim.str.endswith("(the first author's recipe)").any() else "")

    ax = axes[0, 0]
    mnist = local_rank[local_rank.panel == "mnist"]
    sns.lineplot(data=mnist, x="step", y="local_rank", hue="layer", palette="viridis", errorbar=None, ax=ax)
    ax.axvline(first_step_at_accuracy(mnist, 0.99), color="k", ls=":", lw=1, label="99% train acc.")
    ax.set(xscale="log", xlabel="training step", ylabel=f"local rank (atol = {info1['parameters']['atol']:g})",
           ylim=(0, None))
    ax.legend(title="layer", fontsize=8, title_fontsize=8, loc="lower left", ncol=2)
    _title(ax, "(a) Figure 1, MNIST: rank falls in the terminal phase",
           f"our recipe: {ours}{author} ({seeds(mnist.seed.nunique())})")

    p2 = info2["parameters"]
    rank_and_accuracy(axes[0, 1], figure2, p2["atol"], p2["rtol"], chance=1 / 2 ** len(p2["separations"]),
                      beside=False)
    _title(axes[0, 1], "(b) Figure 2, Gaussian data: rank rises with β",
           f"{_verdict(claims, 'figure2')} under atol ({seeds(figure2.seed.nunique())})")
    p3 = info3["parameters"]
    for ax, (dataset, label) in zip(axes[1], [("mnist", "MNIST"), ("fashion_mnist", "Fashion-MNIST")]):
        part = figure3[figure3.dataset == dataset]
        rank_and_accuracy(ax, part, p3["atol"], p3["rtol"], chance=0.1, beside=False)
        _title(ax, f"({'c' if dataset == 'mnist' else 'd'}) Figure 3, {label}: rank rises, accuracy falls",
               f"{_verdict(claims, 'figure3')} (both data sets) under atol ({seeds(part.seed.nunique())})")
    for ax in (axes[0, 1], axes[1, 1]):  # one legend for the three VIB panels, under (c)
        ax.get_legend().remove()
    fig.tight_layout()
    return fig


def _title(ax, claim: str, verdict: str) -> None:
    """The claim and its verdict over a panel, each wrapped to the panel's width (56 characters at 8.5 pt)."""
    ax.set_title("\n".join(textwrap.wrap(claim, 56) + textwrap.wrap(verdict, 56)), fontsize=8.5, loc="left")


def write_summary_figure(results_dir: Path, claims: pd.DataFrame, path: Path = FIGURE) -> Path:
    """Draw :func:`summary_figure` in the book's theme (:data:`lrc_utils.book.style.THEME`, from matplotlib's
    defaults, so that nothing set before changes a byte; restored after) and write it as a PNG at 200 dpi (a fixed
    file: no date in its metadata); text that would show below 8 pt in the book's column stops it."""
    backend = matplotlib.get_backend()
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        with matplotlib.rc_context():  # the book's theme from matplotlib's defaults, whatever was set before
            matplotlib.rcdefaults()
            sns.set_theme(**THEME)
            fig = summary_figure(Path(results_dir), claims)
            require_readable_text(fig, "claims_summary")  # shown at the column's width, as save_figure's are
            atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=200, bbox_inches="tight",
                                                       metadata={"Software": None}))
            plt.close(fig)
    finally:
        matplotlib.use(backend)
    return path
