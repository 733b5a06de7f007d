"""The beta grid shared by Figures 2 and 3: one Deep VIB run per (dataset, seed, beta).

A run trains a fresh :class:`lrc_utils.vib.VIB` with :func:`lrc_utils.training.fit` (Adam with beta1 from the
parameters, the learning rate decaying exponentially, no weight decay) on the VIB loss at its beta, then
measures it with :func:`lrc_utils.vib.evaluate_vib`. Tables:

* ``vib_sweep``: one row per run with :data:`SWEEP_COLUMNS`;
* ``spectrum``: the mean over the rank points of the bottleneck Jacobian's i-th singular value, per run and i;
* ``tolerance``: the bottleneck's local rank at every tolerance of ``atol_grid`` and ``rtol_grid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ....config import seed_everything
from ....grid import run_grid
from ....local_rank import ranks_at_tolerances
from ....training import Checkpoint, FitConfig, fit
from ....vib import VIB, evaluate_vib, vib_loss
from ...params import RunParams, param
from .. import StudyContext, beta_grid, check_seeds, study_identity

TABLES = ("vib_sweep", "spectrum", "tolerance")
#: Steps between checkpoints of a run in progress.
CHECKPOINT_EVERY = 1000


@dataclass(kw_only=True)
class VibGridParams(RunParams):
    """The parameters of the Deep VIB grid that Figures 2 and 3 share, at the same defaults; each figure's
    ``Params`` adds its data, network size, beta range and steps."""

    beta_max: float = param(10.0, "largest beta")
    lr: float = param(0.001, "initial learning rate")
    lr_final_ratio: float = param(0.1, "the learning rate decays exponentially to lr * lr_final_ratio")
    adam_beta1: float = param(0.5, "Adam's first-moment decay (0.5 in the original VIB)")
    batch_size: int = param(100, "minibatch size")
    n_predict_samples: int = param(12, "samples of z averaged for predictions and for the CE column")
    atol: float = param(0.1, "absolute tolerance of the local rank")
    rtol: float = param(0.1, "relative tolerance of the local rank (times the largest singular value)")
    atol_grid: list = param([0.001, 0.01, 0.1, 0.3], "further absolute tolerances, for the tolerance figure")
    rtol_grid: list = param([0.0001, 0.001, 0.01, 0.1, 0.3], "further relative tolerances")
    jump_min_change: float = param(0.5, "a sharp step: the seed-mean rank changes this much between neighbouring betas")


SWEEP_COLUMNS = ["dataset", "seed", "beta", "kl", "ce", "train_acc", "test_acc", "local_rank_abs", "local_rank_rel",
                 "local_rank_noise", "effective_rank"]


def check(p) -> None:
    check_seeds(p.seeds)
    beta_grid(p.beta_min, p.beta_max, p.n_betas)


def vib_runs(name: str, p, ctx: StudyContext, datasets: list[str], load: Callable[[str], tuple],
             input_dim: int, n_classes: int) -> dict[str, pd.DataFrame]:
    """Every (dataset, seed, beta) run of the grid; ``load(dataset)`` gives (train, test, rank points) on the
    device and is called only for datasets with runs still to compute."""
    identity = study_identity(name, p)
    data: dict = {}

    def run_one(key: dict) -> dict:
        dataset, seed, beta = key["dataset"], key["seed"], key["beta"]
        if dataset not in data:
            data[dataset] = load(dataset)
        train, test, x_rank = data[dataset]
        seed_everything(seed)
        model = VIB(input_dim, p.encoder_widths, p.latent_dim, n_classes,
                    n_predict_samples=p.n_predict_samples).to(ctx.device)
        config = FitConfig(steps=p.steps, lr=p.lr, batch_size=p.batch_size, seed=seed, adam_beta1=p.adam_beta1,
                           lr_final_ratio=p.lr_final_ratio, checkpoint_every=CHECKPOINT_EVERY)

        def loss(m, xb, yb, gen):
            return vib_loss(m, xb, yb, beta, generator=gen).total

        fit(model, loss, train, config, checkpoint=Checkpoint(ctx.checkpoint_dir, {**identity, **key}),
            desc=f"{dataset} seed {seed} beta {beta:.2e}")
        measured = evaluate_vib(model, train, test, x_rank, p.atol, p.rtol, seed, model.n_predict_samples)
        s = measured.pop("singular_values")
        mean = s.mean(0).numpy()
        run = {"dataset": dataset, "seed": seed, "beta": beta}
        return {"vib_sweep": pd.DataFrame([{**run, **measured}], columns=SWEEP_COLUMNS),
                "spectrum": pd.DataFrame({**run, "index": np.arange(1, len(mean) + 1), "singular_value": mean}),
                "tolerance": ranks_at_tolerances(s, p.atol_grid, p.rtol_grid).assign(**run)[
                    ["dataset", "seed", "beta", "convention", "tolerance", "local_rank"]]}

    betas = beta_grid(p.beta_min, p.beta_max, p.n_betas)
    keys = [{"dataset": d, "seed": seed, "beta": beta} for d in datasets for seed in p.seeds for beta in betas]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc=f"{name} runs")
