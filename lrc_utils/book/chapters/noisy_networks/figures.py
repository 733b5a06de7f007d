"""Noisy networks: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...style import SEED_RANGE, seeds


def noisy_training(noisy: pd.DataFrame, n_inputs: int):
    """Over training (log steps), one column per hidden layer: top, I(X;T_l) (nats) by sample propagation, one
    thin line per seed with a band of two standard errors, dotted: log N; middle, the clustering ratio of the
    noiseless representation (lower: more clustered), one line per seed; bottom, the noisy network's training and
    test accuracy (mean over seeds, band: the range over seeds), with the legends beside it. The log N line is
    drawn only in the panels whose estimates reach half of it."""
    from matplotlib.lines import Line2D

    layers = sorted(noisy.layer.unique())
    seed_list = sorted(noisy.seed.unique())
    colours = dict(zip(seed_list, sns.color_palette("colorblind", len(seed_list))))
    fig = plt.figure(figsize=(7.2, 6.6))
    grid = fig.add_gridspec(3, len(layers), height_ratios=[1.2, 1.0, 0.9])
    first = None
    for col, layer in enumerate(layers):
        top = fig.add_subplot(grid[0, col], sharex=first)
        first = first or top
        mid = fig.add_subplot(grid[1, col], sharex=first)
        for seed in seed_list:
            rows = noisy[(noisy.layer == layer) & (noisy.seed == seed)].sort_values("step")
            top.plot(rows.step, rows.ixt, color=colours[seed], lw=0.9)
            top.fill_between(rows.step, rows.ixt - 2 * rows.stderr, rows.ixt + 2 * rows.stderr, color=colours[seed],
                             alpha=0.25, lw=0)
            mid.plot(rows.step, rows.clustering, color=colours[seed], lw=0.9)
        width = int(noisy[noisy.layer == layer].width.iloc[0])
        top.set_title(f"layer {layer}\n({width} units)", fontsize=8)
        part = noisy[noisy.layer == layer]
        if (part.ixt + 2 * part.stderr).max() > 0.5 * math.log(n_inputs):  # else log N would squash the curves
            top.axhline(math.log(n_inputs), color="k", ls=":", lw=0.8)
        top.set(xscale="log", ylim=(0, None), xlabel="")
        mid.set(xscale="log", xlabel="step")
        for ax in (top, mid):
            ax.tick_params(labelsize=8)
        mid.xaxis.label.set_size(8)
        if col == 0:
            top.set_ylabel(r"$I(X;T_l)$ (nats)", fontsize=8)
            mid.set_ylabel("clustering ratio\n(within / between)", fontsize=8)
    acc = fig.add_subplot(grid[2, : max(1, len(layers) - 2)])
    curves = noisy[noisy.layer == layers[0]].melt(id_vars=["seed", "step"], value_vars=["train_acc", "test_acc"],
                                                 var_name="set", value_name="accuracy")
    sets = {"train_acc": "training patterns", "test_acc": "test patterns"}
    curves["set"] = curves["set"].map(sets)
    palette = dict(zip(sets.values(), ["tab:green", "tab:purple"]))
    sns.lineplot(data=curves, x="step", y="accuracy", hue="set", errorbar=SEED_RANGE, ax=acc, palette=palette,
                 legend=False)
    acc.set(xscale="log", ylim=(0.4, 1.02))
    acc.set_xlabel("training step", fontsize=8)
    acc.set_ylabel("accuracy of the\nnoisy network", fontsize=8)
    acc.tick_params(labelsize=8)
    key = fig.add_subplot(grid[2, max(1, len(layers) - 2):])
    key.axis("off")
    handles = [Line2D([], [], color=colours[s], lw=1.5) for s in seed_list]
    labels = [f"seed {s}" for s in seed_list]
    handles += [Line2D([], [], color="k", ls=":", lw=0.8)] + [Line2D([], [], color=c, lw=1.5) for c in palette.values()]
    labels += [f"log N (N = {n_inputs:,})"] + [f"accuracy, {name}" for name in palette]
    key.legend(handles, labels, loc="center left", frameon=False, fontsize=8,
               title=f"bands: 2 standard errors (I),\nrange over {seeds(len(seed_list))} (accuracy)",
               title_fontsize=8)
    return fig


def ixt_vs_clustering(noisy: pd.DataFrame):
    """One panel per hidden layer: I(X;T_l) (nats) against the clustering ratio at every recorded step of every
    seed, coloured by the training step (log scale); each seed's points joined in step order by a thin grey line."""
    from matplotlib.colors import LogNorm

    layers = sorted(noisy.layer.unique())
    fig, axes = plt.subplots(1, len(layers) + 1, figsize=(7.2, 2.6),
                             gridspec_kw={"width_ratios": [1.0] * len(layers) + [0.07]})
    norm = LogNorm(noisy.step.min(), noisy.step.max())
    points = None
    for ax, layer in zip(axes, layers):
        rows = noisy[noisy.layer == layer]
        for _, part in rows.sort_values("step").groupby("seed"):
            ax.plot(part.clustering, part.ixt, color="0.7", lw=0.5, zorder=1)
        points = ax.scatter(rows.clustering, rows.ixt, c=rows.step, norm=norm, cmap="viridis", s=7, zorder=2)
        ax.set_title(f"layer {layer}", fontsize=8)
        ax.set_xlabel("clustering ratio", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel(r"$I(X;T_l)$ (nats)", fontsize=8)
    bar = fig.colorbar(points, cax=axes[-1])
    bar.set_label("training step", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    return fig
