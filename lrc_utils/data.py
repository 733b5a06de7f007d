"""Data sets: MNIST, Fashion-MNIST (IDX files), the 12-bit task of Shwartz-Ziv & Tishby, and subsets.

Where files are looked for, in order:

1. ``<root>/MNIST/raw`` or ``<root>/FashionMNIST/raw`` (torchvision's layout), each file either gzipped
   or raw; ``<root>/szt/var_u.mat`` for the 12-bit task;
2. for Fashion-MNIST, also Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. when downloads are allowed, the gzipped files are downloaded (from the mirrors torchvision uses for the
   images, from the IDNNs repository for the 12-bit task) and then read from ``<root>``.

``root`` is the ``data_dir`` argument, else ``$LRC_DATA_DIR``, else ``~/.cache/lrc/data``
(:func:`lrc_utils.config.data_dir`). If the files are found nowhere and cannot be fetched, a single
:class:`DataNotFoundError` names every place that was looked at and how to fix it. Nothing is ever
substituted silently.

Every file is checked against its known md5 sum (:data:`KNOWN_MD5`) each time it is read; a file that does
not match stops with a :class:`DataChecksumError` naming the file, both sums and the fix. Digests are cached
in-process per (path, size, modification time), so reading a file again costs no second hash.

Downloads go to a temporary folder and are verified there; only then are they copied into ``<root>``
(each file under a temporary name, then renamed), creating folders as needed. A download that fails leaves
``<root>`` exactly as it was, with no empty folder behind. Files already in ``<root>`` are never replaced,
Debian's folder is never written to, and neither is a data folder whose permission bits allow nobody to
write to it (a read-only copy), even when running as root.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import shutil
import struct
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DATA_DIR_ENV, OFFLINE_ENV, data_dir, downloads_allowed

#: A data set as tensors: (inputs ``[N, ...]``, labels ``[N]``).
Data = tuple[torch.Tensor, torch.Tensor]

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
SZT_URL = "https://raw.githubusercontent.com/ravidziv/IDNNs/master/data/var_u.mat"
#: The number of patterns of the 12-bit task (all 2^12).
SZT_PATTERNS = 4096
#: Where the gzipped IDX files are downloaded from, tried in order: the mirrors of torchvision 0.29
#: (``torchvision/datasets/mnist.py``, ``MNIST.mirrors`` and ``FashionMNIST.mirrors``).
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
DOWNLOAD_TIMEOUT_S = 60

#: md5 sums of the data files, by (data set, file name): a file read must match one of the listed sums.
#: Where each comes from:
#:
#: - MNIST ``.gz``: torchvision's list (``torchvision/datasets/mnist.py``, ``MNIST.resources``), the files of
#:   LeCun's site and its mirrors.
#: - MNIST raw, test split: measured by decompressing the ``.gz`` files above. Training split: published in
#:   ``prabhuomkar/pytorch-cpp``, ``cmake/fetch_mnist.cmake`` (``MNIST_EXTRACTED_FILE_MD5S``), whose two
#:   test-split values equal the ones we measured.
#: - Fashion-MNIST ``.gz``: first torchvision's list (``FashionMNIST.resources``, Zalando's files); second
#:   Debian's ``dataset-fashion-mnist`` (version 0.0~git20200523.55506a9-1), measured: Debian ships Zalando's
#:   files with the file name removed from the gzip header (each 23 or 24 bytes shorter: the name and its
#:   terminating NUL), so the compressed bytes differ while the content is the same.
#: - Fashion-MNIST raw: measured by decompressing Debian's files.
#: - ``var_u.mat``: the file of the IDNNs repository (:data:`SZT_URL`), measured.
KNOWN_MD5: dict[tuple[str, str], tuple[str, ...]] = {
    ("mnist", "train-images-idx3-ubyte.gz"): ("f68b3c2dcbeaaa9fbdd348bbdeb94873",),
    ("mnist", "train-labels-idx1-ubyte.gz"): ("d53e105ee54ea40749a09fcbcd1e9432",),
    ("mnist", "t10k-images-idx3-ubyte.gz"): ("9fb629c4189551a2d022fa330f9573f3",),
    ("mnist", "t10k-labels-idx1-ubyte.gz"): ("ec29112dd5afa0611ce80d1b7f02629c",),
    ("mnist", "train-images-idx3-ubyte"): ("6bbc9ace898e44ae57da46a324031adb",),
    ("mnist", "train-labels-idx1-ubyte"): ("a25bea736e30d166cdddb491f175f624",),
    ("mnist", "t10k-images-idx3-ubyte"): ("2646ac647ad5339dbf082846283269ea",),
    ("mnist", "t10k-labels-idx1-ubyte"): ("27ae3e4e09519cfbb04c329615203637",),
    ("fashion_mnist", "train-images-idx3-ubyte.gz"): ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                                      "cf8536b0aa1a6ac5fa3f23001093305c"),
    ("fashion_mnist", "train-labels-idx1-ubyte.gz"): ("25c81989df183df01b3e8a0aad5dffbe",
                                                      "10bea18fdb374794d4bb42e356e600c9"),
    ("fashion_mnist", "t10k-images-idx3-ubyte.gz"): ("bef4ecab320f06d8554ea6380940ec79",
                                                     "f78720b4224f21cce2f2ccf2d7a94c9a"),
    ("fashion_mnist", "t10k-labels-idx1-ubyte.gz"): ("bb300cfdad3c16e7a12a480ee83cd310",
                                                     "0d30e22e447f3c33dab9ed536400ac01"),
    ("fashion_mnist", "train-images-idx3-ubyte"): ("f4a8712d7a061bf5bd6d2ca38dc4d50a",),
    ("fashion_mnist", "train-labels-idx1-ubyte"): ("9018921c3c673c538a1fc5bad174d6f9",),
    ("fashion_mnist", "t10k-images-idx3-ubyte"): ("8181f5470baa50b63fa0f6fddb340f0a",),
    ("fashion_mnist", "t10k-labels-idx1-ubyte"): ("15d484375f8d13e6eb1aabb0c3f46965",),
    ("szt", "var_u.mat"): ("29b51a6cb3eaa73ee0c652fd3feec3e4",),
}

#: Per-pixel mean and standard deviation of the training images (the usual normalisation constants).
NORMALISATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}
_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_PREFIX = {"train": "train", "test": "t10k"}
_KINDS = ("images-idx3", "labels-idx1")
_MD5_CACHE: dict[tuple[str, int, int], str] = {}


class DataNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable; the message says where we looked and what to do."""


