"""Stored tables are verified on every load: each CSV's SHA-256 is recorded in meta.json when it is written and
checked when it is read, so a cut, edited or corrupted table stops the run with the file and the remedy instead
of reaching a figure; damaged metadata is named the same way."""

import json

import pandas as pd
import pytest

from lrc_utils.book.paths import NOTEBOOKS_DIR, RESULTS_DIR
from lrc_utils.book.store import ResultStore, StoredResultsDamaged, file_sha256, read_meta, read_table


def store(tmp_path, recompute="auto"):
    return ResultStore("toy", "smoke", {"n": 3}, tmp_path, recompute)


def compute():
    return {"values": pd.DataFrame({"x": [1.5, 2.25, 3.0], "y": [0.1, 0.2, 0.3]})}


def test_a_table_is_stored_with_its_checksum_and_loaded_after_checking_it(tmp_path):
    first = store(tmp_path).tables(["values"], compute)["values"]
    path = tmp_path / "smoke" / "toy" / "values.csv"
    meta = json.loads((path.parent / "meta.json").read_text())
    assert meta["tables"]["values"]["sha256"] == file_sha256(path)
    again = store(tmp_path)
    pd.testing.assert_frame_equal(again.tables(["values"], lambda: pytest.fail("recomputed"))["values"], first)
    assert again.loaded == {"values": True}


@pytest.mark.parametrize("damage", ["cut mid-row", "header and one row", "one value changed", "empty"])
def test_a_damaged_table_stops_the_run_naming_the_file_and_the_remedy(tmp_path, damage):
    store(tmp_path).tables(["values"], compute)
    path = tmp_path / "smoke" / "toy" / "values.csv"
    text = path.read_text()
    path.write_text({"cut mid-row": text[: len(text) - 5], "header and one row": "\n".join(text.splitlines()[:2]),
                     "one value changed": text.replace("2.25", "2.26"), "empty": ""}[damage])
    with pytest.raises(StoredResultsDamaged, match=r"values\.csv is not the table that was written.*--recompute"):
        store(tmp_path).tables(["values"], lambda: pytest.fail("recomputed"))
    recomputed = store(tmp_path, recompute="always").tables(["values"], compute)  # the remedy works
    pd.testing.assert_frame_equal(recomputed["values"], compute()["values"])


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_damaged_metadata_is_named_with_its_remedy(tmp_path, content):
    store(tmp_path).tables(["values"], compute)
    (tmp_path / "smoke" / "toy" / "meta.json").write_text(content)
    with pytest.raises(StoredResultsDamaged, match=r"meta\.json (is damaged|holds no mapping).*(recompute|delete)"):
        store(tmp_path)


def test_a_table_without_a_recorded_checksum_is_not_trusted(tmp_path):
    store(tmp_path).tables(["values"], compute)
    meta_path = tmp_path / "smoke" / "toy" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["tables"]["values"]["sha256"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoredResultsDamaged, match="has no checksum in meta.json"):
        store(tmp_path).tables(["values"], lambda: pytest.fail("recomputed"))


def test_every_committed_paper_table_matches_its_recorded_checksum():
    """Every chapter (a notebook with a paper preset) has its paper results committed, each table whole."""
    folders = sorted(p.parent for p in (RESULTS_DIR / "paper").glob("*/meta.json"))
    chapters = sorted(p.name.removesuffix(".paper.yaml") for p in NOTEBOOKS_DIR.glob("*.paper.yaml"))
    assert [folder.name for folder in folders] == chapters
    for folder in folders:
        for table, info in read_meta(folder / "meta.json")["tables"].items():
            assert len(read_table(folder, table, info)) > 0


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_stored_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    """Tables, metadata and checkpoints are readable by whoever the umask lets read (a group sharing results on a
    cluster file system), not 0600 as mkstemp leaves them."""
    import os

    import torch

    from lrc_utils.training import save_work

    old = os.umask(umask)
    try:
        store(tmp_path).tables(["values"], compute)
        save_work({"x": torch.zeros(2)}, tmp_path / "ckpt.pt")
    finally:
        os.umask(old)
    folder = tmp_path / "smoke" / "toy"
    for path in (folder / "values.csv", folder / "meta.json", tmp_path / "ckpt.pt"):
        assert path.stat().st_mode & 0o777 == mode, path.name


# ----------------------------------------------------------------------------------------------------
# run files and checkpoints: checksummed, and stamped with the code that wrote them


def grid_of_two(folder, code: str | None, reuse: bool = False, calls: list | None = None):
    """A two-run grid under ``work_code(code, reuse)``; ``calls`` collects the keys computed."""
    from lrc_utils.grid import run_grid
    from lrc_utils.training import work_code

    def run_one(key):
        if calls is not None:
            calls.append(key["seed"])
        return {"t": pd.DataFrame({"seed": [key["seed"]], "v": [key["seed"] * 1.5]})}

    with work_code(code, reuse):
        return run_grid([{"seed": 0}, {"seed": 1}], run_one, folder, {"study": "toy"}, progress=False)["t"]


