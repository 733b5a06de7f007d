"""A study's grid of independent runs (seeds x panels, seeds x betas, ...), resumable run by run.

Each run is a call ``run_one(key) -> dict[str, DataFrame]``; its tables are written to their own file as
soon as it finishes (atomically: a run counts as finished only when its file is whole), and a grid run again
reads finished runs back instead of recomputing them. The grid's tables are the per-run tables concatenated
in the order of ``keys``, so they are the same however often the grid was interrupted and wherever its runs
were computed.

Where the runs are computed is the caller's choice (``runs``): one after another in this process (the
default), or as tasks of a Dask cluster (:class:`lrc_utils.book.cluster.DaskRuns`). Either way this process
writes every run file as its run's result arrives, and assembles the tables from what the files hold.

Run files hold only plain values (column name -> list), carry a checksum and the digest of the code that wrote
them (:func:`lrc_utils.training.save_work`, :func:`lrc_utils.training.work_code`), and are read with
``torch.load(weights_only=True)``. Before any run is computed, every finished run file is read back: a damaged
one stops the grid (:class:`lrc_utils.training.DamagedWork`), and so do runs written by other code
(:class:`lrc_utils.training.StaleWork`, naming how many), unless their reuse is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd
from tqdm import tqdm

from .config import RUN_THREADS, progress_enabled, torch_threads
from .training import StaleWork, current_work_code, digest, is_stale, load_work, save_work

RunKey = dict[str, object]
RunFn = Callable[[RunKey], dict[str, pd.DataFrame]]


class Runs(Protocol):
    """Computes runs somewhere else: ``results(run_one, keys)`` yields ``(index into keys, run_one(key))`` as
    each run finishes, in any order."""

    def results(self, run_one: RunFn, keys: Sequence[RunKey]) -> Iterator[tuple[int, dict[str, pd.DataFrame]]]: ...


def _to_plain(tables: dict[str, pd.DataFrame]) -> dict:
    return {name: {"columns": list(frame.columns), "data": {c: frame[c].tolist() for c in frame.columns}}
            for name, frame in tables.items()}


def _from_plain(stored: dict) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(t["data"], columns=t["columns"]) for name, t in stored.items()}


def run_file(folder: Path, identity: dict, key: RunKey) -> Path:
    """Where the finished run ``key`` of a grid with ``identity`` is stored."""
    label = "-".join(f"{k}{v}" for k, v in key.items())
    return Path(folder) / f"{label}-{digest({'identity': identity, 'key': key})}.pt"


def read_run(path: Path, identity: dict, key: RunKey) -> tuple[dict[str, pd.DataFrame], str | None]:
    """The tables of a finished run's file (refused when it holds another run or its checksum fails) and the
    digest of the code that wrote it."""
    stored = load_work(path)
    if stored.get("key") != key or stored.get("identity") != digest(identity):
        raise ValueError(f"{path} holds another run; delete it to recompute")
    return _from_plain(stored["tables"]), stored.get("code")


def run_grid(keys: Sequence[RunKey], run_one: RunFn, folder: str | Path, identity: dict,
             progress: bool | None = None, desc: str = "runs", runs: Runs | None = None) -> dict[str, pd.DataFrame]:
    """Compute (or read back) every run of the grid; return its tables, concatenated in key order.

    ``identity`` (JSON-able) describes what every run computes apart from its key (the study's computing
    parameters); it names the run files together with the key, so runs of other parameters are never
    picked up. Every run must return the same table names. ``runs``: where the runs still to compute are
    computed (default: here, one after another, in key order); every run computes with
    :data:`lrc_utils.config.RUN_THREADS` torch threads wherever it runs.
    """
    if not keys:
        raise ValueError("the grid has no runs")
    folder = Path(folder)
    paths = [run_file(folder, identity, key) for key in keys]
    parts: dict[int, dict[str, pd.DataFrame]] = {}
    stale: list[Path] = []
    for i, (key, path) in enumerate(zip(keys, paths)):
        if path.exists():
            parts[i], code = read_run(path, identity, key)
            if is_stale(code):
                stale.append(path)
    if stale and not current_work_code()[1]:
        raise StaleWork(f"{len(stale)} of the {len(keys)} finished runs in {folder} were written by other code than "
                        f"now (code digest {current_work_code()[0]}), e.g. {stale[0].name}; nothing was computed")
    todo = [i for i in range(len(keys)) if i not in parts]
    bar = tqdm(total=len(keys), initial=len(parts), disable=not progress_enabled(progress), desc=desc)

    def store(i: int, tables: dict[str, pd.DataFrame]) -> None:
        plain = _to_plain(tables)
        save_work({"key": keys[i], "identity": digest(identity), "tables": plain}, paths[i])
        parts[i] = _from_plain(plain)  # exactly what a resumed grid reads back
        bar.set_postfix(dict(keys[i].items()))
        bar.update()

    if runs is None or not todo:
        for i in todo:
            with torch_threads(RUN_THREADS):
                tables = run_one(keys[i])
            store(i, tables)
    else:
        for j, tables in runs.results(run_one, [keys[i] for i in todo]):
            store(todo[j], tables)
    bar.close()
    if len(parts) != len(keys):
        raise RuntimeError(f"{len(keys) - len(parts)} runs of the grid returned no result")
    ordered = [parts[i] for i in range(len(keys))]
    names = list(ordered[0])
    if any(list(p) != names for p in ordered):
        raise RuntimeError(f"the runs of the grid returned different tables: {[list(p) for p in ordered]}")
    return {name: pd.concat([p[name] for p in ordered], ignore_index=True) for name in names}
