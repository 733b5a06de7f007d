"""Committed results are what the current code computes: each notebook's study at its smoke preset against
the committed fingerprint under results/fingerprints/ (see lrc_utils.fingerprint), compared exactly."""

import pandas as pd
import pytest

from lrc_utils import fingerprint
from lrc_utils import training as training_module
from lrc_utils.data import DataNotFoundError
from lrc_utils.runner import notebook_names

pytestmark = pytest.mark.slow


def compute_or_skip(name):
    try:
        return fingerprint.compute(name)
    except DataNotFoundError as err:
        pytest.skip(f"{name}: its data are not on this machine ({str(err).splitlines()[0]})")


@pytest.mark.parametrize("name", notebook_names())
def test_the_current_code_reproduces_the_committed_fingerprint(name):
    diffs = fingerprint.differences(name, compute_or_skip(name))
    assert not diffs, fingerprint.stale_message(name, diffs)


def test_a_one_ulp_change_to_one_training_step_changes_the_fingerprint(monkeypatch):
    """The deliberate change of the issue: the learning rate of a single step (step 7) moved by one unit in the
    last place of the models' float32 arithmetic. The Figure 2 fingerprint (3 betas of a VIB) must notice it.
    (One float64 ulp of the Python learning rate does not reach float32 arithmetic: the optimiser's scalar is
    rounded to float32, so no number changes and there is nothing to notice.)"""
    import numpy as np

    real = training_module.FitConfig.lr_at

    def one_ulp_off(self, step):
        lr = real(self, step)
        return float(np.nextafter(np.float32(lr), np.float32(np.inf))) if step == 7 else lr

    monkeypatch.setattr(training_module.FitConfig, "lr_at", one_ulp_off)
    diffs = fingerprint.differences("figure2", compute_or_skip("figure2"))
    assert diffs, "a one-ulp change to one training step left the fingerprint unchanged"
    message = fingerprint.stale_message("figure2", diffs)
    assert "notebook 'figure2'" in message and "make recompute PRESET=paper NOTEBOOKS=figure2" in message


def test_fingerprints_compare_exactly():
    a = pd.DataFrame({"x": [0.1, 0.2], "n": [1, 2]})
    b = a.assign(x=[0.1, math_nextafter(0.2)])
    assert fingerprint._canonical(a, ()).equals(fingerprint._canonical(a, ()))
    assert not fingerprint._canonical(a, ())["x"].equals(fingerprint._canonical(b, ())["x"])
    assert list(fingerprint._canonical(a, ("n",)).columns) == ["x"]


def math_nextafter(x):
    import math

    return math.nextafter(x, math.inf)


@pytest.mark.parametrize("name", notebook_names())
def test_the_committed_paper_results_were_computed_by_the_code_now_in_the_repository(name):
    """Every number in the book is measured at the commit it describes: each committed paper table records the
    digest of the code that computed it, at a clean commit, and that digest is the current code's (a change that
    moves no number but edits a study's code still needs the tables recomputed, or the book would stamp its
    figures "by OLDER code")."""
    import json

    from lrc_utils.config import RESULTS_DIR
    from lrc_utils.store import code_digest

    meta = json.loads((RESULTS_DIR / "paper" / name / "meta.json").read_text())
    now = code_digest(f"lrc_utils.studies.{name}")
    for table, info in meta["tables"].items():
        assert not info["git_dirty"], f"{name}/{table} was computed with uncommitted changes"
        assert info["code_digest"] == now, (
            f"{name}/{table} was computed by other code (digest {info['code_digest']}, now {now}) at commit "
            f"{info['git_commit'][:10]}: recompute it (make recompute PRESET=paper NOTEBOOKS={name})")
