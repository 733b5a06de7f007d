"""Stored tables are verified on every load: each CSV's SHA-256 is recorded in meta.json when it is written and
checked when it is read, so a cut, edited or corrupted table stops the run with the file and the remedy instead
of reaching a figure; damaged metadata is named the same way."""

import json

import pandas as pd
import pytest

from lrc_utils.book.paths import RESULTS_DIR
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
    folders = sorted(p.parent for p in (RESULTS_DIR / "paper").glob("*/meta.json"))
    assert len(folders) == 9
    for folder in folders:
        for table, info in read_meta(folder / "meta.json")["tables"].items():
            assert len(read_table(folder, table, info)) > 0


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_stored_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    """Tables, metadata and checkpoints are readable by whoever the umask lets read (a group sharing results on a
    cluster file system), not 0600 as mkstemp leaves them."""
    import os

    import torch

    from lrc_utils.training import atomic_torch_save

    old = os.umask(umask)
    try:
        store(tmp_path).tables(["values"], compute)
        atomic_torch_save({"x": torch.zeros(2)}, tmp_path / "ckpt.pt")
    finally:
        os.umask(old)
    folder = tmp_path / "smoke" / "toy"
    for path in (folder / "values.csv", folder / "meta.json", tmp_path / "ckpt.pt"):
        assert path.stat().st_mode & 0o777 == mode, path.name
