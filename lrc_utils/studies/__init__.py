"""The book's experiments, one module per notebook: ``lrc_utils.studies.<notebook name>``.

Each study module defines

* ``TABLES``: the names of the tidy tables it returns;
* ``compute(p, ctx) -> dict[str, DataFrame]``: loads its data (only here), trains through
  :func:`lrc_utils.training.fit` and measures; ``p`` holds the notebook's parameters as attributes, ``ctx`` is
  a :class:`StudyContext`;
* optionally ``check(p)``: checks of the parameters beyond their types, run before any work;
* optionally ``MACHINE_DEPENDENT``: table -> columns that depend on the machine (timings), left out of the
  fingerprints that keep committed results in step with the code (:mod:`lrc_utils.fingerprint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import disjoint_subsets, gaussian_classification, load_mnist

#: Parameters every notebook declares. They say where and how to run, not what to compute, so they are not
#: compared when deciding whether stored results still match, and they do not name a study's runs.
RUN_PARAMETERS = ("preset", "results_dir", "recompute", "device", "data_dir", "cluster")


@dataclass
class StudyContext:
    """Where and how a study runs: the torch device, the data folder (``None``: the package's default, see
    :func:`lrc_utils.config.data_dir`), a folder for resumable work, and where a grid's runs are computed
    (``runs``: ``None`` for one after another in this process, else e.g. a :class:`lrc_utils.cluster.DaskRuns`,
    see :func:`lrc_utils.grid.run_grid`).

    A context sent to another process with a run (pickled) leaves ``runs`` behind: a run computes itself."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    data_dir: str | None = None
    checkpoint_dir: Path = Path("checkpoints")
    runs: object = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "runs": None}


def study_identity(name: str, p) -> dict:
    """What a study's runs compute: its name and computing parameters (all but where and how to run). Names
    the run and checkpoint files, so work done with other parameters is never picked up."""
    return {"study": name, **{k: v for k, v in vars(p).items() if k not in RUN_PARAMETERS}}


def check_seeds(seeds: list) -> None:
    if not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct non-negative integers, got {seeds}")


def beta_grid(beta_min: float, beta_max: float, n_betas: int) -> list[float]:
    """``n_betas`` log-spaced values from ``beta_min`` to ``beta_max`` (both included)."""
    if not 0 < beta_min < beta_max or n_betas < 2:
        raise ValueError(f"need 0 < beta_min < beta_max and n_betas >= 2, got {beta_min}, {beta_max}, {n_betas}")
    return np.logspace(np.log10(beta_min), np.log10(beta_max), n_betas).tolist()


#: Figure 1's panels (figure1, theory and rank_and_information train their networks).
PANELS = ("gaussian", "mnist")


def panel_data(p, panel: str, ctx: StudyContext):
    """(train, test, rank points, layer sizes) of one panel, on ``ctx.device``; the same for every seed."""
    if panel == "gaussian":
        n = p.gauss_n_train + p.gauss_n_test + p.n_rank_points
        x, y = gaussian_classification(n, p.gauss_input_dim, p.gauss_intrinsic_dim, p.gauss_classes, p.data_seed)
        train_idx, test_idx, rank_idx = torch.split(torch.arange(n), [p.gauss_n_train, p.gauss_n_test,
                                                                      p.n_rank_points])
        sizes = [p.gauss_input_dim, *p.gauss_widths, p.gauss_classes]
    else:
        data = load_mnist(p.mnist_split, ctx.data_dir)
        x, y = data.flat_normalised(), data.labels
        train_idx, test_idx, rank_idx = disjoint_subsets(len(y), [p.mnist_n_train, p.mnist_n_test, p.n_rank_points],
                                                         p.data_seed)
        sizes = [x.shape[1], *p.mnist_widths, 10]
    x, y = x.to(ctx.device), y.to(ctx.device)
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx]), x[rank_idx], sizes
