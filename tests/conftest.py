import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lrc_utils.book.paths import REPO_ROOT


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.environ.setdefault("LRC_PROGRESS", "0")  # no progress bars in the test log


@pytest.fixture
def repo_root():
    return REPO_ROOT


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Each notebook at the smoke preset on the CPU, run once per test session on first use (the runs that the
    notebook checks, the fingerprints and the cluster test share): ``smoke_runs(name)`` returns the folder holding
    ``executed/<name>.ipynb`` and ``results/smoke/<name>/``. A notebook that failed fails again without rerunning."""
    from lrc_utils.book.fingerprint import run_smoke

    root = tmp_path_factory.mktemp("smoke")
    outcomes: dict[str, Exception | None] = {}

    def run(name: str) -> Path:
        if name not in outcomes:
            try:
                run_smoke([name], root / "results", root / "executed")
                outcomes[name] = None
            except Exception as err:  # noqa: BLE001 - kept and raised for every test that asks
                outcomes[name] = err
        if outcomes[name] is not None:
            raise outcomes[name]
        return root

    return run


@pytest.fixture(scope="session")
def paper_book(tmp_path_factory) -> Path:
    """The book, built once per test session (``jupyter-book build -W -n --keep-going``) as a reader gets it:
    ``make book`` on a fresh clone of the working tree, offline, with an empty data folder, so that every page is
    rendered from the committed paper results alone (``--cached-only``: no table may be computed). Returns the
    clone, which holds ``executed/``, ``_build/html`` and the empty data folder ``no-data``."""
    root = tmp_path_factory.mktemp("paper_book")
    clone = root / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    for path in ("results", "notebooks", "lrc_utils", "book", "_config.yml", "_toc.yml", "Makefile"):
        # the working tree, committed or not
        source = REPO_ROOT / path
        if source.is_dir():
            shutil.rmtree(clone / path)
            # results' figure files are build products (ignored by git, drawn again from the tables); the book's
            # own images (book/_static) are sources
            build_products = ("checkpoints", "*.png", "*.pdf") if path == "results" else ()
            shutil.copytree(source, clone / path, ignore=shutil.ignore_patterns(*build_products, "__pycache__"))
        else:
            shutil.copy(source, clone / path)
    empty = clone / "no-data"
    empty.mkdir()
    venv = Path(sys.executable).parent.parent
    env = {**os.environ, "LRC_OFFLINE": "1", "LRC_DATA_DIR": str(empty), "PYTHONPATH": str(clone)}
    done = subprocess.run(["make", "book", f"VENV={venv}", "-o", str(venv / ".installed-stamp"),
                           "BOOK_FLAGS=--cached-only"], cwd=clone, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"make book failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return clone
