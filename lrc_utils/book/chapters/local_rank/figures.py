"""The local-rank chapter: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ...style import legend_below, legend_right


def known_answer(toy: pd.DataFrame, width: int):
    """Rank of the second layer's Jacobian against the number of active units of the first layer."""
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    counts = toy.groupby(["active_units_layer1", "local_rank_layer2"]).size().reset_index(name="inputs")
    ax.scatter(counts.active_units_layer1, counts.local_rank_layer2, s=20 + 3 * counts.inputs, alpha=0.7,
               label="measured (area: number of inputs)")
    k = np.arange(width + 1)
    ax.plot(k, k, "k--", lw=1, label="closed form: rank = active units")
    ax.set(xlabel="active ReLU units in layer 1 at x", ylabel="rank of $J_2(x)$",
           title="Known answer: two-layer ReLU network")
    legend_below(ax, ncol=1, offset=-0.2)
    return fig


def tolerance_curves(tolerance: pd.DataFrame, atol: float):
    """Mean local rank per layer against the tolerance, absolute (left) and relative (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    for ax, convention in zip(axes, ["absolute", "relative"]):
        part = tolerance[tolerance.convention == convention]
        sns.lineplot(data=part, x="tolerance", y="local_rank", hue="layer", palette="viridis", ax=ax,
                     legend=convention == "absolute")
        ax.set(xscale="log", xlabel="atol" if convention == "absolute" else "rtol", title=f"{convention} tolerance")
    axes[0].axvline(atol, color="k", ls=":", lw=1)
    axes[0].set_ylabel("local rank (mean over inputs)")
    axes[0].legend(title="layer", fontsize=8, title_fontsize=8, loc="lower left")
    return fig


def spectra(spectrum: pd.DataFrame, atol: float):
    """Median (band: 10-90% over inputs) i-th singular value of each layer's input Jacobian."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    colours = sns.color_palette("viridis", spectrum.layer.nunique())
    for colour, (layer, rows) in zip(colours, spectrum.groupby("layer")):
        ax.plot(rows["index"], rows["median"], color=colour, label=f"layer {layer}")
        ax.fill_between(rows["index"], rows.q10, rows.q90, color=colour, alpha=0.2, lw=0)
    ax.axhline(atol, color="k", ls=":", lw=1, label=f"atol = {atol:g}")
    ax.set(yscale="log", xlabel="index i", ylabel=r"$\sigma_i(J_l(x))$ (median, 10-90%)",
           title="Singular values of the input Jacobians")
    legend_right(ax, fontsize=8)
    return fig


def speed(speed_table: pd.DataFrame):
    """Seconds against the number of inputs for each method; the title gives the ratio at the largest size."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sns.lineplot(data=speed_table, x="n_inputs", y="seconds", hue="method", marker="o", ax=ax)
    largest = speed_table[speed_table.n_inputs == speed_table.n_inputs.max()].set_index("method").seconds
    ratio = largest["recipe"] / largest["local_rank"]
    ax.set(xscale="log", yscale="log", xlabel="inputs", ylabel="seconds",
           title=f"local_rank {ratio:.0f}x faster than the recipe at {speed_table.n_inputs.max()} inputs")
    legend_right(ax, fontsize=8)
    return fig
