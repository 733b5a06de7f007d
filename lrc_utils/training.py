"""A small, seeded training loop for classifiers (minibatch AdamW on in-memory tensors)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm


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
                     progress: bool = True) -> list[float]:
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
    losses = []
    model.train()
    for _ in tqdm(range(steps), disable=not progress, desc="training", mininterval=2.0):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=gen).to(x.device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses
