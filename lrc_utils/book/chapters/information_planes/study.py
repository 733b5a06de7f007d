"""Information planes on the 12-bit task: I(X;T_l) against I(T_l;Y) of every hidden layer over training,
for several activations, with and without L2 regularisation, over seeds, by the estimators of
:mod:`lrc_utils.planes`.

One run per (activation, l2, seed): the network 12-10-7-5-4-3-2 (:class:`lrc_utils.models.MLP`) initialised
as in Chelombiev et al.'s public code (:func:`lrc_utils.models.init_like_chelombiev`), trained on
``train_fraction`` of the 4,096 patterns by :func:`lrc_utils.training.fit` (Adam on minibatches drawn with
replacement; an "epoch" is ``ceil(n_train / batch_size)`` steps; the loss is their L2-penalised cross-entropy,
:func:`lrc_utils.training.l2_penalised_cross_entropy`), recording at initialisation (epoch 0) and at log-spaced
epochs every hidden layer's I(X;T) and I(T;Y) over ``mi_inputs`` patterns (all 4,096 in the paper preset; a fixed random
subset, the same for every run, in small presets) and the training and test accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from ....config import seed_everything
from ....data import SZT_PATTERNS as N_PATTERNS
from ....data import disjoint_subsets, szt_12bit_split
from ....grid import Training, run_grid
from ....models import ACTIVATIONS, MLP, init_like_chelombiev
from ....planes import InformationMonitor, check_estimators
from ....training import Checkpoint, ClassifierMetrics, FitConfig, eval_epochs, l2_penalised_cross_entropy
from ...params import RunParams, param
from .. import StudyContext, check_seeds, study_identity


@dataclass(kw_only=True)
class Params(RunParams):
    """The information-plane chapter's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seeds: list = param([0, 1, 2, 3, 4], "one run per seed, activation and L2 (initialisation and minibatches)")
    data_seed: int = param(0, "seed of the training/test split (the same for every run)")
    train_fraction: float = param(0.8, "share of the 4,096 patterns used for training (ours)")
    activations: list = param(["tanh", "relu", "elu", "softplus"], "hidden activations")
    l2_penalties: list = param([0.0, 0.015], "L2 penalties (the loss adds l2 times half the squared hidden weights)")
    widths: list = param([10, 7, 5, 4, 3], "hidden widths (Shwartz-Ziv & Tishby's network)")
    epochs: int = param(2000, "training epochs (steps: epochs x ceil(n_train / batch_size))")
    n_evals: int = param(20, "about this many log-spaced evaluation epochs")
    mi_inputs: int = param(4096, "patterns X is uniform over for the MI estimates (all 4,096, or a fixed random "
                           "subset)")
    batch_size: int = param(512, "minibatch size")
    lr: float = param(0.001, "Adam learning rate")
    estimators: list = param(["binning_sz", "binning", "kde_upper", "adaptive_binning", "adaptive_kde"], "see the "
                             "table above")

    def check(self) -> None:
        check(self)


TABLES = ("planes",)
COLUMNS = ["run", "seed", "activation", "l2", "epoch", "step", "layer", "estimator", "ixt", "ity",
           "train_loss", "train_acc", "test_acc"]


def check(p) -> None:
    check_seeds(p.seeds)
    if not isinstance(p.data_seed, int) or p.data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer, got {p.data_seed}")
    if not p.widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in p.widths):
        raise ValueError(f"widths must be a non-empty list of positive integers (hidden widths), got {p.widths}")
    if not p.activations or len(set(p.activations)) != len(p.activations) or not set(p.activations) <= set(ACTIVATIONS):
        raise ValueError(f"activations must be a non-empty list of distinct names from {sorted(ACTIVATIONS)}, "
                         f"got {p.activations}")
    check_estimators(p.estimators, p.activations)
    if not 0 < p.train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {p.train_fraction}")
    if (not p.l2_penalties or len(set(p.l2_penalties)) != len(p.l2_penalties)
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 for v in p.l2_penalties)):
        raise ValueError(f"l2_penalties must be a non-empty list of distinct numbers >= 0, got {p.l2_penalties}")
    if isinstance(p.mi_inputs, bool) or not isinstance(p.mi_inputs, int) or not 2 <= p.mi_inputs <= N_PATTERNS:
        raise ValueError(f"mi_inputs must lie in [2, {N_PATTERNS}], got {p.mi_inputs}")
    if p.epochs < 1 or p.n_evals < 1 or p.batch_size < 1 or not p.lr > 0:
        raise ValueError(f"need epochs, n_evals, batch_size >= 1 and lr > 0; got {p.epochs}, {p.n_evals}, "
                         f"{p.batch_size}, {p.lr}")


def run_label(activation: str, l2: float, seed: int) -> str:
    return f"{activation}-l2={l2:g}-seed{seed}"


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Table ``planes``: one row per (run, eval epoch, hidden layer, estimator) with :data:`COLUMNS`."""
    ctx = ctx or StudyContext()
    identity = study_identity("information_planes", p)
    data: dict = {}
    n_train = round(p.train_fraction * N_PATTERNS)
    steps_per_epoch = math.ceil(n_train / p.batch_size)
    epochs = eval_epochs(p.epochs, p.n_evals)

    def run_one(key: dict) -> Training:
        activation, l2, seed = key["activation"], key["l2"], key["seed"]
        if not data:  # loaded only when a run has to be computed
            x, y, train_idx, test_idx = szt_12bit_split(p.train_fraction, p.data_seed, ctx.data_dir)
            x, y = x.to(ctx.device), y.to(ctx.device)
            mi_idx = (torch.arange(N_PATTERNS) if p.mi_inputs == N_PATTERNS
                      else disjoint_subsets(N_PATTERNS, [p.mi_inputs], p.data_seed + 1)[0])
            data.update(x=x[mi_idx], y=y[mi_idx], train=(x[train_idx], y[train_idx]), test=(x[test_idx], y[test_idx]))
        seed_everything(seed)
        model = MLP([12, *p.widths, 2], activation)
        init_like_chelombiev(model, activation)
        model = model.to(ctx.device)
        config = FitConfig(steps=p.epochs * steps_per_epoch, lr=p.lr, batch_size=p.batch_size, seed=seed,
                           eval_steps=tuple(e * steps_per_epoch for e in epochs), checkpoint_every=5000)
        monitors = [InformationMonitor(data["x"], data["y"], activation, p.estimators),
                    ClassifierMetrics(data["train"], data["test"])]
        model.eval()
        at_init = [pd.DataFrame([{"step": 0, **row} for row in m(model, 0, float("nan"))]) for m in monitors]

        def finish(records: dict) -> dict:
            information = pd.concat([at_init[0], records["information"]], ignore_index=True)
            metrics = pd.concat([at_init[1], records["metrics"]], ignore_index=True)
            table = information.merge(metrics, on="step", how="left")
            table = table.assign(run=run_label(activation, l2, seed), seed=seed, activation=activation, l2=float(l2),
                                 epoch=table["step"] // steps_per_epoch)
            return {"planes": table[COLUMNS]}

        return Training(model, l2_penalised_cross_entropy(l2), data["train"], config, monitors,
                        Checkpoint(ctx.checkpoint_dir, {**identity, **key}), run_label(activation, l2, seed), finish)

    keys = [{"activation": a, "l2": float(l2), "seed": s} for a in p.activations for l2 in p.l2_penalties
            for s in p.seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="information-plane runs",
                    together=ctx.together(lambda key: key["activation"]))
