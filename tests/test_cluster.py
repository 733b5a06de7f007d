"""A study's grid on a real Dask cluster gives the tables of the serial run, bit for bit: on a local cluster of 2
worker processes, against a scheduler address, and when a worker process is killed in the middle of a run.
Dask is started only by the tests marked ``dask`` (and the notebook runner only when ``cluster`` is set)."""

import os
import signal
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from lrc_utils.book import cluster as cluster_module
from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.figure2 import study as figure2
from lrc_utils.book.cluster import ClusterUnreachable, DaskRuns, parse_cluster
from lrc_utils.book.fingerprint import _canonical
from lrc_utils.grid import run_file, run_grid


def grid_parameters(steps: int = 30, n_betas: int = 4) -> SimpleNamespace:
    """A small Figure 2 grid: one seed, ``n_betas`` betas, tiny VIBs."""
    return SimpleNamespace(seeds=[0], data_seed=0, input_dim=6, separations=[4.0, 2.0], n_train=300, n_test=100,
                           n_rank_points=30, encoder_widths=[16], latent_dim=4, beta_min=1e-3, beta_max=3.0,
                           n_betas=n_betas, steps=steps, lr=1e-2, lr_final_ratio=0.5, adam_beta1=0.5, batch_size=32,
                           n_predict_samples=4, atol=1e-2, rtol=1e-3, atol_grid=[1e-3, 1e-1], rtol_grid=[1e-2])


def compute(p, folder: Path, runs=None) -> dict:
    tables = figure2.compute(p, StudyContext(checkpoint_dir=folder, runs=runs))
    return {name: _canonical(frame, ()) for name, frame in tables.items()}


def assert_identical(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].equals(b[name]), f"table {name} differs:\n{a[name].compare(b[name])}"


# ----------------------------------------------------------------------------------------------------
# without Dask


