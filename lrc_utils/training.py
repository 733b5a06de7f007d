"""The training loop of the package: :func:`fit`, with monitors and resumable checkpoints (a plain MLP on the CPU,
or a noisy one trained on :func:`lrc_utils.models.noisy_cross_entropy`, takes its fast path,
:func:`lrc_utils.ensemble.fit_ensemble` with one member: the same numbers without autograd).

Every experiment of the book trains through :func:`fit`, or with the runs it shares an ensemble with
(:func:`lrc_utils.grid.train_runs`)::

    config = FitConfig(steps=3000, lr=1e-3, weight_decay=0.1, batch_size=64, seed=0, eval_steps=(1, 10, 3000))
    monitors = [ClassifierMetrics(train, test), LocalRankMonitor(x_rank, atol=1e-2)]
    records = fit(model, cross_entropy_loss, train, config, monitors, checkpoint=Checkpoint(folder, identity))
    records["local_rank"]   # a tidy DataFrame: one row per (eval step, layer)

* Optimisation: minibatches drawn with replacement by one CPU generator seeded with ``config.seed`` (it
  also drives any sampling inside the loss, such as the VIB's samples of z); AdamW with
  ``betas=(adam_beta1, 0.999)`` and decoupled weight decay on weight matrices only; the learning rate decays
  exponentially from ``lr`` to ``lr * lr_final_ratio`` over the run (constant when the ratio is 1).
* Monitors: small objects asked at every step of ``config.eval_steps`` for rows of a tidy table (see
  :class:`Monitor`). The model is in eval mode while they measure.
* Checkpoints: :class:`Checkpoint` is the one place that decides whether saved work belongs to a run. Its
  file name is a digest of the run's identity (the fit config plus whatever the caller adds: model, data
  and study parameters, run key), the identity is stored inside and compared on load, and the file is read
  with ``torch.load(weights_only=True)``: only tensors and plain Python values, never pickled objects.
  A run resumed from a checkpoint gives exactly the records of an uninterrupted run; a finished run removes it.
* Losses: :func:`cross_entropy_loss`, the first author's :func:`softmax_cross_entropy_loss` (both by name in
  :data:`LOSSES`) and Chelombiev et al.'s :func:`l2_penalised_cross_entropy`; their evaluation epochs,
  :func:`eval_epochs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .config import flush_denormals, progress_enabled
from .data import Data
from .ensemble import fast_path_loss, fit_ensemble
from .local_rank import (
    active_units,
    effective_rank,
    local_rank,
    ranks_at_tolerances,
    restricted_singular_values,
    singular_values,
)
from .losses import (  # noqa: F401 - re-exported: lrc_utils.training stays the one import for training
    LOSSES,
    L2PenalisedCrossEntropy,
    LossFn,
    cross_entropy_loss,
    ensemble_loss,
    l2_penalised_cross_entropy,
    softmax_cross_entropy_loss,
)
from .optim import (  # noqa: F401 - re-exported, as the losses
    ALIGN_BYTES,
    OPTIMIZERS,
    FitConfig,
    FlatAdamW,
    adamw_weights_only,
    set_learning_rate,
    sgd_weights_only,
)
from .work import (  # noqa: F401 - re-exported, as the losses
    WORK_MAGIC,
    Checkpoint,
    DamagedWork,
    StaleWork,
    atomic_write,
    current_work_code,
    digest,
    is_stale,
    load_work,
    save_work,
    work_code,
)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` (``[N, d]``) whose arg-max output equals the label ``y`` (``[N]``)."""
    return float((model(x).argmax(-1) == y).double().mean())


def log_spaced_steps(total: int, n: int) -> list[int]:
    """About ``n`` distinct integer steps from 1 to ``total``, evenly spaced in log step (both ends included)."""
    if total < 1 or n < 1:
        raise ValueError(f"need total >= 1 and n >= 1, got {total} and {n}")
    steps = np.unique(np.round(np.logspace(0, np.log10(total), n)).astype(int))
    return [int(s) for s in steps]


# ----------------------------------------------------------------------------------------------------
# monitors


