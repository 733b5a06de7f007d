"""Figure 3: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ...style import seeds
from ..vib.figures import rank_and_accuracy


def figure3(sweep: pd.DataFrame, titles: dict[str, str], atol: float, rtol: float):
    """One row per dataset: local rank of the bottleneck (both conventions) and test accuracy against beta."""
    datasets = list(dict.fromkeys(sweep.dataset))
    fig, axes = plt.subplots(len(datasets), 1, figsize=(6.5, 4.6 * len(datasets)), squeeze=False)
    for ax, name in zip(axes[:, 0], datasets):
        part = sweep[sweep.dataset == name]
        rank_and_accuracy(ax, part, atol, rtol, chance=0.1)
        ax.set_title(f"{titles[name]}, {seeds(part.seed.nunique())}")
    return fig
