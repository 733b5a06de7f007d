"""Beyond MLPs: the question of Figure 1 (does the local rank of every layer fall in the terminal phase?) asked of
networks the paper does not train, under the design fixed before the runs (``book/beyond_mlps_design.md``).

One run per (network, dataset, seed), through :func:`lrc_utils.training.fit` with Figure 1's recipe (AdamW,
weight decay on weight tensors, batch 64, 1,000 training images), recording at log-spaced steps the local rank of
each named pre-activation (:data:`lrc_utils.models.SmallCNN.MEASURED`, :data:`~lrc_utils.models.SmallResNet.MEASURED`)
at held-out images, by :func:`lrc_utils.local_rank` with ``layers=`` (forward hooks, exact), with the training
loss and accuracies. Each finished run is its own file; a run in progress resumes from its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....config import seed_everything
from ....data import disjoint_subsets, load_fashion_mnist, load_mnist
from ....grid import run_grid
from ....models import IMAGE_NETWORKS
from ....training import (
    Checkpoint,
    ClassifierMetrics,
    FitConfig,
    LocalRankMonitor,
    cross_entropy_loss,
    fit,
    log_spaced_steps,
)
from ...params import RunParams, param
from .. import StudyContext, check_seeds, study_identity

LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


@dataclass(kw_only=True)
class Params(RunParams):
    """The chapter's parameters: networks, data sets, the training recipe and the measurement."""

    seeds: list = param([0, 1, 2], "one training run per seed, network and data set")
    networks: list = param(list(IMAGE_NETWORKS), "networks (lrc_utils.models.IMAGE_NETWORKS)")
    datasets: list = param(list(LOADERS), "data sets, 1x28x28 images")
    data_seed: int = param(0, "seed of the training, test and rank subsets (the same for every run)", low=0)
    n_train: int = param(1000, "training images, from the training split", low=1)
    n_test: int = param(1000, "test images, from the test split", low=1)
    n_rank_points: int = param(32, "held-out images (test split) at which local rank is averaged", low=1)
    n_evals: int = param(20, "number of log-spaced evaluation steps", low=1)
    steps: int = param(30000, "AdamW steps", low=1)
    lr: float = param(0.001, "AdamW learning rate", low=0)
    weight_decay: float = param(0.1, "AdamW weight decay on weight tensors (Figure 1's recipe)", low=0)
    batch_size: int = param(64, "minibatch size", low=1)
    atol: float = param(0.01, "absolute tolerance: count singular values of the Jacobian above it", low=0)

    def check(self) -> None:
        check(self)


TABLES = ("local_rank",)
COLUMNS = ["network", "dataset", "seed", "step", "layer", "local_rank", "train_loss", "train_acc", "test_acc"]


def check(p) -> None:
    check_seeds(p.seeds)
    for name, given, known in (("networks", p.networks, IMAGE_NETWORKS), ("datasets", p.datasets, LOADERS)):
        if not given or len(set(given)) != len(given) or not set(given) <= set(known):
            raise ValueError(f"{name} must be distinct names among {list(known)}, got {given}")


def load_data(p, dataset: str, ctx: StudyContext):
    """(train, test, rank points) of one data set on ``ctx.device``: ``n_train`` images of its training split,
    ``n_test`` and ``n_rank_points`` disjoint images of its test split (flattened, standardised)."""
    train_split, test_split = LOADERS[dataset]("train", ctx.data_dir), LOADERS[dataset]("test", ctx.data_dir)
    (train_idx,) = disjoint_subsets(len(train_split.labels), [p.n_train], p.data_seed)
    test_idx, rank_idx = disjoint_subsets(len(test_split.labels), [p.n_test, p.n_rank_points], p.data_seed)
    x_train, x_test = train_split.flat_normalised(), test_split.flat_normalised()
    train = (x_train[train_idx].to(ctx.device), train_split.labels[train_idx].to(ctx.device))
    test = (x_test[test_idx].to(ctx.device), test_split.labels[test_idx].to(ctx.device))
    return train, test, x_test[rank_idx].to(ctx.device)


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Table ``local_rank``: one row per (network, dataset, seed, eval step, measured layer) with :data:`COLUMNS`."""
    ctx = ctx or StudyContext()
    identity = study_identity("beyond_mlps", p)
    data: dict = {}

    def run_one(key: dict) -> dict:
        network, dataset, seed = key["network"], key["dataset"], key["seed"]
        if dataset not in data:  # data are loaded only when a run has to be computed
            data[dataset] = load_data(p, dataset, ctx)
        train, test, x_rank = data[dataset]
        seed_everything(seed)
        model = IMAGE_NETWORKS[network]().to(ctx.device)
        config = FitConfig(steps=p.steps, lr=p.lr, weight_decay=p.weight_decay, batch_size=p.batch_size, seed=seed,
                           eval_steps=tuple(log_spaced_steps(p.steps, p.n_evals)), checkpoint_every=5000)
        records = fit(model, cross_entropy_loss, train, config,
                      [LocalRankMonitor(x_rank, p.atol, layers=model.MEASURED), ClassifierMetrics(train, test)],
                      Checkpoint(ctx.checkpoint_dir, {**identity, **key}), desc=f"{network} {dataset} seed {seed}")
        table = records["local_rank"].merge(records["metrics"], on="step", how="left")
        return {"local_rank": table.assign(network=network, dataset=dataset, seed=seed)[COLUMNS]}

    keys = [{"network": n, "dataset": d, "seed": s} for d in p.datasets for n in p.networks for s in p.seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="beyond-MLP runs")