class Monitor(Protocol):
    """Asked at every evaluation step for rows of its table ``records[name]`` (a ``step`` column is added)."""

    name: str

    def __call__(self, model: nn.Module, step: int, batch_loss: float) -> list[dict[str, object]]: ...


@dataclass
class BatchLoss:
    """The loss (nats) of the minibatch of the evaluation step: column ``batch_loss``."""

    name: str = "batch_loss"

    def __call__(self, model, step, batch_loss):
        return [{"batch_loss": batch_loss}]


@dataclass
class ClassifierMetrics:
    """Full-set training loss (cross-entropy, nats) and accuracy, and test accuracy: columns ``train_loss``,
    ``train_acc``, ``test_acc``."""

    train: Data
    test: Data
    name: str = "metrics"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        train_loss = float(F.cross_entropy(model(self.train[0]), self.train[1]))
        return [{"train_loss": train_loss, "train_acc": accuracy(model, *self.train),
                 "test_acc": accuracy(model, *self.test)}]


@dataclass
class LocalRankMonitor:
    """Local rank of every hidden layer at ``x`` (``[M, input_dim]``): columns ``layer`` (from 1), ``local_rank``.
    With ``layers`` (dotted names of submodules of any model), of those layers instead (:func:`local_rank`'s named
    path, ``x`` of shape ``[M, *input_shape]``): ``layer`` is then the name."""

    x: torch.Tensor
    atol: float
    rtol: float = 0.0
    name: str = "local_rank"
    layers: tuple[str, ...] | None = None

    def __call__(self, model, step, batch_loss):
        if self.layers is not None:
            named = local_rank(model, self.x, atol=self.atol, rtol=self.rtol, layers=list(self.layers))
            return [{"layer": layer, "local_rank": float(r)} for layer, r in zip(named.layers, named.local_rank)]
        ranks = local_rank(model, self.x, atol=self.atol, rtol=self.rtol)
        return [{"layer": layer, "local_rank": float(r)} for layer, r in enumerate(ranks, start=1)]


@dataclass
class RankMeasures:
    """Per hidden layer at ``x`` (``[M, input_dim]``), means over the inputs: ``rank_atol`` (singular values of the
    input Jacobian above ``atol``), ``rank_rtol`` (above ``rtol`` times the largest), ``effective_rank``
    (:func:`lrc_utils.local_rank.effective_rank`: no threshold), ``active_units``
    (:func:`lrc_utils.local_rank.active_units`) and, with ``basis`` (``[input_dim, k]``, orthonormal), ``rank_subspace``
    (the Jacobian restricted to the basis's span, above ``atol``; NaN without a basis). ``model`` is an
    :class:`lrc_utils.models.ActivationChain`."""

    x: torch.Tensor
    atol: float
    rtol: float
    basis: torch.Tensor | None = None
    name: str = "rank_measures"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        spectra, active = singular_values(model, self.x), active_units(model, self.x)
        restricted = (restricted_singular_values(model, self.x, self.basis) if self.basis is not None
                      else [None] * len(spectra))
        rows = []
        for layer, (s, units, sub) in enumerate(zip(spectra, active, restricted), start=1):
            rank_atol, rank_rtol = ranks_at_tolerances(s, [self.atol], [self.rtol]).local_rank
            rank_subspace = ranks_at_tolerances(sub, [self.atol], []).local_rank[0] if sub is not None else math.nan
            rows.append({"layer": layer, "rank_atol": rank_atol, "rank_rtol": rank_rtol,
                         "effective_rank": float(effective_rank(s).mean()), "active_units": units,
                         "rank_subspace": float(rank_subspace)})
        return rows


# ----------------------------------------------------------------------------------------------------
# the loop


