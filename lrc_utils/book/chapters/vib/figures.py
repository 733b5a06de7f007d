"""Figures 2 and 3 (Deep VIB): the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...style import BESIDE_STYLES, CONVENTIONS, SEED_RANGE, legend_below, legend_right
from .readings import beside_measures


def rank_and_accuracy(ax, sweep: pd.DataFrame, atol: float, rtol: float, chance: float | None = None,
                      beside: bool = True) -> None:
    """Local rank of the bottleneck under both conventions and, with ``beside`` where the table has them, the
    measures reported beside them (:func:`lrc_utils.book.chapters.vib.readings.beside_measures`; left axis), and
    test accuracy (right axis) against beta: mean over seeds, band = range over seeds; legend under the axes."""
    tolerances = {"local_rank_abs": f"atol = {atol:g}", "local_rank_rel": f"rtol = {rtol:g}"}
    for column, (colour, marker, name) in CONVENTIONS.items():
        sns.lineplot(data=sweep, x="beta", y=column, errorbar=SEED_RANGE, color=colour, marker=marker,
                     markersize=4, ax=ax, label=f"local rank, {name} ({tolerances[column]})")
    for column, name in (beside_measures(sweep) if beside else {}).items():
        colour, marker, style = BESIDE_STYLES[column]
        sns.lineplot(data=sweep, x="beta", y=column, errorbar=SEED_RANGE, color=colour, marker=marker,
                     markersize=3.5, linestyle=style, lw=1.2, ax=ax, label=name)
    ax.set(xscale="log", xlabel=r"$\beta$", ylabel="rank of the bottleneck mean")
    ax.set_ylim(bottom=0)
    acc_axis = ax.twinx()
    sns.lineplot(data=sweep, x="beta", y="test_acc", errorbar=SEED_RANGE, color="0.35", marker="^", markersize=4,
                 ax=acc_axis, label="test accuracy")
    if chance is not None:
        acc_axis.axhline(chance, color="0.35", ls=":", lw=1)
    acc_axis.set(ylim=(0, 1.02), ylabel="test accuracy (dotted: chance)")
    acc_axis.get_legend().remove()
    handles = ax.get_legend_handles_labels()[0] + acc_axis.get_legend_handles_labels()[0]
    height = ax.get_position().height * ax.figure.get_figheight()  # inches: the legend sits 0.6 in under the axes
    legend_below(ax, handles, [h.get_label() for h in handles], ncol=1 if len(handles) <= 3 else 2,
                 offset=-0.6 / height, fontsize=8)


def kl_coloured_by_rank(ax, sweep: pd.DataFrame, column: str, vmax: float, title: str):
    """The KL term (nats) against beta, one point per run, coloured by the local rank in ``column``."""
    points = ax.scatter(sweep.beta, sweep.kl, c=sweep[column], cmap="viridis", vmin=0, vmax=vmax, s=18,
                        edgecolors="k", linewidths=0.3)
    ax.set(xscale="log", xlabel=r"$\beta$", ylabel="KL term (nats)", title=title)
    return points


def vib_tolerances(tolerance: pd.DataFrame, spectrum: pd.DataFrame, atol: float, titles: dict[str, str]):
    """Per dataset (columns): seed-mean local rank against beta at every absolute (row 1) and relative (row 2)
    tolerance, and the mean singular values of the bottleneck Jacobian against beta (row 3)."""
    datasets = list(dict.fromkeys(tolerance.dataset))
    fig, axes = plt.subplots(3, len(datasets), figsize=(3.2 * len(datasets) + 0.9, 9.0), squeeze=False)
    for col, name in enumerate(datasets):
        for ax, convention in zip(axes[:2, col], ["absolute", "relative"]):
            part = tolerance[(tolerance.dataset == name) & (tolerance.convention == convention)]
            sns.lineplot(data=part, x="beta", y="local_rank", hue="tolerance", errorbar=None, marker=".", ax=ax,
                         palette="viridis" if convention == "absolute" else "plasma", hue_norm=log_norm(part),
                         legend="full" if col == len(datasets) - 1 else False)
            ax.set(xscale="log", xlabel=r"$\beta$", ylabel="local rank", title=f"{titles[name]}: {convention} tol.")
            ax.set_ylim(bottom=0)
            if col == len(datasets) - 1:
                legend_right(ax, title="atol" if convention == "absolute" else "rtol", fontsize=8, title_fontsize=8)
        ax = axes[2, col]
        means = spectrum[spectrum.dataset == name].groupby(["index", "beta"]).singular_value.mean().unstack("index")
        colours = sns.color_palette("viridis", len(means.columns))
        for j, index in enumerate(means.columns):
            ax.plot(means.index, means[index], color=colours[j], lw=1,
                    label=f"$\\sigma_{{{index}}}$" if j in (0, len(means.columns) - 1) else None)
        ax.axhline(atol, color="k", ls="--", lw=1, label=f"atol = {atol:g}")
        ax.set(xscale="log", yscale="log", xlabel=r"$\beta$", ylabel="mean singular value",
               title=f"{titles[name]}:\nbottleneck spectrum")
        if col == len(datasets) - 1:
            legend_right(ax, fontsize=8)
    return fig


def log_norm(part: pd.DataFrame):
    from matplotlib.colors import LogNorm

    return LogNorm(part.tolerance.min(), part.tolerance.max())
