"""Where a study's runs are computed: here, one after another (the default), or as tasks of a Dask cluster.

Every notebook and the runner take a ``cluster`` parameter (:func:`parse_cluster`):

* ``""``: the runs of a grid are computed in the notebook's process, one after another;
* ``"local:N"``: a Dask cluster of ``N`` worker processes on this machine, started for the study and closed
  after it (``distributed.LocalCluster``, one thread per worker);
* a scheduler address (``"tcp://10.0.0.5:8786"``): the workers of a running Dask cluster (started with
  ``dask scheduler`` and ``dask worker <address> --nthreads 1``, or by ``dask-jobqueue`` on SLURM/PBS).

On a cluster, each task of a grid (a run still to compute, or the runs that train together,
:func:`lrc_utils.grid.grid_tasks`) is one Dask task (:meth:`DaskRuns.results`); this process writes each run's
file as its result arrives (:func:`lrc_utils.grid.run_grid`), so the tables are assembled from the same files
in the same order as a serial run's, and every run computes with :data:`lrc_utils.config.RUN_THREADS` torch
thread: the tables are identical, bit for bit (``tests/test_cluster.py``). A worker that dies in the middle of
a run (killed, out of memory) loses that run's work since its last checkpoint: the scheduler gives the task to
another worker (up to Dask's ``distributed.scheduler.allowed-failures`` deaths per task, 3 by default), which
resumes from the checkpoint when the workers share the results folder.

Before any run, :class:`DaskRuns` checks the cluster: the scheduler answers (else :class:`ClusterUnreachable`),
every worker runs one task at a time (runs seed torch's global generator), has the same ``lrc_utils`` code and
torch version as this process, can use the device and can write the checkpoint folder. This module computes
none of a study's numbers (it is left out of the code digests, see :data:`lrc_utils.book.store.NOT_COMPUTING`).
Dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd
import torch

from ..config import PROGRESS_ENV, get_device
from ..grid import RunFn, RunKey
from ..training import current_work_code, work_code

#: How the ``cluster`` parameter is written (for error messages and docs).
CLUSTER_FORMS = ('"" (compute here, one run after another), "local:N" (a Dask cluster of N worker processes on '
                 'this machine) or the address of a running Dask scheduler ("tcp://host:8786")')
#: Seconds to wait for a scheduler to answer and for its first worker.
CONNECT_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")


class ClusterUnreachable(ConnectionError):
    """No Dask scheduler answered at the ``cluster`` address (raised before any run is computed)."""


class ClusterUnsuitable(RuntimeError):
    """The cluster's workers cannot compute the runs as this process would (raised before any run)."""


def parse_cluster(spec: str) -> tuple[str, int | str | None]:
    """``("serial", None)``, ``("local", n_workers)`` or ``("address", address)`` for a ``cluster`` value."""
    if not isinstance(spec, str):
        raise TypeError(f"cluster must be a string: {CLUSTER_FORMS}; got {spec!r}")
    if spec == "":
        return "serial", None
    if spec.startswith("local:"):
        count = spec[len("local:"):]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"cluster {spec!r}: the number of local workers must be an integer >= 1 (\"local:2\")")
        return "local", int(count)
    if _ADDRESS.match(spec):
        return "address", spec
    raise ValueError(f"cluster must be {CLUSTER_FORMS}; got {spec!r}")


@functools.cache
def _code_digest() -> str:
    from .store import code_digest

    return code_digest()


def run_task(run_one: RunFn, key: RunKey, code: str, work: tuple[str | None, bool] = (None, False)
             ) -> dict[str, pd.DataFrame]:
    """One task on a worker (``run_one(key)``: a run, or a grid's runs trained together): no progress bars (they
    would interleave), :data:`RUN_THREADS` torch threads, the
    notebook's :func:`lrc_utils.training.work_code` (``work``: the study's code digest and whether work of other
    code may be resumed). A worker that joined after the checks (a restarted or added worker) is checked here: one
    task at a time and the notebook's ``lrc_utils`` code (digest ``code``), else the run raises
    :class:`ClusterUnsuitable`."""
    from distributed import get_worker

    worker = get_worker()
    if worker.state.nthreads != 1 or _code_digest() != code:
        raise ClusterUnsuitable(f"worker {worker.address} runs {worker.state.nthreads} tasks at once or other "
                                f"lrc_utils code ({_code_digest()}, the notebook's {code}); start workers with "
                                f"--nthreads 1 from the same checkout")
    os.environ[PROGRESS_ENV] = "0"
    from .store import one_thread

    with one_thread(), work_code(*work):
        return run_one(key)


def _worker_facts(device: str, checkpoint_dir: str) -> dict:
    """What :meth:`DaskRuns.check_workers` needs to know about a worker (runs on the worker)."""
    from .store import code_digest

    facts = {"code": code_digest(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
             "device_error": None, "write_error": None}
    if device != "auto":
        try:
            get_device(device)
        except RuntimeError as err:
            facts["device_error"] = str(err)
    try:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=checkpoint_dir, prefix=".write-test-"):
            pass
    except OSError as err:
        facts["write_error"] = str(err)
    return facts


