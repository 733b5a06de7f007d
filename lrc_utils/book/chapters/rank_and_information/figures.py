"""Rank and information: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .readings import CONFIG, NETWORK_NAMES, config_label

#: How the figures name the estimators of the table.
ESTIMATOR_NAMES = {"binning": "binning", "adaptive_binning": "adaptive binning", "kde_upper": "KDE upper bound",
                   "noisy_sp": "sample propagation"}


def rank_against_information(table: pd.DataFrame, panels: list[tuple[str, str]], terminal: pd.Series):
    """Local rank (x) against I(X;T) (y) per hidden layer (columns) for each (network, estimator) in ``panels``
    (rows): one line per run in step order, coloured by configuration; the terminal-phase points (``terminal``,
    a boolean per row of ``table``) are drawn filled, the earlier ones hollow."""

    layers = sorted(table.layer.unique())
    configs = table[CONFIG].drop_duplicates().itertuples(index=False)
    labels = [config_label(*c) for c in configs]
    colours = dict(zip(labels, sns.color_palette("tab10", len(labels))))
    fig, axes = plt.subplots(len(panels), len(layers), figsize=(7.5, 1.75 * len(panels) + 0.9), squeeze=False)
    for row, (network, estimator) in enumerate(panels):
        part = table[(table.network == network) & (table.estimator == estimator)]
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            rows = part[part.layer == layer]
            for _, r in rows.groupby("run", sort=False):
                colour = colours[config_label(r.network.iloc[0], r.activation.iloc[0], r.l2.iloc[0])]
                late = terminal.loc[r.index]
                ax.plot(r.local_rank, r.ixt, color=colour, lw=0.6, alpha=0.7)
                ax.plot(r.local_rank[late], r.ixt[late], "o", color=colour, ms=2.5)
                ax.plot(r.local_rank[~late], r.ixt[~late], "o", color=colour, ms=2.5, mfc="none", mew=0.5)
            ax.tick_params(labelsize=8)
            if row == 0:
                ax.set_title(f"layer {layer}", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{NETWORK_NAMES.get(network, network)}, {ESTIMATOR_NAMES.get(estimator, estimator)}"
                              "\n$I(X;T)$ (nats)", fontsize=8)
            if row == len(panels) - 1:
                ax.set_xlabel("local rank", fontsize=8)
            if not len(rows):
                ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, marker="o", ms=3, lw=0.8) for c in colours.values()]
    handles += [plt.Line2D([], [], color="0.3", marker="o", ms=3, lw=0, mfc="none", mew=0.5),
                plt.Line2D([], [], color="0.3", marker="o", ms=3, lw=0)]
    labels = [*colours, "before the terminal phase", "in the terminal phase"]
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False, fontsize=8)
    rows_of_legend = -(-len(labels) // 4)
    fig.tight_layout(rect=(0, 0.035 + 0.03 * rows_of_legend, 1, 1))
    return fig
