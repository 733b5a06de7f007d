"""Local rank beside I(X;T) on the same training runs: every hidden layer's local rank and its MI estimates
recorded at the same steps, by the same monitors as the information-plane, noisy-network and Figure 1 studies.

Three kinds of run, each trained by :func:`lrc_utils.training.fit`:

* ``12bit``: the information-plane networks (12-10-7-5-4-3-2, Chelombiev et al.'s initialisation and L2,
  :mod:`lrc_utils.book.chapters.information_planes.study`) per (activation, l2, seed); local rank and the estimators of
  :mod:`lrc_utils.planes` at all 4,096 patterns.
* ``noisy``: the noisy tanh network of :mod:`lrc_utils.book.chapters.noisy_networks.study` per seed; local rank of its
  noiseless pre-activations and the sample-propagation estimate of I(X;T) at all 4,096 patterns (estimator
  ``noisy_sp``), with its noise from the run's own generators (as in that study).
* ``mnist``: Figure 1's MNIST network per seed (:mod:`lrc_utils.book.chapters.figure1.study`); local rank and the
  estimators at ``mnist_n_measure`` held-out images, with Saxe et al.'s MNIST settings (:data:`MNIST_ESTIMATORS`).

Table ``rank_information``: one row per (run, step, layer, estimator), columns :data:`COLUMNS`; local rank is
repeated on the rows of the step's estimators. Nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
import torch

from .... import mi
from ....config import seed_everything
from ....data import szt_12bit_split
from ....grid import run_grid
from ....models import MLP, NoisyMLP, init_like_chelombiev, noisy_cross_entropy
from ....planes import InformationMonitor, NoisyInformation, NoisyMetrics, check_estimators, chelombiev_low
from ....training import (
    Checkpoint,
    ClassifierMetrics,
    FitConfig,
    LocalRankMonitor,
    cross_entropy_loss,
    eval_epochs,
    fit,
    l2_penalised_cross_entropy,
    log_spaced_steps,
)
from ...params import RunParams, param
from .. import StudyContext, check_seeds, study_identity
from ..panels import panel_data


@dataclass(kw_only=True)
class Params(RunParams):
    """The rank-and-information chapter's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seeds: list = param([0, 1, 2], "12-bit networks: one run per seed, activation and L2 penalty")
    data_seed: int = param(0, "seed of the 12-bit training split and of the MNIST subsets (the same for every run)")
    atol: float = param(0.01, "absolute tolerance of the local rank (Figure 1's)")
    n_evals: int = param(30, "log-spaced steps (12-bit: epochs) at which rank and information are recorded")
    estimators: list = param(["binning", "adaptive_binning", "kde_upper"], "names from lrc_utils.planes.ESTIMATORS")
    train_fraction: float = param(0.8, "12-bit networks: fraction of the 4,096 patterns used for training")
    widths: list = param([10, 7, 5, 4, 3], "12-bit networks: hidden widths")
    activations: list = param(["tanh", "relu"], "12-bit networks: activations")
    l2_penalties: list = param([0.0, 0.015], "12-bit networks: L2 penalties (Chelombiev et al.'s loss)")
    epochs: int = param(2000, "12-bit networks: epochs")
    batch_size: int = param(512, "12-bit networks: minibatch size")
    lr: float = param(0.001, "12-bit networks: Adam learning rate")
    noisy_seeds: list = param([0, 1, 2], "noisy tanh network: one run per seed (empty: none)")
    noise_std: float = param(0.1, "noisy network: noise standard deviation in every hidden unit")
    noisy_steps: int = param(50000, "noisy network: AdamW steps")
    noisy_lr: float = param(0.01, "noisy network: learning rate")
    noisy_batch_size: int = param(64, "noisy network: minibatch size")
    n_samples: int = param(8, "noisy network: samples per pattern for sample propagation")
    n_mc: int = param(2000, "noisy network: Monte Carlo samples per entropy")
    mnist_seeds: list = param([0, 1], "Figure 1's MNIST network: one run per seed (empty: none)")
    mnist_split: str = param("test", 'MNIST: "train": train on the train split, hold out test; "test": all from test',
                             choices=("train", "test"))
    mnist_widths: list = param([200, 200, 200, 200], "MNIST network: hidden widths")
    mnist_n_train: int = param(1000, "MNIST network: training images")
    mnist_n_test: int = param(2000, "MNIST network: test images")
    mnist_n_measure: int = param(1000, "MNIST network: held-out images at which rank and information are measured")
    mnist_steps: int = param(150000, "MNIST network: AdamW steps")
    mnist_lr: float = param(0.001, "MNIST network: learning rate")
    mnist_weight_decay: float = param(0.1, "MNIST network: decoupled weight decay on weight matrices")
    mnist_batch_size: int = param(64, "MNIST network: minibatch size")
    terminal_gap: float = param(0.02, "terminal phase: from the first step with training accuracy within this of the "
                                "final (ours)")
    alpha: float = param(0.05, "significance level of the correlations")

    def check(self) -> None:
        check(self)


