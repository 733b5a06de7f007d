"""A study's grid of independent runs (seeds x panels, seeds x betas, ...), resumable run by run.

Each run is a call ``run_one(key) -> dict[str, DataFrame]``; its tables are written to their own file as
soon as it finishes (atomically: a run counts as finished only when its file is whole), and a grid run again
reads finished runs back instead of recomputing them. The grid's tables are the per-run tables concatenated
in the order of ``keys``, so they are the same however often the grid was interrupted.

Run files hold only plain values (column name -> list) and are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .config import progress_enabled
from .training import atomic_torch_save, digest, safe_torch_load

RunKey = dict[str, object]


def _to_plain(tables: dict[str, pd.DataFrame]) -> dict:
    return {name: {"columns": list(frame.columns), "data": {c: frame[c].tolist() for c in frame.columns}}
            for name, frame in tables.items()}


def _from_plain(stored: dict) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(t["data"], columns=t["columns"]) for name, t in stored.items()}


def run_file(folder: Path, identity: dict, key: RunKey) -> Path:
    """Where the finished run ``key`` of a grid with ``identity`` is stored."""
    label = "-".join(f"{k}{v}" for k, v in key.items())
    return Path(folder) / f"{label}-{digest({'identity': identity, 'key': key})}.pt"


def run_grid(keys: Sequence[RunKey], run_one: Callable[[RunKey], dict[str, pd.DataFrame]], folder: str | Path,
             identity: dict, progress: bool | None = None, desc: str = "runs") -> dict[str, pd.DataFrame]:
    """Compute (or read back) every run of the grid; return its tables, concatenated in key order.

    ``identity`` (JSON-able) describes what every run computes apart from its key (the study's computing
    parameters); it names the run files together with the key, so runs of other parameters are never
    picked up. Every run must return the same table names.
    """
    if not keys:
        raise ValueError("the grid has no runs")
    folder = Path(folder)
    parts: list[dict[str, pd.DataFrame]] = []
    bar = tqdm(keys, disable=not progress_enabled(progress), desc=desc)
    for key in bar:
        bar.set_postfix({k: v for k, v in key.items()})
        path = run_file(folder, identity, key)
        if path.exists():
            stored = safe_torch_load(path)
            if stored.get("key") != key or stored.get("identity") != digest(identity):
                raise ValueError(f"{path} holds another run; delete it to recompute")
            parts.append(_from_plain(stored["tables"]))
            continue
        plain = _to_plain(run_one(key))
        atomic_torch_save({"key": key, "identity": digest(identity), "tables": plain}, path)
        parts.append(_from_plain(plain))  # exactly what a resumed grid reads back
    bar.close()
    names = list(parts[0])
    if any(list(p) != names for p in parts):
        raise RuntimeError(f"the runs of the grid returned different tables: {[list(p) for p in parts]}")
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in names}
