"""Benchmark: one training step of Figure 1's networks against the hardware's floor, side by side in one run.

The networks are Figure 1's MNIST MLP (784-200x4-10) and its Gaussian MLP (100-100x3-4), ReLU, weights
N(0, 1/fan_in), AdamW lr 1e-3 with weight decay 0.1 on weight matrices, minibatches of 64 of 1,000 inputs (MNIST
test images; the Gaussian task's inputs), one torch thread. Printed per network-step, and as a ratio to the floor:

* ``autograd loop``: :func:`lrc_utils.training.minibatch_step` with :class:`~lrc_utils.training.FlatAdamW`, its
  step inside :func:`lrc_utils.config.flush_denormals`: the loop :func:`~lrc_utils.training.fit` ran for every
  network before its fast path (autograd's graph each step);
* ``fit``: :func:`lrc_utils.training.fit` as the studies call it (no monitors): for these plain MLPs its fast path,
  :func:`lrc_utils.ensemble.fit_ensemble` with one member (the same numbers: tests/test_ensemble.py);
* ``ensemble of E``: :func:`lrc_utils.ensemble.fit_ensemble` of E members (what a grid's runs marked ``together``
  train as), time per member-step;
* ``floor``: the float32 matrix products of one step, 3 x the forward's FLOP (forward, and backward to weights and
  inputs), at the rate one [64, fan_in] x [fan_in, width] product of the network's first layer reaches on this
  machine (measured here, the best of five timings). A step computes somewhat less (the first layer's input
  gradient is skipped), and its smaller products run slower than the first layer's.

    python benchmarks/training.py               # 3,000 steps each
    python benchmarks/training.py --steps 500
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from lrc_utils.config import RUN_THREADS, flush_denormals, seed_everything, torch_threads
from lrc_utils.data import disjoint_subsets, gaussian_classification, load_mnist
from lrc_utils.ensemble import fit_ensemble
from lrc_utils.models import MLP
from lrc_utils.training import FitConfig, FlatAdamW, cross_entropy_loss, fit, minibatch_step

NETWORKS = {"MNIST": [784, 200, 200, 200, 200, 10], "Gaussian": [100, 100, 100, 100, 4]}
BATCH = 64


def network(sizes: list[int], seed: int) -> MLP:
    seed_everything(seed)
    return MLP(sizes, "relu", init="normal")


def forward_flop(sizes: list[int]) -> float:
    return 2.0 * BATCH * sum(a * b for a, b in zip(sizes, sizes[1:]))


def product_rate(sizes: list[int], repeats: int = 2000) -> float:
    """FLOP/s of one float32 product [64, sizes[0]] x [sizes[0], sizes[1]] (the best of five timings)."""
    a, w = torch.randn(BATCH, sizes[0]), torch.randn(sizes[0], sizes[1])
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ w
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2.0 * BATCH * sizes[0] * sizes[1] / best


def autograd_loop(sizes, train, config: FitConfig) -> float:
    """Seconds per step of minibatch_step with FlatAdamW and autograd, the step's subnormals flushed."""
    model = network(sizes, config.seed)
    opt = FlatAdamW(model, config.lr, config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    for _ in range(config.steps):
        with flush_denormals():
            minibatch_step(model, opt, *train, config.batch_size, gen, cross_entropy_loss)
    return (time.perf_counter() - start) / config.steps


def fit_alone(sizes, train, config: FitConfig) -> float:
    model = network(sizes, config.seed)
    start = time.perf_counter()
    fit(model, cross_entropy_loss, train, config, progress=False)
    return (time.perf_counter() - start) / config.steps


def ensemble(sizes, train, config: FitConfig, members: int) -> float:
    models = [network(sizes, seed) for seed in range(members)]
    configs = [replace(config, seed=seed) for seed in range(members)]
    start = time.perf_counter()
    fit_ensemble(models, train, configs, progress=False)
    return (time.perf_counter() - start) / (config.steps * members)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps per network")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = load_mnist("test", args.data_dir)
    (idx,) = disjoint_subsets(len(data.labels), [1000], 0)
    inputs = {"MNIST": (data.flat_normalised()[idx], data.labels[idx]),
              "Gaussian": gaussian_classification(1000, 100, 10, 4, seed=0)}
    config = FitConfig(steps=args.steps, lr=1e-3, weight_decay=0.1, batch_size=BATCH, seed=0)
    print(f"{args.steps} steps per network, {RUN_THREADS} torch thread, minibatches of {BATCH}")
    with torch_threads(RUN_THREADS):
        for name, sizes in NETWORKS.items():
            train = inputs[name]
            rate = product_rate(sizes)
            floor = 3 * forward_flop(sizes) / rate
            rows = [("autograd loop", autograd_loop(sizes, train, config)), ("fit", fit_alone(sizes, train, config)),
                    ("ensemble of 3", ensemble(sizes, train, config, 3)),
                    ("ensemble of 10", ensemble(sizes, train, config, 10)), ("floor", floor)]
            print(f"\n{name} network {'-'.join(map(str, sizes))}: one {BATCH}x{sizes[0]}x{sizes[1]} product "
                  f"{rate / 1e9:.0f} GFLOP/s; a step's products {3 * forward_flop(sizes):.3g} FLOP")
            print(f"{'':18s} {'ms per network-step':>20s} {'x floor':>8s}")
            for label, seconds in rows:
                print(f"{label:18s} {seconds * 1e3:20.3f} {seconds / floor:8.2f}")


if __name__ == "__main__":
    main()