class DaskRuns:
    """A grid's runs as tasks of a Dask cluster (``runs`` of :func:`lrc_utils.grid.run_grid`).

    Use as a context manager: entering starts the local cluster or connects to the scheduler and checks the
    workers (:meth:`check_workers`); leaving closes what it opened. ``device`` is the notebook's ``device``
    parameter, resolved on the workers: ``"auto"`` is CUDA when every worker has it, else the CPU; an explicit
    device must exist on every worker (``"cuda"`` is each worker's own current GPU, so a cluster that gives
    each worker one GPU, such as dask-cuda's ``LocalCUDACluster``, runs one task per GPU).
    """

    def __init__(self, spec: str, device: str = "auto", checkpoint_dir: str | Path = "checkpoints",
                 connect_timeout: float = CONNECT_TIMEOUT_S):
        self.kind, self.target = parse_cluster(spec)
        if self.kind == "serial":
            raise ValueError("DaskRuns needs a cluster: 'local:N' or a scheduler address")
        self.spec, self.device_spec, self.connect_timeout = spec, device, connect_timeout
        self.checkpoint_dir = str(Path(checkpoint_dir).resolve())  # the same path on every machine
        self.device: torch.device | None = None
        self.client = self._cluster = None

    def __enter__(self) -> DaskRuns:
        from distributed import Client, LocalCluster

        try:
            if self.kind == "local":
                self._cluster = LocalCluster(n_workers=self.target, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self._cluster, timeout=self.connect_timeout)
            else:
                try:
                    self.client = Client(self.target, timeout=self.connect_timeout)
                except (OSError, TimeoutError) as err:
                    raise ClusterUnreachable(
                        f"no Dask scheduler answered at {self.target} within {self.connect_timeout:g} s; "
                        f"start one (dask scheduler; dask worker {self.target} --nthreads 1), check the address, "
                        f"or leave cluster empty to compute here\nDask said: {err}") from None
                try:
                    self.client.wait_for_workers(1, timeout=self.connect_timeout)
                except TimeoutError:
                    raise ClusterUnsuitable(
                        f"the Dask scheduler at {self.target} has no workers (none joined within "
                        f"{self.connect_timeout:g} s); start some: dask worker {self.target} --nthreads 1") from None
            self.check_workers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        client, cluster, self.client, self._cluster = self.client, self._cluster, None, None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def check_workers(self) -> None:
        """Refuse (:class:`ClusterUnsuitable`) a cluster whose workers would compute other numbers or fail."""
        from .store import code_digest

        workers = self.client.scheduler_info()["workers"]
        several = sorted(w for w, info in workers.items() if info.get("nthreads", 1) != 1)
        if several:
            raise ClusterUnsuitable(f"workers {several} run several tasks at once; runs seed torch's global generator, "
                                    f"so each worker must run one task at a time (dask worker --nthreads 1)")
        facts = self.client.run(_worker_facts, self.device_spec, self.checkpoint_dir)
        problems = []
        here = code_digest()
        for worker, f in sorted(facts.items()):
            if f["code"] != here or f["torch"] != torch.__version__:
                problems.append(f"{worker} runs lrc_utils code {f['code']} with torch {f['torch']}, this process code "
                                f"{here} with torch {torch.__version__} (install the same checkout on every worker)")
            if f["device_error"]:
                problems.append(f"{worker}: {f['device_error']}")
            if f["write_error"]:
                problems.append(f"{worker} cannot write the checkpoint folder {self.checkpoint_dir} "
                                f"({f['write_error']}); workers need the results folder at the same path (a shared "
                                f"file system)")
        if problems:
            raise ClusterUnsuitable("this Dask cluster cannot compute the runs:\n  " + "\n  ".join(problems))
        if self.device_spec == "auto":
            self.device = torch.device("cuda" if all(f["cuda"] for f in facts.values()) else "cpu")
        else:
            self.device = torch.device(self.device_spec)

    def results(self, run_one: Callable, keys: Sequence) -> Iterator[tuple[int, object]]:
        """Submit one task ``run_one(item)`` per item of ``keys`` (a grid's key, or its keys trained together, with
        :class:`lrc_utils.grid.GridTask`); yield ``(index, result)`` as tasks
        finish. A task that raises stops the grid: the tasks not finished are cancelled, every task that did finish
        is still yielded (so that the caller keeps its runs), then the task's error is raised here."""
        from distributed import as_completed

        batch = uuid.uuid4().hex[:8]
        code = _code_digest()
        work = current_work_code()
        futures = [self.client.submit(run_task, run_one, key, code, work, pure=False, key=f"run-{i}-{batch}")
                   for i, key in enumerate(keys)]
        index = {future.key: i for i, future in enumerate(futures)}
        given: set[str] = set()
        try:
            for future in as_completed(futures):
                if future.status == "error":
                    self.client.cancel([f for f in futures if not f.done()])
                    for other in futures:  # finished runs are kept before the error stops the grid
                        if other.status == "finished" and other.key not in given:
                            given.add(other.key)
                            yield index[other.key], other.result()
                    future.result()  # raises the run's error
                given.add(future.key)
                yield index[future.key], future.result()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def describe(self) -> str:
        """``"cpu, 2 Dask workers (local:2)"``: the device the workers resolved, how many, which cluster."""
        return f"{self.device}, {self.n_workers} Dask workers ({self.spec})"