class DataChecksumError(ValueError):
    """A data file is not the known file (truncated, corrupted or another file of the same name)."""


@dataclass(frozen=True)
class ImageDataset:
    """Images and labels of one split of an IDX data set.

    images: uint8 ``[N, 28, 28]``; labels: int64 ``[N]``; ``source`` is the folder the files came from.
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def flat_normalised(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Images as ``[N, 784]`` floats, scaled to [0, 1] then standardised with :data:`NORMALISATION`."""
        mean, std = NORMALISATION[self.name]
        x = self.images.reshape(len(self.images), -1).to(dtype) / 255.0
        return (x - mean) / std


# --- checksums --------------------------------------------------------------------------------------------

def _known_md5(dataset: str, filename: str) -> tuple[str, ...]:
    try:
        return KNOWN_MD5[(dataset, filename)]
    except KeyError:
        raise ValueError(f"no known checksum for {dataset!r} file {filename!r}; "
                         f"known files: {sorted(KNOWN_MD5)}") from None


def _cache_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def file_md5(path: str | Path) -> str:
    """md5 hex digest of a file's bytes, cached in-process per (path, size, modification time in ns).

    A file rewritten in place with the same size and modification time (which takes deliberately resetting
    the time) would keep its cached digest until the process ends.
    """
    path = Path(path)
    key = _cache_key(path)
    if key not in _MD5_CACHE:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        _MD5_CACHE[key] = digest.hexdigest()
    return _MD5_CACHE[key]


def _fix_for(dataset: str, path: Path) -> str:
    """What to do about a bad copy of ``path``."""
    if path.parent == DEBIAN_FASHION_MNIST_DIR:
        return ("reinstall the package that owns it (`apt-get install --reinstall dataset-fashion-mnist`), or "
                f"put good files in <data folder>/{_FOLDER['fashion_mnist']}/raw, which is read first")
    gz_name = path.name if path.name.endswith(".gz") else path.name + ".gz"
    urls = [SZT_URL] if dataset == "szt" else [m + gz_name for m in MIRRORS[dataset]]
    return (f"delete {path} and load again with downloading allowed (download=True, ${OFFLINE_ENV} unset), "
            f"which fetches and verifies {urls[0]}; or download it yourself from {' or '.join(urls)}")