def test_the_cluster_parameter_is_read_before_any_work():
    assert parse_cluster("") == ("serial", None)
    assert parse_cluster("local:3") == ("local", 3)
    assert parse_cluster("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    for bad in ("local", "local:0", "local:two", "10.0.0.5:8786", "no_such_value"):
        with pytest.raises(ValueError, match="cluster"):
            parse_cluster(bad)
    with pytest.raises(TypeError, match="cluster must be a string"):
        parse_cluster(4)


def test_a_grid_runs_on_whatever_runs_it_is_given_and_writes_every_run_file(tmp_path):
    """run_grid with an executor: results may arrive in any order; the tables are still in key order and each run
    has its own file, exactly what the serial grid writes."""

    class Reversed:
        def results(self, run_one, keys):
            for i in reversed(range(len(keys))):
                yield i, run_one(keys[i])

    import pandas as pd

    keys = [{"seed": s} for s in range(4)]

    def run_one(key):
        return {"t": pd.DataFrame({"seed": [key["seed"]], "value": [key["seed"] ** 0.5]})}

    serial = run_grid(keys, run_one, tmp_path / "a", {"x": 1}, progress=False)
    other = run_grid(keys, run_one, tmp_path / "b", {"x": 1}, progress=False, runs=Reversed())
    assert serial["t"].equals(other["t"]) and serial["t"]["seed"].tolist() == [0, 1, 2, 3]
    assert all(run_file(tmp_path / "b", {"x": 1}, k).exists() for k in keys)


def test_the_default_path_does_not_import_dask(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from types import SimpleNamespace; from pathlib import Path\n"
            "from lrc_utils.book.chapters import StudyContext\n"
            "from lrc_utils.book.chapters.figure2 import study as figure2\n"
            f"from tests.test_cluster import grid_parameters\n"
            f"figure2.compute(grid_parameters(n_betas=2), StudyContext(checkpoint_dir=Path({str(tmp_path)!r})))\n"
            "print('distributed' in sys.modules, 'dask' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, env={**os.environ, "LRC_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------------------------------
# on real Dask clusters

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_an_unreachable_scheduler_fails_before_any_run_with_a_clear_message(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    calls = []
    start = time.perf_counter()
    with pytest.raises(ClusterUnreachable, match=f"no Dask scheduler answered at {address}") as err:
        with DaskRuns(address, connect_timeout=2) as runs:
            run_grid([{"seed": 0}], lambda key: calls.append(key), tmp_path, {}, runs=runs)
    assert calls == [] and not any(tmp_path.iterdir())
    assert "leave cluster empty to compute here" in str(err.value)
    assert time.perf_counter() - start < 30


@pytest.mark.slow
def test_local_cluster_and_scheduler_address_give_the_serial_tables_bit_for_bit(tmp_path):
    from distributed import LocalCluster

    p = grid_parameters()
    serial = compute(p, tmp_path / "serial")
    with DaskRuns("local:2", checkpoint_dir=tmp_path / "local") as runs:
        assert runs.n_workers == 2 and runs.device.type == "cpu"
        local = compute(p, tmp_path / "local", runs)
    assert_identical(serial, local)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as running:
        with DaskRuns(running.scheduler_address, checkpoint_dir=tmp_path / "address") as runs:
            remote = compute(p, tmp_path / "address", runs)
    assert_identical(serial, remote)
    assert serial["vib_sweep"].shape[0] == p.n_betas


@pytest.mark.slow
def test_a_cluster_whose_workers_run_two_tasks_at_once_is_refused(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as running:
        with pytest.raises(cluster_module.ClusterUnsuitable, match="one task at a time"):
            with DaskRuns(running.scheduler_address, checkpoint_dir=tmp_path):
                pass


@pytest.mark.slow
def test_a_cluster_without_workers_or_with_other_code_is_refused_before_any_run(tmp_path, monkeypatch):
    from distributed import LocalCluster

    from lrc_utils.book import store

    with LocalCluster(n_workers=0, dashboard_address=None) as empty:
        with pytest.raises(cluster_module.ClusterUnsuitable, match="has no workers"):
            with DaskRuns(empty.scheduler_address, checkpoint_dir=tmp_path, connect_timeout=2):
                pass
    monkeypatch.setattr(store, "code_digest", lambda module=None: "0123456789abcdef")  # this process only
    with pytest.raises(cluster_module.ClusterUnsuitable, match="runs lrc_utils code .* this process code "
                                                               "0123456789abcdef"):
        with DaskRuns("local:1", checkpoint_dir=tmp_path):
            pass


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_run_costs_only_that_run(tmp_path):
    """SIGKILL to the worker process computing a run once that run's checkpoint holds step 2,000 of 3,600: the
    scheduler gives the task to a worker again, which resumes from the checkpoint (no checkpoint of an earlier
    step ever appears again for that run); the grid completes with the serial tables, and runs finished before the
    kill are not computed again (their files are untouched)."""
    from distributed import LocalCluster

    from lrc_utils.book.chapters import beta_grid
    from lrc_utils.training import load_work

    p = grid_parameters(steps=3600, n_betas=3)  # checkpoints at 1,000, 2,000, 3,000 (vib_grid.CHECKPOINT_EVERY)
    betas = beta_grid(p.beta_min, p.beta_max, p.n_betas)  # the grid's key order: task run-<i> is betas[i]
    serial = compute(p, tmp_path / "serial")
    folder = tmp_path / "killed"

    def checkpoint_steps() -> dict[float, int]:
        out = {}
        for f in folder.glob("*.pt"):
            if not f.name.startswith("dataset"):  # run files are named by their key, checkpoints by a digest
                try:
                    state = load_work(f)
                except (ValueError, FileNotFoundError):  # removed as its run finished
                    continue
                out[state["identity"]["beta"]] = int(state["step"])
        return out

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as running:
        with DaskRuns(running.scheduler_address, checkpoint_dir=folder) as runs:
            pids = runs.client.run(os.getpid)
            out: dict = {}
            worker = threading.Thread(target=lambda: out.update(tables=compute(p, folder, runs)))
            worker.start()
            deadline, killed, earlier = time.monotonic() + 300, None, []
            while worker.is_alive() and time.monotonic() < deadline:
                steps = checkpoint_steps()
                if killed is None:
                    for address, task_keys in runs.client.processing().items():
                        for task in task_keys:
                            beta = betas[int(str(task).split("-")[1])]
                            if steps.get(beta, 0) >= 2000:
                                finished = {f: f.stat().st_mtime_ns for f in folder.glob("dataset*.pt")}
                                os.kill(pids[address], signal.SIGKILL)
                                killed = (beta, steps[beta])
                                break
                        if killed:
                            break
                elif killed[0] in steps and steps[killed[0]] < killed[1]:
                    earlier.append(steps[killed[0]])
                time.sleep(0.02)
            worker.join(timeout=600)
    assert killed is not None, "no run was caught between its checkpoint of step 2,000 and its end"
    assert not earlier, f"the killed run started again from scratch (checkpoints of steps {earlier} after {killed})"
    assert "tables" in out, "the grid did not complete after the kill"
    assert_identical(serial, out["tables"])
    for f, mtime in finished.items():
        assert f.stat().st_mtime_ns == mtime, f"{f.name} was written again"
    assert len(list(folder.glob("dataset*.pt"))) == p.n_betas


# ----------------------------------------------------------------------------------------------------
# notebooks


@pytest.mark.slow
def test_a_notebook_on_a_local_cluster_gives_the_tables_of_its_serial_run(tmp_path, smoke_runs):
    """Figure 2's notebook at the smoke preset, run by the runner with ``--cluster local:2``: its stored tables are
    those of the session's serial smoke run of the same notebook, bit for bit."""
    from lrc_utils.book.fingerprint import stored_tables
    from lrc_utils.book.runner import run_notebooks

    (out,) = run_notebooks(["figure2"], "smoke", tmp_path / "executed", results_dir=tmp_path / "results",
                           cluster="local:2", overrides={"device": "cpu"})
    assert "2 Dask workers (local:2)" in out.read_text()
    serial = stored_tables("figure2", smoke_runs("figure2") / "results")
    assert_identical(stored_tables("figure2", tmp_path / "results"), serial)


@pytest.mark.slow
def test_a_notebook_given_an_unreachable_scheduler_fails_before_computing_anything(tmp_path):
    from lrc_utils.book.runner import run_notebooks

    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match=f"ClusterUnreachable: no Dask scheduler answered at {address}"):
        run_notebooks(["figure2"], "smoke", tmp_path / "executed", results_dir=tmp_path / "results", cluster=address)
    folder = tmp_path / "results" / "smoke" / "figure2"
    assert not list(folder.glob("*.csv")) and not list(folder.glob("checkpoints/*.pt"))


def test_a_notebook_without_a_grid_refuses_a_cluster():
    from lrc_utils.book.chapters import study_module_name
    from lrc_utils.book.store import has_grid

    assert has_grid(study_module_name("figure2")) and has_grid(study_module_name("information_planes"))
    assert not has_grid(study_module_name("local_rank")) and not has_grid(study_module_name("mi_estimators"))
