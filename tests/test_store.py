"""The result store: reuse rules, provenance and code digest, atomic files, one writer per folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import lrc_utils
from lrc_utils.book import store as store_module
from lrc_utils.book.store import FolderLock, ResultStore, StoredResultsMissing, atomic_write_text, code_digest


def make(tmp_path, recompute="auto", **parameters):
    return ResultStore("nb", "test", {"lr": 0.1, "steps": 3, **parameters}, root=tmp_path, recompute=recompute)


def test_results_are_reused_only_when_parameters_match(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"curve": pd.DataFrame({"step": [1, 2], "loss": [0.5, 0.25]})}

    first = make(tmp_path).tables(["curve"], compute)["curve"]
    assert len(calls) == 1
    store = make(tmp_path)
    again = store.tables(["curve"], compute)["curve"]
    assert len(calls) == 1 and again.equals(first) and store.loaded["curve"]
    line = store.provenance("curve")
    assert "loaded from stored results" in line and "code digest" in line and "today's code" not in line
    make(tmp_path, lr=0.2).tables(["curve"], compute)
    assert len(calls) == 2
    make(tmp_path, "always", lr=0.2).tables(["curve"], compute)
    assert len(calls) == 3
    info = json.loads((tmp_path / "test" / "nb" / "meta.json").read_text())["tables"]["curve"]
    assert info["parameters"] == {"lr": 0.2, "steps": 3, }
    assert {"git_commit", "code_digest", "versions", "device", "wall_time_s", "computed_utc"} <= set(info)
    with pytest.raises(StoredResultsMissing, match="recompute = 'never' forbids computing"):
        make(tmp_path, "never", lr=0.3).tables(["curve"], compute)
    with pytest.raises(ValueError, match="recompute must be one of"):
        make(tmp_path, "yes")


def test_recompute_always_starts_checkpointed_work_from_scratch(tmp_path):
    store = make(tmp_path)
    store.checkpoint_dir.mkdir(parents=True)
    (store.checkpoint_dir / "run.pt").write_text("partial work")
    seen = []
    make(tmp_path, "always").tables(["t"], lambda: seen.append(list(store.checkpoint_dir.glob("*"))) or
                                    {"t": pd.DataFrame({"a": [1]})})
    assert seen == [[]]


def test_provenance_gives_the_digest_then_and_now_when_the_code_has_changed(tmp_path, monkeypatch):
    store = make(tmp_path)
    store.tables(["t"], lambda: {"t": pd.DataFrame({"a": [1]})})
    then = store.meta["tables"]["t"]["code_digest"]
    monkeypatch.setattr(store_module, "code_digest", lambda module=None: "0123456789abcdef")
    assert f"code digest {then} (today's code: 0123456789abcdef)" in store.provenance("t")


def test_code_digest_follows_code_not_docstrings(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    module = package / "m.py"
    module.write_text('"""Doc."""\n\ndef f(x):\n    """Adds one."""\n    return x + 1  # a comment\n')
    base = code_digest(package_dir=package)
    module.write_text('"""Other doc."""\n\ndef f(x):\n    """Adds one to x."""\n    return x + 1\n')
    assert code_digest(package_dir=package) == base
    module.write_text('"""Doc."""\n\ndef f(x):\n    return x + 1.0\n')
    assert code_digest(package_dir=package) != base


def test_an_interrupted_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "table.csv"
    atomic_write_text(path, "a,b\n1,2\n")

    def half_then_fail(tmp):
        with open(tmp, "w") as f:
            f.write("a,b\n3,")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store_module.atomic_write(path, half_then_fail)
    assert path.read_text() == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # no temporary file left


def test_a_second_writer_stops_at_once_naming_the_first(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(json.dumps({"host": __import__("socket").gethostname(), "pid": holder.pid,
                                                   "what": "notebook figure1, preset paper", "since": "now"}))
        with pytest.raises(RuntimeError, match=f"being written by another run .notebook figure1, preset paper, "
                                               f"pid {holder.pid}"):
            FolderLock(tmp_path, "second").acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = FolderLock(tmp_path, "third")
    lock.acquire()  # the first one's process is gone: its lock is stale and taken over
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / ".lock").exists()


def test_a_study_digest_covers_the_computing_modules_it_imports():
    from lrc_utils.book.store import package_files_used

    package = Path(lrc_utils.__file__).parent
    names = {p.relative_to(package).as_posix() for p in package_files_used("lrc_utils.book.chapters.figure1.study")}
    assert {"training.py", "local_rank.py", "data.py", "grid.py", "book/chapters/figure1/study.py",
            "book/chapters/panels.py", "book/chapters/__init__.py", "book/__init__.py"} <= names
    assert not names & {"mi.py", "book/style.py", "book/store.py", "book/runner.py", "book/chapters/figure1/figures.py",
                        "book/chapters/figure2/study.py"}


def test_a_parameter_added_later_matches_tables_stored_without_it_only_at_its_default(tmp_path):
    """``param(..., added=True)``: a table stored before the parameter existed counts as computed with its default
    (the code computed exactly that), with any other value as not stored; a table stored with the parameter is
    compared as any other."""
    calls = []

    def compute():
        calls.append(1)
        return {"curve": pd.DataFrame({"step": [1], "loss": [0.5]})}

    make(tmp_path).tables(["curve"], compute)  # stored before "loss" existed
    added = {"loss": "cross_entropy"}

    def later(**parameters):
        return ResultStore("nb", "test", {"lr": 0.1, "steps": 3, **parameters}, tmp_path, added_defaults=added)

    assert later(loss="cross_entropy").stored_matches("curve")
    assert not later(loss="softmax_cross_entropy").stored_matches("curve")
    assert not make(tmp_path, loss="cross_entropy").stored_matches("curve")  # without the marker: not the same
    later(loss="softmax_cross_entropy").tables(["curve"], compute)
    assert len(calls) == 2
    assert later(loss="softmax_cross_entropy").stored_matches("curve")
    assert not later(loss="cross_entropy").stored_matches("curve")  # stored with another value: not the default


def test_added_defaults_come_from_the_schema():
    from lrc_utils.book.chapters.figure1.study import Params
    from lrc_utils.book.params import added_defaults

    assert added_defaults(Params) == {"loss": "cross_entropy"}


def test_a_lock_of_a_reused_pid_is_stale_and_taken_over(tmp_path):
    """A lock naming this host and a live PID whose process started at another time (the PID was reused by a
    later process) is stale."""
    import socket

    from lrc_utils.book.store import process_start

    parent = os.getppid()
    assert process_start(parent) is not None  # Linux: /proc gives start times
    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": parent, "started": "1",
                                                "what": "an old run", "since": "2026-01-01T00:00:00Z"}))
    lock = FolderLock(tmp_path, "new")
    lock.acquire()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock.guard"]  # no temporary or moved lock left behind


def test_a_lock_of_another_host_says_its_age_and_how_to_clear_it(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"host": "elsewhere.example", "pid": 1, "what": "notebook figure2",
                                                "since": "2026-01-01T00:00:00Z"}))
    with pytest.raises(RuntimeError, match=r"pid 1 on elsewhere.example.*That host cannot be checked from here "
                                           r"\(the lock is [0-9.]+ h old\): if that run is no longer running, "
                                           r"delete .*\.lock to clear the lock"):
        FolderLock(tmp_path, "second").acquire()


def test_a_stale_lock_is_taken_over_by_exactly_one_of_many_starters(tmp_path):
    """Eight processes start at once on a folder whose lock is stale (a PID that no longer exists): each tries to
    take it and holds it for a moment if it gets it; at no time do two hold it, and at least one gets it."""
    import socket

    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 12345, "what": "gone",
                                                "since": "2026-01-01T00:00:00Z"}))
    script = (
        "import sys, time, json\n"
        "from pathlib import Path\n"
        "from lrc_utils.book.store import FolderLock\n"
        "folder = Path(sys.argv[1]); lock = FolderLock(folder, 'starter')\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "try:\n"
        "    lock.acquire()\n"
        "except RuntimeError:\n"
        "    print('busy'); sys.exit(0)\n"
        "(folder / 'holders').mkdir(exist_ok=True)\n"
        "mark = folder / 'holders' / str(__import__('os').getpid()); mark.touch()\n"
        "others = [p for p in (folder / 'holders').iterdir() if p != mark]\n"
        "time.sleep(0.3); mark.unlink(); lock.release()\n"
        "print('overlap' if others else 'held')\n")
    start = str(__import__("time").time() + 3)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), start], stdout=subprocess.PIPE,
                              text=True) for _ in range(8)]
    outcomes = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert "overlap" not in outcomes and "held" in outcomes, outcomes
