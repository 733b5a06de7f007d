"""Matplotlib panels shared by the VIB notebooks (Figures 2 and 3). Each function draws on the axes it
is given from a tidy table of :func:`lrc_utils.vib_sweep.beta_sweep`, and computes nothing new."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

#: How each local-rank convention is drawn, and its legend label.
CONVENTIONS = {"local_rank_abs": ("tab:blue", "o", "absolute tol."),
               "local_rank_rel": ("tab:red", "s", "relative tol.")}


def mean_band(ax, sweep: pd.DataFrame, column: str, color: str, marker: str, label: str) -> None:
    """Seed-mean of ``column`` against beta (log axis), with a band from the lowest to the highest seed."""
    stats = sweep.groupby("beta")[column].agg(["mean", "min", "max"]).sort_index()
    ax.plot(stats.index, stats["mean"], marker=marker, ms=3.5, color=color, label=label)
    ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.2, lw=0)
    ax.set_xscale("log")


def rank_and_accuracy(ax, sweep: pd.DataFrame, atol: float, rtol: float, chance: float | None = None) -> None:
    """Local rank of the bottleneck under both conventions (left axis) and test accuracy (right axis)
    against beta."""
    tolerances = {"local_rank_abs": f"atol = {atol:g}", "local_rank_rel": f"rtol = {rtol:g}"}
    for column, (color, marker, label) in CONVENTIONS.items():
        mean_band(ax, sweep, column, color, marker, f"local rank, {label} ({tolerances[column]})")
    ax.set(xlabel=r"$\beta$", ylabel="local rank of the bottleneck mean")
    ax.set_ylim(bottom=0)
    acc_axis = ax.twinx()
    mean_band(acc_axis, sweep, "test_acc", "0.35", "^", "test accuracy")
    if chance is not None:
        acc_axis.axhline(chance, color="0.35", ls=":", lw=1)
    acc_axis.set(ylim=(0, 1.02), ylabel="test accuracy (dotted: chance)")
    handles = ax.get_legend_handles_labels()[0] + acc_axis.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="upper center", ncol=2,
              bbox_to_anchor=(0.5, -0.16))  # below the axes: the curves fill every corner


def kl_coloured_by_rank(ax, sweep: pd.DataFrame, column: str, vmax: float, title: str):
    """The KL term (nats) against beta, one point per run, coloured by the local rank in ``column``.
    Returns the scatter (for a colour bar)."""
    points = ax.scatter(sweep.beta, sweep.kl, c=sweep[column], cmap="viridis", vmin=0, vmax=vmax, s=22,
                        edgecolors="k", linewidths=0.3)
    ax.set(xscale="log", xlabel=r"$\beta$", ylabel="KL term of the loss (nats)", title=title)
    return points


def tolerance_panels(axes, tolerance: pd.DataFrame) -> None:
    """Seed-mean local rank against beta at every tolerance of the grid: absolute tolerances on
    ``axes[0]``, relative ones on ``axes[1]``."""
    for ax, (convention, name) in zip(axes, [("abs", "absolute tolerance atol"), ("rel", "relative tolerance rtol")]):
        part = tolerance[tolerance.convention == convention]
        cmap = plt.get_cmap("viridis" if convention == "abs" else "plasma")
        values = sorted(part.tolerance.unique())
        for i, tol in enumerate(values):
            mean = part[part.tolerance == tol].groupby("beta").local_rank.mean().sort_index()
            ax.plot(mean.index, mean.values, marker=".", color=cmap(i / max(len(values) - 1, 1)), label=f"{tol:g}")
        ax.set(xscale="log", xlabel=r"$\beta$", ylabel="local rank", title=name)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, title="tolerance", title_fontsize=7)


def spectrum_panel(ax, spectrum: pd.DataFrame, atol: float) -> None:
    """Mean i-th singular value of the bottleneck Jacobian against beta (log-log), one line per i."""
    means = spectrum.groupby(["index", "beta"]).singular_value.mean().unstack("index").sort_index()
    cmap = plt.get_cmap("viridis")
    for j, index in enumerate(means.columns):
        ax.plot(means.index, means[index], color=cmap(j / max(len(means.columns) - 1, 1)), lw=1,
                label=f"$\\sigma_{{{index}}}$" if j in (0, len(means.columns) - 1) else None)
    ax.axhline(atol, color="k", ls="--", lw=1, label=f"atol = {atol:g}")
    ax.set(xscale="log", yscale="log", xlabel=r"$\beta$", ylabel="mean singular value",
           title="spectrum of the bottleneck Jacobian")
    ax.legend(fontsize=7)
