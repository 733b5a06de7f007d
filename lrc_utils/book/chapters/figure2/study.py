"""Figure 2: Deep VIB on a hierarchical Gaussian mixture, local rank of the bottleneck against beta.

The data (our choice, the paper gives none): ``2^len(separations)`` classes, one binary distinction per
separation, in ``input_dim`` dimensions with unit noise (:func:`lrc_utils.data.hierarchical_gaussian_mixture`).
The runs are those of :mod:`lrc_utils.book.chapters.vib.grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ....data import hierarchical_gaussian_mixture
from ...params import param
from .. import StudyContext
from ..vib.grid import TABLES, VibGridParams, check, vib_runs  # noqa: F401 - TABLES and check are its


@dataclass(kw_only=True)
class Params(VibGridParams):
    """Figure 2's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seeds: list = param([0, 1, 2], "one run per seed and beta (initialisation, minibatches, samples of z)")
    data_seed: int = param(0, "seed of the Gaussian mixture (the same data for every run)")
    input_dim: int = param(16, "D: dimension of the inputs")
    separations: list = param([8.0, 3.0, 1.5], "distance between the two halves of each binary distinction")
    n_train: int = param(2000, "training points")
    n_test: int = param(1000, "test points")
    n_rank_points: int = param(256, "held-out points at which local rank is averaged")
    encoder_widths: list = param([64, 64], "hidden widths of the encoder (ReLU)")
    latent_dim: int = param(8, "K: dimension of the bottleneck z")
    beta_min: float = param(0.01, "smallest beta of the log-spaced grid")
    n_betas: int = param(25, "number of beta values")
    steps: int = param(6000, "Adam steps per run")
    accuracy_min_drop: float = param(0.1, "a phase transition: the seed-mean test accuracy drops this much")

    def check(self) -> None:
        check(self)


DATASET = "gaussian"


def n_classes(p) -> int:
    return 2 ** len(p.separations)


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    ctx = ctx or StudyContext()
    def load(dataset: str):
        n = p.n_train + p.n_test + p.n_rank_points
        x, y = hierarchical_gaussian_mixture(n, p.input_dim, p.separations, p.data_seed)
        x, y = x.to(ctx.device), y.to(ctx.device)
        train, test, rank = np.split(np.arange(n), [p.n_train, p.n_train + p.n_test])
        return (x[train], y[train]), (x[test], y[test]), x[rank]

    return vib_runs("figure2", p, ctx, [DATASET], load, p.input_dim, n_classes(p))
