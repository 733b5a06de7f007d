"""Figure 2: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ...style import seeds
from ..vib.figures import kl_coloured_by_rank, rank_and_accuracy


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
