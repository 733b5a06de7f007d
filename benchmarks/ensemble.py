"""Benchmark: the 12-bit grid trained one run at a time (lrc_utils.training.fit) against batched ensembles
(lrc_utils.ensemble.fit_ensemble), side by side in one process, on one torch thread each.

The grid is the information-plane chapter's paper grid: activations tanh, ReLU, ELU and softplus x L2 0 and 0.015
x 5 seeds = 40 networks 12-10-7-5-4-3-2 (Chelombiev et al.'s initialisation), Adam lr 1e-3, minibatches of 512 of
the 3,277 training patterns; one ensemble per activation (10 members). Only training is timed (no monitors: they
cost the same per network either way). The final parameters of every network are checked to be identical both
ways, and the throughput (network-steps per second) and its ratio are printed.

Then the noisy-network chapter's paper runs (3 seeds of the 12-10-7-5-4-3-2 tanh network with Gaussian noise of
standard deviation 0.1 in every hidden unit, AdamW lr 0.01, minibatches of 64 of the 3,277 training patterns) three
ways: through autograd one at a time (how they trained before they joined the ensemble path), with ``fit`` one at a
time (its step without autograd) and as one ensemble of three; final parameters checked identical.

    python benchmarks/ensemble.py                 # 200 steps per 12-bit network, 2,000 per noisy network
    python benchmarks/ensemble.py --steps 1000 --seeds 10 --noisy-steps 5000
"""

from __future__ import annotations

import argparse
import time

import torch

from lrc_utils.config import RUN_THREADS, seed_everything, torch_threads
from lrc_utils.data import disjoint_subsets, load_szt_12bit
from lrc_utils.ensemble import fit_ensemble
from lrc_utils.models import MLP, NoisyMLP, init_like_chelombiev, noisy_cross_entropy
from lrc_utils.training import FitConfig, fit, l2_penalised_cross_entropy

WIDTHS = [12, 10, 7, 5, 4, 3, 2]
ACTIVATIONS = ("tanh", "relu", "elu", "softplus")
L2 = (0.0, 0.015)


def network(activation: str, seed: int) -> MLP:
    seed_everything(seed)
    model = MLP(WIDTHS, activation)
    init_like_chelombiev(model, activation)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per network")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per (activation, L2)")
    parser.add_argument("--noisy-steps", type=int, default=2000, help="optimiser steps per noisy network")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    x, y = load_szt_12bit(args.data_dir)
    train_idx, _ = disjoint_subsets(4096, [3277, 819], 0)
    train = (x[train_idx], y[train_idx])
    runs = [(a, l2, s) for a in ACTIVATIONS for l2 in L2 for s in range(args.seeds)]

    def config(seed: int) -> FitConfig:
        return FitConfig(steps=args.steps, lr=1e-3, batch_size=512, seed=seed)

    with torch_threads(RUN_THREADS):
        start = time.perf_counter()
        alone = {}
        for a, l2, s in runs:
            alone[(a, l2, s)] = model = network(a, s)
            fit(model, l2_penalised_cross_entropy(l2), train, config(s), progress=False)
        t_alone = time.perf_counter() - start

        start = time.perf_counter()
        together = {}
        for a in ACTIVATIONS:
            group = [(a, l2, s) for (b, l2, s) in runs if b == a]
            members = [network(a, s) for _, _, s in group]
            fit_ensemble(members, train, [config(s) for _, _, s in group], [l2 for _, l2, _ in group], progress=False)
            together.update(zip(group, members))
        t_together = time.perf_counter() - start

    same = all(torch.equal(p, q) for k in runs for p, q in zip(alone[k].parameters(), together[k].parameters()))
    work = len(runs) * args.steps
    print(f"12-bit grid: {len(runs)} networks x {args.steps} steps, {RUN_THREADS} torch thread, "
          f"{len(ACTIVATIONS)} ensembles of {len(runs) // len(ACTIVATIONS)}")
    print(f"  one at a time: {t_alone:7.2f} s  {work / t_alone:9.0f} network-steps/s")
    print(f"  ensembles:     {t_together:7.2f} s  {work / t_together:9.0f} network-steps/s")
    print(f"  ratio: {t_alone / t_together:.1f}x; final parameters identical: {same}")
    if not same:
        raise SystemExit("the ensembles computed other numbers than the one-at-a-time runs")
    noisy(train, args.noisy_steps)


def noisy(train, steps: int, seeds=(0, 1, 2)) -> None:
    """The noisy-network chapter's runs three ways (see the module docstring); prints network-steps per second."""
    def make(seed: int) -> NoisyMLP:
        seed_everything(seed)
        return NoisyMLP(WIDTHS, "tanh", noise_std=0.1)

    def config(seed: int) -> FitConfig:
        return FitConfig(steps=steps, lr=1e-2, batch_size=64, seed=seed)

    autograd_loss = lambda m, x, y, g: noisy_cross_entropy(m, x, y, g)  # noqa: E731 - unknown to fit: no fast path
    ways = {}
    with torch_threads(RUN_THREADS):
        for way in ("autograd", "fit", "ensemble"):
            models = [make(s) for s in seeds]
            start = time.perf_counter()
            if way == "ensemble":
                fit_ensemble(models, train, [config(s) for s in seeds], progress=False)
            else:
                for model, s in zip(models, seeds):
                    fit(model, autograd_loss if way == "autograd" else noisy_cross_entropy, train, config(s),
                        progress=False)
            ways[way] = (time.perf_counter() - start, models)
    reference = ways["autograd"][1]
    same = all(torch.equal(p, q) for way in ("fit", "ensemble") for a, b in zip(reference, ways[way][1])
               for p, q in zip(a.parameters(), b.parameters()))
    work = len(seeds) * steps
    print(f"noisy networks: {len(seeds)} seeds x {steps} steps, batch 64, {RUN_THREADS} torch thread")
    for way, label in (("autograd", "autograd, one at a time"), ("fit", "fit, one at a time"),
                       ("ensemble", f"one ensemble of {len(seeds)}")):
        elapsed = ways[way][0]
        print(f"  {label:24s} {elapsed:7.2f} s  {work / elapsed:9.0f} network-steps/s  "
              f"({ways['autograd'][0] / elapsed:.1f}x autograd)")
    print(f"  final parameters identical all three ways: {same}")
    if not same:
        raise SystemExit("fit or the ensemble computed other numbers than autograd")


if __name__ == "__main__":
    main()