TABLES = ("rank_information",)
COLUMNS = ["run", "network", "activation", "l2", "seed", "step", "layer", "local_rank", "estimator", "ixt",
           "train_loss", "train_acc", "test_acc"]
#: Saxe et al.'s settings for MNIST-sized layers (``simplebinmi.py``, ``kde.py``): bin width 0.5, KDE noise
#: variance 0.1; adaptive binning as on the 12-bit task (Chelombiev et al.'s rule, ReLU lower edge).
MNIST_ESTIMATORS = {
    "binning": lambda t: mi.binning(t, rule="saxe", binsize=0.5).ixt,
    "kde_upper": lambda t: mi.kde(t, noise_var=0.1, bound="upper").ixt,
    "adaptive_binning": lambda t: mi.adaptive_binning(t, rule="chelombiev", low=chelombiev_low("relu")).ixt,
}


def check(p) -> None:
    check_seeds(p.seeds)
    if p.noisy_seeds:
        check_seeds(p.noisy_seeds)
    if p.mnist_seeds:
        check_seeds(p.mnist_seeds)
    check_estimators(p.estimators, p.activations)
    unknown = sorted(set(p.estimators) - set(MNIST_ESTIMATORS))
    if p.mnist_seeds and unknown:
        raise ValueError(f"estimators {unknown} have no MNIST setting; MNIST runs take {sorted(MNIST_ESTIMATORS)}")
    if not p.activations or not set(p.activations) <= {"tanh", "relu", "elu", "softplus"}:
        raise ValueError(f"activations must be names among tanh, relu, elu, softplus, got {p.activations!r}")
    if not 0 < p.train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {p.train_fraction}")
    if not p.atol > 0:
        raise ValueError(f"atol must be > 0, got {p.atol}")
    for name in ("epochs", "n_evals", "batch_size", "noisy_steps", "mnist_steps", "mnist_n_measure"):
        if getattr(p, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(p, name)!r}")


@dataclass
class MnistInformation:
    """I(X;T_l) of every hidden layer's activity at ``x`` (``[M, 784]``) by :data:`MNIST_ESTIMATORS`: columns
    ``layer, estimator, ixt``."""

    x: torch.Tensor
    estimators: list
    name: str = "information"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        return [{"layer": layer, "estimator": name, "ixt": float(MNIST_ESTIMATORS[name](model.act(z)))}
                for layer, z in enumerate(model.preactivations(self.x), start=1) for name in self.estimators]


def twelve_bit_data(p, ctx: StudyContext, train_fraction: float) -> dict:
    """All 4,096 patterns (measurement inputs) and the training and test split of ``train_fraction``."""
    x, y, train_idx, test_idx = szt_12bit_split(train_fraction, p.data_seed, ctx.data_dir)
    x, y = x.to(ctx.device), y.to(ctx.device)
    return {"x": x, "y": y, "train": (x[train_idx], y[train_idx]), "test": (x[test_idx], y[test_idx])}


