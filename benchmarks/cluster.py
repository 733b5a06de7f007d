"""Benchmark: a study's grid computed here one run after another against the same grid on a local Dask cluster,
in one process, with the tables checked identical; and the Dask path's overhead per task.

1. A smoke-to-medium Figure 2 grid of 8 runs (2 seeds x 4 betas, the paper preset's data and model sizes,
   ``--steps`` steps per run): serial, then on ``local:2`` (2 worker processes, one thread each). The cluster's
   start-up is timed apart from the grid.
2. The overhead per task: ``--tiny`` runs of a tiny VIB (one step) computed here and on ``local:1``; the
   difference per run is what the Dask path adds (sending the run, the worker's wrapper, returning its tables).

    python benchmarks/cluster.py                   # 1,500 steps per run of the 8-run grid
    python benchmarks/cluster.py --steps 3000 --workers 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from lrc_utils.book.chapters import StudyContext, figure2
from lrc_utils.book.cluster import DaskRuns
from lrc_utils.book.runner import preset_values


def parameters(**override) -> SimpleNamespace:
    p = preset_values("figure2", "paper")
    return SimpleNamespace(**(p | override))


def timed(p, folder: Path, runs=None) -> tuple[float, dict]:
    start = time.perf_counter()
    tables = figure2.compute(p, StudyContext(checkpoint_dir=folder, runs=runs))
    return time.perf_counter() - start, tables


def same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k].equals(b[k]) for k in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="steps per run of the 8-run grid")
    parser.add_argument("--workers", type=int, default=2, help="local workers for the 8-run grid")
    parser.add_argument("--tiny", type=int, default=24, help="tiny runs for the overhead per task")
    args = parser.parse_args()
    grid = parameters(seeds=[0, 1], n_betas=4, steps=args.steps)
    tiny = parameters(seeds=[0], n_betas=args.tiny, steps=1, n_train=100, n_test=50, n_rank_points=8,
                      encoder_widths=[8], latent_dim=2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t_serial, serial = timed(grid, root / "serial")
        start = time.perf_counter()
        with DaskRuns(f"local:{args.workers}", checkpoint_dir=root / "dask") as runs:
            t_start = time.perf_counter() - start
            t_dask, on_dask = timed(grid, root / "dask", runs)
        t_tiny_serial, tiny_serial = timed(tiny, root / "tiny-serial")
        with DaskRuns("local:1", checkpoint_dir=root / "tiny-dask") as runs:
            t_tiny_dask, tiny_dask = timed(tiny, root / "tiny-dask", runs)
    print(f"Figure 2 grid of 8 runs ({args.steps} steps each, paper sizes):")
    print(f"  serial, here:            {t_serial:7.1f} s")
    print(f"  local:{args.workers} Dask cluster:    {t_dask:7.1f} s (+ {t_start:.1f} s to start the cluster)")
    print(f"  ratio serial / cluster:  {t_serial / t_dask:.2f}x ({t_serial / (t_dask + t_start):.2f}x with the start)")
    print(f"  tables identical: {same(serial, on_dask)}")
    print(f"Overhead per task ({args.tiny} one-step runs, local:1 against here): "
          f"{(t_tiny_dask - t_tiny_serial) / args.tiny * 1e3:.0f} ms "
          f"(here {t_tiny_serial / args.tiny * 1e3:.0f} ms per run, on Dask {t_tiny_dask / args.tiny * 1e3:.0f} ms); "
          f"tables identical: {same(tiny_serial, tiny_dask)}")
    if not (same(serial, on_dask) and same(tiny_serial, tiny_dask)):
        raise SystemExit("the cluster computed other tables than the serial run")


if __name__ == "__main__":
    main()
