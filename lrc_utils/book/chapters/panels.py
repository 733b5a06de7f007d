"""Figure 1's two networks, shared by the studies that train them (figure1, theory, rank_and_information): the
panels' names and their data."""

from __future__ import annotations

import torch

from ...data import disjoint_subsets, gaussian_classification, load_mnist
from . import StudyContext

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
    else:
        data = load_mnist(p.mnist_split, ctx.data_dir)
        x, y = data.flat_normalised(), data.labels
        train_idx, test_idx, rank_idx = disjoint_subsets(len(y), [p.mnist_n_train, p.mnist_n_test, p.n_rank_points],
                                                         p.data_seed)
        sizes = [x.shape[1], *p.mnist_widths, 10]
    x, y = x.to(ctx.device), y.to(ctx.device)
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx]), x[rank_idx], sizes
