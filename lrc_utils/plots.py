"""The book's figures, drawn from the tidy tables of :mod:`lrc_utils.studies` (they compute nothing new).

Sizes are chosen for the book's text column (at most 7.5 inches wide, fonts of at least 8 pt); curves over
seeds are seaborn's ``lineplot`` with the mean and a band (one standard deviation, or the range over seeds
where there are only a few); legends sit outside the axes, never on the data.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .analysis import first_step_at_accuracy

sns.set_theme(context="paper", style="ticks", font_scale=1.0, rc={"axes.grid": True, "grid.alpha": 0.3})
#: The band of a seed-aggregated VIB curve: the range over seeds (there are 2 or 3).
SEED_RANGE = ("pi", 100)
CONVENTIONS = {"local_rank_abs": ("tab:blue", "o", "absolute"), "local_rank_rel": ("tab:red", "s", "relative")}


def seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def legend_below(ax, handles=None, labels=None, ncol: int = 2, offset: float = -0.22, **kwargs):
    """A legend centred under ``ax`` (outside the data)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    return ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, offset), ncol=ncol, frameon=False,
                     **kwargs)


def legend_right(ax, **kwargs):
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Figure 1


def figure1(table: pd.DataFrame, atol: float, titles: dict[str, str], marks: dict[str, tuple[int, str]] | None = None):
    """Top: local rank per hidden layer against the training step (mean over seeds, band: one standard
    deviation); bottom: training loss and accuracies. One column per panel; dotted: 99% training accuracy;
    dash-dotted: ``marks[panel] = (step, label)``, a step to point out (drawn only within the recorded steps)."""
    panels = list(dict.fromkeys(table.panel))
    fig, axes = plt.subplots(2, len(panels), figsize=(7.5, 5.6), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    for col, panel in enumerate(panels):
        rows = table[table.panel == panel]
        top, bottom = axes[0, col], axes[1, col]
        sns.lineplot(data=rows, x="step", y="local_rank", hue="layer", palette="viridis", errorbar="sd", ax=top,
                     legend="full")
        curves = rows[rows.layer == rows.layer.min()].groupby("step")[["train_loss", "train_acc", "test_acc"]].mean()
        bottom.plot(curves.index, curves.train_loss, color="0.3", label="train loss")
        bottom.set(yscale="log", ylabel="train loss (nats)", xlabel="training step")
        acc_axis = bottom.twinx()
        acc_axis.plot(curves.index, curves.train_acc, color="tab:green", label="train acc.")
        acc_axis.plot(curves.index, curves.test_acc, color="tab:purple", label="test acc.")
        acc_axis.set(ylim=(0, 1.02), ylabel="accuracy")
        step99 = first_step_at_accuracy(rows, 0.99)
        for ax in (top, bottom):
            ax.axvline(step99, color="k", ls=":", lw=1)
        if marks and panel in marks and marks[panel][0] <= rows.step.max():
            mark, label = marks[panel]
            for ax in (top, bottom):
                ax.axvline(mark, color="tab:red", ls="-.", lw=1)
            top.text(mark, 0.97, f"{label} ", transform=top.get_xaxis_transform(), fontsize=7, color="tab:red",
                     rotation=90, va="top", ha="right")
        top.set(xscale="log", ylabel=f"local rank (atol = {atol:g})", xlabel="",
                title=f"{titles[panel]}\n{seeds(rows.seed.nunique())}", ylim=(0, None))
        top.legend(title="layer", loc="lower left", fontsize=7, title_fontsize=7, ncol=2, frameon=True)
        handles = bottom.get_legend_handles_labels()[0] + acc_axis.get_legend_handles_labels()[0]
        legend_below(bottom, handles, [h.get_label() for h in handles], ncol=3, offset=-0.45, fontsize=7)
    return fig


# ----------------------------------------------------------------------------------------------------
# the local-rank chapter


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
    axes[0].legend(title="layer", fontsize=7, title_fontsize=7, loc="lower left")
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


# ----------------------------------------------------------------------------------------------------
# Figures 2 and 3 (Deep VIB)


def rank_and_accuracy(ax, sweep: pd.DataFrame, atol: float, rtol: float, chance: float | None = None) -> None:
    """Local rank of the bottleneck under both conventions (left axis) and test accuracy (right axis) against
    beta: mean over seeds, band = range over seeds; legend under the axes."""
    tolerances = {"local_rank_abs": f"atol = {atol:g}", "local_rank_rel": f"rtol = {rtol:g}"}
    for column, (colour, marker, name) in CONVENTIONS.items():
        sns.lineplot(data=sweep, x="beta", y=column, errorbar=SEED_RANGE, color=colour, marker=marker,
                     markersize=4, ax=ax, label=f"local rank, {name} ({tolerances[column]})")
    ax.set(xscale="log", xlabel=r"$\beta$", ylabel="local rank of the bottleneck mean")
    ax.set_ylim(bottom=0)
    acc_axis = ax.twinx()
    sns.lineplot(data=sweep, x="beta", y="test_acc", errorbar=SEED_RANGE, color="0.35", marker="^", markersize=4,
                 ax=acc_axis, label="test accuracy")
    if chance is not None:
        acc_axis.axhline(chance, color="0.35", ls=":", lw=1)
    acc_axis.set(ylim=(0, 1.02), ylabel="test accuracy (dotted: chance)")
    acc_axis.get_legend().remove()
    handles = ax.get_legend_handles_labels()[0] + acc_axis.get_legend_handles_labels()[0]
    legend_below(ax, handles, [h.get_label() for h in handles], ncol=1, offset=-0.2, fontsize=8)


def kl_coloured_by_rank(ax, sweep: pd.DataFrame, column: str, vmax: float, title: str):
    """The KL term (nats) against beta, one point per run, coloured by the local rank in ``column``."""
    points = ax.scatter(sweep.beta, sweep.kl, c=sweep[column], cmap="viridis", vmin=0, vmax=vmax, s=18,
                        edgecolors="k", linewidths=0.3)
    ax.set(xscale="log", xlabel=r"$\beta$", ylabel="KL term (nats)", title=title)
    return points


def figure2(sweep: pd.DataFrame, atol: float, rtol: float, latent_dim: int, n_classes: int):
    """Left: the KL term against beta coloured by the local rank (absolute, relative tolerance); right: local
    rank and test accuracy against beta."""
    fig = plt.figure(figsize=(7.5, 6.4))
    grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.15])
    for row, (column, name) in enumerate([("local_rank_abs", f"atol = {atol:g}"),
                                          ("local_rank_rel", f"rtol = {rtol:g}")]):
        ax = fig.add_subplot(grid[row, 0])
        points = kl_coloured_by_rank(ax, sweep, column, latent_dim, f"KL, coloured by local rank ({name})")
        fig.colorbar(points, ax=ax, label="local rank")
    ax = fig.add_subplot(grid[:, 1])
    rank_and_accuracy(ax, sweep, atol, rtol, chance=1 / n_classes)
    ax.set_title(f"Gaussian mixture, {n_classes} classes, {seeds(sweep.seed.nunique())}")
    return fig


