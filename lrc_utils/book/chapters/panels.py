"""Figure 1's two networks, shared by the studies that train them (figure1, theory, rank_and_information): the
panels' names and their data."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...data import disjoint_subsets, gaussian_classification, load_mnist
from ...training import LOSSES, LossFn
from ..params import RunParams, param
from . import StudyContext


@dataclass(kw_only=True)
class PanelParams(RunParams):
    """Figure 1's two networks and their data, shared by figure1 and theory (one schema for both notebooks'
    parameters cells, :mod:`lrc_utils.book.params`)."""

    data_seed: int = param(0, "seed of the Gaussian task and of the MNIST subsets (the same for every run)", low=0)
    atol: float = param(0.01, "absolute tolerance: count singular values of the Jacobian above it", low=0)
    n_rank_points: int = param(128, "held-out points at which local rank is averaged", low=1)
    n_evals: int = param(50, "number of log-spaced evaluation steps", low=1)
    gauss_input_dim: int = param(100, "Gaussian panel: input dimension D", low=1)
    gauss_intrinsic_dim: int = param(10, "Gaussian panel: intrinsic dimension k of the inputs", low=1)
    gauss_classes: int = param(4, "Gaussian panel: number of classes", low=2)
    gauss_widths: list = param([100, 100, 100], "Gaussian panel: hidden widths (3 hidden layers)", low=1)
    gauss_n_train: int = param(1000, "Gaussian panel: training points", low=1)
    gauss_n_test: int = param(1000, "Gaussian panel: test points", low=1)
    gauss_steps: int = param(50000, "Gaussian panel: AdamW steps", low=1)
    gauss_lr: float = param(0.001, "Gaussian panel: learning rate", low=0)
    gauss_weight_decay: float = param(0.1, "Gaussian panel: AdamW weight decay on weight matrices", low=0)
    mnist_split: str = param("test", 'MNIST: "train": train on the train split, hold out test; '
                             '"test": all from test',
                             choices=("train", "test"))
    mnist_widths: list = param([200, 200, 200, 200], "MNIST panel: hidden widths (4 hidden layers)", low=1)
    mnist_n_train: int = param(1000, "MNIST panel: training images", low=1)
    mnist_n_test: int = param(2000, "MNIST panel: test images", low=1)
    mnist_steps: int = param(150000, "MNIST panel: AdamW steps", low=1)
    mnist_lr: float = param(0.001, "MNIST panel: learning rate", low=0)
    mnist_weight_decay: float = param(0.1, "MNIST panel: AdamW weight decay on weight matrices", low=0)
    batch_size: int = param(64, "minibatch size, both panels", low=1)
    loss: str = param("cross_entropy", "training loss, both panels (lrc_utils.training.LOSSES)",
                      choices=tuple(LOSSES), added=True)


#: Figure 1's panels (figure1, theory and rank_and_information train their networks).
PANELS = ("gaussian", "mnist")


def panel_data(p, panel: str, ctx: StudyContext):
    """(train, test, rank points, layer sizes) of one panel, on ``ctx.device``; the same for every seed."""
    if panel == "gaussian":
        n = p.gauss_n_train + p.gauss_n_test + p.n_rank_points
        x, y = gaussian_classification(n, p.gauss_input_dim, p.gauss_intrinsic_dim, p.gauss_classes, p.data_seed)
        train_idx, test_idx, rank_idx = torch.split(torch.arange(n), [p.gauss_n_train, p.gauss_n_test,
                                                                      p.n_rank_points])
        sizes = [p.gauss_input_dim, *p.gauss_widths, p.gauss_classes]
    elif p.mnist_split == "test":
        data = load_mnist("test", ctx.data_dir)
        x, y = data.flat_normalised(), data.labels
        train_idx, test_idx, rank_idx = disjoint_subsets(len(y), [p.mnist_n_train, p.mnist_n_test, p.n_rank_points],
                                                         p.data_seed)
        sizes = [x.shape[1], *p.mnist_widths, 10]
    else:  # training images from the training split; test images and rank points held out, from the test split
        train_data, held_out = load_mnist("train", ctx.data_dir), load_mnist("test", ctx.data_dir)
        (train_idx,) = disjoint_subsets(len(train_data.labels), [p.mnist_n_train], p.data_seed)
        test_idx, rank_idx = disjoint_subsets(len(held_out.labels), [p.mnist_n_test, p.n_rank_points], p.data_seed)
        x_train, x_held = train_data.flat_normalised(), held_out.flat_normalised()
        train = (x_train[train_idx].to(ctx.device), train_data.labels[train_idx].to(ctx.device))
        test = (x_held[test_idx].to(ctx.device), held_out.labels[test_idx].to(ctx.device))
        return train, test, x_held[rank_idx].to(ctx.device), [x_train.shape[1], *p.mnist_widths, 10]
    x, y = x.to(ctx.device), y.to(ctx.device)
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx]), x[rank_idx], sizes


def panel_loss(p) -> LossFn:
    """The training loss ``p.loss`` names (:data:`lrc_utils.training.LOSSES`)."""
    return LOSSES[p.loss]


def panel_cost(p, panel: str) -> float:
    """A run's training work on ``panel``, for ordering a grid's tasks (:func:`lrc_utils.grid.run_grid`): steps x
    the multiply-adds of one example's forward pass (input, hidden and output sizes from ``p``)."""
    steps = panel_schedule(p, panel)[0]
    sizes = ([p.gauss_input_dim, *p.gauss_widths, p.gauss_classes] if panel == "gaussian"
             else [28 * 28, *p.mnist_widths, 10])
    return float(steps * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])))


def panel_schedule(p, panel: str) -> tuple[int, float, float]:
    """(steps, learning rate, weight decay) of ``panel``'s training, from ``p``'s ``gauss_*`` or ``mnist_*``."""
    if panel == "gaussian":
        return p.gauss_steps, p.gauss_lr, p.gauss_weight_decay
    return p.mnist_steps, p.mnist_lr, p.mnist_weight_decay
