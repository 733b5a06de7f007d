"""Real faults: a study run in another process killed with SIGKILL part-way through, then run again, gives the
tables of an uninterrupted run, and loses only the unfinished run's work since its last checkpoint."""

import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.figure2 import study as figure2
from lrc_utils.book.chapters.vib import grid as vib_grid

vib_grid.CHECKPOINT_EVERY = 25
p = SimpleNamespace(seeds=[0], data_seed=0, input_dim=6, separations=[4.0, 2.0], n_train=300, n_test=100,
                    n_rank_points=30, encoder_widths=[16], latent_dim=4, beta_min=1e-3, beta_max=3.0, n_betas=4,
                    steps=200, lr=1e-2, lr_final_ratio=0.5, adam_beta1=0.5, batch_size=32, n_predict_samples=4,
                    atol=1e-2, rtol=1e-3, atol_grid=[1e-3, 1e-1], rtol_grid=[1e-2])
out = Path(sys.argv[1])
tables = figure2.compute(p, StudyContext(checkpoint_dir=out / "checkpoints"))
for name, frame in tables.items():
    frame.to_csv(out / f"{name}.csv", index=False, float_format="%.17g")
"""


def run(folder, **kwargs):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(folder)], **kwargs)


def tables(folder):
    return {name: pd.read_csv(folder / f"{name}.csv") for name in ("vib_sweep", "spectrum", "tolerance")}


def test_a_run_killed_with_sigkill_resumes_to_identical_tables(tmp_path):
    straight = tmp_path / "straight"
    straight.mkdir()
    assert run(straight).wait(timeout=600) == 0

    killed = tmp_path / "killed"
    killed.mkdir()
    process = run(killed)
    checkpoints = killed / "checkpoints"
    deadline = time.time() + 600
    # wait until one run is finished and the next one has a checkpoint on disk, then kill without warning
    while time.time() < deadline and process.poll() is None:
        files = [p.name for p in checkpoints.glob("*.pt")] if checkpoints.exists() else []
        if sum(f.startswith("dataset") for f in files) >= 1 and any(not f.startswith("dataset") for f in files):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed; make it longer"
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p.name for p in checkpoints.glob("dataset*.pt"))
    in_progress = [p for p in checkpoints.glob("*.pt") if not p.name.startswith("dataset")]
    assert 1 <= len(finished) < 4 and in_progress, (finished, in_progress)

    assert run(killed).wait(timeout=600) == 0
    for name, frame in tables(straight).items():
        pd.testing.assert_frame_equal(tables(killed)[name], frame, check_exact=True)
    assert not [p for p in checkpoints.glob("*.pt") if not p.name.startswith("dataset")]  # no checkpoint left
