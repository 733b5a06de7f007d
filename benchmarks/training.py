"""Benchmark: one training step of Figure 1's MNIST network against the hardware's floor, side by side in one run.

The network is Figure 1's MNIST MLP (784-200x4-10, ReLU, weights N(0, 1/fan_in)), AdamW lr 1e-3 with weight decay
0.1 on weight matrices, minibatches of 64 of 1,000 MNIST test images, one torch thread. Printed per network-step:

* ``torch AdamW loop``: :func:`lrc_utils.training.minibatch_step` with ``torch.optim.AdamW``
  (:func:`~lrc_utils.training.adamw_weights_only`) and its learning rate set on every parameter group, as
  :func:`~lrc_utils.training.fit` trained before its flat-buffer optimiser;
* ``FlatAdamW loop``: :func:`lrc_utils.training.minibatch_step` with :class:`~lrc_utils.training.FlatAdamW` (the
  same numbers bit for bit: tests/test_flat_adamw.py), subnormal numbers computed in full, as ``fit`` stepped
  before it flushed them;
* ``fit``: :func:`lrc_utils.training.fit` as the studies call it (no monitors): FlatAdamW, its step inside
  :func:`lrc_utils.config.flush_denormals` (the AdamW first moments of weights whose gradient has stopped decay
  into the subnormal range, where the CPU is slow: 23,647 entries after 1,000 steps here; the same numbers:
  tests/test_training.py, and Figure 1's paper runs over 5e4 steps with and without it);
* ``ensemble of E``: :func:`lrc_utils.ensemble.fit_ensemble` of E members, time per member-step;
* ``floor``: the float32 matrix products of one step, 3 x the forward's 3.57e7 FLOP (forward, and backward to
  weights and inputs), at the rate one 64x784x200 product reaches on this machine (measured here).

    python benchmarks/training.py               # 4,000 steps each
    python benchmarks/training.py --steps 500   # subnormals appear after about 1,000 steps
"""

from __future__ import annotations

import argparse
import time

import torch

from lrc_utils.config import RUN_THREADS, seed_everything, torch_threads
from lrc_utils.data import disjoint_subsets, load_mnist
from lrc_utils.ensemble import fit_ensemble
from lrc_utils.models import MLP
from lrc_utils.training import (
    FitConfig,
    FlatAdamW,
    adamw_weights_only,
    cross_entropy_loss,
    fit,
    minibatch_step,
    set_learning_rate,
)

SIZES = [784, 200, 200, 200, 200, 10]
BATCH = 64


def network(seed: int) -> MLP:
    seed_everything(seed)
    return MLP(SIZES, "relu", init="normal")


def forward_flop() -> float:
    return 2.0 * BATCH * sum(a * b for a, b in zip(SIZES, SIZES[1:]))


def product_rate(repeats: int = 2000) -> float:
    """FLOP/s of one float32 product [64, 784] x [784, 200] (the best of five timings)."""
    a, w = torch.randn(BATCH, 784), torch.randn(784, 200)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ w
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2.0 * BATCH * 784 * 200 / best


def plain_loop(train, config: FitConfig, optimiser, lr_every_step: bool) -> float:
    """Seconds per step of minibatch_step with ``optimiser(model, lr, weight_decay)``, the learning rate set on the
    optimiser at every step where ``lr_every_step`` (as fit did before its flat-buffer optimiser). For
    :class:`FlatAdamW` it also prints how many first-moment entries are subnormal at the end."""
    model = network(config.seed)
    opt = optimiser(model, config.lr, config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        if lr_every_step:
            set_learning_rate(opt, config.lr_at(step))
        minibatch_step(model, opt, *train, config.batch_size, gen, cross_entropy_loss)
    seconds = (time.perf_counter() - start) / config.steps
    if isinstance(opt, FlatAdamW):
        moments = opt.exp_avg
        subnormal = int(((moments != 0) & (moments.abs() < torch.finfo(moments.dtype).tiny)).sum())
        print(f"FlatAdamW loop: {subnormal:,} of {moments.numel():,} first-moment entries subnormal after "
              f"{config.steps:,} steps")
    return seconds


def fit_alone(train, config: FitConfig) -> float:
    model = network(config.seed)
    start = time.perf_counter()
    fit(model, cross_entropy_loss, train, config, progress=False)
    return (time.perf_counter() - start) / config.steps


def ensemble(train, config: FitConfig, members: int) -> float:
    models = [network(seed) for seed in range(members)]
    configs = [FitConfig(**{**config.__dict__, "seed": seed}) for seed in range(members)]
    start = time.perf_counter()
    fit_ensemble(models, train, configs, progress=False)
    return (time.perf_counter() - start) / (config.steps * members)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4000, help="optimiser steps per network")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = load_mnist("test", args.data_dir)
    (idx,) = disjoint_subsets(len(data.labels), [1000], 0)
    train = (data.flat_normalised()[idx], data.labels[idx])
    config = FitConfig(steps=args.steps, lr=1e-3, weight_decay=0.1, batch_size=BATCH, seed=0)
    with torch_threads(RUN_THREADS):
        rate = product_rate()
        floor = 3 * forward_flop() / rate
        rows = [("torch AdamW loop", plain_loop(train, config, adamw_weights_only, lr_every_step=True)),
                ("FlatAdamW loop", plain_loop(train, config, FlatAdamW, lr_every_step=False)),
                ("fit", fit_alone(train, config)),
                ("ensemble of 3", ensemble(train, config, 3)), ("ensemble of 10", ensemble(train, config, 10)),
                ("floor", floor)]
    print(f"one 64x784x200 product: {rate / 1e9:.0f} GFLOP/s; a step's products: {3 * forward_flop():.3g} FLOP; "
          f"{args.steps} steps, {RUN_THREADS} torch thread")
    print(f"{'':18s} {'ms per network-step':>20s} {'x floor':>8s}")
    for name, seconds in rows:
        print(f"{name:18s} {seconds * 1e3:20.2f} {seconds / floor:8.2f}")


if __name__ == "__main__":
    main()
