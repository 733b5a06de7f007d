"""Data loaders: IDX parsing on hand-made files, folder layouts, clear errors, the real offline files."""

import gzip
import os
import struct

import numpy as np
import pytest
import torch

from lrc_utils import data as data_module
from lrc_utils.config import data_dir
from lrc_utils.data import (
    DataNotFoundError,
    disjoint_subsets,
    load_fashion_mnist,
    load_mnist,
    load_szt_12bit,
    read_idx,
)


def write_idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def write_split(folder, prefix, n, gz, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return images, labels


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x-idx3-ubyte", array, gz)
    path = tmp_path / ("x-idx3-ubyte.gz" if gz else "x-idx3-ubyte")
    assert np.array_equal(read_idx(path), array)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("gz", [True, False])
def test_torchvision_layout_is_read(tmp_path, gz, no_debian):
    images, labels = write_split(tmp_path / "MNIST" / "raw", "t10k", 7, gz)
    ds = load_mnist("test", tmp_path, download=False)
    assert torch.equal(ds.images, torch.from_numpy(images))
    assert ds.labels.tolist() == labels.tolist()
    flat = ds.flat_normalised()
    assert flat.shape == (7, 784)
    expected = (images.reshape(7, -1) / 255.0 - 0.1307) / 0.3081
    assert np.allclose(flat.numpy(), expected, atol=1e-6)


def test_debian_location_is_read(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    images, _ = write_split(debian, "train", 5, gz=True)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST_DIR", debian)
    ds = load_fashion_mnist("train", tmp_path / "empty-root", download=False)
    assert torch.equal(ds.images, torch.from_numpy(images)) and ds.source == str(debian)


def test_missing_data_names_every_place_and_the_fixes(tmp_path, no_debian):
    with pytest.raises(DataNotFoundError) as err:
        load_fashion_mnist("train", tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte[.gz]") in message
    assert str(tmp_path / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte[.gz]") in message
    assert str(tmp_path / "no-debian" / "train-images-idx3-ubyte[.gz]") in message
    assert "Downloading is switched off" in message
    assert "LRC_DATA_DIR" in message and "apt-get install dataset-fashion-mnist" in message


def test_failed_download_is_reported_not_substituted(tmp_path, monkeypatch, no_debian):
    def fail(name, split, root):
        raise OSError("no route to host")

    monkeypatch.setattr(data_module, "_download_images", fail)
    with pytest.raises(DataNotFoundError, match="Downloading into .* failed: OSError: no route to host"):
        load_mnist("train", tmp_path, download=True)


def test_offline_env_forbids_download(tmp_path, monkeypatch, no_debian):
    monkeypatch.setenv("LRC_OFFLINE", "1")
    monkeypatch.setattr(data_module, "_download_images", lambda *a: pytest.fail("download attempted"))
    with pytest.raises(DataNotFoundError, match="switched off"):
        load_mnist("train", tmp_path)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("LRC_DATA_DIR", str(tmp_path / "env"))
    assert data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("LRC_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "lrc" / "data"


def test_bad_names_raise():
    with pytest.raises(ValueError, match="unknown data set"):
        data_module.load_image_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown split"):
        load_mnist("validation")


def test_disjoint_subsets():
    a, b = disjoint_subsets(100, [30, 50], seed=3)
    assert len(a) == 30 and len(b) == 50
    assert len(set(a.tolist()) | set(b.tolist())) == 80
    a2, _ = disjoint_subsets(100, [30, 50], seed=3)
    assert torch.equal(a, a2)
    with pytest.raises(ValueError, match="do not fit"):
        disjoint_subsets(10, [6, 5], seed=0)


def test_missing_12bit_task(tmp_path):
    with pytest.raises(DataNotFoundError, match="var_u.mat"):
        load_szt_12bit(tmp_path, download=False)


# --- the real files, where this machine has them (CI sets LRC_DATA_DIR to the offline copies) ---------

REAL_ROOT = os.environ.get("LRC_DATA_DIR")
has_mnist_test = bool(REAL_ROOT) and any(
    os.path.exists(os.path.join(REAL_ROOT, "MNIST", "raw", f)) for f in
    ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"))


@pytest.mark.skipif(not has_mnist_test, reason="MNIST test split not in $LRC_DATA_DIR")
def test_real_mnist_test_split():
    ds = load_mnist("test", download=False)
    assert ds.images.shape == (10000, 28, 28) and ds.images.dtype == torch.uint8
    # The class counts of MNIST's official test split.
    assert torch.bincount(ds.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not data_module.DEBIAN_FASHION_MNIST_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian(tmp_path):
    train = load_fashion_mnist("train", tmp_path, download=False)
    test = load_fashion_mnist("test", tmp_path, download=False)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10


@pytest.mark.skipif(not (REAL_ROOT and os.path.exists(os.path.join(REAL_ROOT, "szt", "var_u.mat"))),
                    reason="12-bit task not in $LRC_DATA_DIR")
def test_real_12bit_task():
    x, y = load_szt_12bit(download=False)
    assert x.shape == (4096, 12) and set(x.unique().tolist()) == {0.0, 1.0}
    assert len({tuple(row) for row in x.int().tolist()}) == 4096  # all patterns, each once
    assert set(y.unique().tolist()) == {0, 1}
