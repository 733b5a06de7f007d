"""Data loaders: IDX parsing on hand-made files, folder layouts, clear errors, the real offline files."""

import gzip
import hashlib
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


@pytest.fixture
def known(monkeypatch):
    """Make the files of hand-made folders the known files of data set ``name`` (md5 by hashlib here)."""
    def register(name, folder):
        for path in folder.iterdir():
            monkeypatch.setitem(data_module.KNOWN_MD5, (name, path.name),
                                (hashlib.md5(path.read_bytes()).hexdigest(),))
    return register


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
def test_torchvision_layout_is_read(tmp_path, gz, no_debian, known):
    images, labels = write_split(tmp_path / "MNIST" / "raw", "t10k", 7, gz)
    known("mnist", tmp_path / "MNIST" / "raw")
    ds = load_mnist("test", tmp_path, download=False)
    assert torch.equal(ds.images, torch.from_numpy(images))
    assert ds.labels.tolist() == labels.tolist()
    flat = ds.flat_normalised()
    assert flat.shape == (7, 784)
    expected = (images.reshape(7, -1) / 255.0 - 0.1307) / 0.3081
    assert np.allclose(flat.numpy(), expected, atol=1e-6)


def test_debian_location_is_read(tmp_path, monkeypatch, known):
    debian = tmp_path / "debian"
    images, _ = write_split(debian, "train", 5, gz=True)
    known("fashion_mnist", debian)
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
    assert list(tmp_path.iterdir()) == []  # no empty MNIST/raw left behind


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


# --- checksums -----------------------------------------------------------------------------------------------

