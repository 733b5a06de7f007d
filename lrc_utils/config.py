"""The one place for the data folder, seeds, devices and threads.

Every module, notebook, test and benchmark asks this module where the data live, which device to use, how to
seed and how many threads a run uses, so that no file carries its own copy of these rules. The repository's
paths (notebooks, results, executed pages) belong to the book's pipeline: :mod:`lrc_utils.book.paths`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

#: Environment variable naming the data folder (torchvision layout: ``<root>/MNIST/raw`` ...).
DATA_DIR_ENV = "LRC_DATA_DIR"
#: Environment variable that forbids downloads when set to 1 (for machines without internet).
OFFLINE_ENV = "LRC_OFFLINE"
#: Environment variable that switches progress bars off when set to 0 (the notebook runner does, so that
#: the book does not show them).
PROGRESS_ENV = "LRC_PROGRESS"
#: Environment variable the notebook runner sets to 1 while it executes the book's pages: a figure is then shown
#: only where the page's caption places it (:meth:`lrc_utils.book.notebook.NotebookRun.save_figure`), not also
#: where it is drawn, as it is in an interactive notebook.
BOOK_PAGE_ENV = "LRC_BOOK_PAGE"
#: torch's CPU threads inside every run of a study's grid (:func:`lrc_utils.grid.run_grid`), wherever it runs, and
#: in a notebook's whole computation (:mod:`lrc_utils.book.notebook`, which also holds numpy's and scipy's BLAS to it).
#: The thread count moves numbers: with two threads some reductions add in another order, and a run's losses and
#: information estimates differ in the last bits from a one-thread run. One thread for every run makes the tables
#: independent of the machine's core count and equal whether runs are computed here or on Dask workers; the
#: cores are used by computing runs side by side (the ``cluster`` parameter). Small networks also train fastest
#: on one thread (12-bit task, 2 cores shared with another job: 1.7 ms per step with one, 13-16 ms with two).
RUN_THREADS = 1
#: Environment variable: at most how many runs of a grid train as one ensemble (:func:`ensemble_size`).
ENSEMBLE_SIZE_ENV = "LRC_ENSEMBLE_SIZE"
#: Its default: three runs per ensemble (a study's seeds; see benchmarks/training.py for what it buys).
DEFAULT_ENSEMBLE_SIZE = 3


def default_data_dir() -> Path:
    """The data folder used when neither a parameter nor ``$LRC_DATA_DIR`` names one."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "lrc" / "data"


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data folder: the argument if given, else ``$LRC_DATA_DIR``, else the cache folder."""
    if root:
        return Path(root).expanduser().resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir()


def downloads_allowed(download: bool | None = None) -> bool:
    """Whether a missing data set may be downloaded: the argument, else not ``$LRC_OFFLINE=1``."""
    if download is not None:
        return bool(download)
    return os.environ.get(OFFLINE_ENV, "0") not in ("1", "true", "yes")


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show progress bars: the argument, else not ``$LRC_PROGRESS=0``."""
    if progress is not None:
        return bool(progress)
    return os.environ.get(PROGRESS_ENV, "1") != "0"


def get_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; any other string is passed to ``torch.device``.

    Asking for CUDA on a machine without it is an error, not a silent move to the CPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded the same way."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def flushing_denormals() -> bool:
    """Whether the calling thread's CPU arithmetic flushes subnormal numbers now (probed: 1e-39 x 1 in float32)."""
    return float(torch.tensor([1e-39], dtype=torch.float32) * 1.0) == 0.0


@contextmanager
def flush_denormals() -> Iterator[bool]:
    """Inside the block, the calling thread's CPU float arithmetic treats subnormal (denormal) numbers, those below
    about 1.2e-38 in float32, as zero, in its inputs and its results (x86's FTZ and DAZ flags, by
    ``torch.set_flush_denormal``); after it, the thread flushes or not as it did before (probed on entry,
    :func:`flushing_denormals`), also when the block raises. Yields whether the block flushes.

    Only with one torch thread (``torch.get_num_threads() == 1``, as every run of the studies has, see
    :data:`RUN_THREADS`): the flags are per thread and torch's other intra-op threads would keep computing
    subnormals, so with more threads the block changes nothing and yields ``False``. Nor where the CPU cannot
    flush. CUDA devices are not affected.

    Why: where a weight's gradient has stopped (the weights of a dead unit), AdamW's first moment decays by
    beta1 = 0.9 per step into the subnormal range, and the CPU computes subnormals many times slower than normal
    numbers. Measured on Figure 1's MNIST network: 23,647 of the 279,642 entries of FlatAdamW's first-moment
    buffer subnormal after 1,000 steps, and a training step of 2.59 ms with them against 2.11 ms without
    (measured with an earlier version of ``benchmarks/training.py``, on another machine).

    It is an arithmetic change: a subnormal read as zero can move later values. Figure 1's Gaussian seed 1
    (paper preset, 5e4 steps) ends at local ranks 72, 13.17, 6.84 flushed and 70, 12.52, 7.50 computed in full
    (autograd both ways); seed 0 of both panels gave the same values either way."""
    if torch.get_num_threads() != 1:
        yield False
        return
    before = flushing_denormals()
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported and not before:
            torch.set_flush_denormal(False)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU thread count set to ``n`` inside the block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def ensemble_size() -> int:
    """At most how many runs of a grid that may train together do (:func:`lrc_utils.grid.run_grid`): the
    environment's ``LRC_ENSEMBLE_SIZE`` (1: every run alone), else :data:`DEFAULT_ENSEMBLE_SIZE`. Which runs train
    together never changes their numbers, only how long a grid takes and how its work spreads over workers."""
    value = os.environ.get(ENSEMBLE_SIZE_ENV, "")
    if not value:
        return DEFAULT_ENSEMBLE_SIZE
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENSEMBLE_SIZE_ENV} must be an integer >= 1 (1: every run alone), got {value!r}")
    return int(value)