def figure3(sweep: pd.DataFrame, titles: dict[str, str], atol: float, rtol: float):
    """One row per dataset: local rank of the bottleneck (both conventions) and test accuracy against beta."""
    datasets = list(dict.fromkeys(sweep.dataset))
    fig, axes = plt.subplots(len(datasets), 1, figsize=(6.5, 4.6 * len(datasets)), squeeze=False)
    for ax, name in zip(axes[:, 0], datasets):
        part = sweep[sweep.dataset == name]
        rank_and_accuracy(ax, part, atol, rtol, chance=0.1)
        ax.set_title(f"{titles[name]}, {seeds(part.seed.nunique())}")
    return fig


def vib_tolerances(tolerance: pd.DataFrame, spectrum: pd.DataFrame, atol: float, titles: dict[str, str]):
    """Per dataset (columns): seed-mean local rank against beta at every absolute (row 1) and relative (row 2)
    tolerance, and the mean singular values of the bottleneck Jacobian against beta (row 3)."""
    datasets = list(dict.fromkeys(tolerance.dataset))
    fig, axes = plt.subplots(3, len(datasets), figsize=(3.9 * len(datasets) + 0.8, 9.0), squeeze=False)
    for col, name in enumerate(datasets):
        for ax, convention in zip(axes[:2, col], ["absolute", "relative"]):
            part = tolerance[(tolerance.dataset == name) & (tolerance.convention == convention)]
            sns.lineplot(data=part, x="beta", y="local_rank", hue="tolerance", errorbar=None, marker=".", ax=ax,
                         palette="viridis" if convention == "absolute" else "plasma", hue_norm=_log_norm(part),
                         legend="full" if col == len(datasets) - 1 else False)
            ax.set(xscale="log", xlabel=r"$\beta$", ylabel="local rank", title=f"{titles[name]}: {convention} tol.")
            ax.set_ylim(bottom=0)
            if col == len(datasets) - 1:
                legend_right(ax, title="atol" if convention == "absolute" else "rtol", fontsize=7, title_fontsize=7)
        ax = axes[2, col]
        means = spectrum[spectrum.dataset == name].groupby(["index", "beta"]).singular_value.mean().unstack("index")
        colours = sns.color_palette("viridis", len(means.columns))
        for j, index in enumerate(means.columns):
            ax.plot(means.index, means[index], color=colours[j], lw=1,
                    label=f"$\\sigma_{{{index}}}$" if j in (0, len(means.columns) - 1) else None)
        ax.axhline(atol, color="k", ls="--", lw=1, label=f"atol = {atol:g}")
        ax.set(xscale="log", yscale="log", xlabel=r"$\beta$", ylabel="mean singular value",
               title=f"{titles[name]}: bottleneck spectrum")
        if col == len(datasets) - 1:
            legend_right(ax, fontsize=7)
    return fig