def md5_of(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def snapshot(folder):
    """Every path under ``folder`` with its bytes (None for folders); None if ``folder`` does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def test_checksum_mismatch_names_file_both_sums_and_fix(tmp_path, monkeypatch, no_debian, known):
    folder = tmp_path / "MNIST" / "raw"
    write_split(folder, "t10k", 3, gz=True)
    known("mnist", folder)
    bad = folder / "t10k-images-idx3-ubyte.gz"
    monkeypatch.setitem(data_module.KNOWN_MD5, ("mnist", bad.name), ("0" * 32,))
    with pytest.raises(data_module.DataChecksumError) as err:
        load_mnist("test", tmp_path, download=False)
    message = str(err.value)
    assert str(bad) in message and "0" * 32 in message and md5_of(bad) in message
    assert f"delete {bad}" in message and "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images" in message


def test_checksum_mismatch_in_debian_folder_says_reinstall(tmp_path, monkeypatch, known):
    debian = tmp_path / "debian"
    write_split(debian, "train", 3, gz=True)
    known("fashion_mnist", debian)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST_DIR", debian)
    (debian / "train-labels-idx1-ubyte.gz").write_bytes(b"not the file")
    with pytest.raises(data_module.DataChecksumError, match="apt-get install --reinstall dataset-fashion-mnist"):
        load_fashion_mnist("train", tmp_path / "root", download=False)


def test_changed_file_is_hashed_again(tmp_path, no_debian, known):
    folder = tmp_path / "MNIST" / "raw"
    write_split(folder, "t10k", 3, gz=False)
    known("mnist", folder)
    load_mnist("test", tmp_path, download=False)
    path = folder / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    st = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write: a new modification time
    with pytest.raises(data_module.DataChecksumError, match=md5_of(path)):
        load_mnist("test", tmp_path, download=False)


def test_unknown_file_name_is_an_error(tmp_path):
    (tmp_path / "other.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="no known checksum"):
        data_module.check_md5(tmp_path / "other.bin", "mnist")


# --- checksums of the real files (copies in tmp_path; skipped where this machine lacks them) ---------------

def real_file(*parts):
    path = os.path.join(REAL_ROOT or "", *parts)
    if not (REAL_ROOT and os.path.isfile(path)):
        pytest.skip(f"{os.path.join(*parts)} not in $LRC_DATA_DIR")
    return data_module.Path(path)


def debian_file(name):
    path = data_module.DEBIAN_FASHION_MNIST_DIR / name
    if not path.is_file():
        pytest.skip("dataset-fashion-mnist not installed")
    return path


REAL_FILES = [("mnist", ("MNIST", "raw", f"t10k-{kind}-ubyte.gz")) for kind in ("images-idx3", "labels-idx1")]
REAL_FILES += [("szt", ("szt", "var_u.mat"))]
DEBIAN_FILES = [f"{split}-{kind}-ubyte.gz" for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]


@pytest.mark.parametrize("dataset, parts", REAL_FILES)
def test_real_files_have_known_sums(dataset, parts):
    path = real_file(*parts)
    assert data_module.file_md5(path) == md5_of(path)
    assert md5_of(path) in data_module.KNOWN_MD5[(dataset, path.name)]
    data_module.check_md5(path, dataset)


@pytest.mark.parametrize("name", DEBIAN_FILES)
def test_debian_files_and_their_raw_content_have_known_sums(tmp_path, name):
    path = debian_file(name)
    data_module.check_md5(path, "fashion_mnist")
    raw = tmp_path / name.removesuffix(".gz")
    raw.write_bytes(gzip.decompress(path.read_bytes()))
    data_module.check_md5(raw, "fashion_mnist")


def test_real_raw_mnist_test_split_loads(tmp_path, no_debian):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        gz = real_file("MNIST", "raw", f"t10k-{kind}-ubyte.gz")
        (folder / f"t10k-{kind}-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    ds = load_mnist("test", tmp_path, download=False)
    assert ds.source == str(folder) and len(ds.labels) == 10000


def test_truncated_real_gz_is_caught(tmp_path, no_debian):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    images = real_file("MNIST", "raw", "t10k-images-idx3-ubyte.gz")
    labels = real_file("MNIST", "raw", "t10k-labels-idx1-ubyte.gz")
    (folder / labels.name).write_bytes(labels.read_bytes())
    bad = folder / images.name
    bad.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    with pytest.raises(data_module.DataChecksumError) as err:
        load_mnist("test", tmp_path, download=False)
    assert str(bad) in str(err.value)
    assert "expected 9fb629c4189551a2d022fa330f9573f3" in str(err.value) and md5_of(bad) in str(err.value)


def test_flipped_byte_in_real_raw_file_is_caught(tmp_path, no_debian):
    # One pixel changed: same size, valid IDX header, so only the checksum can tell.
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        gz = real_file("MNIST", "raw", f"t10k-{kind}-ubyte.gz")
        (folder / f"t10k-{kind}-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    bad = folder / "t10k-images-idx3-ubyte"
    data = bytearray(bad.read_bytes())
    data[16 + 784 * 5000 + 400] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert read_idx(bad).shape == (10000, 28, 28)  # the IDX checks alone pass
    with pytest.raises(data_module.DataChecksumError) as err:
        load_mnist("test", tmp_path, download=False)
    assert str(bad) in str(err.value)
    assert "expected 2646ac647ad5339dbf082846283269ea" in str(err.value) and md5_of(bad) in str(err.value)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_real_var_u_is_caught(tmp_path, damage):
    good = real_file("szt", "var_u.mat").read_bytes()
    bad = tmp_path / "szt" / "var_u.mat"
    bad.parent.mkdir()
    if damage == "flip":
        data = bytearray(good)
        data[len(good) // 2] ^= 0x01
        bad.write_bytes(bytes(data))
    else:
        bad.write_bytes(good[:-10])
    with pytest.raises(data_module.DataChecksumError) as err:
        load_szt_12bit(tmp_path, download=False)
    message = str(err.value)
    assert str(bad) in message and md5_of(bad) in message
    assert "expected 29b51a6cb3eaa73ee0c652fd3feec3e4" in message and data_module.SZT_URL in message


# --- downloads (no network: _fetch is replaced, or served from file:// URLs) ----------------------------------

def serve(folder):
    """A mirror URL for a local folder (urllib opens file:// URLs like http ones)."""
    return folder.as_uri() + "/"


@pytest.fixture
def private_tmp(monkeypatch, tmp_path):
    """Point tempfile at a folder of our own, to see that downloads leave nothing there."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(data_module.tempfile, "tempdir", str(folder))
    return folder


def test_download_goes_through_a_temporary_folder_and_is_moved_in(tmp_path, monkeypatch, known, private_tmp):
    server = tmp_path / "server"
    write_split(server, "t10k", 4, gz=True)
    known("fashion_mnist", server)
    debian = tmp_path / "debian"  # holds only the training split, so the test split must be downloaded
    write_split(debian, "train", 2, gz=True)
    before_debian = snapshot(debian)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST_DIR", debian)
    monkeypatch.setitem(data_module.MIRRORS, "fashion_mnist", ("file:///nonexistent-mirror/", serve(server)))
    root = tmp_path / "data"
    ds = load_fashion_mnist("test", root, download=True)
    folder = root / "FashionMNIST" / "raw"
    assert ds.source == str(folder) and len(ds.labels) == 4
    assert snapshot(root) == {"FashionMNIST": None, "FashionMNIST/raw": None,
                              **{f"FashionMNIST/raw/{p.name}": p.read_bytes() for p in server.iterdir()}}
    assert snapshot(debian) == before_debian and list(private_tmp.iterdir()) == []


def test_download_of_the_12bit_task(tmp_path, monkeypatch, private_tmp):
    good = real_file("szt", "var_u.mat")
    monkeypatch.setattr(data_module, "SZT_URL", serve(good.parent) + good.name)
    x, y = load_szt_12bit(tmp_path / "data", download=True)
    assert x.shape == (4096, 12) and md5_of(tmp_path / "data" / "szt" / "var_u.mat") == md5_of(good)
    assert list(private_tmp.iterdir()) == []


def partial_then_fail(url, dest):
    dest.write_bytes(b"\x1f\x8b half a file")
    raise OSError("connection reset")


def wrong_file(url, dest):
    dest.write_bytes(b"a whole file, but not the one")


@pytest.mark.parametrize("fetch", [partial_then_fail, wrong_file])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_download_leaves_the_data_folder_as_it_was(tmp_path, monkeypatch, no_debian, private_tmp,
                                                          fetch, existing):
    root = tmp_path / "data"
    if existing:  # a data folder with one of the two files of the split, and something unrelated
        write_split(root / "FashionMNIST" / "raw", "t10k", 2, gz=True)
        (root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
        (root / "notes.txt").write_text("mine")
    before = snapshot(root)
    monkeypatch.setattr(data_module, "_fetch", fetch)
    with pytest.raises(DataNotFoundError) as err:
        load_fashion_mnist("test", root, download=True)
    expected = "connection reset" if fetch is partial_then_fail else "md5 sum is"
    assert expected in str(err.value)
    with pytest.raises(DataNotFoundError):
        load_szt_12bit(root, download=True)
    assert snapshot(root) == before and list(private_tmp.iterdir()) == []


def test_download_that_returns_a_bad_file_is_not_moved_in(tmp_path, monkeypatch, no_debian, private_tmp):
    def bad_download(name, split, root):  # claims success but leaves a damaged file
        write_split(root / "MNIST" / "raw", "t10k", 2, gz=True)

    monkeypatch.setattr(data_module, "_download_images", bad_download)
    with pytest.raises(DataNotFoundError, match="DataChecksumError: the downloaded t10k-images-idx3-ubyte.gz"):
        load_mnist("test", tmp_path / "data", download=True)
    assert not (tmp_path / "data").exists() and list(private_tmp.iterdir()) == []


def test_interrupted_move_is_rolled_back(tmp_path, monkeypatch, no_debian, known, private_tmp):
    server = tmp_path / "server"
    write_split(server, "t10k", 2, gz=True)
    known("mnist", server)
    monkeypatch.setitem(data_module.MIRRORS, "mnist", (serve(server),))
    copies = []

    def copy_then_fail_on_second(src, dst):
        copies.append(dst)
        if len(copies) == 2:
            raise OSError("disk full")
        dst.write_bytes(src.read_bytes())

    monkeypatch.setattr(data_module.shutil, "copyfile", copy_then_fail_on_second)
    with pytest.raises(DataNotFoundError, match="disk full"):
        load_mnist("test", tmp_path / "data", download=True)
    assert not (tmp_path / "data").exists() and list(private_tmp.iterdir()) == []


def test_read_only_data_folder_is_never_written(tmp_path, monkeypatch, no_debian):
    root = tmp_path / "read-only"
    root.mkdir()
    monkeypatch.setattr(data_module, "_fetch", lambda url, dest: pytest.fail("download attempted"))
    root.chmod(0o555)  # read-only by its permission bits (honoured even when the tests run as root)
    try:
        with pytest.raises(DataNotFoundError, match=f"{root} is read-only"):
            load_fashion_mnist("train", root, download=True)
        with pytest.raises(DataNotFoundError, match=f"{root} is read-only"):
            load_szt_12bit(root, download=True)
        assert list(root.iterdir()) == []
    finally:
        root.chmod(0o755)


def test_figure1_mnist_split_train_trains_on_the_training_split_and_holds_out_the_test_split():
    """``mnist_split="train"``: every training image is a row of MNIST's training split, every test image and
    rank point a row of its test split, test and rank points disjoint; ``"test"``: all three from the test split."""
    from lrc_utils.book.chapters import StudyContext
    from lrc_utils.book.chapters.figure1.study import Params
    from lrc_utils.book.chapters.panels import panel_data

    try:
        train_split, test_split = load_mnist("train", download=False), load_mnist("test", download=False)
    except FileNotFoundError:
        pytest.skip("MNIST is not at hand")
    x_train_all, x_test_all = train_split.flat_normalised(), test_split.flat_normalised()

    def index(pool):
        return {row.tobytes(): i for i, row in enumerate(pool.numpy())}

    train_index, test_index = index(x_train_all), index(x_test_all)

    def rows_of(x, pool_index):  # the row numbers in the split of the images x (each must be found)
        found = [pool_index.get(row.tobytes()) for row in x.numpy()]
        assert None not in found, "an image is not in the split"
        return set(found)

    p = Params(mnist_split="train", mnist_n_train=40, mnist_n_test=30, n_rank_points=20, mnist_widths=[8])
    (x, y), (xt, yt), x_rank, sizes = panel_data(p, "mnist", StudyContext())
    assert sizes == [784, 8, 10] and len(x) == 40 and len(xt) == 30 and len(x_rank) == 20
    rows_of(x, train_index)
    assert not rows_of(xt, test_index) & rows_of(x_rank, test_index)
    p = Params(mnist_split="test", mnist_n_train=40, mnist_n_test=30, n_rank_points=20, mnist_widths=[8])
    (x, _), (xt, _), x_rank, _ = panel_data(p, "mnist", StudyContext())
    parts = [rows_of(v, test_index) for v in (x, xt, x_rank)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