def merged(records: dict, ranks: pd.DataFrame | None = None) -> pd.DataFrame:
    """The information rows with the local rank of their (step, layer) and the step's metrics."""
    table = records["information"].merge(ranks if ranks is not None else records["local_rank"],
                                         on=["step", "layer"], how="left")
    return table.merge(records["metrics"], on="step", how="left")


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Table ``rank_information`` (see the module docstring)."""
    ctx = ctx or StudyContext()
    identity = study_identity("rank_and_information", p)
    data: dict = {}

    def run_12bit(key: dict) -> pd.DataFrame:
        activation, l2, seed = key["activation"], key["l2"], key["seed"]
        data.setdefault("12bit", twelve_bit_data(p, ctx, p.train_fraction))
        d = data["12bit"]
        steps_per_epoch = math.ceil(len(d["train"][1]) / p.batch_size)
        seed_everything(seed)
        model = MLP([12, *p.widths, 2], activation)
        init_like_chelombiev(model, activation)
        model = model.to(ctx.device)
        config = FitConfig(steps=p.epochs * steps_per_epoch, lr=p.lr, batch_size=p.batch_size, seed=seed,
                           eval_steps=tuple(e * steps_per_epoch for e in eval_epochs(p.epochs, p.n_evals)),
                           checkpoint_every=5000)
        monitors = [LocalRankMonitor(d["x"], p.atol), InformationMonitor(d["x"], d["y"], activation, p.estimators),
                    ClassifierMetrics(d["train"], d["test"])]
        records = fit(model, l2_penalised_cross_entropy(l2), d["train"], config, monitors,
                      Checkpoint(ctx.checkpoint_dir, {**identity, **key}), desc=f"12bit {activation} l2={l2:g} {seed}")
        return merged(records)

    def run_noisy(key: dict) -> pd.DataFrame:
        seed = key["seed"]
        data.setdefault("noisy", twelve_bit_data(p, ctx, p.train_fraction))
        d = data["noisy"]
        seed_everything(seed)
        model = NoisyMLP([12, *p.widths, 2], "tanh", noise_std=p.noise_std).to(ctx.device)
        config = FitConfig(steps=p.noisy_steps, lr=p.noisy_lr, batch_size=p.noisy_batch_size, seed=seed,
                           eval_steps=tuple(log_spaced_steps(p.noisy_steps, p.n_evals)), checkpoint_every=2000)
        monitors = [LocalRankMonitor(d["x"], p.atol), NoisyInformation(d["x"], d["y"], p.n_samples, p.n_mc, seed),
                    NoisyMetrics(d["train"], d["test"], seed)]
        records = fit(model, noisy_cross_entropy, d["train"], config, monitors,
                      Checkpoint(ctx.checkpoint_dir, {**identity, **key}), desc=f"noisy {seed}")
        return merged(records).assign(estimator="noisy_sp")

    def run_mnist(key: dict) -> pd.DataFrame:
        seed = key["seed"]
        if "mnist" not in data:
            panel = SimpleNamespace(**vars(p), n_rank_points=p.mnist_n_measure)
            data["mnist"] = panel_data(panel, "mnist", ctx)
        train, test, x_measure, sizes = data["mnist"]
        seed_everything(seed)
        model = MLP(sizes, "relu", init="normal").to(ctx.device)
        config = FitConfig(steps=p.mnist_steps, lr=p.mnist_lr, weight_decay=p.mnist_weight_decay,
                           batch_size=p.mnist_batch_size, seed=seed,
                           eval_steps=tuple(log_spaced_steps(p.mnist_steps, p.n_evals)), checkpoint_every=5000)
        monitors = [LocalRankMonitor(x_measure, p.atol), MnistInformation(x_measure, list(p.estimators)),
                    ClassifierMetrics(train, test)]
        records = fit(model, cross_entropy_loss, train, config, monitors,
                      Checkpoint(ctx.checkpoint_dir, {**identity, **key}), desc=f"mnist {seed}")
        return merged(records)

    runners = {"12bit": run_12bit, "noisy": run_noisy, "mnist": run_mnist}

    def run_one(key: dict) -> dict:
        table = runners[key["network"]](key)
        label = f"{key['network']}-{key['activation']}-l2={key['l2']:g}-seed{key['seed']}"
        table = table.assign(run=label, network=key["network"], activation=key["activation"], l2=key["l2"],
                             seed=key["seed"])
        return {"rank_information": table[COLUMNS]}

    keys = [{"network": "12bit", "activation": a, "l2": float(l2), "seed": s}
            for a in p.activations for l2 in p.l2_penalties for s in p.seeds]
    keys += [{"network": "noisy", "activation": "tanh", "l2": 0.0, "seed": s} for s in p.noisy_seeds]
    keys += [{"network": "mnist", "activation": "relu", "l2": 0.0, "seed": s} for s in p.mnist_seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="rank and information runs")
