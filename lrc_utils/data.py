"""Data sets: MNIST, Fashion-MNIST (IDX files), the 12-bit task of Shwartz-Ziv & Tishby, and subsets.

Where files are looked for, in order:

1. ``<root>/MNIST/raw`` or ``<root>/FashionMNIST/raw`` (torchvision's layout), each file either gzipped
   or raw; ``<root>/szt/var_u.mat`` for the 12-bit task;
2. for Fashion-MNIST, also Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. when downloads are allowed, the files are downloaded into ``<root>`` (torchvision for the images,
   the IDNNs repository for the 12-bit task) and then read from there.

``root`` is the ``data_dir`` argument, else ``$LRC_DATA_DIR``, else ``~/.cache/lrc/data``
(:func:`lrc_utils.config.data_dir`). If the files are found nowhere and cannot be fetched, a single
:class:`DataNotFoundError` names every place that was looked at and how to fix it. Nothing is ever
substituted silently.
"""

from __future__ import annotations

import gzip
import math
import struct
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DATA_DIR_ENV, OFFLINE_ENV, data_dir, downloads_allowed

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
SZT_URL = "https://raw.githubusercontent.com/ravidziv/IDNNs/master/data/var_u.mat"

#: Per-pixel mean and standard deviation of the training images (the usual normalisation constants).
NORMALISATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}
_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_PREFIX = {"train": "train", "test": "t10k"}


class DataNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable; the message says where we looked and what to do."""


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


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or raw) of unsigned bytes into an array of its stated shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
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


def _download_images(name: str, split: str, root: Path) -> None:
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}[name]
    cls(root=str(root), train=(split == "train"), download=True)


def _not_found(what: str, looked_at: list[Path], download_note: str, fixes: list[str]) -> DataNotFoundError:
    lines = [f"{what} was not found. Looked at:"]
    lines += [f"  - {p}" for p in looked_at]
    lines.append(download_note)
    lines.append("To fix, do one of:")
    lines += [f"  - {fix}" for fix in fixes]
    return DataNotFoundError("\n".join(lines))


def load_image_dataset(
    name: str, split: str = "train", data_root: str | Path | None = None, download: bool | None = None
) -> ImageDataset:
    """Load MNIST (``name="mnist"``) or Fashion-MNIST (``"fashion_mnist"``), split ``"train"`` or ``"test"``.

    ``download=None`` means: download unless ``$LRC_OFFLINE=1``.
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
            try:
                _download_images(name, split, root)
            except Exception as err:  # noqa: BLE001 - reported in full below
                download_note = f"Downloading into {root} failed: {type(err).__name__}: {err}"
            found = _locate(name, split, root)
        else:
            download_note = f"Downloading is switched off (download=False or ${OFFLINE_ENV}=1)."
    if found is None:
        stem = _PREFIX[split]
        looked = [
            folder / f"{stem}-{kind}-ubyte[.gz]"
            for folder in _candidate_folders(name, root)
            for kind in ("images-idx3", "labels-idx1")
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
    images_path, labels_path = found
    images = torch.from_numpy(read_idx(images_path).copy())
    labels = torch.from_numpy(read_idx(labels_path).astype(np.int64))
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
    read from ``<root>/szt/var_u.mat`` (the file distributed with the IDNNs code).
    """
    from scipy.io import loadmat

    root = data_dir(data_root)
    path = root / "szt" / "var_u.mat"
    download_note = ""
    if not path.is_file():
        if downloads_allowed(download):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                urllib.request.urlretrieve(SZT_URL, path)
            except Exception as err:  # noqa: BLE001 - reported in full below
                path.unlink(missing_ok=True)
                download_note = f"Downloading {SZT_URL} failed: {type(err).__name__}: {err}"
        else:
            download_note = f"Downloading is switched off (download=False or ${OFFLINE_ENV}=1)."
    if not path.is_file():
        raise _not_found("The 12-bit task (var_u.mat)", [path], download_note, [
            f"download {SZT_URL} to {path}",
            f"or point ${DATA_DIR_ENV} (or the data_dir parameter) at a folder holding szt/var_u.mat",
        ])
    mat = loadmat(path)
    x = torch.as_tensor(np.asarray(mat["F"], dtype=np.float32))
    y = torch.as_tensor(np.asarray(mat["y"]).reshape(-1).astype(np.int64))
    if x.shape != (4096, 12) or y.shape != (4096,):
        raise ValueError(f"{path}: expected F of shape (4096, 12) and y of 4096 labels, "
                         f"got {tuple(x.shape)}, {tuple(y.shape)}")
    return x, y


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