def test_a_flipped_byte_in_a_run_file_stops_the_grid_before_any_run(tmp_path):
    from lrc_utils.training import DamagedWork

    grid_of_two(tmp_path, "code-a")
    path = sorted(tmp_path.glob("seed0-*.pt"))[0]
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01  # inside the payload, past the header
    path.write_bytes(bytes(data))
    calls = []
    with pytest.raises(DamagedWork, match=r"seed0-.*is not the file that was written"):
        grid_of_two(tmp_path, "code-a", calls=calls)
    assert calls == []


def test_runs_written_by_other_code_stop_the_grid_before_any_run_unless_their_reuse_is_asked(tmp_path):
    """Two finished runs of code a, one removed: under code b the grid stops naming the one stale run of two and
    computes nothing; asked to reuse, it reuses that run and computes only the missing one."""
    from lrc_utils.training import StaleWork

    first = grid_of_two(tmp_path, "code-a")
    sorted(tmp_path.glob("seed1-*.pt"))[0].unlink()
    calls = []
    with pytest.raises(StaleWork, match=r"1 of the 2 finished runs in .* were written by other code than now "
                                        r"\(code digest code-b\), e\.g\. seed0-"):
        grid_of_two(tmp_path, "code-b", calls=calls)
    assert calls == []
    again = grid_of_two(tmp_path, "code-b", reuse=True, calls=calls)
    assert calls == [1]
    pd.testing.assert_frame_equal(again, first)
    with pytest.raises(StaleWork, match=r"1 of the 2 .*e\.g\. seed1-"):  # the new run is code b's, stale for a
        grid_of_two(tmp_path, "code-a")


def test_a_checkpoint_written_by_other_code_is_not_resumed_unless_asked(tmp_path):
    import torch

    from lrc_utils.models import MLP
    from lrc_utils.training import Checkpoint, FitConfig, StaleWork, cross_entropy_loss, fit, work_code

    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    config = FitConfig(steps=20, lr=1e-2, batch_size=8, seed=0, checkpoint_every=5)
    checkpoint = Checkpoint(tmp_path, {"run": "toy"})
    model = MLP([4, 6, 2])
    with work_code("code-a"):
        state = {"model": model.state_dict()}
        checkpoint.for_config(config).folder.mkdir(parents=True, exist_ok=True)
        from lrc_utils.training import FlatAdamW

        opt = FlatAdamW(model, config.lr, config.weight_decay)
        checkpoint.for_config(config).save(model, opt, torch.Generator().manual_seed(0), {}, 5)
    with work_code("code-b"), pytest.raises(StaleWork, match=r"\(step 5\) was written by other code \(digest code-a, "
                                                             r"now code-b\); it was not resumed"):
        fit(MLP([4, 6, 2]), cross_entropy_loss, (x, y), config, checkpoint=checkpoint, progress=False)
    with work_code("code-b", reuse_stale=True):
        fit(MLP([4, 6, 2]), cross_entropy_loss, (x, y), config, checkpoint=checkpoint, progress=False)
    assert not checkpoint.for_config(config).path.exists() and state  # resumed and finished


def test_the_store_names_the_two_ways_on_and_provenance_says_when_stale_work_was_reused(tmp_path, monkeypatch):
    """Through the book's store: work of other code stops with --recompute / --reuse-stale named; with
    recompute = 'reuse_stale' the tables are computed and their provenance line says so."""
    from lrc_utils.book import store as store_module
    from lrc_utils.training import StaleWork

    folder = tmp_path / "smoke" / "toy" / "checkpoints"
    grid_of_two(folder, "old-code")
    monkeypatch.setattr(store_module, "code_digest", lambda module=None: "new-code")

    def compute_grid():
        from lrc_utils.grid import run_grid

        return run_grid([{"seed": 0}, {"seed": 1}], lambda k: pytest.fail("computed"), folder, {"study": "toy"},
                        progress=False)

    with pytest.raises(StaleWork, match=r"2 of the 2 finished runs .* Two ways on: rerun with recompute = "
                                        r"'always' \(runner: --recompute\).* recompute = 'reuse_stale' "
                                        r"\(runner: --reuse-stale\)"):
        store(tmp_path).tables(["t"], compute_grid)
    reused = store(tmp_path, "reuse_stale")
    reused.tables(["t"], compute_grid)
    assert reused.provenance("t").endswith("; computed with recompute = 'reuse_stale': work of other code may have "
                                           "been resumed")