def minibatch_step(model: nn.Module, opt: torch.optim.Optimizer | FlatAdamW, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int, gen: torch.Generator, loss_fn: LossFn = cross_entropy_loss) -> float:
    """One optimiser step on a minibatch drawn with replacement by ``gen``; returns its loss (nats)."""
    idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=gen).to(x.device)
    loss = loss_fn(model, x[idx], y[idx], gen)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def fit(model: nn.Module, loss_fn: LossFn, train: Data, config: FitConfig, monitors: Sequence[Monitor] = (),
        checkpoint: Checkpoint | None = None, progress: bool | None = None, desc: str = "training"
        ) -> dict[str, pd.DataFrame]:
    """Train ``model`` in place on ``train`` = (``[N, input_dim]``, ``[N]``) and record its monitors.

    Returns one tidy DataFrame per monitor (``records[monitor.name]``), its rows in step order with a
    ``step`` column first. With ``checkpoint``, the model, optimiser, generator and records are saved every
    ``config.checkpoint_every`` steps, and a later call resumes from there with identical records; the file
    is removed when the run finishes (store the returned records, e.g. with :func:`lrc_utils.grid.run_grid`).
    A plain MLP trained on the CPU with AdamW on the cross-entropy (with or without an L2 penalty) or the softmax
    cross-entropy takes the fast path (:func:`lrc_utils.ensemble.fast_path_loss` says when), and so does a
    :class:`lrc_utils.models.NoisyMLP` trained on :func:`lrc_utils.models.noisy_cross_entropy`: the same numbers,
    its gradients computed without autograd's graph.
    Each step, its minibatch loss included, runs inside :func:`lrc_utils.config.flush_denormals` (with one torch
    thread, subnormal numbers read as zero, for speed; it can move a run's numbers: see
    :func:`lrc_utils.config.flush_denormals`); monitors' own computations and checkpoints compute in full.
    """
    x, y = train
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"train must hold the same positive number of inputs and labels, got {len(x)} and {len(y)}")
    names = [m.name for m in monitors]
    if len(set(names)) != len(names):
        raise ValueError(f"monitor names must be distinct, got {names}")
    fast_loss = fast_path_loss(model, loss_fn, config, train)
    if fast_loss is not None:  # the same numbers without autograd (lrc_utils.ensemble, tests/test_ensemble.py)
        return fit_ensemble([model], train, [config], l2=[fast_loss[1]], monitors=[list(monitors)], progress=progress,
                            desc=desc, products="per_member", loss=fast_loss[0],
                            checkpoints=None if checkpoint is None else [checkpoint])[0]
    gen = torch.Generator().manual_seed(config.seed)
    if config.optimizer == "sgd":
        opt = sgd_weights_only(model, config.lr, config.weight_decay, config.momentum)
    else:
        opt = FlatAdamW(model, config.lr, config.weight_decay, betas=(config.adam_beta1, 0.999))
    ckpt = checkpoint.for_config(config) if checkpoint is not None else None
    records, start = ckpt.load(model, opt, gen) if ckpt is not None else ({}, 0)
    records = {name: list(records.get(name, [])) for name in names}
    evals = set(config.eval_steps)
    bar = tqdm(total=config.steps, initial=start, disable=not progress_enabled(progress), desc=desc,
               mininterval=2.0, leave=False)
    model.train()
    decaying_lr = config.lr_final_ratio != 1.0  # else lr_at(step) == lr, as the optimiser was built with
    for step in range(start + 1, config.steps + 1):
        if decaying_lr:
            set_learning_rate(opt, config.lr_at(step))
        with flush_denormals():  # the step only (its loss included): monitors and checkpoints compute in full
            batch_loss = minibatch_step(model, opt, x, y, config.batch_size, gen, loss_fn)
        bar.update()
        if step in evals:
            model.eval()
            for monitor in monitors:
                records[monitor.name] += [{"step": step, **row} for row in monitor(model, step, batch_loss)]
            model.train()
        if ckpt is not None and step % config.checkpoint_every == 0 and step < config.steps:
            ckpt.save(model, opt, gen, records, step)
    bar.close()
    if ckpt is not None:
        ckpt.remove()  # finished: what it held is in the returned records
    model.eval()
    return {name: pd.DataFrame(rows) for name, rows in records.items()}


def eval_epochs(epochs: int, n_evals: int) -> list[int]:
    """About ``n_evals`` distinct epochs from 1 to ``epochs``, log-spaced."""
    return sorted({int(e) for e in np.round(np.logspace(0, math.log10(epochs), n_evals))})