def _mismatch(path: Path, dataset: str, digest: str | None = None) -> str | None:
    """None if ``path`` has a known md5 sum for ``dataset``, else a sentence giving both sums."""
    expected = _known_md5(dataset, path.name)
    found = digest if digest is not None else file_md5(path)
    if found in expected:
        return None
    return f"its md5 sum is {found}, expected {' or '.join(expected)}"


def check_md5(path: str | Path, dataset: str, digest: str | None = None) -> None:
    """Raise :class:`DataChecksumError` unless the file ``path`` has a known md5 sum for ``dataset``.

    ``dataset`` is ``"mnist"``, ``"fashion_mnist"`` or ``"szt"``; the file name picks the entry of
    :data:`KNOWN_MD5`. ``digest`` is the file's md5 if already computed (else :func:`file_md5`).
    """
    path = Path(path)
    problem = _mismatch(path, dataset, digest)
    if problem is not None:
        raise DataChecksumError(f"{path} is damaged or is not the known file: {problem}.\n"
                                f"To fix: {_fix_for(dataset, path)}.")


def _read_checked(path: Path, dataset: str) -> bytes:
    """The bytes of ``path`` after :func:`check_md5`: one read, hashed unless its digest is cached."""
    key = _cache_key(path)
    data = path.read_bytes()
    if key not in _MD5_CACHE:
        _MD5_CACHE[key] = hashlib.md5(data).hexdigest()
    check_md5(path, dataset, _MD5_CACHE[key])
    return data


# --- IDX files ----------------------------------------------------------------------------------------------

def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    type_code, ndim = data[2], data[3]
    if type_code != 0x08:
        raise ValueError(f"{path}: IDX type code {type_code:#x} is not unsigned byte (0x08)")
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but the file holds {body.size} values")
    return body.reshape(shape)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or raw) of unsigned bytes into an array of its stated shape (no checksum)."""
    path = Path(path)
    data = path.read_bytes()
    return _parse_idx(gzip.decompress(data) if path.suffix == ".gz" else data, path)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _candidate_folders(name: str, root: Path) -> list[Path]:
    folders = [root / _FOLDER[name] / "raw"]
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION_MNIST_DIR)
    return folders


def _locate(name: str, split: str, root: Path) -> tuple[Path, Path] | None:
    stem = _PREFIX[split]
    for folder in _candidate_folders(name, root):
        images = _find(folder, f"{stem}-images-idx3-ubyte")
        labels = _find(folder, f"{stem}-labels-idx1-ubyte")
        if images and labels:
            return images, labels
    return None


# --- downloads ----------------------------------------------------------------------------------------------

def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` into the file ``dest`` (any URL urllib opens, ``file://`` included)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f)


def _fetch_verified(urls: Sequence[str], dest: Path, dataset: str) -> None:
    """Fetch ``dest`` from the first of ``urls`` that gives the known file; raise OSError if none does."""
    errors = []
    for url in urls:
        try:
            _fetch(url, dest)
            problem = _mismatch(dest, dataset)
        except Exception as err:  # noqa: BLE001 - every attempt is reported below
            problem = f"{type(err).__name__}: {err}"
        if problem is None:
            return
        dest.unlink(missing_ok=True)
        errors.append(f"{url}: {problem}")
    raise OSError(f"could not fetch {dest.name}: " + "; ".join(errors))


def _download_images(name: str, split: str, root: Path) -> None:
    """Download the split's two gzipped IDX files into ``<root>/<MNIST|FashionMNIST>/raw``."""
    folder = root / _FOLDER[name] / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for kind in _KINDS:
        filename = f"{_PREFIX[split]}-{kind}-ubyte.gz"
        _fetch_verified([mirror + filename for mirror in MIRRORS[name]], folder / filename, name)


def _download_szt(root: Path) -> None:
    """Download the 12-bit task into ``<root>/szt/var_u.mat``."""
    (root / "szt").mkdir(parents=True, exist_ok=True)
    _fetch_verified([SZT_URL], root / "szt" / "var_u.mat", "szt")