# ----------------------------------------------------------------------------------------------------
# wall time over resumes, and viewing a folder that cannot be written


def test_wall_time_is_summed_over_an_interrupted_attempt_and_a_killed_one(tmp_path):
    """An attempt that raises after 1.2 s leaves its time in the ledger; a killed attempt leaves what its last
    heartbeat wrote (here a ledger written by hand: 7 s after 5 s of earlier attempts); the attempt that finishes
    records the sum of all, with their number, and removes the ledger."""
    import time

    calls = {"n": 0}

    def compute_once_interrupted():
        calls["n"] += 1
        time.sleep(1.2 if calls["n"] == 1 else 0.1)
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return compute()

    with pytest.raises(KeyboardInterrupt):
        store(tmp_path).tables(["values"], compute_once_interrupted)
    ledger = store(tmp_path).wall_ledger
    assert json.loads(ledger.read_text())["this"] >= 1.2
    store(tmp_path).tables(["values"], compute_once_interrupted)
    info = read_meta(tmp_path / "smoke" / "toy" / "meta.json")["tables"]["values"]
    assert info["attempts"] == 2 and 1.3 <= info["wall_time_s"] < 3.0
    assert not ledger.exists()
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text(json.dumps({"earlier": [5.0], "this": 7.0}))  # as a killed attempt's heartbeat leaves it
    store(tmp_path, "always").tables(["values"], compute)  # "always" deletes the checkpoints: the ledger too
    assert read_meta(tmp_path / "smoke" / "toy" / "meta.json")["tables"]["values"]["attempts"] == 1
    fresh = ResultStore("toy", "smoke", {"n": 4}, tmp_path)  # other parameters: its own ledger
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text(json.dumps({"earlier": [100.0], "this": 100.0}))  # n = 3's: never counted for n = 4
    fresh.wall_ledger.write_text(json.dumps({"earlier": [5.0], "this": 7.0}))
    fresh.tables(["values"], compute)
    info = read_meta(tmp_path / "smoke" / "toy" / "meta.json")["tables"]["values"]
    assert info["attempts"] == 3 and 12.0 <= info["wall_time_s"] < 13.0


def test_the_heartbeat_writes_the_elapsed_time_while_the_work_runs(tmp_path):
    import time

    from lrc_utils.book.store import WallClock

    clock = WallClock(tmp_path / "ledger.json", beat=0.1)
    with clock:
        time.sleep(0.35)
        assert 0.1 <= json.loads((tmp_path / "ledger.json").read_text())["this"] <= 0.4
    assert 0.35 <= clock.total < 1.0 and clock.attempts == 1 and not (tmp_path / "ledger.json").exists()


def test_stored_results_can_be_viewed_where_the_folder_cannot_be_written(tmp_path, monkeypatch, capsys):
    """Matching tables load; a figure that cannot be written to the folder is shown, not saved, and said so."""
    import matplotlib.pyplot as plt

    from lrc_utils.book import store as store_module

    store(tmp_path).tables(["values"], compute)
    viewer = store(tmp_path)
    viewer.tables(["values"], lambda: pytest.fail("recomputed"))

    def refuse(path, write):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store_module, "atomic_write", refuse)
    fig = plt.figure()
    viewer.save_figure(fig, "plot", table="values")
    plt.close(fig)
    assert "cannot be written (Permission denied): figure plot is shown here but not saved there" in \
        capsys.readouterr().out
    assert "plot" not in read_meta(tmp_path / "smoke" / "toy" / "meta.json").get("figures", [])


def test_work_written_while_reusing_stale_work_is_stale_for_a_later_run_and_legacy_files_are_stale_not_lost(tmp_path):
    """A run computed under reuse_stale is stamped as such, so a later run of the same code without it stops (the
    mixed work is never passed off as today's); a run file written before files had a header (plain torch, no
    checksum, no digest) is stale: refused, or resumed when asked."""
    import torch

    from lrc_utils.grid import run_file
    from lrc_utils.training import StaleWork, digest

    grid_of_two(tmp_path / "a", "code-b", reuse=True)
    with pytest.raises(StaleWork, match="2 of the 2 finished runs"):
        grid_of_two(tmp_path / "a", "code-b")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    plain = {"t": {"columns": ["seed", "v"], "data": {"seed": [0], "v": [0.0]}}}
    torch.save({"key": {"seed": 0}, "identity": digest({"study": "toy"}), "tables": plain},
               run_file(legacy, {"study": "toy"}, {"seed": 0}))
    calls = []
    with pytest.raises(StaleWork, match="1 of the 2 finished runs"):
        grid_of_two(legacy, "code-b", calls=calls)
    assert calls == []
    assert grid_of_two(legacy, "code-b", reuse=True, calls=calls).v.tolist() == [0.0, 1.5] and calls == [1]
