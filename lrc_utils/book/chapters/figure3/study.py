"""Figure 3: Deep VIB on MNIST and Fashion-MNIST, local rank of the bottleneck and accuracy against beta.

With ``mnist_split="train"`` (the default and the presets), and always for Fashion-MNIST: training and rank
images from the training split, test images from the test split. With ``mnist_split="test"`` (the book's earlier
paper preset, from before MNIST's training split was at hand offline): training, test and rank images are
disjoint subsets of the test split. The runs are those of :mod:`lrc_utils.book.chapters.vib.grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....data import disjoint_subsets, load_fashion_mnist, load_mnist
from ...params import param
from .. import StudyContext
from ..vib.grid import TABLES, VibGridParams, vib_runs
from ..vib.grid import check as check_grid

__all__ = ["TABLES", "Params", "check", "compute"]


@dataclass(kw_only=True)
class Params(VibGridParams):
    """Figure 3's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    datasets: list = param(["mnist", "fashion_mnist"], "panels, top to bottom")
    seeds: list = param([0, 1, 2], "one run per dataset, seed and beta (initialisation, minibatches, samples of z)")
    data_seed: int = param(0, "seed of the image subsets (the same for every run)")
    mnist_split: str = param("train", '"train": as Fashion-MNIST; "test": all MNIST images from the test split')
    n_train: int = param(7000, "training images per dataset")
    n_test: int = param(2000, "test images per dataset")
    n_rank_points: int = param(256, "held-out images at which local rank is averaged")
    encoder_widths: list = param([256, 256], "hidden widths of the encoder (ReLU)")
    latent_dim: int = param(32, "K: dimension of the bottleneck z")
    beta_min: float = param(0.0001, "smallest beta of the log-spaced grid")
    n_betas: int = param(21, "number of beta values")
    steps: int = param(4000, "Adam steps per run")

    def check(self) -> None:
        check(self)


DATASETS = ("mnist", "fashion_mnist")


def check(p) -> None:
    check_grid(p)
    if p.mnist_split not in ("train", "test"):
        raise ValueError(f"mnist_split must be 'train' or 'test', got {p.mnist_split!r}")
    if not p.datasets or set(p.datasets) - set(DATASETS) or len(set(p.datasets)) != len(p.datasets):
        raise ValueError(f"datasets must be distinct names from {list(DATASETS)}, got {p.datasets}")


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    ctx = ctx or StudyContext()
    def load(name: str):
        if name == "mnist" and p.mnist_split == "test":
            data = load_mnist("test", ctx.data_dir)
            x, y = data.flat_normalised(), data.labels
            train, test, rank = disjoint_subsets(len(y), [p.n_train, p.n_test, p.n_rank_points], p.data_seed)
            x_test, y_test = x[test], y[test]
        else:
            loader = load_mnist if name == "mnist" else load_fashion_mnist
            data, held_out = loader("train", ctx.data_dir), loader("test", ctx.data_dir)
            x, y = data.flat_normalised(), data.labels
            train, rank = disjoint_subsets(len(y), [p.n_train, p.n_rank_points], p.data_seed)
            (test,) = disjoint_subsets(len(held_out.labels), [p.n_test], p.data_seed)
            x_test, y_test = held_out.flat_normalised()[test], held_out.labels[test]
        dev = ctx.device
        return (x[train].to(dev), y[train].to(dev)), (x_test.to(dev), y_test.to(dev)), x[rank].to(dev)

    return vib_runs("figure3", p, ctx, list(p.datasets), load, 28 * 28, 10)
