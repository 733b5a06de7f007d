"""Benchmark: the cost of the ``full`` presets of Figures 2 and 3 (the original Deep VIB sizes), estimated from a
short run on this machine. Nothing of those presets is run here beyond this measurement.

For each notebook it builds the preset's model (784-1024-1024 encoder, K = 256 for Figure 3), times ``--steps``
optimiser steps of :func:`lrc_utils.training.fit` on inputs of the preset's shape (random values: the time of a
step does not depend on them) with :data:`lrc_utils.config.RUN_THREADS` torch thread, as a run computes, and one
:func:`lrc_utils.vib.evaluate_vib` at the preset's sizes (training set, test set, rank points); then prints the
estimated time of one run and of the grid (datasets x seeds x betas), on one worker and per worker of a cluster.

    python benchmarks/vib_cost.py                     # 100 steps each
    python benchmarks/vib_cost.py --steps 300 --device cuda
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from lrc_utils.book.runner import preset_values
from lrc_utils.config import RUN_THREADS, get_device, seed_everything, torch_threads
from lrc_utils.training import FitConfig, fit
from lrc_utils.vib import VIB, evaluate_vib, vib_loss

SHAPES = {"figure2": lambda p: (p["input_dim"], 2 ** len(p["separations"]), 1),
          "figure3": lambda p: (784, 10, len(p["datasets"]))}


def measure(name: str, steps: int, device: torch.device) -> dict:
    p = preset_values(name, "full")
    input_dim, n_classes, n_datasets = SHAPES[name](p)
    seed_everything(0)
    x = torch.randn(p["n_train"], input_dim, device=device)
    y = torch.randint(0, n_classes, (p["n_train"],), device=device)
    model = VIB(input_dim, p["encoder_widths"], p["latent_dim"], n_classes,
                n_predict_samples=p["n_predict_samples"]).to(device)
    config = FitConfig(steps=steps, lr=p["lr"], batch_size=p["batch_size"], seed=0, adam_beta1=p["adam_beta1"])

    def loss(m, xb, yb, gen):
        return vib_loss(m, xb, yb, 1e-3, generator=gen).total

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fit(model, loss, (x, y), FitConfig(steps=5, lr=p["lr"], batch_size=p["batch_size"], seed=0), progress=False)
    sync()
    start = time.perf_counter()
    fit(model, loss, (x, y), config, progress=False)
    sync()
    per_step = (time.perf_counter() - start) / steps
    test = (x[: p["n_test"]], y[: p["n_test"]])
    start = time.perf_counter()
    with torch.no_grad():
        evaluate_vib(model, (x, y), test, x[: p["n_rank_points"]], p["atol"], p["rtol"], 0, p["n_predict_samples"])
    sync()
    evaluation = time.perf_counter() - start
    runs = n_datasets * len(p["seeds"]) * p["n_betas"]
    per_run = p["steps"] * per_step + evaluation
    return {"name": name, "per_step": per_step, "evaluation": evaluation, "runs": runs, "steps": p["steps"],
            "per_run": per_run, "grid": runs * per_run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps timed per model")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = get_device(args.device)
    with torch_threads(RUN_THREADS):
        results = [measure(name, args.steps, device) for name in SHAPES]
    print(f"device {device}, {RUN_THREADS} torch thread per run; the full presets, estimated from {args.steps} steps:")
    for r in results:
        print(f"  {r['name']}: {1 / r['per_step']:.1f} steps/s, evaluation {r['evaluation']:.1f} s; one run of "
              f"{r['steps']:,} steps {r['per_run'] / 3600:.2f} h; grid of {r['runs']} runs "
              f"{r['grid'] / 3600:,.0f} worker-hours ({math.ceil(r['grid'] / 3600 / 24):,} days on one worker, "
              f"{r['grid'] / 3600 / 64:,.1f} h on 64 workers)")


if __name__ == "__main__":
    main()