def _writable(folder: Path) -> tuple[bool, Path]:
    """Whether ``folder`` can be made or written to, and the folder that decides (its nearest existing one).

    A folder whose permission bits give nobody write access counts as read-only even for root.
    """
    existing = folder
    while not existing.exists():
        existing = existing.parent
    ok = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK) and bool(existing.stat().st_mode & 0o222)
    return ok, existing


def _install(files: Sequence[Path], target: Path) -> None:
    """Copy verified ``files`` into the folder ``target``, all or nothing; existing files are left alone."""
    missing_dirs = []
    folder = target
    while not folder.exists():
        missing_dirs.append(folder)
        folder = folder.parent
    created: list[Path] = []
    installed: list[Path] = []
    part: Path | None = None
    try:
        for d in reversed(missing_dirs):
            d.mkdir()
            created.append(d)
        for src in files:
            final = target / src.name
            if final.exists():
                continue
            part = target / f".{src.name}.part-{os.getpid()}"
            shutil.copyfile(src, part)
            os.replace(part, final)
            installed.append(final)
            part = None
    except BaseException:
        if part is not None:
            part.unlink(missing_ok=True)
        for path in installed:
            path.unlink(missing_ok=True)
        for d in reversed(created):
            with contextlib.suppress(OSError):  # not empty: another process has put files there meanwhile
                d.rmdir()
        raise


def _download_into(root: Path, relative: Sequence[str], dataset: str, download: Callable[[Path], None]) -> None:
    """Run ``download(tmp_root)``, check the files ``relative`` to it, and install them under ``root``.

    All of ``relative`` lie in one folder. Raises (with nothing written under ``root``) if that folder is
    read-only, or if the download fails or gives a file whose checksum is not the known one.
    """
    target = (root / relative[0]).parent
    ok, decider = _writable(target)
    if not ok:
        raise PermissionError(f"{decider} is read-only, so nothing is downloaded into it")
    with tempfile.TemporaryDirectory(prefix="lrc-download-") as tmp:
        download(Path(tmp))
        staged = [Path(tmp) / rel for rel in relative]
        for path in staged:
            if not path.is_file():
                raise FileNotFoundError(f"the download did not produce {path.name}")
            problem = _mismatch(path, dataset)
            if problem is not None:
                raise DataChecksumError(f"the downloaded {path.name} is not the known file: {problem}")
        _install(staged, target)


def _not_found(what: str, looked_at: list[Path], download_note: str, fixes: list[str]) -> DataNotFoundError:
    lines = [f"{what} was not found. Looked at:"]
    lines += [f"  - {p}" for p in looked_at]
    lines.append(download_note)
    lines.append("To fix, do one of:")
    lines += [f"  - {fix}" for fix in fixes]
    return DataNotFoundError("\n".join(lines))


# --- loaders ------------------------------------------------------------------------------------------------

def load_image_dataset(
    name: str, split: str = "train", data_root: str | Path | None = None, download: bool | None = None
) -> ImageDataset:
    """Load MNIST (``name="mnist"``) or Fashion-MNIST (``"fashion_mnist"``), split ``"train"`` or ``"test"``.

    ``download=None`` means: download unless ``$LRC_OFFLINE=1``. Both files are checked against
    :data:`KNOWN_MD5` (:class:`DataChecksumError` if either is not the known file).
    """
    if name not in _FOLDER:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(_FOLDER)}")
    if split not in _PREFIX:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    root = data_dir(data_root)
    found = _locate(name, split, root)
    download_note = ""
    if found is None:
        if downloads_allowed(download):
            raw = Path(_FOLDER[name]) / "raw"
            relative = [str(raw / f"{_PREFIX[split]}-{kind}-ubyte.gz") for kind in _KINDS]
            try:
                _download_into(root, relative, name, lambda tmp: _download_images(name, split, tmp))
            except Exception as err:  # noqa: BLE001 - reported in full below
                download_note = f"Downloading into {root} failed: {type(err).__name__}: {err}"
            found = _locate(name, split, root)
        else:
            download_note = f"Downloading is switched off (download=False or ${OFFLINE_ENV}=1)."
    if found is None:
        stem = _PREFIX[split]
        looked = [
            folder / f"{stem}-{kind}-ubyte[.gz]" for folder in _candidate_folders(name, root) for kind in _KINDS
        ]
        fixes = [
            f"put the IDX files in {root / _FOLDER[name] / 'raw'}",
            f"or point ${DATA_DIR_ENV} (or the data_dir parameter) at a folder holding {_FOLDER[name]}/raw",
            "or allow downloading on a machine with internet (download=True, unset $LRC_OFFLINE)",
        ]
        if name == "fashion_mnist":
            fixes.append("or, on Debian/Ubuntu, `apt-get install dataset-fashion-mnist`")
        if name == "mnist" and split == "train":
            fixes.append("or, offline with only the test split, draw disjoint training and evaluation subsets "
                         "from split='test' (see lrc_utils.data.disjoint_subsets)")
        raise _not_found(f"{name} ({split} split)", looked, download_note, fixes)
    arrays = []
    for path in found:
        data = _read_checked(path, name)
        arrays.append(_parse_idx(gzip.decompress(data) if path.suffix == ".gz" else data, path))
    images_path, labels_path = found
    images = torch.from_numpy(arrays[0].copy())
    labels = torch.from_numpy(arrays[1].astype(np.int64))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{images_path} and {labels_path} disagree: "
                         f"shapes {tuple(images.shape)}, {tuple(labels.shape)}")
    return ImageDataset(name, split, images, labels, str(images_path.parent))


