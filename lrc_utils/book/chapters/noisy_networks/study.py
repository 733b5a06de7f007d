"""Noisy networks (Goldfeld et al. 2019): I(X;T_l) by sample propagation and the clustering of the noiseless
representation, over the training of a noisy tanh network on the 12-bit task.

One run per seed: a :class:`lrc_utils.models.NoisyMLP` (12-10-7-5-4-3-2 by default, Gaussian noise of standard
deviation ``noise_std`` added to every hidden unit) trained *with its noise* as :func:`lrc_utils.training.fit`
trains it (cross-entropy, AdamW) on a fraction of the 4,096 patterns; on the CPU the seeds train together, up to
``LRC_ENSEMBLE_SIZE`` in one ensemble (:func:`lrc_utils.grid.train_runs`; each run's numbers are those of the run
alone). At log-spaced steps a monitor records, per hidden layer l, over all 4,096 patterns (X uniform over them):

* ``ixt``: I(X;T_l) in nats by sample propagation (:func:`lrc_utils.mi.noisy_mi`), ``stderr`` its Monte Carlo
  standard error, ``h_t`` and ``h_t_given_x`` the two entropies behind it (nats);
* ``clustering``: :func:`lrc_utils.planes.clustering_ratio` of the noiseless representation S_l (the network
  with its noise switched off): mean within-class over mean between-class Euclidean distance, exact over all
  pairs; lower is more clustered;

and a second monitor the noisy network's cross-entropy and accuracy on the training and the held-out patterns.

**Reproducible noise.** ``NoisyMLP.forward`` draws its noise from torch's global generator, which a resumed
run would not restore. Training therefore never calls it: the loss (:func:`lrc_utils.models.noisy_cross_entropy`)
draws the noise from the run's own minibatch generator (seeded with the run's seed by ``fit``, saved in its
checkpoints), and every measurement draws from generators seeded with the run's seed and step. Two runs with the same
parameters give identical tables, interrupted or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ....config import seed_everything
from ....data import szt_12bit_split
from ....grid import Training, run_grid
from ....models import ACTIVATIONS, NoisyMLP, noisy_cross_entropy
from ....planes import NoisyInformation, NoisyMetrics
from ....training import Checkpoint, FitConfig, log_spaced_steps
from ...params import RunParams, param
from .. import StudyContext, check_seeds, study_identity


@dataclass(kw_only=True)
class Params(RunParams):
    """The noisy-network chapter's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seeds: list = param([0, 1, 2], "one training run per seed (initialisation, minibatches, training noise, Monte "
                        "Carlo draws)")
    data_seed: int = param(0, "seed of the split of the 4,096 patterns into training and test patterns (the same for "
                           "every run)")
    train_fraction: float = param(0.8, "fraction of the patterns used for training (ours); the rest are the test "
                                  "patterns")
    widths: list = param([10, 7, 5, 4, 3], "hidden widths: the 12-bit task's network 12-10-7-5-4-3-2")
    activation: str = param("tanh", "activation of every hidden layer (a name of lrc_utils.models.ACTIVATIONS)")
    noise_std: float = param(0.1, "sigma: standard deviation of the Gaussian noise added to every hidden unit (ours)")
    steps: int = param(50000, "AdamW steps")
    lr: float = param(0.01, "learning rate")
    batch_size: int = param(64, "minibatch size (drawn with replacement)")
    weight_decay: float = param(0.0, "AdamW weight decay on weight matrices")
    n_evals: int = param(50, "number of log-spaced steps at which I(X;T_l) and the clustering ratio are measured")
    n_samples: int = param(8, "samples per pattern for sample propagation")
    n_mc: int = param(2000, "Monte Carlo samples for the entropy h(T_l) (the conditional entropies get about 4 n_mc / "
                      "4,096 each)")

    def check(self) -> None:
        check(self)


TABLES = ("noisy",)
COLUMNS = ["seed", "step", "layer", "width", "ixt", "stderr", "h_t", "h_t_given_x", "clustering", "train_loss",
           "train_acc", "test_acc"]
#: The 12-bit task: 12 input bits, 2 classes.
INPUT_DIM, N_CLASSES = 12, 2
#: Bytes of one block of pairwise distances in :func:`lrc_utils.planes.clustering_ratio`.


def check(p) -> None:
    check_seeds(p.seeds)
    if not (isinstance(p.noise_std, (int, float)) and math.isfinite(p.noise_std) and p.noise_std > 0):
        raise ValueError(f"noise_std must be a finite number > 0, got {p.noise_std!r}")
    if not (isinstance(p.train_fraction, (int, float)) and 0 < p.train_fraction < 1):
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {p.train_fraction!r}")
    if p.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {p.activation!r}")
    if not p.widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in p.widths):
        raise ValueError(f"widths must be a non-empty list of positive integers, got {p.widths!r}")
    for name in ("steps", "n_evals", "batch_size", "n_samples", "data_seed"):
        value, minimum = getattr(p, name), 0 if name == "data_seed" else 1
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if p.n_mc < 2:
        raise ValueError(f"n_mc must be >= 2, got {p.n_mc!r}")
    if not (math.isfinite(p.lr) and p.lr > 0) or not (math.isfinite(p.weight_decay) and p.weight_decay >= 0):
        raise ValueError(f"need lr > 0 and weight_decay >= 0, got lr={p.lr!r}, weight_decay={p.weight_decay!r}")


# ----------------------------------------------------------------------------------------------------
# the study


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Table ``noisy``: one row per (seed, eval step, hidden layer) with :data:`COLUMNS`."""
    ctx = ctx or StudyContext()
    identity = study_identity("noisy_networks", p)
    data: dict = {}

    def run_one(key: dict) -> Training:
        seed = key["seed"]
        if not data:  # loaded only when a run has to be computed
            x, y, train_idx, test_idx = szt_12bit_split(p.train_fraction, p.data_seed, ctx.data_dir)
            x, y = x.to(ctx.device), y.to(ctx.device)
            data.update(x=x, y=y, train=(x[train_idx], y[train_idx]), test=(x[test_idx], y[test_idx]))
        seed_everything(seed)
        model = NoisyMLP([INPUT_DIM, *p.widths, N_CLASSES], p.activation, noise_std=p.noise_std).to(ctx.device)
        config = FitConfig(steps=p.steps, lr=p.lr, weight_decay=p.weight_decay, batch_size=p.batch_size, seed=seed,
                           eval_steps=tuple(log_spaced_steps(p.steps, p.n_evals)), checkpoint_every=2000)
        monitors = [NoisyInformation(data["x"], data["y"], p.n_samples, p.n_mc, seed),
                    NoisyMetrics(data["train"], data["test"], seed)]

        def finish(records: dict) -> dict:
            table = records["information"].merge(records["metrics"], on="step", how="left")
            return {"noisy": table.assign(seed=seed)[COLUMNS]}

        return Training(model, noisy_cross_entropy, data["train"], config, monitors,
                        Checkpoint(ctx.checkpoint_dir, {**identity, **key}), f"seed {seed}", finish)

    keys = [{"seed": seed} for seed in p.seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="noisy_networks runs",
                    together=ctx.together(lambda key: "seeds"))
