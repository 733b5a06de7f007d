"""Committed results are what the current code computes: each notebook's smoke run (shared with tests/test_book.py)
against the committed fingerprint under results/fingerprints/ (see lrc_utils.book.fingerprint), compared exactly where
the environment is the one that wrote them, and skipped, naming the difference, anywhere else."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from lrc_utils import training as training_module
from lrc_utils.book import fingerprint
from lrc_utils.book.chapters import load_study
from lrc_utils.book.runner import notebook_names

NAMES = notebook_names()


def skip_unless_the_fingerprints_environment():
    """Skip, naming each difference, outside the environment that wrote the fingerprints; fail instead where
    $LRC_REQUIRE_EXACT=1 (.ci/run sets it: on the machines that wrote them, the checks must run)."""
    reason = fingerprint.environment_mismatch()
    if reason and os.environ.get(fingerprint.REQUIRE_ENV) == "1":
        pytest.fail(f"{fingerprint.REQUIRE_ENV}=1, but {reason}")
    if reason:
        pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_smoke_run_reproduces_the_committed_fingerprint(name, smoke_runs):
    skip_unless_the_fingerprints_environment()
    results = smoke_runs(name) / "results"
    meta = json.loads((results / "smoke" / name / "meta.json").read_text())
    here = fingerprint.numeric_environment()
    for table, info in meta["tables"].items():  # the notebook's kernel is this Python, with these libraries
        for library in ("python", "torch", "numpy", "pandas"):
            assert info["versions"][library] == here[library], f"{table}: the kernel ran {library} " \
                f"{info['versions'][library]}, this process has {here[library]} (another python3 kernelspec?)"
    tables = fingerprint.stored_tables(name, results)
    diffs = fingerprint.differences(name, tables)
    assert not diffs, fingerprint.stale_message(name, diffs)


def test_every_notebook_has_a_fingerprint_and_the_environment_that_wrote_it():
    """The comparison above never passes by comparing nothing: every table of every study is committed, non-empty,
    and the numeric environment is recorded with every key the comparison needs."""

    recorded = fingerprint.recorded_environment()
    assert set(recorded) == set(fingerprint.numeric_environment()), "environment.json lacks keys: rewrite it"
    for name in NAMES:
        for table in load_study(name).TABLES:
            path = fingerprint.FINGERPRINT_DIR / name / f"{table}.csv"
            assert path.exists() and len(pd.read_csv(path)) > 0, f"{path} is missing or empty"


def test_the_environment_check_names_each_difference():
    recorded = fingerprint.recorded_environment()
    assert fingerprint.environment_mismatch(dict(recorded)) is None
    other = {**recorded, "torch": "0.0.0-other", "torch_cpu_kernels": "NO_SIMD"}
    reason = fingerprint.environment_mismatch(other)
    assert f"torch {recorded['torch']} there, 0.0.0-other here" in reason
    assert f"torch_cpu_kernels {recorded['torch_cpu_kernels']} there, NO_SIMD here" in reason
    assert "make setup installs requirements.lock (for torch)" in reason and "numpy" not in reason
    assert "torch_cpu_kernels: only a machine like the one that wrote them" in reason


@pytest.mark.slow
def test_a_one_ulp_change_to_the_learning_rate_changes_the_fingerprint(monkeypatch, smoke_runs):
    """The notebook's tables are what the study computes in this process (so the fingerprints speak for users who
    call a study from Python), and the learning rate moved by one unit in the last place of the models' float32
    arithmetic, as a change in how the schedule rounds would move it, moves them: the Figure 2 fingerprint (3 betas
    of a VIB, 30 steps each) notices it. Both comparisons are within this session's environment. A one-ulp change
    at a single step can vanish in the rounding of the parameter update (an Adam step of about lr is far below the
    ulp of most parameters): with torch 2.14.1 it does at step 0 and at step 7, not at step 1. (One float64 ulp of
    the Python learning rate never reaches float32 arithmetic: the optimiser's scalar is rounded to float32.)"""
    notebook = fingerprint.stored_tables("figure2", smoke_runs("figure2") / "results")
    same = fingerprint.compute("figure2")
    assert all(same[t].equals(notebook[t]) for t in notebook), "the study in this process differs from its notebook"

    real = training_module.FitConfig.lr_at

    def one_ulp_up(self, step):
        return float(np.nextafter(np.float32(real(self, step)), np.float32(np.inf)))

    monkeypatch.setattr(training_module.FitConfig, "lr_at", one_ulp_up)
    moved = fingerprint.compute("figure2")
    differ = [t for t in notebook if not moved[t].equals(notebook[t])]
    assert differ, "a one-ulp change of the learning rate left the tables unchanged"
    # and the committed fingerprint notices it (outside its environment it differs anyway: nothing to learn)
    assert fingerprint.differences("figure2", moved) or fingerprint.environment_mismatch(), (
        "the committed fingerprint did not notice it")


def test_fingerprints_compare_exactly():
    a = pd.DataFrame({"x": [0.1, 0.2], "n": [1, 2]})
    b = a.assign(x=[0.1, math.nextafter(0.2, math.inf)])
    assert fingerprint._canonical(a, ()).equals(fingerprint._canonical(a, ()))
    assert not fingerprint._canonical(a, ())["x"].equals(fingerprint._canonical(b, ())["x"])
    assert list(fingerprint._canonical(a, ("n",)).columns) == ["x"]


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_paper_results_were_computed_at_a_clean_commit(name):
    """Every committed paper table records the commit and the code digest that computed it, with no uncommitted
    changes. Whether today's code computes the same numbers is the fingerprints' question (above): the digest is
    provenance, shown under each figure, never a failure by itself, so that a change that moves no number (a
    renamed variable, a moved function) needs no recompute."""
    from lrc_utils.book.paths import RESULTS_DIR

    meta = json.loads((RESULTS_DIR / "paper" / name / "meta.json").read_text())
    for table, info in meta["tables"].items():
        assert not info["git_dirty"], f"{name}/{table} was computed with uncommitted changes"
        assert len(info["git_commit"]) == 40 and info["code_digest"], f"{name}/{table}: provenance not recorded"
