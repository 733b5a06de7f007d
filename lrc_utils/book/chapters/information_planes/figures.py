"""Information planes: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...style import legend_right, seeds

ESTIMATOR_TITLES = {"binning_sz": "binning, Shwartz-Ziv & Tishby", "binning": "binning, Saxe et al.",
                    "kde_upper": "KDE upper bound, Saxe et al.", "adaptive_binning": "adaptive binning, Chelombiev",
                    "adaptive_kde": "adaptive KDE (ours)"}


def information_planes(planes: pd.DataFrame, estimators: list[str], activations: list[str], l2: float):
    """I(T;Y) against I(X;T) over training, one panel per (estimator: row, activation: column), hidden layers
    as colours: the seed mean as a thick line from a hollow circle (first evaluation: the initialisation in the
    information_planes study) to an arrow head (last), each seed as a thin line."""
    part = planes[(planes.l2 == l2) & planes.estimator.isin(estimators) & planes.activation.isin(activations)]
    layers = sorted(part.layer.unique())
    colours = dict(zip(layers, sns.color_palette("viridis", len(layers))))
    fig, axes = plt.subplots(len(estimators), len(activations), figsize=(7.5, 1.9 * len(estimators) + 0.9),
                             squeeze=False, sharey=True)
    for i, est in enumerate(estimators):
        for j, act in enumerate(activations):
            ax, rows = axes[i, j], part[(part.estimator == est) & (part.activation == act)]
            if rows.empty:
                ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            for layer, g in rows.groupby("layer"):
                for _, seed_rows in g.groupby("seed"):
                    ax.plot(seed_rows.ixt, seed_rows.ity, color=colours[layer], lw=0.4, alpha=0.35)
                mean = g.groupby("epoch")[["ixt", "ity"]].mean()
                ax.plot(mean.ixt, mean.ity, color=colours[layer], lw=1.6, label=f"layer {layer}")
                ax.plot(mean.ixt.iloc[0], mean.ity.iloc[0], "o", mfc="none", color=colours[layer], ms=4)
                if len(mean) > 1:
                    ax.annotate("", xy=(mean.ixt.iloc[-1], mean.ity.iloc[-1]),
                                xytext=(mean.ixt.iloc[-2], mean.ity.iloc[-2]),
                                arrowprops={"arrowstyle": "-|>", "color": colours[layer], "lw": 1.2})
            ax.tick_params(labelsize=8)
            if i == 0:
                ax.set_title(act, fontsize=9)
            ax.set_xlabel(r"$I(X;T)$ (nats)" if i == len(estimators) - 1 else "", fontsize=8)
            ax.set_ylabel(f"{ESTIMATOR_TITLES.get(est, est)}\n$I(T;Y)$ (nats)" if j == 0 else "", fontsize=8)
    handles = [plt.Line2D([], [], color=colours[layer], lw=1.6, label=f"layer {layer}") for layer in layers]
    handles += [plt.Line2D([], [], color="0.4", marker="o", mfc="none", ls="", label="first evaluation"),
                plt.Line2D([], [], color="0.4", marker=">", ls="", label="last evaluation")]
    fig.legend(handles=handles, loc="lower center", ncol=(len(handles) + 1) // 2, frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    n_seeds = part.seed.nunique()
    fig.suptitle(f"Information planes, {'no L2' if l2 == 0 else f'L2 = {l2:g}'}: seed mean (thick), "
                 f"{seeds(n_seeds)} (thin)", fontsize=9)
    fig.tight_layout(rect=(0, 0.09, 1, 1))  # the legend's two rows under the panels
    return fig


def compression_by_layer(summary: pd.DataFrame, estimators: list[str], activations: list[str], threshold: float):
    """Relative compression of every run per hidden layer (points: seeds; bar: median), without and with L2,
    one panel per (estimator: row, activation: column); dotted: the threshold of "compresses"."""
    part = summary[summary.estimator.isin(estimators)].assign(L2=lambda d: d.l2.map(_l2_label))
    levels = [_l2_label(v) for v in sorted(summary.l2.unique())]
    palette = dict(zip(levels, sns.color_palette("colorblind", len(levels))))
    fig, axes = plt.subplots(len(estimators), len(activations), figsize=(7.5, 2.0 * len(estimators) + 0.6),
                             squeeze=False, sharey="row", sharex=True)
    for i, est in enumerate(estimators):
        for j, act in enumerate(activations):
            ax, rows = axes[i, j], part[(part.estimator == est) & (part.activation == act)]
            if rows.empty:
                ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            else:
                sns.stripplot(data=rows, x="layer", y="relative_compression", hue="L2", hue_order=levels, dodge=True,
                              size=3, ax=ax, palette=palette, legend=(i == 0 and j == len(activations) - 1))
                sns.pointplot(data=rows, x="layer", y="relative_compression", hue="L2", hue_order=levels,
                              dodge=0.4, estimator="median", errorbar=None, markers="_", markersize=12,
                              linestyles="none", ax=ax, palette=palette, legend=False)
            ax.axhline(threshold, color="k", ls=":", lw=1)
            ax.tick_params(labelsize=8)
            ax.set_title(act if i == 0 else "", fontsize=9)
            ax.set_xlabel("hidden layer" if i == len(estimators) - 1 else "", fontsize=8)
            ax.set_ylabel(f"{ESTIMATOR_TITLES.get(est, est)}\nrelative compression" if j == 0 else "", fontsize=8)
    legend_right(axes[0, -1], fontsize=8)
    fig.tight_layout()
    return fig


def _l2_label(value: float) -> str:
    return "no L2" if value == 0 else f"L2 = {value:g}"


def compression_and_generalisation(summary: pd.DataFrame, correlations: pd.DataFrame, estimator: str,
                                   activations: list[str]):
    """Per hidden layer: final test accuracy against relative compression, one point per run (colour:
    activation, marker: L2), with the Spearman correlation of ``correlations`` in the title."""
    part = summary[summary.estimator == estimator].assign(L2=lambda d: d.l2.map(_l2_label))
    levels = [_l2_label(v) for v in sorted(summary.l2.unique())]
    layers = sorted(part.layer.unique())
    fig, axes = plt.subplots(1, len(layers), figsize=(7.5, 3.2), sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers):
        sns.scatterplot(data=part[part.layer == layer], x="relative_compression", y="test_acc", hue="activation",
                        hue_order=activations, style="L2", style_order=levels, s=18, ax=ax,
                        legend=(layer == layers[-1]))
        c = correlations[correlations.layer == layer].iloc[0]
        ax.set_title(f"layer {layer}\n$\\rho$ = {c.rho:.2f}, p = {c.p:.2g}", fontsize=8)
        ax.set_xlabel("rel. compression", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("final test accuracy", fontsize=8)
    legend_right(axes[0, -1], fontsize=8)
    fig.tight_layout()
    return fig
