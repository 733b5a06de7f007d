"""Theory: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ....theory import decay_per_step
from ...readings import first_step_at_accuracy
from ...style import legend_below
from .readings import panel_prefix, slope_window


def information_slopes(channel: pd.DataFrame, slope: pd.DataFrame, info_margin: float, max_relative_sigma: float):
    """Left: I(X;T) of linear channels against log(1/sigma), closed form (lines) and KDE upper/lower estimates
    (markers). Right: KDE upper estimates of the random ReLU networks against log(1/(sigma/scale)), each with a
    line of slope equal to its local rank through its trusted points. Dashed: log N."""

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.6))  # own y axes: the ReLU curves are far below the channels
    left, right = axes
    colours = sns.color_palette("viridis", max(len(channel["rank"].unique()), 2))
    for colour, (rank, rows) in zip(colours, channel.groupby("rank")):
        x = -np.log(rows.sigma)
        left.plot(x, rows.closed_form, color=colour, label=f"rank {rank}: closed form")
        left.plot(x, rows.kde_upper, "o", color=colour, ms=4, label=f"rank {rank}: KDE upper")
        left.plot(x, rows.kde_lower, "v", color=colour, ms=4, mfc="none", label=f"rank {rank}: KDE lower")
    left.set(xlabel=r"$\log(1/\sigma)$", ylabel=r"$I(X;T)$ (nats)", title="linear channels")
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
    right.set(xlabel=r"$\log(\mathrm{scale}/\sigma)$", ylabel=r"$I(X;T)$ (nats)",
              title="ReLU bottleneck networks\n(dashed: slope = local rank)")
    for ax in axes:
        ax.set_ylim(top=max(ax.get_ylim()[1], 1.12 * float(channel.log_n.iloc[0])))  # room for the "log N" label
        ax.axhline(float(channel.log_n.iloc[0]), color="0.4", ls=":", lw=1)
        ax.text(ax.get_xlim()[0], float(channel.log_n.iloc[0]), " log N", va="bottom", fontsize=8, color="0.3")
    legend_below(left, ncol=2, below_pt=30, fontsize=8)  # below the x labels (in points: tight_layout moves the axes)
    legend_below(right, ncol=1, below_pt=30, fontsize=8)
    fig.tight_layout()
    return fig


def weight_decay_spectra(spectrum: pd.DataFrame, p, every: int = 10):
    """Per panel: singular values of the first weight matrix over training (grey), the tolerance ``p.atol``
    (red), and from the fit step the pure weight-decay prediction of every ``every``-th singular value (dashed)."""

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
