"""End to end: every notebook at the smoke preset, the book built with -W from it, the paper book rendered from
the committed results alone, and `make book` on a fresh clone with no data anywhere. Slow (minutes)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lrc_utils.config import REPO_ROOT
from lrc_utils.runner import notebook_names, run_notebooks
from tests.conftest import build_book

pytestmark = pytest.mark.slow
NAMES = notebook_names()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("book")


@pytest.mark.parametrize("name", NAMES)
def test_smoke_preset_runs(name, workdir):
    run_notebooks([name], "smoke", workdir / "smoke" / "executed", results_dir=workdir / "results")
    executed = nbformat.read(workdir / "smoke" / "executed" / f"{name}.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def check_book(source: Path, executed: Path, results: Path) -> None:
    for name in NAMES:
        page = (source / "_build" / "html" / "executed" / f"{name}.html").read_text()
        assert "Traceback" not in page, f"{name}: the rendered page shows a traceback"
        for machine_path in (str(REPO_ROOT), str(source), "/tmp/", "/home/", "/root/", "/work/"):
            assert machine_path not in page, f"{name}: the page shows a machine path ({machine_path})"
        nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
        shown = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        figures = json.loads((results / name / "meta.json").read_text()).get("figures", [])
        assert shown >= len(figures) > 0, f"{name}: saved {len(figures)} figures but displayed {shown}"
        images = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"', page)
        assert len(images) >= shown, f"{name}: {shown} figures in the notebook, {len(images)} in the HTML"
        for src in images:
            assert (source / "_build" / "html" / "executed" / src).resolve().exists(), f"{name}: missing {src}"


def test_book_builds_with_warnings_as_errors_from_smoke_runs(workdir):
    executed = workdir / "smoke" / "executed"
    missing = [n for n in NAMES if not (executed / f"{n}.ipynb").exists()]
    if missing:  # run alone (or after a failed smoke run): execute what is missing here
        run_notebooks(missing, "smoke", executed, results_dir=workdir / "results")
    build_book(workdir / "smoke")
    check_book(workdir / "smoke", executed, workdir / "results" / "smoke")


def test_paper_book_renders_from_committed_results_alone(paper_book):
    check_book(paper_book, paper_book / "executed", REPO_ROOT / "results" / "paper")


def test_make_book_on_a_fresh_clone_with_no_data_anywhere(tmp_path):
    """The issue's criterion: `make book` on a fresh clone, offline, with an empty data folder, builds the whole
    book from the committed results (no notebook touches data) and leaves the clone's tracked files unchanged."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    for path in ("results", "notebooks", "lrc_utils", "book", "_config.yml", "_toc.yml", "Makefile"):
        # the test runs on the working tree, committed or not
        source = REPO_ROOT / path
        if source.is_dir():
            shutil.rmtree(clone / path)
            shutil.copytree(source, clone / path, ignore=shutil.ignore_patterns("checkpoints", "*.png", "*.pdf",
                                                                               "__pycache__"))
        else:
            shutil.copy(source, clone / path)
    empty = tmp_path / "no-data"
    empty.mkdir()
    venv = Path(sys.executable).parent.parent
    env = {**os.environ, "LRC_OFFLINE": "1", "LRC_DATA_DIR": str(empty), "PYTHONPATH": str(clone)}
    done = subprocess.run(["make", "book", f"VENV={venv}", "-o", str(venv / ".installed-stamp")], cwd=clone,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"make book failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for name in NAMES:
        assert (clone / "_build" / "html" / "executed" / f"{name}.html").exists(), name
    assert not list(empty.iterdir()), "something was written into the data folder"
