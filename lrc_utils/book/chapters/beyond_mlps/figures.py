"""Beyond MLPs: the figure, drawn from the study's ``local_rank`` table (it computes nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...readings import first_step_at_accuracy
from ...style import legend_below, seeds

#: Line styles of the measured layers, in order (dotted is the fit's marker).
LAYER_DASHES = ["-", "--", "-.", (0, (6, 2, 1, 2, 1, 2))]


def rank_over_training(table: pd.DataFrame, atol: float, titles: dict[str, str]):
    """One panel per (data set: row, network: column): each measured layer's seed-mean local rank as a fraction of
    its maximum over training (layers of 784 and of 64 directions on one axis), against the training step; dotted:
    the first step with 99% seed-mean training accuracy."""
    datasets, networks = list(dict.fromkeys(table.dataset)), list(dict.fromkeys(table.network))
    fig, axes = plt.subplots(len(datasets), len(networks), figsize=(7.5, 2.9 * len(datasets) + 0.6), sharex=True,
                             sharey=True, squeeze=False)
    for row, dataset in enumerate(datasets):
        for col, network in enumerate(networks):
            ax, rows = axes[row, col], table[(table.dataset == dataset) & (table.network == network)]
            means = rows.groupby(["layer", "step"], sort=False).local_rank.mean()
            layers = list(dict.fromkeys(rows.layer))
            palette = dict(zip(layers, sns.color_palette("colorblind", len(layers))))
            for k, layer in enumerate(layers):  # curves at 1.0 overlap: hue and dash tell them apart
                curve = means[layer]
                ax.plot(curve.index, curve / curve.max(), color=palette[layer], lw=1.4,
                        ls=LAYER_DASHES[k % len(LAYER_DASHES)],
                        label=f"{layer} (max {curve.max():.0f})")
            ax.axvline(first_step_at_accuracy(rows, 0.99), color="k", ls=":", lw=1)
            ax.set(xscale="log", ylim=(0, 1.05), title=f"{titles.get(network, network)}, {titles.get(dataset, dataset)}"
                   f"\n{seeds(rows.seed.nunique())}")
            ax.title.set_fontsize(9)
            if row == len(datasets) - 1:
                ax.set_xlabel("training step")
            if col == 0:
                ax.set_ylabel(f"local rank / its maximum\n(atol = {atol:g})")
            legend_below(ax, ncol=2, offset=-0.2 if row < len(datasets) - 1 else -0.35, fontsize=8)
    return fig