def _log_norm(part: pd.DataFrame):
    from matplotlib.colors import LogNorm

    return LogNorm(part.tolerance.min(), part.tolerance.max())


# ----------------------------------------------------------------------------------------------------
# the MI estimators


def binning_vs_bins(binned: pd.DataFrame, n: int):
    """I(X;T) estimates of an injective layer against the number of bins (truth log N)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
    for ax, name in zip(axes, ["binning", "adaptive_binning"]):
        part = binned[(binned.estimator == name) & (binned.n == n)]
        sns.lineplot(data=part, x="n_bins", y="ixt", hue="d", marker="o", palette="viridis", ax=ax,
                     legend=name == "binning")
        ax.axhline(math.log(n), color="k", ls=":", lw=1)
        ax.set(xscale="log", xlabel="bins per unit", title=f"{name} (dotted: log N, N = {n})")
    axes[0].set_ylabel("I(X;T) estimate (nats)")
    axes[0].legend(title="d", fontsize=7, title_fontsize=7, loc="lower right")
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
        ax.set(xscale="log", xlabel="noise variance $s^2$", ylabel="I(X;T) (nats)", title=f"d = {d}, N = {n}")
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
    legend_right(ax, fontsize=7)
    return fig


def noisy_network(noisy: pd.DataFrame, n_inputs: int):
    """Sample-propagation I(X;T_l) per layer against the samples per input (bars: two standard errors)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    colours = sns.color_palette("viridis", noisy.layer.nunique())
    for colour, (layer, rows) in zip(colours, noisy.groupby("layer")):
        ax.errorbar(rows.n_samples, rows.ixt, yerr=2 * rows.stderr, fmt="o-", color=colour, label=f"layer {layer}")
    ax.axhline(math.log(n_inputs), color="k", ls=":", lw=1, label="log N")
    samples = sorted(noisy.n_samples.unique())
    ax.set(xscale="log", xlabel="samples per input", ylabel="I(X;T_l) (nats)",
           title="Sample propagation, noisy tanh network")
    ax.set_xticks(samples, [str(s) for s in samples])
    ax.minorticks_off()
    legend_right(ax, fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------------
# information planes


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
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_title(act, fontsize=9)
            ax.set_xlabel("I(X;T) (nats)" if i == len(estimators) - 1 else "", fontsize=8)
            ax.set_ylabel(f"{ESTIMATOR_TITLES.get(est, est)}\nI(T;Y) (nats)" if j == 0 else "", fontsize=7)
    handles = [plt.Line2D([], [], color=colours[layer], lw=1.6, label=f"layer {layer}") for layer in layers]
    handles += [plt.Line2D([], [], color="0.4", marker="o", mfc="none", ls="", label="first evaluation"),
                plt.Line2D([], [], color="0.4", marker=">", ls="", label="last evaluation")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=7,
               bbox_to_anchor=(0.5, -0.01))
    n_seeds = part.seed.nunique()
    fig.suptitle(f"Information planes, {'no L2' if l2 == 0 else f'L2 = {l2:g}'}: seed mean (thick), "
                 f"{seeds(n_seeds)} (thin)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
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
            ax.tick_params(labelsize=7)
            ax.set_title(act if i == 0 else "", fontsize=9)
            ax.set_xlabel("hidden layer" if i == len(estimators) - 1 else "", fontsize=8)
            ax.set_ylabel(f"{ESTIMATOR_TITLES.get(est, est)}\nrelative compression" if j == 0 else "", fontsize=7)
    legend_right(axes[0, -1], fontsize=7)
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
        ax.set_xlabel("rel. compression", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("final test accuracy", fontsize=8)
    legend_right(axes[0, -1], fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------
# noisy networks


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
        top.set_title(f"layer {layer} ({width} units)", fontsize=8)
        part = noisy[noisy.layer == layer]
        if (part.ixt + 2 * part.stderr).max() > 0.5 * math.log(n_inputs):  # else log N would squash the curves
            top.axhline(math.log(n_inputs), color="k", ls=":", lw=0.8)
        top.set(xscale="log", ylim=(0, None), xlabel="")
        mid.set(xscale="log", xlabel="step")
        for ax in (top, mid):
            ax.tick_params(labelsize=7)
        mid.xaxis.label.set_size(8)
        if col == 0:
            top.set_ylabel("I(X;T_l) (nats)", fontsize=8)
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
    acc.tick_params(labelsize=7)
    key = fig.add_subplot(grid[2, max(1, len(layers) - 2):])
    key.axis("off")
    handles = [Line2D([], [], color=colours[s], lw=1.5) for s in seed_list]
    labels = [f"seed {s}" for s in seed_list]
    handles += [Line2D([], [], color="k", ls=":", lw=0.8)] + [Line2D([], [], color=c, lw=1.5) for c in palette.values()]
    labels += [f"log N (N = {n_inputs:,})"] + [f"accuracy, {name}" for name in palette]
    key.legend(handles, labels, loc="center left", frameon=False, fontsize=7,
               title=f"bands: 2 standard errors (I), range over {seeds(len(seed_list))} (accuracy)",
               title_fontsize=7)
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
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("I(X;T_l) (nats)", fontsize=8)
    bar = fig.colorbar(points, cax=axes[-1])
    bar.set_label("training step", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


# ----------------------------------------------------------------------------------------------------
# theory


def information_slopes(channel: pd.DataFrame, slope: pd.DataFrame, info_margin: float, max_relative_sigma: float):
    """Left: I(X;T) of linear channels against log(1/sigma), closed form (lines) and KDE upper/lower estimates
    (markers). Right: KDE upper estimates of the random ReLU networks against log(1/(sigma/scale)), each with a
    line of slope equal to its local rank through its trusted points. Dashed: log N."""
    from .statements import slope_window

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4), sharey=True)
    left, right = axes
    colours = sns.color_palette("viridis", max(len(channel["rank"].unique()), 2))
    for colour, (rank, rows) in zip(colours, channel.groupby("rank")):
        x = -np.log(rows.sigma)
        left.plot(x, rows.closed_form, color=colour, label=f"rank {rank}: closed form")
        left.plot(x, rows.kde_upper, "o", color=colour, ms=4, label=f"rank {rank}: KDE upper")
        left.plot(x, rows.kde_lower, "v", color=colour, ms=4, mfc="none", label=f"rank {rank}: KDE lower")
    left.set(xlabel=r"$\log(1/\sigma)$", ylabel="I(X;T) (nats)", title="linear channels")
    nets = list(slope.groupby(["bottleneck", "network_seed"]))
    colours = sns.color_palette("tab10", len(nets))
    for colour, ((bottleneck, seed), rows) in zip(colours, nets):
        x = -np.log(rows.relative_sigma)
        right.plot(x, rows.kde_upper, "o-", color=colour, ms=3, lw=0.8,
                   label=f"width {bottleneck}, seed {seed}: local rank {rows.local_rank.iloc[0]:.2f}")
        window = rows[slope_window(rows, info_margin, max_relative_sigma)]
        if len(window):
            xw = -np.log(window.relative_sigma)
            mid_x, mid_y = xw.mean(), window.kde_upper.mean()
            right.plot(xw, mid_y + rows.local_rank.iloc[0] * (xw - mid_x), "--", color=colour, lw=1.5)
    right.set(xlabel=r"$\log(\mathrm{scale}/\sigma)$", title="ReLU bottleneck networks (dashed: slope = local rank)")
    for ax in axes:
        ax.axhline(float(channel.log_n.iloc[0]), color="0.4", ls=":", lw=1)
        ax.text(ax.get_xlim()[0], float(channel.log_n.iloc[0]), " log N", va="bottom", fontsize=8, color="0.3")
    legend_below(left, ncol=1, offset=-0.2, fontsize=7)
    legend_below(right, ncol=1, offset=-0.2, fontsize=7)
    fig.tight_layout()
    return fig


def weight_decay_spectra(spectrum: pd.DataFrame, p, every: int = 10):
    """Per panel: singular values of the first weight matrix over training (grey), the tolerance ``p.atol``
    (red), and from the fit step the pure weight-decay prediction of every ``every``-th singular value (dashed)."""
    from .statements import panel_prefix
    from .theory import decay_per_step

    panels = list(dict.fromkeys(spectrum.panel))
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5, 3.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        part = spectrum[spectrum.panel == panel]
        wide = part[part.layer == 1].pivot(index="step", columns="index", values="singular_value").sort_index()
        ax.plot(wide.index, wide.to_numpy(), color="0.55", lw=0.5)
        start = first_step_at_accuracy(part, 0.99)
        rate = decay_per_step(getattr(p, f"{panel_prefix(panel)}_lr"),
                              getattr(p, f"{panel_prefix(panel)}_weight_decay"))
        steps = wide.index[wide.index >= start].to_numpy()
        for i in wide.columns[::every]:
            ax.plot(steps, wide.loc[start, i] * np.exp(-rate * (steps - start)), "--", color="tab:blue", lw=0.5)
        ax.axhline(p.atol, color="tab:red", lw=1.2)
        ax.axvline(start, color="0.3", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", ylim=(p.atol / 30, None), xlabel="training step",
               ylabel=r"singular values of $W_1$", title=f"{panel}: $W_1$ is {wide.shape[1]} rows")
    fig.tight_layout()
    return fig


def rank_against_information(table: pd.DataFrame, panels: list[tuple[str, str]], terminal: pd.Series):
    """Local rank (x) against I(X;T) (y) per hidden layer (columns) for each (network, estimator) in ``panels``
    (rows): one line per run in step order, coloured by configuration; the terminal-phase points (``terminal``,
    a boolean per row of ``table``) are drawn filled, the earlier ones hollow."""
    from .rank_information import CONFIG, config_label

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
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(f"layer {layer}", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{network}: {estimator}\nI(X;T) (nats)", fontsize=7)
            if row == len(panels) - 1:
                ax.set_xlabel("local rank", fontsize=8)
            if not len(rows):
                ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, marker="o", ms=3, lw=0.8) for c in colours.values()]
    fig.legend(handles, list(colours), loc="lower center", ncol=min(4, len(colours)), frameon=False, fontsize=7)
    fig.tight_layout(rect=(0, 0.06 if len(colours) <= 4 else 0.1, 1, 1))
    return fig
