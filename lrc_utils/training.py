"""Seeded training loops for classifiers (minibatch AdamW on in-memory tensors), one of them recording
local rank at log-spaced steps with resumable checkpoints."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .config import progress_enabled
from .local_rank import local_rank
from .models import MLP

#: ``loss_fn(model, x_batch, y_batch) -> scalar loss tensor`` (nats).
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def adamw_weights_only(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (biases and other vectors are not decayed)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` (``[N, d]``) whose arg-max logit equals the label ``y`` (``[N]``)."""
    return float((model(x).argmax(-1) == y).double().mean())


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float,
                     weight_decay: float = 0.0, batch_size: int = 64, seed: int = 0,
                     progress: bool | None = None) -> list[float]:
    """Train ``model`` on ``(x [N, d], y [N])`` with cross-entropy for ``steps`` minibatch steps.

    Batches are drawn with replacement by a generator seeded with ``seed``. Returns the per-step
    training loss (nats).
    """
    if steps < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need steps >= 0, batch_size >= 1, lr > 0; got {steps}, {batch_size}, {lr}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)} labels")
    gen = torch.Generator().manual_seed(seed)
    opt = adamw_weights_only(model, lr, weight_decay)
    model.train()
    bar = tqdm(range(steps), disable=not progress_enabled(progress), desc="training", mininterval=2.0)
    losses = [minibatch_step(model, opt, x, y, batch_size, gen) for _ in bar]
    model.eval()
    return losses


def minibatch_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int, gen: torch.Generator, loss_fn: LossFn | None = None) -> float:
    """One optimiser step on a minibatch drawn with replacement by ``gen``; returns its loss (nats).

    ``loss_fn(model, x_batch, y_batch)`` gives the scalar loss; default: cross-entropy of ``model(x_batch)``.
    """
    idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=gen).to(x.device)
    loss = F.cross_entropy(model(x[idx]), y[idx]) if loss_fn is None else loss_fn(model, x[idx], y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def load_checkpoint(path: Path | None, config: dict, model: nn.Module, opt: torch.optim.Optimizer,
                    gen: torch.Generator) -> tuple[list, int]:
    """Restore ``model``, ``opt`` and ``gen`` from ``path`` if it exists; return (records, step), else ([], 0).

    Refuses (``ValueError``) a checkpoint written for another ``config``.
    """
    if path is None or not path.exists():
        return [], 0
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
    if state["config"] != config:
        raise ValueError(f"checkpoint {path} was written for another configuration; delete it to start over")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    return state["rows"], state["step"]


def save_checkpoint(path: Path | None, config: dict, model: nn.Module, opt: torch.optim.Optimizer,
                    gen: torch.Generator, rows: list, step: int) -> None:
    """Write what :func:`load_checkpoint` restores, atomically (an interruption never leaves half a file)."""
    if path is None:
        return
    tmp = path.with_suffix(".tmp")
    torch.save({"config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "generator": gen.get_state(), "rows": rows, "step": step}, tmp)
    os.replace(tmp, path)


def log_spaced_steps(total: int, n: int) -> list[int]:
    """About ``n`` distinct integer steps from 1 to ``total``, evenly spaced in log step (both ends included)."""
    if total < 1 or n < 1:
        raise ValueError(f"need total >= 1 and n >= 1, got {total} and {n}")
    steps = np.unique(np.round(np.logspace(0, np.log10(total), n)).astype(int))
    return [int(s) for s in steps]


@dataclass(frozen=True)
class TrainConfig:
    """What defines a training run (and its checkpoint): optimiser, schedule and local-rank tolerance."""

    steps: int
    lr: float
    weight_decay: float
    batch_size: int
    seed: int
    eval_steps: tuple[int, ...]
    atol: float = 1e-2
    checkpoint_every: int = 5000

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"need steps >= 1, batch_size >= 1, lr > 0, weight_decay >= 0; got {self}")
        if not self.eval_steps or min(self.eval_steps) < 1 or max(self.eval_steps) > self.steps:
            raise ValueError(f"eval_steps must lie in [1, steps={self.steps}], got {self.eval_steps}")

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


RECORD_COLUMNS = ["step", "layer", "local_rank", "train_loss", "train_acc", "test_acc"]


def train_recording_local_rank(model: MLP, train: tuple[torch.Tensor, torch.Tensor],
                               test: tuple[torch.Tensor, torch.Tensor], x_rank: torch.Tensor,
                               config: TrainConfig, checkpoint: str | Path | None = None,
                               progress: bool | None = None, desc: str = "training") -> pd.DataFrame:
    """Train ``model`` with minibatch AdamW (weight decay on weights only) and record, at every step of
    ``config.eval_steps``, the local rank of each hidden layer at ``x_rank`` (``[M, input_dim]``), the
    full training loss (nats) and accuracy, and the test accuracy.

    Resumable: with ``checkpoint`` (a file path), the model, optimiser, minibatch generator and records
    are saved at every evaluation and every ``config.checkpoint_every`` steps, and a later call with the
    same file resumes from there, giving the same records as an uninterrupted run. A checkpoint written
    for another config is refused, not reused.

    Returns a DataFrame with :data:`RECORD_COLUMNS`, one row per (eval step, hidden layer), layers from 1.
    """
    x_train, y_train = train
    x_test, y_test = test
    gen = torch.Generator().manual_seed(config.seed)
    opt = adamw_weights_only(model, config.lr, config.weight_decay)
    path = Path(checkpoint) if checkpoint else None
    rows, start = load_checkpoint(path, asdict(config), model, opt, gen)

    def save(step: int) -> None:
        save_checkpoint(path, asdict(config), model, opt, gen, rows, step)

    evals = set(config.eval_steps)
    bar = tqdm(total=config.steps, initial=start, disable=not progress_enabled(progress), desc=desc, mininterval=5.0)
    for step in range(start + 1, config.steps + 1):
        model.train()
        minibatch_step(model, opt, x_train, y_train, config.batch_size, gen)
        bar.update()
        if step in evals:
            model.eval()
            with torch.no_grad():
                train_loss = float(F.cross_entropy(model(x_train), y_train))
            train_acc, test_acc = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
            ranks = local_rank(model, x_rank, atol=config.atol)
            rows += [(step, layer + 1, float(r), train_loss, train_acc, test_acc) for layer, r in enumerate(ranks)]
            bar.set_postfix(loss=f"{train_loss:.2e}", acc=f"{train_acc:.3f}", rank=[round(float(r)) for r in ranks])
        if step in evals or step % config.checkpoint_every == 0 or step == config.steps:
            save(step)
    bar.close()
    model.eval()
    return pd.DataFrame(rows, columns=RECORD_COLUMNS)
