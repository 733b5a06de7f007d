"""Figure 1: local rank of every hidden layer over training, on Gaussian data and on MNIST.

One run per (panel, seed): an MLP (ReLU, weights N(0, 1/fan_in), zero biases) trained with AdamW (decoupled
weight decay on weight matrices) from :func:`lrc_utils.training.fit`, recording at log-spaced steps the local
rank of each hidden layer at held-out points and the training loss and accuracies. Each finished run is its
own file; an interrupted run resumes from its checkpoint (every 5,000 steps). A panel's seeds train together as one
batched ensemble (:func:`lrc_utils.grid.run_grid`), each run's numbers those of the run alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....config import seed_everything
from ....grid import Training, run_grid
from ....models import MLP
from ....training import (
    Checkpoint,
    ClassifierMetrics,
    FitConfig,
    LocalRankMonitor,
    log_spaced_steps,
)
from ...params import param
from .. import StudyContext, check_seeds, study_identity
from ..panels import PANELS, PanelParams, panel_cost, panel_data, panel_loss, panel_schedule


@dataclass(kw_only=True)
class Params(PanelParams):
    """Figure 1's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seeds: list = param([0, 1, 2], "one training run per seed and panel (initialisation and minibatches)")

    def check(self) -> None:
        check(self)


TABLES = ("local_rank",)
COLUMNS = ["panel", "seed", "step", "layer", "local_rank", "train_loss", "train_acc", "test_acc"]


def check(p) -> None:
    check_seeds(p.seeds)


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Table ``local_rank``: one row per (panel, seed, eval step, hidden layer) with :data:`COLUMNS`."""
    ctx = ctx or StudyContext()
    identity = study_identity("figure1", p)
    data: dict = {}

    def run_one(key: dict) -> Training:
        panel, seed = key["panel"], key["seed"]
        if panel not in data:  # data are loaded only when a run has to be computed
            data[panel] = panel_data(p, panel, ctx)
        train, test, x_rank, sizes = data[panel]
        steps, lr, wd = panel_schedule(p, panel)
        seed_everything(seed)
        model = MLP(sizes, "relu", init="normal").to(ctx.device)
        config = FitConfig(steps=steps, lr=lr, weight_decay=wd, batch_size=p.batch_size, seed=seed,
                           eval_steps=tuple(log_spaced_steps(steps, p.n_evals)), checkpoint_every=5000)
        monitors = [LocalRankMonitor(x_rank, p.atol), ClassifierMetrics(train, test)]

        def finish(records: dict) -> dict:
            table = records["local_rank"].merge(records["metrics"], on="step", how="left")
            return {"local_rank": table.assign(panel=panel, seed=seed)[COLUMNS]}

        return Training(model, panel_loss(p), train, config, monitors,
                        Checkpoint(ctx.checkpoint_dir, {**identity, **key}), f"{panel} seed {seed}", finish)

    keys = [{"panel": panel, "seed": seed} for panel in PANELS for seed in p.seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="figure1 runs",
                    together=ctx.together(lambda key: key["panel"]),
                    cost=lambda key: panel_cost(p, key["panel"]))
