"""The MI estimators: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...style import legend_right


def binning_vs_bins(binned: pd.DataFrame, n: int):
    """I(X;T) estimates of an injective layer against the number of bins (truth log N)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    for ax, name in zip(axes, ["binning", "adaptive_binning"]):
        part = binned[(binned.estimator == name) & (binned.n == n)]
        sns.lineplot(data=part, x="n_bins", y="ixt", hue="d", marker="o", palette="viridis", ax=ax,
                     legend=name == "binning")
        ax.axhline(math.log(n), color="k", ls=":", lw=1)
        ax.set(xscale="log", xlabel="bins per unit", title=f"{name} (dotted: log N, N = {n})")
    axes[0].set_ylabel(r"$I(X;T)$ estimate (nats)")
    axes[0].legend(title="d", fontsize=8, title_fontsize=8, loc="lower right")
    return fig


def gaussian_channel(chan: pd.DataFrame, n: int):
    """Estimates of I(X;T) against the noise variance, one panel per dimension d, beside the closed form;
    shaded: from (1/2) log N up, where an N-sample estimate saturates."""
    dims = sorted(chan.d.unique())
    ncol = 2
    nrow = math.ceil(len(dims) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(7.5, 2.9 * nrow), squeeze=False)
    for ax, d in zip(axes.flat, dims):
        part = chan[(chan.d == d) & (chan.n == n)]
        truth = part.groupby("noise_var").truth.first()
        ax.plot(truth.index, truth.values, "k-", lw=2, label="closed form")
        for name, rows in part.groupby("estimator"):
            ax.errorbar(rows.noise_var, rows.ixt, yerr=2 * rows.stderr, fmt="o--", ms=4, label=name)
        ax.axhspan(0.5 * math.log(n), math.log(n) * 1.05, color="0.88", lw=0)
        ax.axhline(math.log(n), color="k", ls=":", lw=1)
        ax.set(xscale="log", xlabel="noise variance $s^2$", ylabel=r"$I(X;T)$ (nats)", title=f"d = {d}, N = {n}")
    for ax in list(axes.flat)[len(dims):]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, fontsize=9, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def mixture_gaps(mix: pd.DataFrame, n: int):
    """Where the Monte Carlo entropy sits between the KDE bounds: both gaps against the noise variance."""
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    colours = sns.color_palette("viridis", mix.d.nunique())
    for colour, (d, rows) in zip(colours, mix[mix.n == n].groupby("d")):
        ax.plot(rows.noise_var, rows.monte_carlo - rows.kde_lower, "o-", color=colour, label=f"d = {d}: MC - lower")
        ax.plot(rows.noise_var, rows.kde_upper - rows.monte_carlo, "s--", color=colour, label=f"d = {d}: upper - MC")
    ax.set(xscale="log", xlabel="noise variance $s^2$", ylabel="gap (nats)",
           title=f"The truth in the KDE bracket (N = {n})")
    legend_right(ax, fontsize=8)
    return fig


def noisy_network(noisy: pd.DataFrame, n_inputs: int):
    """Sample-propagation I(X;T_l) per layer against the samples per input (bars: two standard errors)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    colours = sns.color_palette("viridis", noisy.layer.nunique())
    for colour, (layer, rows) in zip(colours, noisy.groupby("layer")):
        ax.errorbar(rows.n_samples, rows.ixt, yerr=2 * rows.stderr, fmt="o-", color=colour, label=f"layer {layer}")
    ax.axhline(math.log(n_inputs), color="k", ls=":", lw=1, label="log N")
    samples = sorted(noisy.n_samples.unique())
    ax.set(xscale="log", xlabel="samples per input", ylabel=r"$I(X;T_l)$ (nats)",
           title="Sample propagation, noisy tanh network")
    ax.set_xticks(samples, [str(s) for s in samples])
    ax.minorticks_off()
    legend_right(ax, fontsize=8)
    return fig
