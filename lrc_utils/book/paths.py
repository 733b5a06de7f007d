"""Where the book's pieces live in a checkout: the repository, its notebooks and presets, results and executed
pages. Only the book's pipeline uses these; the core (:mod:`lrc_utils`) knows no repository path."""

from __future__ import annotations

from pathlib import Path

#: The repository checkout that holds this package (``lrc_utils/book/../..``). Notebooks, presets and results
#: are found relative to it, never relative to the working directory.
REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RESULTS_DIR = REPO_ROOT / "results"
EXECUTED_DIR = REPO_ROOT / "executed"
