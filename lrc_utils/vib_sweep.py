"""Training Deep VIB models over a grid of beta, resumably, recording compression and local rank.

One run = one (seed, beta): train a fresh :class:`lrc_utils.vib.VIB` with Adam, then measure on the
training set the KL and cross-entropy terms of the loss (nats), the training and test accuracy of the
sample-averaged prediction, and the local rank of the bottleneck mean under an absolute and a relative
tolerance. Each finished run is written to its own file at once, and a run in progress is checkpointed
every ``checkpoint_every`` steps, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .config import progress_enabled, seed_everything
from .local_rank import local_rank, singular_values
from .training import load_checkpoint, minibatch_step, save_checkpoint
from .vib import VIB, kl_to_standard_normal, vib_loss

Data = tuple[torch.Tensor, torch.Tensor]
SWEEP_COLUMNS = ["dataset", "seed", "beta", "kl", "ce", "train_acc", "test_acc", "local_rank_abs", "local_rank_rel"]


@dataclass(frozen=True)
class VIBTrainConfig:
    """Optimisation of one VIB run: Adam(lr, betas=(adam_beta1, 0.999)) on minibatches drawn with
    replacement, the learning rate decaying exponentially from ``lr`` to ``lr * lr_final_ratio``."""

    steps: int
    lr: float
    batch_size: int
    adam_beta1: float = 0.5
    lr_final_ratio: float = 1.0
    checkpoint_every: int = 1000

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or not self.lr > 0 or not 0 < self.lr_final_ratio <= 1:
            raise ValueError(f"need steps >= 1, batch_size >= 1, lr > 0, 0 < lr_final_ratio <= 1; got {self}")
        if not 0 <= self.adam_beta1 < 1 or self.checkpoint_every < 1:
            raise ValueError(f"need 0 <= adam_beta1 < 1 and checkpoint_every >= 1; got {self}")


def train_vib(model: VIB, train: Data, beta: float, config: VIBTrainConfig, seed: int,
              checkpoint: Path | None = None, progress: bool | None = None, desc: str = "VIB") -> None:
    """Train ``model`` in place on ``train`` = (``[N, input_dim]``, ``[N]``) with the VIB loss at ``beta``.

    Minibatches and the samples of ``z`` come from one CPU generator seeded with ``seed``. With
    ``checkpoint``, the model, optimiser and generator are saved every ``config.checkpoint_every`` steps
    and a later call resumes from there, giving the same model as an uninterrupted run.
    """
    x, y = train
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.adam_beta1, 0.999))
    state = {**asdict(config), "beta": float(beta), "seed": int(seed), "model": repr(model)}
    _, start = load_checkpoint(checkpoint, state, model, opt, gen)

    def loss_fn(m: VIB, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return vib_loss(m, xb, yb, beta, generator=gen).total

    model.train()
    bar = tqdm(total=config.steps, initial=start, disable=not progress_enabled(progress), desc=desc,
               mininterval=2.0, leave=False)
    for step in range(start + 1, config.steps + 1):
        for group in opt.param_groups:
            group["lr"] = config.lr * config.lr_final_ratio ** ((step - 1) / config.steps)
        minibatch_step(model, opt, x, y, config.batch_size, gen, loss_fn)
        bar.update()
        if step % config.checkpoint_every == 0 and step < config.steps:
            save_checkpoint(checkpoint, state, model, opt, gen, [], step)
    bar.close()
    model.eval()


@torch.no_grad()
def evaluate_vib(model: VIB, train: Data, test: Data, x_rank: torch.Tensor, atol: float, rtol: float,
                 seed: int = 0, n_samples: int = 12) -> dict[str, object]:
    """Measure a trained VIB model.

    Returns ``kl`` and ``ce`` (the loss terms averaged over the training set, nats; ``ce`` at
    ``n_samples`` samples per input), ``train_acc`` and ``test_acc`` (prediction averaged over
    ``n_samples`` samples), the local rank of the bottleneck mean at ``x_rank`` with absolute tolerance
    ``atol`` (``local_rank_abs``) and with relative tolerance ``rtol`` (``local_rank_rel``: singular values
    above ``rtol * sigma_max`` of each input's own Jacobian), and ``singular_values``: the bottleneck
    Jacobian's singular values per input, float64 ``[len(x_rank), K]`` in descending order.
    """
    gen = torch.Generator().manual_seed(seed)
    mu, sigma = model.encode(train[0])
    kl = float(kl_to_standard_normal(mu, sigma).mean())
    ce = float(vib_loss(model, *train, beta=0.0, n_samples=n_samples, generator=gen).ce)
    accs = [float((model(x, n_samples, gen).argmax(-1) == y).double().mean()) for x, y in (train, test)]
    rank_abs = float(local_rank(model, x_rank, atol=atol)[-1])
    rank_rel = float(local_rank(model, x_rank, atol=0.0, rtol=rtol)[-1])
    spectrum = singular_values(model, x_rank)[-1][:, : model.latent_dim]
    return {"kl": kl, "ce": ce, "train_acc": accs[0], "test_acc": accs[1], "local_rank_abs": rank_abs,
            "local_rank_rel": rank_rel, "singular_values": spectrum}


def ranks_at_tolerances(singular: torch.Tensor, atols: Sequence[float], rtols: Sequence[float]) -> pd.DataFrame:
    """Mean numerical rank of matrices with singular values ``singular`` (``[N, k]``, descending) at each
    absolute tolerance (``> atol``) and each relative one (``> rtol * sigma_max`` per matrix).

    Returns rows (convention ``"abs"``/``"rel"``, tolerance, local_rank).
    """
    s = singular.to(torch.float64)
    rows = [("abs", float(t), float((s > t).sum(-1).double().mean())) for t in atols]
    rows += [("rel", float(t), float((s > t * s[:, :1]).sum(-1).double().mean())) for t in rtols]
    return pd.DataFrame(rows, columns=["convention", "tolerance", "local_rank"])


def _run_file(folder: Path, seed: int, beta: float) -> Path:
    return folder / f"seed{seed}-beta{beta:.6e}.pt"


def beta_sweep(make_model: Callable[[], VIB], train: Data, test: Data, x_rank: torch.Tensor,
               betas: Sequence[float], seeds: Sequence[int], config: VIBTrainConfig, atol: float, rtol: float,
               folder: Path, dataset: str, atol_grid: Sequence[float] = (), rtol_grid: Sequence[float] = (),
               progress: bool | None = None) -> dict[str, pd.DataFrame]:
    """Train and measure one VIB model per (seed, beta); resumable through ``folder``.

    ``make_model()`` builds a fresh model (called after seeding with the run's seed). Finished runs are
    read back from ``folder`` (one file per run); unfinished ones resume from their training checkpoint.

    Returns three tables:
        ``sweep``: one row per run with :data:`SWEEP_COLUMNS` (``dataset`` is the given label);
        ``spectrum``: the mean over ``x_rank`` of the bottleneck Jacobian's i-th singular value, per run and i;
        ``tolerance``: the local rank of the bottleneck at each tolerance of ``atol_grid`` and ``rtol_grid``.
    """
    betas, seeds = [float(b) for b in betas], [int(s) for s in seeds]
    if not betas or any(not (math.isfinite(b) and b >= 0) for b in betas) or len(set(betas)) != len(betas):
        raise ValueError(f"betas must be distinct finite numbers >= 0, got {betas}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, got {seeds}")
    folder.mkdir(parents=True, exist_ok=True)
    runs = [(seed, beta) for seed in seeds for beta in betas]
    results = []
    bar = tqdm(runs, disable=not progress_enabled(progress), desc=f"{dataset} sweep")
    for seed, beta in bar:
        bar.set_postfix(seed=seed, beta=f"{beta:.2e}")
        path = _run_file(folder, seed, beta)
        if not path.exists():
            seed_everything(seed)
            model = make_model().to(x_rank.device)
            training = path.with_suffix(".training.pt")
            train_vib(model, train, beta, config, seed, training, progress, desc=f"beta {beta:.2e}")
            measured = evaluate_vib(model, train, test, x_rank, atol, rtol, seed, model.n_predict_samples)
            tmp = path.with_suffix(".tmp")
            torch.save(measured, tmp)
            os.replace(tmp, path)  # atomic: the run counts as finished only when its file is whole
            training.unlink(missing_ok=True)
        results.append((seed, beta, torch.load(path, weights_only=False)))
    bar.close()
    sweep, spectrum, tolerance = [], [], []
    for seed, beta, measured in results:
        s = measured["singular_values"]
        sweep.append({"dataset": dataset, "seed": seed, "beta": beta,
                      **{k: measured[k] for k in SWEEP_COLUMNS[3:]}})
        mean = s.mean(0).numpy()
        spectrum.append(pd.DataFrame({"dataset": dataset, "seed": seed, "beta": beta,
                                      "index": np.arange(1, len(mean) + 1), "singular_value": mean}))
        tolerance.append(ranks_at_tolerances(s, atol_grid, rtol_grid).assign(dataset=dataset, seed=seed, beta=beta))
    order = ["dataset", "seed", "beta"]
    tol = pd.concat(tolerance, ignore_index=True)
    return {"sweep": pd.DataFrame(sweep, columns=SWEEP_COLUMNS),
            "spectrum": pd.concat(spectrum, ignore_index=True),
            "tolerance": tol[order + ["convention", "tolerance", "local_rank"]]}
