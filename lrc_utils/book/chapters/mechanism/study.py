"""What drives the fall: Figure 1's two networks trained under the arms of the design fixed before the runs
(``book/mechanism_design.md``): our AdamW with weight decay 0.1, no weight decay, the first author's weight decay,
SGD with momentum, and the first author's loss (a softmax before the cross-entropy) without weight decay.

One run per (arm, panel, seed), through :func:`lrc_utils.training.fit`, recording at log-spaced steps per hidden
layer the rank at ``atol`` and at ``rtol``, the effective rank, the active units and, on the Gaussian panel, the
rank of the Jacobian restricted to the data's subspace (:class:`lrc_utils.training.RankMeasures`), with the
training loss and accuracies. Each finished run is its own file; a run in progress resumes from its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from ....config import seed_everything
from ....grid import Training, run_grid
from ....models import MLP
from ....training import LOSSES, Checkpoint, ClassifierMetrics, FitConfig, RankMeasures, log_spaced_steps
from ...params import param
from .. import StudyContext, check_seeds, study_identity
from ..panels import PANELS, PanelParams, panel_data, panel_schedule

#: The design's arms (book/mechanism_design.md): optimiser, learning rate (None: the panel's), weight decay on
#: weight matrices, loss. SGD's learning rate is the study's ``sgd_lr``.
ARMS = {"ours": ("adamw", None, 0.1, "cross_entropy"),
        "no-decay": ("adamw", None, 0.0, "cross_entropy"),
        "author-decay": ("adamw", None, 0.01, "cross_entropy"),
        "sgd": ("sgd", "sgd_lr", 0.0, "cross_entropy"),
        "softmax-loss": ("adamw", None, 0.0, "softmax_cross_entropy")}


@dataclass(kw_only=True)
class Params(PanelParams):
    """The mechanism study's parameters: Figure 1's panels (their learning rates; their weight decays and loss
    are set by the arms; MNIST from its training split with 1,000 test images by default, as the design says),
    the arms, SGD's settings and the relative tolerance."""

    mnist_split: str = param("train", 'MNIST: "train": train on the train split, hold out test; '
                             '"test": all from test', choices=("train", "test"))
    mnist_n_test: int = param(1000, "MNIST panel: test images", low=1)
    seeds: list = param([0, 1, 2], "one training run per seed, arm and panel")
    arms: list = param(list(ARMS), "arms of the design (study.ARMS)")
    sgd_lr: float = param(0.05, "SGD arm: learning rate", low=0)
    momentum: float = param(0.9, "SGD arm: momentum", low=0, high=0.999)
    rtol: float = param(0.01, "relative tolerance of the second rank (singular values above rtol x the largest)",
                        low=0)

    def check(self) -> None:
        check(self)


TABLES = ("measures",)
COLUMNS = ["arm", "panel", "seed", "step", "layer", "rank_atol", "rank_rtol", "effective_rank", "active_units",
           "rank_subspace", "train_loss", "train_acc", "test_acc"]


def check(p) -> None:
    check_seeds(p.seeds)
    if not p.arms or len(set(p.arms)) != len(p.arms) or not set(p.arms) <= set(ARMS):
        raise ValueError(f"arms must be distinct names among {list(ARMS)}, got {p.arms}")
    if p.loss != "cross_entropy":
        raise ValueError(f"the arms set the loss; leave loss at 'cross_entropy', got {p.loss!r}")
    defaults = {f.name: f.default for f in fields(Params) if f.name.endswith("_weight_decay")}
    changed = {name: getattr(p, name) for name, default in defaults.items() if getattr(p, name) != default}
    if changed:
        raise ValueError(f"the arms set the weight decay; leave {', '.join(changed)} at their defaults "
                         f"({', '.join(f'{defaults[n]:g}' for n in changed)}), got {changed}")


def arm_config(p, arm: str, panel: str, seed: int) -> tuple[FitConfig, str]:
    """The run's :class:`FitConfig` and loss name for ``arm`` on ``panel``: the panel's steps and learning rate
    (SGD: ``sgd_lr``), the arm's optimiser, weight decay and loss."""
    optimizer, lr_name, weight_decay, loss = ARMS[arm]
    steps, panel_lr, _ = panel_schedule(p, panel)
    lr = getattr(p, lr_name) if lr_name else panel_lr
    config = FitConfig(steps=steps, lr=lr, weight_decay=weight_decay, batch_size=p.batch_size, seed=seed,
                       eval_steps=tuple(log_spaced_steps(steps, p.n_evals)), checkpoint_every=5000,
                       optimizer=optimizer, momentum=p.momentum)
    return config, loss


def data_basis(x_train: torch.Tensor, intrinsic_dim: int) -> torch.Tensor:
    """An orthonormal basis (``[input_dim, intrinsic_dim]``) of the span of the training inputs, which the
    Gaussian task's inputs fill exactly: their top right singular vectors."""
    _, _, vh = torch.linalg.svd(x_train.double(), full_matrices=False)
    return vh[:intrinsic_dim].T.to(x_train.dtype)


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Table ``measures``: one row per (arm, panel, seed, eval step, hidden layer) with :data:`COLUMNS`."""
    ctx = ctx or StudyContext()
    identity = study_identity("mechanism", p)
    data: dict = {}

    def run_one(key: dict) -> Training:
        arm, panel, seed = key["arm"], key["panel"], key["seed"]
        if panel not in data:  # data are loaded only when a run has to be computed
            data[panel] = panel_data(p, panel, ctx)
        train, test, x_rank, sizes = data[panel]
        basis = data_basis(train[0], p.gauss_intrinsic_dim) if panel == "gaussian" else None
        config, loss = arm_config(p, arm, panel, seed)
        seed_everything(seed)
        model = MLP(sizes, "relu", init="normal").to(ctx.device)
        monitors = [RankMeasures(x_rank, p.atol, p.rtol, basis), ClassifierMetrics(train, test)]

        def finish(records: dict) -> dict:
            table = records["rank_measures"].merge(records["metrics"], on="step", how="left")
            return {"measures": table.assign(arm=arm, panel=panel, seed=seed)[COLUMNS]}

        return Training(model, LOSSES[loss], train, config, monitors,
                        Checkpoint(ctx.checkpoint_dir, {**identity, **key}), f"{arm} {panel} seed {seed}", finish)

    def together(key: dict) -> tuple | None:  # an arm's seeds on one panel; SGD runs train alone
        return (key["arm"], key["panel"]) if ARMS[key["arm"]][0] == "adamw" else None

    # the cheap Gaussian runs first, and the arm the design drops first if the MNIST runs overrun (C) last
    arms = sorted(p.arms, key=lambda arm: arm == "author-decay")
    keys = [{"arm": arm, "panel": panel, "seed": seed} for panel in PANELS for arm in arms for seed in p.seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="mechanism runs",
                    together=ctx.together(together))
