"""A study's grid of independent runs (seeds x panels, seeds x betas, ...), resumable run by run.

Each run is a call ``run_one(key) -> dict[str, DataFrame]``; its tables are written to their own file as
soon as its task finishes (a task: one run, or the runs trained together below; atomically: a run counts as
finished only when its file is whole; an interrupted task resumes from its runs' checkpoints), and a grid run again
reads finished runs back instead of recomputing them. The grid's tables are the per-run tables concatenated
in the order of ``keys``, so they are the same however often the grid was interrupted and wherever its runs
were computed.

A run may also return a :class:`Training` (what :func:`lrc_utils.training.fit` takes, and how
its records become tables): the grid trains it. Runs the caller marks as trainable ``together`` (equal values)
share a task, up to :func:`lrc_utils.config.ensemble_size` of them in key order (fewer where a cluster's workers would
otherwise wait, :func:`grid_tasks`), and train as one batched ensemble where they can (:func:`train_runs`); each
run's tables are those of the run alone.

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

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import pandas as pd
from torch import nn
from tqdm import tqdm

from .config import RUN_THREADS, ensemble_size, progress_enabled, torch_threads
from .ensemble import BATCH_MULTIPLE, fast_path_loss, fit_ensemble, member_kind
from .losses import LossFn
from .optim import FitConfig
from .training import Data, Monitor, fit
from .work import Checkpoint, StaleWork, current_work_code, digest, is_stale, load_work, save_work

RunKey = dict[str, object]
RunFn = Callable[[RunKey], "dict[str, pd.DataFrame] | Training"]


class Runs(Protocol):
    """Computes runs somewhere else: ``results(task, items)`` yields ``(index into items, task(item))`` as each
    finishes, in any order (the grid's items are lists of keys, its task a :class:`GridTask`)."""

    def results(self, task: Callable, items: Sequence) -> Iterator[tuple[int, object]]: ...


class GridTask:
    """``task(keys)``: the tables of each run of ``keys`` (``run_one(key)``; the runs it returns as
    :class:`Training` trained by :func:`train_runs`, together where they
    can), in order."""

    def __init__(self, run_one: RunFn):
        self.run_one = run_one

    def __call__(self, keys: Sequence[RunKey]) -> list[dict[str, pd.DataFrame]]:
        prepared = [self.run_one(key) for key in keys]
        to_train = [i for i, p in enumerate(prepared) if isinstance(p, Training)]
        for i, records in zip(to_train, train_runs([prepared[i] for i in to_train])):
            prepared[i] = prepared[i].finish(records)
        return prepared


def grid_tasks(todo: Sequence[int], keys: Sequence[RunKey], together: Callable[[RunKey], Hashable] | None,
               size: int, workers: int = 1) -> list[list[int]]:
    """The indices of ``todo`` as tasks. Without ``together`` (or where it gives ``None``), one run per task. Else
    the keys of one ``together(key)`` value, in key order, split into as few tasks of at most ``size`` as there can be
    (fewer per task when there are ``workers`` to share them: at most ``ceil(n / workers)``), as even as can be. The
    split is made over all of the grid's keys, then reduced to ``todo``: a grid resumed after some runs finished
    keeps the groups it had, so their checkpoints resume together."""
    todo = set(todo)
    classes: dict[Hashable, list[int]] = {}
    tasks = []
    for i in range(len(keys)):
        label = together(keys[i]) if together is not None else None
        if label is None:
            tasks.append([i])
        else:
            classes.setdefault(label, []).append(i)
    for members in classes.values():
        per_task = max(1, min(size, -(-len(members) // max(1, workers))))
        n_tasks = -(-len(members) // per_task)
        bounds = [round(j * len(members) / n_tasks) for j in range(n_tasks + 1)]
        tasks += [members[a:b] for a, b in zip(bounds, bounds[1:])]
    return sorted(kept for kept in ([i for i in task if i in todo] for task in tasks) if kept)


def order_tasks(tasks: list[list[int]], keys: Sequence[RunKey], cost: Callable[[RunKey], float] | None
                ) -> list[list[int]]:
    """``tasks`` (lists of indices into ``keys``) heaviest first by the summed ``cost`` of their runs, ties in their
    order (longest processing time first: on two workers, Figure 1's MNIST seeds start before its Gaussian ones);
    unchanged without ``cost``."""
    if cost is None:
        return tasks
    return sorted(tasks, key=lambda task: -sum(float(cost(keys[i])) for i in task))


@dataclass
class Training:
    """One run still to train, as :func:`lrc_utils.training.fit` takes it, and ``finish``: how its records become
    the run's tables. A grid's ``run_one`` may return one instead of tables (:func:`lrc_utils.grid.run_grid`)."""

    model: nn.Module
    loss_fn: LossFn
    train: Data
    config: FitConfig
    monitors: Sequence[Monitor] = ()
    checkpoint: Checkpoint | None = None
    desc: str = "training"
    finish: Callable[[dict[str, pd.DataFrame]], dict] = field(default=lambda records: records)

    def ensemble_signature(self) -> tuple | None:
        """Runs of equal signatures train together exactly as alone (:func:`lrc_utils.ensemble.fit_ensemble`:
        :func:`lrc_utils.ensemble.fast_path_loss`, one schedule but the seed, the same data, minibatches a multiple
        of 64); ``None``: alone only."""
        loss = fast_path_loss(self.model, self.loss_fn, self.config, self.train)
        if loss is None or min(self.config.batch_size, len(self.train[0])) % BATCH_MULTIPLE:
            return None
        return (member_kind(self.model), replace(self.config, seed=0), loss[0], id(self.train[0]), id(self.train[1]),
                self.checkpoint is None)


def train_runs(trainings: Sequence[Training], progress: bool | None = None) -> list[dict[str, pd.DataFrame]]:
    """Train every run and return its records (in order): the runs of one :meth:`Training.ensemble_signature` as
    one :func:`lrc_utils.ensemble.fit_ensemble`, the others one at a time with :func:`lrc_utils.training.fit`.
    Each run's records are those of the run alone, whichever runs it trains with (tests/test_ensemble.py)."""
    groups: list[list[int]] = []
    by_signature: dict[tuple, list[int]] = {}
    for i, run in enumerate(trainings):
        signature = run.ensemble_signature()
        if signature is None:
            groups.append([i])
        elif signature in by_signature:
            by_signature[signature].append(i)
        else:
            groups.append(by_signature.setdefault(signature, [i]))
    records: list = [None] * len(trainings)
    for group in groups:
        runs = [trainings[i] for i in group]
        if len(runs) == 1:
            run = runs[0]
            out = [fit(run.model, run.loss_fn, run.train, run.config, run.monitors, run.checkpoint, progress, run.desc)]
        else:
            losses = [fast_path_loss(r.model, r.loss_fn, r.config, r.train) for r in runs]
            out = fit_ensemble([r.model for r in runs], runs[0].train, [r.config for r in runs],
                               [loss[1] for loss in losses], [list(r.monitors) for r in runs],
                               progress, " + ".join(r.desc for r in runs), loss=losses[0][0],
                               checkpoints=None if runs[0].checkpoint is None else [r.checkpoint for r in runs])
        for i, rec in zip(group, out):
            records[i] = rec
    return records


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
             progress: bool | None = None, desc: str = "runs", runs: Runs | None = None,
             together: Callable[[RunKey], Hashable] | None = None,
             cost: Callable[[RunKey], float] | None = None) -> dict[str, pd.DataFrame]:
    """Compute (or read back) every run of the grid; return its tables, concatenated in key order.

    ``identity`` (JSON-able) describes what every run computes apart from its key (the study's computing
    parameters); it names the run files together with the key, so runs of other parameters are never
    picked up. Every run must return the same table names. ``runs``: where the runs still to compute are
    computed (default: here, one after another, in key order); every run computes with
    :data:`lrc_utils.config.RUN_THREADS` torch threads wherever it runs. ``together(key)``: runs of equal values
    may train as one ensemble (``None``: alone; see the module's docstring and :func:`grid_tasks`); which ones do
    never changes a run's tables. ``cost(key)``: a run's work in any unit (say steps x multiply-adds per example);
    tasks are then handed out heaviest first (:func:`order_tasks`), so that a cluster's workers finish together
    rather than one of them starting the longest task last. Neither changes a run's tables.
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

    size = ensemble_size() if together is not None else 1
    tasks = order_tasks(grid_tasks(todo, keys, together, size, getattr(runs, "n_workers", 1) if runs is not None
                                   else 1), keys, cost)
    task = GridTask(run_one)
    if runs is None or not todo:
        for members in tasks:
            with torch_threads(RUN_THREADS):
                results = task([keys[i] for i in members])
            for i, tables in zip(members, results):
                store(i, tables)
    else:
        for j, results in runs.results(task, [[keys[i] for i in members] for members in tasks]):
            for i, tables in zip(tasks[j], results):
                store(i, tables)
    bar.close()
    if len(parts) != len(keys):
        raise RuntimeError(f"{len(keys) - len(parts)} runs of the grid returned no result")
    ordered = [parts[i] for i in range(len(keys))]
    names = list(ordered[0])
    if any(list(p) != names for p in ordered):
        raise RuntimeError(f"the runs of the grid returned different tables: {[list(p) for p in ordered]}")
    return {name: pd.concat([p[name] for p in ordered], ignore_index=True) for name in names}
