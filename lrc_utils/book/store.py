"""The result store of one notebook run: ``<results>/<preset>/<notebook>/``.

Tables are CSV files, figures PNG and PDF, and ``meta.json`` records for each table the computing
parameters, the git commit, a digest of the package code (:func:`code_digest`), library versions, device and
wall time. A table whose stored parameters equal the run's is loaded instead of recomputed. Every file is
written atomically (a temporary file in the same folder, then a rename), and one process at a time may write
a folder (:class:`FolderLock`).
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import errno
import hashlib
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from ..config import RUN_THREADS, torch_threads
from ..training import StaleWork, atomic_write, digest, work_code
from .paths import REPO_ROOT, RESULTS_DIR

#: The package ``lrc_utils`` (core and book) whose files a study's code digest reads.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: Whether this package runs from a checkout of the repository (``lrc_utils/..`` holds ``pyproject.toml`` and
#: ``notebooks/``), not from an installed wheel (``pip install lrc-utils``, a notebook's install cell on Colab).
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """A study's computation, wherever it runs (a notebook, a Dask worker, a fingerprint): torch and numpy's and
    scipy's BLAS held to :data:`lrc_utils.config.RUN_THREADS` threads, so that its numbers do not depend on the
    machine's core count."""
    from threadpoolctl import threadpool_limits

    with torch_threads(RUN_THREADS), threadpool_limits(RUN_THREADS):
        yield


def default_results_dir() -> Path:
    """Where results go when no folder is given: ``results/`` of the checkout; for a package installed from a wheel,
    ``results/`` in the working directory (never inside site-packages)."""
    return RESULTS_DIR if IN_CHECKOUT else Path.cwd().resolve() / "results"

#: The book's modules that run, store, draw or check results but compute none of a study's numbers: a study's code
#: digest stops at them. (Where runs are computed, :mod:`lrc_utils.book.cluster`, is one of them:
#: tests/test_cluster.py checks that a grid's tables are the same, bit for bit, whether its runs were computed here
#: or on a Dask cluster.)
NOT_COMPUTING = tuple(f"lrc_utils.book.{m}" for m in (
    "runner", "store", "notebook", "style", "fingerprint", "cluster", "claims", "paths"))
#: How a run treats stored tables: reuse them when they match, recompute from scratch, or only load them.
RECOMPUTE_MODES = ("auto", "always", "never", "reuse_stale")


class StoredResultsDamaged(RuntimeError):
    """A stored file is not what was written: unreadable metadata, or a table whose content hash differs from the
    one recorded when it was written (cut, edited, or corrupted)."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_meta(path: Path) -> dict:
    """``meta.json`` of a results folder ({} when there is none); damaged metadata is an error naming the file."""
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StoredResultsDamaged(f"{display_path(path)} is damaged ({err}); delete that results folder, or rerun "
                                   "with recompute = 'always' (--recompute), to compute its tables again") from err
    if not isinstance(meta, dict):
        raise StoredResultsDamaged(f"{display_path(path)} holds no mapping; delete that results folder to recompute")
    return meta


def read_table(folder: Path, table: str, info: dict) -> pd.DataFrame:
    """``<folder>/<table>.csv``, after checking its bytes against the SHA-256 recorded in ``info`` (its entry in
    ``meta.json``): a table that was cut, edited or corrupted since it was written is an error, never read."""
    path = Path(folder) / f"{table}.csv"
    recorded = info.get("sha256")
    if recorded is None:
        raise StoredResultsDamaged(f"{display_path(path)} has no checksum in meta.json (written by older code); "
                                   "rerun with recompute = 'always' (--recompute) to compute and record it again")
    data = path.read_bytes()  # read once: hashed, then parsed
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        raise StoredResultsDamaged(f"{display_path(path)} is not the table that was written: its SHA-256 is "
                                   f"{actual[:16]}..., meta.json records {recorded[:16]}...; rerun with recompute = "
                                   "'always' (--recompute) to compute it again")
    return pd.read_csv(io.BytesIO(data))


def read_stored_table(folder: Path, table: str) -> tuple[pd.DataFrame, dict]:
    """Table ``table`` stored in ``folder`` (``<results root>/<preset>/<notebook>``), checked by :func:`read_table`,
    and its entry in ``meta.json`` (parameters, commit, wall time, ...). Read only: nothing is computed, and a
    table that is not stored is a :class:`FileNotFoundError` naming the file."""
    folder = Path(folder)
    info = read_meta(folder / "meta.json").get("tables", {}).get(table)
    if not info or not (folder / f"{table}.csv").exists():
        raise FileNotFoundError(f"{display_path(folder / f'{table}.csv')} is not stored (with its entry in "
                                "meta.json): run its notebook at that preset first")
    return read_table(folder, table, info), info


class StoredResultsMissing(RuntimeError):
    """``recompute = "never"`` and a table is not stored with the run's parameters."""