def load_mnist(split: str = "train", data_root=None, download=None) -> ImageDataset:
    """MNIST; see :func:`load_image_dataset`."""
    return load_image_dataset("mnist", split, data_root, download)


def load_fashion_mnist(split: str = "train", data_root=None, download=None) -> ImageDataset:
    """Fashion-MNIST; see :func:`load_image_dataset`."""
    return load_image_dataset("fashion_mnist", split, data_root, download)


def load_szt_12bit(data_root=None, download=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The 12-bit task of Shwartz-Ziv & Tishby (2017): all 4,096 binary patterns and their labels.

    Returns ``x`` float32 ``[4096, 12]`` with entries 0/1 and ``y`` int64 ``[4096]`` with entries 0/1,
    read from ``<root>/szt/var_u.mat`` (the file distributed with the IDNNs code), checked against
    :data:`KNOWN_MD5`.
    """
    from scipy.io import loadmat

    root = data_dir(data_root)
    path = root / "szt" / "var_u.mat"
    download_note = ""
    if not path.is_file():
        if downloads_allowed(download):
            try:
                _download_into(root, ["szt/var_u.mat"], "szt", _download_szt)
            except Exception as err:  # noqa: BLE001 - reported in full below
                download_note = f"Downloading {SZT_URL} into {root} failed: {type(err).__name__}: {err}"
        else:
            download_note = f"Downloading is switched off (download=False or ${OFFLINE_ENV}=1)."
    if not path.is_file():
        raise _not_found("The 12-bit task (var_u.mat)", [path], download_note, [
            f"download {SZT_URL} to {path}",
            f"or point ${DATA_DIR_ENV} (or the data_dir parameter) at a folder holding szt/var_u.mat",
        ])
    check_md5(path, "szt")
    mat = loadmat(path)
    x = torch.as_tensor(np.asarray(mat["F"], dtype=np.float32))
    y = torch.as_tensor(np.asarray(mat["y"]).reshape(-1).astype(np.int64))
    if x.shape != (4096, 12) or y.shape != (4096,):
        raise ValueError(f"{path}: expected F of shape (4096, 12) and y of 4096 labels, "
                         f"got {tuple(x.shape)}, {tuple(y.shape)}")
    return x, y


def szt_12bit_split(train_fraction: float, seed: int, data_root=None) -> tuple[torch.Tensor, ...]:
    """The 12-bit task and its split, as every study that trains on it draws it: ``(x, y, train_idx, test_idx)``
    with all 4,096 patterns (:func:`load_szt_12bit`), ``round(train_fraction * 4096)`` training indices and the
    rest for testing, drawn by :func:`disjoint_subsets` with ``seed``."""
    x, y = load_szt_12bit(data_root)
    n = len(y)
    n_train = round(train_fraction * n)
    if not 0 < n_train < n:
        raise ValueError(f"train_fraction {train_fraction} leaves no training or no test pattern of {n}")
    train_idx, test_idx = disjoint_subsets(n, [n_train, n - n_train], seed)
    return x, y, train_idx, test_idx


def disjoint_subsets(n_total: int, sizes: list[int], seed: int) -> list[torch.Tensor]:
    """Draw disjoint random index sets of the given sizes from ``range(n_total)``.

    Used to carve a training and an evaluation subset out of one split (offline, MNIST's test split is
    all there is). Returns one int64 tensor per size; the draw depends only on ``seed``.
    """
    if any(s < 0 for s in sizes):
        raise ValueError(f"subset sizes must be non-negative, got {sizes}")
    if sum(sizes) > n_total:
        raise ValueError(f"subsets of sizes {sizes} (total {sum(sizes)}) do not fit in {n_total} examples")
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))
    return list(torch.split(perm[: sum(sizes)], sizes))


def gaussian_classification(n: int, input_dim: int, intrinsic_dim: int, n_classes: int,
                            seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded synthetic classification task on Gaussian data of low intrinsic dimension.

    ``z ~ N(0, I_k)`` with ``k = intrinsic_dim``; ``x = sqrt(D / k) * A z`` with ``A`` (``[D, k]``) a
    random matrix of orthonormal columns, so the inputs fill a k-dimensional subspace of R^D with mean
    squared norm D; the label is ``argmax(V z)`` for a random teacher ``V`` (``[n_classes, k]``), a
    linear partition of the latent space into cones. The task (``A``, ``V``) and the samples both come from
    ``seed``; draw training and test sets in one call and split them, so they share the task.

    Returns ``x`` float32 ``[n, input_dim]`` and ``y`` int64 ``[n]``.
    """
    if not 1 <= intrinsic_dim <= input_dim:
        raise ValueError(f"need 1 <= intrinsic_dim <= input_dim, got {intrinsic_dim} and {input_dim}")
    if n < 1 or n_classes < 2:
        raise ValueError(f"need n >= 1 and n_classes >= 2, got {n} and {n_classes}")
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(input_dim, intrinsic_dim, generator=gen, dtype=torch.float64)).Q
    teacher = torch.randn(n_classes, intrinsic_dim, generator=gen, dtype=torch.float64)
    z = torch.randn(n, intrinsic_dim, generator=gen, dtype=torch.float64)
    x = math.sqrt(input_dim / intrinsic_dim) * z @ basis.T
    return x.float(), (z @ teacher.T).argmax(1)


