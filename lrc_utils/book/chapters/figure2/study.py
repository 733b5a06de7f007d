"""Figure 2: Deep VIB on a hierarchical Gaussian mixture, local rank of the bottleneck against beta.

The data (our choice, the paper gives none): ``2^len(separations)`` classes, one binary distinction per
separation, in ``input_dim`` dimensions with unit noise (:func:`lrc_utils.data.hierarchical_gaussian_mixture`).
The runs are those of :mod:`lrc_utils.book.chapters.vib.grid`.
"""

from __future__ import annotations

import numpy as np

from ....data import hierarchical_gaussian_mixture
from .. import StudyContext
from ..vib.grid import TABLES, check, vib_runs  # noqa: F401 - TABLES and check are this study's

DATASET = "gaussian"


def n_classes(p) -> int:
    return 2 ** len(p.separations)


def compute(p, ctx: StudyContext) -> dict:
    def load(dataset: str):
        n = p.n_train + p.n_test + p.n_rank_points
        x, y = hierarchical_gaussian_mixture(n, p.input_dim, p.separations, p.data_seed)
        x, y = x.to(ctx.device), y.to(ctx.device)
        train, test, rank = np.split(np.arange(n), [p.n_train, p.n_train + p.n_test])
        return (x[train], y[train]), (x[test], y[test]), x[rank]

    return vib_runs("figure2", p, ctx, [DATASET], load, p.input_dim, n_classes(p))