# ----------------------------------------------------------------------------------------------------
# provenance


def package_files_used(module: str, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package's ``.py`` files that ``module`` (e.g. ``"lrc_utils.book.chapters.figure1.study"``) imports,
    directly or not, itself and the package's ``__init__`` files included, less :data:`NOT_COMPUTING` and what
    only they import: the code a study's numbers depend on."""
    root = package_dir.name

    def path_of(name: str) -> Path | None:
        parts = name.split(".")[1:]
        base = package_dir.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.exists():
                return candidate
        return None

    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = path_of(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        if name in NOT_COMPUTING:
            continue  # what runs or stores results imports is not the study's code
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        parents = [".".join(name.split(".")[:k]) for k in range(1, len(name.split(".")))]
        todo += parents  # importing a.b.c runs a/__init__ and a/b/__init__
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                todo.append(target)
                todo += [f"{target}.{alias.name}" for alias in node.names]  # "from . import mi"
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
    return sorted(p for n, p in seen.items() if n.split(".")[0] == root and n not in NOT_COMPUTING)


def has_grid(study_module: str) -> bool:
    """Whether a study computes a grid of runs (it uses :mod:`lrc_utils.grid`), which a cluster can spread."""
    return PACKAGE_DIR / "grid.py" in package_files_used(study_module)


def code_digest(module: str | None = None, package_dir: Path = PACKAGE_DIR) -> str:
    """Digest of the package's code: the content of the files ``module`` uses (:func:`package_files_used`), or of
    every ``.py`` file of the package when ``module`` is None, in the order of their paths; the paths themselves
    are not digested. Files are parsed and their docstrings removed (comments never reach the parse tree), so
    that editing documentation does not change the digest and editing code does. Provenance only: a table is
    never refused for its digest (the fingerprints guard the numbers)."""
    files = package_files_used(module, package_dir) if module else sorted(package_dir.rglob("*.py"))
    h = hashlib.sha256()
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        h.update(ast.dump(tree).encode())
    return h.hexdigest()[:16]


def git_commit() -> tuple[str, bool]:
    """(commit hash, whether tracked files outside results/ have changes), or ("unknown", False) outside a
    git checkout, and for a package installed from a wheel (site-packages may lie inside another repository,
    e.g. a project's .venv, whose commit says nothing about this code)."""
    if not IN_CHECKOUT:
        return "unknown", False
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)results"], cwd=REPO_ROOT,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def library_versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "pandas": pd.__version__, "matplotlib": matplotlib.__version__}


def display_path(path: Path) -> str:
    """``path`` relative to the repository when inside it, else just its last three parts: no machine path is
    ever printed into a notebook or the book."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return ".../" + "/".join(path.parts[-3:])


# ----------------------------------------------------------------------------------------------------
# atomic files and the folder lock


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


#: The file, among a computation's checkpoints, that keeps the wall time of its earlier, interrupted attempts.
WALL_LEDGER = ".wall_time.json"


def _pin_figure_legends(fig) -> None:
    """Anchor each figure-level legend where it is now, in the coordinates of the figure's first axes. A figure
    legend is anchored to the figure's box, which a ``bbox_inches="tight"`` save replaces by the box of everything
    drawn: with a provenance line under the figure, a legend at "lower center" would move down onto the line."""
    from matplotlib.transforms import Bbox

    if not fig.legends or not fig.axes:
        return
    renderer, axes = fig.canvas.get_renderer(), fig.axes[0]
    for legend in fig.legends:
        box = legend.get_window_extent(renderer).transformed(axes.transAxes.inverted())
        legend.set_bbox_to_anchor(Bbox(box.get_points()), transform=axes.transAxes)
        legend.set_loc("center")
        legend.borderaxespad = 0.0


class WallClock:
    """The wall time of a computation summed over its attempts: one interrupted (an error, Ctrl-C, a killed kernel)
    and resumed later counts the time of both. While it runs, a heartbeat writes the attempt's elapsed seconds to
    ``ledger`` every ``beat`` seconds (a killed process loses at most that much); a later attempt starts from the
    seconds the ledger holds. ``total`` (seconds, all attempts) and ``attempts`` are set when the block ends
    without error, and the ledger is then removed."""

    def __init__(self, ledger: Path, beat: float = 30.0):
        self.ledger, self.beat = Path(ledger), beat
        self.total, self.attempts = 0.0, 1
        self._stop = threading.Event()

    def _earlier(self) -> list[float]:
        try:
            stored = json.loads(self.ledger.read_text())
            return [float(v) for v in stored.get("earlier", [])] + [float(stored.get("this", 0.0))]
        except (OSError, ValueError, TypeError, AttributeError):
            return []

    def _write(self, elapsed: float) -> None:
        with contextlib.suppress(OSError):
            atomic_write_text(self.ledger, json.dumps({"earlier": self.earlier, "this": round(elapsed, 2)}))

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.beat):
            self._write(time.perf_counter() - self.start)

    def __enter__(self) -> WallClock:
        self.earlier = self._earlier()
        self.start = time.perf_counter()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True, name="lrc-wall-clock")
        self._thread.start()
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._stop.set()
        self._thread.join()
        elapsed = time.perf_counter() - self.start
        if kind is not None:
            if elapsed >= 1.0 and not issubclass(kind, StaleWork):  # interrupted after some work: count it
                self._write(elapsed)
            return
        self.total, self.attempts = sum(self.earlier) + elapsed, len(self.earlier) + 1
        self.ledger.unlink(missing_ok=True)


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat``, field 22), which tells a
    process from a later one given the same PID; ``None`` where ``/proc`` is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # the fields after the command name, which may hold spaces


class FolderLock:
    """One writer per results folder: ``<folder>/.lock`` holds the host, PID (and its start time) of the run that
    writes it.

    Every look at the lock, and every change to it, happens while holding an exclusive ``flock`` on
    ``<folder>/.lock.guard`` (the kernel releases it if the process dies), so deciding that a lock is stale and
    replacing it is one step no other starter can interleave with, and no one reads a half-written lock. A second
    run stops at once with a ``RuntimeError`` naming the running one. A lock whose process is gone on this host (no
    such PID, or a PID now used by a later process) is stale and taken over. A lock of another host cannot be
    checked from here: the error gives its age and how to clear it.
    """

    def __init__(self, folder: Path, label: str):
        self.path = Path(folder) / ".lock"
        self.guard_path = Path(folder) / ".lock.guard"
        self.label = label

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.guard_path, "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    @staticmethod
    def _alive(holder: dict) -> bool:
        if holder.get("host") != socket.gethostname():
            return True  # cannot tell for another machine: assume it runs
        try:
            pid = int(holder["pid"])
            os.kill(pid, 0)
        except (KeyError, TypeError, ValueError, ProcessLookupError):
            return False
        except PermissionError:
            pass
        started = holder.get("started")
        return started is None or process_start(pid) in (None, started)  # another start: the PID was reused

    def acquire(self) -> None:
        mine = {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid()),
                "what": self.label, "since": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        with self._guard():
            if self.path.exists():
                holder = self._holder()
                if holder and holder.get("host") == mine["host"] and holder.get("pid") == mine["pid"]:
                    return  # this process holds it already (a notebook re-run in the same kernel)
                if holder is not None and self._alive(holder):
                    raise RuntimeError(self._busy_message(holder))
                self.path.unlink()  # stale: its process is gone (or the file is not a lock we wrote)
            self.path.write_text(json.dumps(mine))

    def _busy_message(self, holder: dict) -> str:
        where = f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"
        message = (f"{display_path(self.path.parent)} is being written by another run ({holder.get('what')}, "
                   f"{where}); wait for it to finish, or use another results_dir")
        if holder.get("host") != socket.gethostname():
            try:
                since = _dt.datetime.strptime(str(holder.get("since")), "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=_dt.timezone.utc)
                age = f"{(_dt.datetime.now(_dt.timezone.utc) - since).total_seconds() / 3600:.1f} h old"
            except ValueError:
                age = "of unknown age"
            message += (f". That host cannot be checked from here (the lock is {age}): if that run is no longer "
                        f"running, delete {display_path(self.path)} to clear the lock")
        return message

    def release(self) -> None:
        with self._guard():
            holder = self._holder()
            if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
                self.path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------
# the store


def provenance_line(notebook: str, preset: str, table: str, info: dict, how: str, code_now: str) -> str:
    """The provenance line of a table (``info``: its ``meta.json`` entry; ``how``: loaded or computed; ``code_now``:
    today's code digest, named beside the recorded one where they differ)."""
    dirty = "+changes" if info["git_dirty"] else ""
    then = info.get("code_digest", "not recorded")
    code = f"code digest {then}" + ("" if then == code_now else f" (today's code: {code_now})")
    stale = ("; computed with recompute = 'reuse_stale': work of other code may have been resumed"
             if info.get("recompute") == "reuse_stale" else "")
    return (f"{notebook}/{table}.csv, preset {preset}: {how}; computed {info['computed_utc'][:10]} "
            f"at commit {info['git_commit'][:10]}{dirty} on {info['device']} in {info['wall_time_s']:.0f} s, "
            f"{code}{stale}")


class ResultStore:
    """Results of one notebook at one preset: ``<root>/<preset>/<notebook>/``.

    Args:
        notebook: the notebook's name (its file stem).
        preset: the preset name (a folder level).
        parameters: the computing parameters (JSON-able); stored tables are reused only when theirs are equal.
        root: the results root (default ``results/`` of the repository).
        recompute: one of :data:`RECOMPUTE_MODES`: ``"auto"`` reuses matching tables and resumes checkpointed
            work written by the same code (work written by other code stops the computation before any run,
            :class:`lrc_utils.training.StaleWork`); ``"always"`` deletes the checkpoints and computes from scratch;
            ``"never"`` only loads (:class:`StoredResultsMissing` otherwise); ``"reuse_stale"`` is ``"auto"`` that
            also resumes work written by other code, and says so in the tables' provenance.
        code_module: the module that computes the tables (e.g. ``"lrc_utils.book.chapters.figure1.study"``): the code
            digest recorded with them covers the package files it uses (:func:`code_digest`).
        added_defaults: parameters added after tables were stored, with the default that computes what the code
            did before (:func:`lrc_utils.book.params.added_defaults`): a stored table that lacks one counts as
            computed with that default.
    """

    def __init__(self, notebook: str, preset: str, parameters: dict, root: str | Path | None = None,
                 recompute: str = "auto", code_module: str | None = None, added_defaults: dict | None = None):
        if recompute not in RECOMPUTE_MODES:
            raise ValueError(f"recompute must be one of {RECOMPUTE_MODES}, got {recompute!r}")
        self.notebook, self.preset, self.recompute = notebook, preset, recompute
        self.code_module = code_module  # the module whose code the tables depend on (None: the whole package)
        self.key = json.loads(json.dumps(parameters, default=str))
        self.added_defaults = json.loads(json.dumps(added_defaults or {}, default=str))
        self.dir = Path(root or default_results_dir()) / preset / notebook
        self.meta_path = self.dir / "meta.json"
        self.meta = read_meta(self.meta_path)
        self.loaded: dict[str, bool] = {}
        self._lock = FolderLock(self.dir, f"notebook {notebook}, preset {preset}")

    @property
    def checkpoint_dir(self) -> Path:
        """Resumable work of long computations (not committed)."""
        return self.dir / "checkpoints"

    @property
    def wall_ledger(self) -> Path:
        """Where the wall time of this computation's interrupted attempts is kept (:class:`WallClock`): among the
        checkpoints, named by its parameters (another computation's attempts never count for this one)."""
        return self.checkpoint_dir / WALL_LEDGER.replace(".json", f"-{digest(self.key)}.json")

    def stored_matches(self, table: str) -> bool:
        """Whether ``table`` is stored with the same computing parameters as this run."""
        info = self.meta.get("tables", {}).get(table)
        if not info or not (self.dir / f"{table}.csv").exists():
            return False
        stored = info.get("parameters") or {}
        return {**{k: v for k, v in self.added_defaults.items() if k in self.key}, **stored} == self.key

    def _write_meta(self) -> None:
        atomic_write_text(self.meta_path, json.dumps(self.meta, indent=2, sort_keys=True, default=str) + "\n")

    def tables(self, names: list[str], compute: Callable[[], dict[str, pd.DataFrame]],
               device: str | Callable[[], str] = "") -> dict:
        """Load the tables ``names`` if all are stored with matching parameters (and ``recompute != "always"``),
        else compute and store them. ``compute()`` returns a dict name -> tidy DataFrame holding ``names``;
        ``device`` (or ``device()``, asked after computing) says where they were computed."""
        if self.recompute != "always" and all(self.stored_matches(n) for n in names):
            self.loaded.update(dict.fromkeys(names, True))
            return {n: read_table(self.dir, n, self.meta["tables"][n]) for n in names}
        if self.recompute == "never":
            raise StoredResultsMissing(
                f"tables {names} of {self.notebook} at preset {self.preset} are not stored with these parameters "
                f"in {display_path(self.dir)}, and recompute = 'never' forbids computing them")
        self._lock.acquire()
        try:
            if self.recompute == "always":
                shutil.rmtree(self.checkpoint_dir, ignore_errors=True)  # from scratch: no earlier work
            digest_now = code_digest(self.code_module)
            clock = WallClock(self.wall_ledger)
            try:
                with clock, work_code(digest_now, reuse_stale=self.recompute == "reuse_stale"):
                    frames = compute()
            except StaleWork as err:
                raise StaleWork(f"{err}. Two ways on: rerun with recompute = 'always' (runner: --recompute) to "
                                "compute that work again with today's code, or recompute = 'reuse_stale' (runner: "
                                "--reuse-stale) to keep it; the tables' provenance then says so") from None
            wall = clock.total
            missing = [n for n in names if n not in frames]
            if missing:
                raise RuntimeError(f"the computation for {self.notebook} returned no tables {missing}")
            commit, dirty = git_commit()
            info = {"parameters": self.key, "git_commit": commit, "git_dirty": dirty,
                    "code_digest": digest_now, "versions": library_versions(),
                    "device": device() if callable(device) else device, "wall_time_s": round(wall, 2),
                    "attempts": clock.attempts,
                    "computed_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if self.recompute == "reuse_stale":
                info["recompute"] = "reuse_stale"
            self.meta.update(notebook=self.notebook, preset=self.preset)
            for name in names:
                atomic_write(self.dir / f"{name}.csv", lambda tmp, n=name: frames[n].to_csv(tmp, index=False))
                self.meta.setdefault("tables", {})[name] = {**info, "sha256": file_sha256(self.dir / f"{name}.csv")}
                self.loaded[name] = False
                self._write_meta()  # after each table: a crash between two leaves no table under another's checksum
        finally:
            self._lock.release()
        return {n: frames[n] for n in names}

    def provenance(self, table: str) -> str:
        """One line for a figure: where the numbers come from, and the digest of the code that computed them, with
        today's when the code has changed since (provenance, not a verdict: whether the numbers moved is what the
        fingerprints tell, see :mod:`lrc_utils.book.fingerprint`)."""
        how = "loaded from stored results" if self.loaded.get(table) else "computed in this run"
        return provenance_line(self.notebook, self.preset, table, self.meta["tables"][table], how,
                               code_digest(self.code_module))

    def save_figure(self, fig, name: str, table: str | None = None, provenance: str | None = None) -> None:
        """Save ``fig`` as ``<name>.png`` and ``<name>.pdf`` beside the tables and list it in meta.json.

        With ``table`` (or a ``provenance`` line of its own), the saved files are stamped with that table's
        :meth:`provenance` line under the figure, so that a file that travels alone says where it comes from
        (legible at the book's column width: 9 pt on a figure at most 7.5 inches wide). The book's pages show the
        line under the figure, not in it (:meth:`lrc_utils.book.notebook.NotebookRun.save_figure`).
        """
        line = provenance if provenance is not None else self.provenance(table) if table is not None else None
        if line is not None:
            if fig.get_layout_engine() is None:  # laid out already (tight_layout with its own rect): keep that
                fig.tight_layout()
            _pin_figure_legends(fig)
            # below everything drawn (legends placed under the axes included), never over it
            lowest = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / fig.get_figheight()
            # wrapped here, at about the characters of 9 pt text that fit the figure's width (matplotlib's own
            # wrap=True grows a top-aligned block upwards, over what it should stay under)
            wrapped = "\n".join(textwrap.wrap(line, max(40, int(fig.get_figwidth() * 72 / (9 * 0.55)))))
            fig.text(0.0, min(0.0, lowest) - 0.01, wrapped, fontsize=9, color="0.35", ha="left", va="top",
                     transform=fig.transFigure)
        try:
            atomic_write(self.dir / f"{name}.png",
                         lambda tmp: fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight"))
            atomic_write(self.dir / f"{name}.pdf", lambda tmp: fig.savefig(tmp, format="pdf", bbox_inches="tight",
                                                                           metadata={"CreationDate": None}))
            figures = self.meta.setdefault("figures", [])
            if name not in figures:
                figures.append(name)
                self._write_meta()
        except OSError as err:  # a read-only results folder (shared, or a mounted copy): view, do not write
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            print(f"[lrc] {display_path(self.dir)} cannot be written ({err.strerror or err}): figure {name} is shown "
                  "here but not saved there")
