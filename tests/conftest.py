import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lrc_utils.config import REPO_ROOT


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.environ.setdefault("LRC_PROGRESS", "0")  # no progress bars in the test log


@pytest.fixture
def repo_root():
    return REPO_ROOT


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


JUPYTER_BOOK = str(Path(sys.executable).parent / "jupyter-book")


def build_book(source: Path) -> Path:
    """Copy the book's configuration and pages into ``source`` (which holds ``executed/``) and build it with
    warnings as errors; return the HTML folder."""
    for item in ("_config.yml", "_toc.yml", "book"):
        if (REPO_ROOT / item).is_dir():
            shutil.copytree(REPO_ROOT / item, source / item, dirs_exist_ok=True)
        else:
            shutil.copy(REPO_ROOT / item, source / item)
    done = subprocess.run([JUPYTER_BOOK, "build", str(source), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"jupyter-book build -W failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return source / "_build" / "html"


@pytest.fixture(scope="session")
def paper_book(tmp_path_factory) -> Path:
    """The paper book, rendered from the committed results alone (no table may be computed), built once per
    test session: the folder holding ``executed/`` and ``_build/html``."""
    from lrc_utils.runner import run_notebooks

    source = tmp_path_factory.mktemp("paper_book")
    run_notebooks(None, "paper", source / "executed", recompute="never")
    build_book(source)
    return source
