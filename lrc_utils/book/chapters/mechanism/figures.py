"""What drives the fall: the figures, drawn from the study's ``measures`` table (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from ...readings import first_step_at_accuracy, reaches_accuracy
from ...style import seeds
from .study import ARMS


def arms_panel(table: pd.DataFrame, panel: str, atol: float, title: str):
    """One panel's arms side by side. Top: per hidden layer, the seed-mean rank at ``atol`` (solid) and effective
    rank (dashed) against the training step; bottom: every seed's training loss (the cross-entropy of the logits;
    its spikes are question 3). Dotted: the first step with 99% seed-mean training accuracy (none where the arm
    never reaches it)."""
    rows = table[table.panel == panel]
    arms = [arm for arm in ARMS if arm in set(rows.arm)]  # the design's order
    fig, axes = plt.subplots(2, len(arms), figsize=(7.5, 5.0), sharex=True, sharey="row", squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    layers = sorted(rows.layer.unique())
    palette = dict(zip(layers, sns.color_palette("viridis", len(layers))))
    for col, arm in enumerate(arms):
        arm_rows = rows[rows.arm == arm]
        top, bottom = axes[0, col], axes[1, col]
        means = arm_rows.groupby(["layer", "step"])[["rank_atol", "effective_rank"]].mean().reset_index()
        for layer, curve in means.groupby("layer"):
            top.plot(curve.step, curve.rank_atol, color=palette[layer], lw=1.3)
            top.plot(curve.step, curve.effective_rank, color=palette[layer], lw=1, ls="--")
        for _, run in arm_rows[arm_rows.layer == layers[0]].groupby("seed"):
            bottom.plot(run.step, run.train_loss, color="0.35", lw=0.7, alpha=0.8)
        if reaches_accuracy(arm_rows.groupby("step").train_acc.mean().max(), 0.99):  # no line where it never fits
            for ax in (top, bottom):
                ax.axvline(first_step_at_accuracy(arm_rows, 0.99), color="k", ls=":", lw=1)
        top.set(xscale="log", title=arm, ylim=(0, None))
        top.title.set_fontsize(9)
        bottom.set(yscale="log", xlabel="step")
    axes[0, 0].set_ylabel(f"rank (atol = {atol:g})\n/ effective rank")
    axes[1, 0].set_ylabel("train loss (nats)")
    fig.suptitle(f"{title}, {seeds(rows.seed.nunique())}", fontsize=10)
    handles = [Line2D([], [], color=palette[layer], label=f"layer {layer}") for layer in layers]
    handles += [Line2D([], [], color="0.3", label="rank at atol"),
                Line2D([], [], color="0.3", ls="--", label="effective rank"),
                Line2D([], [], color="k", ls=":", label="99% train acc.")]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=(len(handles) + 1) // 2,
               frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.09, 1, 1))  # the legend's two rows under the panels
    return fig