def hierarchical_gaussian_mixture(n: int, input_dim: int, separations: Sequence[float],
                                  seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded mixture of ``2^B`` Gaussian classes whose distinctions differ in strength.

    With ``B = len(separations)``, class ``c`` has bits ``b_j(c) in {-1, +1}`` (``j < B``) and mean
    ``sum_j (separations[j] / 2) b_j(c) a_j``, with ``a_j`` orthonormal random directions of R^D
    (``D = input_dim >= B``); ``x = mean + N(0, I_D)``; classes are equally likely. Bit ``j`` alone is a
    two-Gaussian discrimination at distance ``separations[j]`` (Bayes error ``Phi(-separations[j] / 2)``),
    so a well-separated bit is worth keeping at a larger compression pressure than a weak one.

    Returns ``x`` float32 ``[n, input_dim]`` and ``y`` int64 ``[n]`` (classes ``0 .. 2^B - 1``; bit ``j``
    of ``y`` is ``b_j``).
    """
    seps = [float(s) for s in separations]
    if not seps or any(not (math.isfinite(s) and s > 0) for s in seps):
        raise ValueError(f"separations must be a non-empty list of numbers > 0, got {list(separations)}")
    if input_dim < len(seps) or n < 1:
        raise ValueError(f"need input_dim >= len(separations) = {len(seps)} and n >= 1, got {input_dim} and {n}")
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(input_dim, len(seps), generator=gen, dtype=torch.float64)).Q
    y = torch.randint(0, 2 ** len(seps), (n,), generator=gen)
    bits = ((y[:, None] >> torch.arange(len(seps))) & 1).to(torch.float64) * 2 - 1  # [n, B] in {-1, +1}
    means = (bits * torch.tensor(seps, dtype=torch.float64) / 2) @ basis.T
    x = means + torch.randn(n, input_dim, generator=gen, dtype=torch.float64)
    return x.float(), y
