"""The local-rank chapter: a case with a known answer, the count against the tolerance on a trained MNIST
MLP, the singular-value spectra behind it, and the speed of :func:`lrc_utils.local_rank` against the usual
recipe and an autograd loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ....config import seed_everything
from ....data import disjoint_subsets, load_mnist
from ....local_rank import local_rank, ranks_at_tolerances, singular_values
from ....local_rank_reference import time_methods
from ....models import MLP
from ....training import BatchLoss, FitConfig, accuracy, cross_entropy_loss, fit
from ...params import RunParams, param
from .. import StudyContext


@dataclass(kw_only=True)
class Params(RunParams):
    """The local-rank chapter's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seed: int = param(0, "seed for weights, data subsets and minibatches")
    toy_input_dim: int = param(12, "known-answer network: input width")
    toy_width: int = param(8, "known-answer network: width of both hidden layers, at most toy_input_dim")
    toy_points: int = param(500, "known-answer network: number of Gaussian inputs")
    mnist_split: str = param("test", 'MNIST split the training and evaluation subsets are drawn from (offline: "test")')
    n_train: int = param(1000, "training images, disjoint from the evaluation images")
    n_eval: int = param(256, "evaluation images at which Jacobians are measured")
    hidden_widths: list = param([200, 200, 200, 200], "hidden widths of the MNIST MLP")
    train_steps: int = param(3000, "AdamW steps")
    lr: float = param(0.001, "AdamW learning rate")
    weight_decay: float = param(0.01, "AdamW weight decay, on weight matrices only")
    batch_size: int = param(64, "minibatch size")
    atol: float = param(0.01, "the absolute tolerance used for local rank elsewhere in the book")
    tol_points: int = param(41, "number of tolerances in each sweep")
    speed_sizes: list = param([64, 256, 1024], "numbers of inputs for the speed comparison")
    loop_max: int = param(256, "largest number of inputs at which the slow autograd loop is timed")

    def check(self) -> None:
        check(self)


TABLES = ("known_answer", "summary", "training", "tolerance", "spectrum", "speed")
MACHINE_DEPENDENT = {"speed": ("seconds", "device", "threads")}


def check(p) -> None:
    if p.toy_width > p.toy_input_dim:
        raise ValueError(f"toy_width ({p.toy_width}) must be <= toy_input_dim ({p.toy_input_dim}) for the closed form")


def known_answer(p) -> pd.DataFrame:
    """A two-layer ReLU network of width w <= d in general position: layer 1's rank is w at every input, layer
    2's rank equals the number of active units of layer 1."""
    seed_everything(p.seed)
    model = MLP([p.toy_input_dim, p.toy_width, p.toy_width, 2], "relu").double()
    x = torch.randn(p.toy_points, p.toy_input_dim, dtype=torch.float64)
    active = (model.preactivations(x)[0] > 0).sum(1)
    ranks = local_rank(model, x, atol=1e-8, per_sample=True)
    return pd.DataFrame({"input": np.arange(p.toy_points), "active_units_layer1": active.numpy(),
                         "predicted_rank_layer1": p.toy_width, "predicted_rank_layer2": active.numpy(),
                         "local_rank_layer1": ranks[:, 0].numpy(), "local_rank_layer2": ranks[:, 1].numpy()})


def spectrum_table(spectra: list[torch.Tensor]) -> pd.DataFrame:
    """Per layer and index i: mean and 10/50/90% quantiles over inputs of the i-th singular value."""
    rows = []
    for layer, s in enumerate(spectra, start=1):
        q = np.quantile(s.numpy(), [0.1, 0.5, 0.9], axis=0)
        rows += [(layer, i + 1, s[:, i].mean().item(), *q[:, i]) for i in range(s.shape[1])]
    return pd.DataFrame(rows, columns=["layer", "index", "mean", "q10", "median", "q90"])


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    ctx = ctx or StudyContext()
    dev = ctx.device
    tables = {"known_answer": known_answer(p)}
    seed_everything(p.seed)
    data = load_mnist(p.mnist_split, ctx.data_dir)
    n_speed = max(p.speed_sizes)
    train_idx, eval_idx, speed_idx = disjoint_subsets(len(data.labels), [p.n_train, p.n_eval, n_speed], p.seed)
    x_all, y_all = data.flat_normalised().to(dev), data.labels.to(dev)
    model = MLP([x_all.shape[1], *p.hidden_widths, 10], init="normal").to(dev)
    train = (x_all[train_idx], y_all[train_idx])
    config = FitConfig(steps=p.train_steps, lr=p.lr, weight_decay=p.weight_decay, batch_size=p.batch_size,
                       seed=p.seed, eval_steps=tuple(range(1, p.train_steps + 1)))
    losses = fit(model, cross_entropy_loss, train, config, [BatchLoss()])["batch_loss"].batch_loss.tolist()
    x_eval = x_all[eval_idx]
    tables["summary"] = pd.DataFrame({
        "quantity": ["train_acc", "eval_acc", "final_train_loss"],
        "value": [accuracy(model, *train), accuracy(model, x_eval, y_all[eval_idx]), float(np.mean(losses[-50:]))],
        "data": f"MNIST {p.mnist_split} split: {p.n_train} train / {p.n_eval} eval images, disjoint"})
    tables["training"] = pd.DataFrame({"step": np.arange(1, len(losses) + 1), "train_loss": losses})

    spectra = singular_values(model, x_eval)
    kernel = local_rank(model, x_eval, atol=p.atol, per_sample=True)
    from_spectra = torch.stack([(s > p.atol).sum(1) for s in spectra], 1)
    if not torch.equal(kernel, from_spectra):
        raise RuntimeError("local_rank disagrees with counting its own singular values")
    atols, rtols = np.logspace(-6, 1, p.tol_points), np.logspace(-8, 0, p.tol_points)
    tables["tolerance"] = pd.concat([ranks_at_tolerances(s, atols, rtols).assign(layer=layer)
                                     for layer, s in enumerate(spectra, start=1)], ignore_index=True)[
        ["layer", "convention", "tolerance", "local_rank"]]
    tables["spectrum"] = spectrum_table(spectra)

    rows = []
    for n in p.speed_sizes:
        methods = ("local_rank", "recipe", "loop") if n <= p.loop_max else ("local_rank", "recipe")
        timed = time_methods(model, x_all[speed_idx[:n]], methods, atol=p.atol)
        reference = timed["local_rank"][1]
        rows += [(method, n, seconds, bool(torch.equal(ranks, reference)))
                 for method, (seconds, ranks) in timed.items()]
    tables["speed"] = pd.DataFrame(rows, columns=["method", "n_inputs", "seconds", "ranks_identical"]).assign(
        device=str(dev), threads=torch.get_num_threads())
    return tables
