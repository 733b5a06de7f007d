"""Noisy networks (Goldfeld et al. 2019): I(X;T_l) by sample propagation and the clustering of the noiseless
representation, over the training of a noisy tanh network on the 12-bit task.

One run per seed: a :class:`lrc_utils.models.NoisyMLP` (12-10-7-5-4-3-2 by default, Gaussian noise of standard
deviation ``noise_std`` added to every hidden unit) trained *with its noise* by :func:`lrc_utils.training.fit`
(cross-entropy, AdamW) on a fraction of the 4,096 patterns. At log-spaced steps a monitor records, per hidden
layer l, over all 4,096 patterns (X uniform over them):

* ``ixt``: I(X;T_l) in nats by sample propagation (:func:`lrc_utils.mi.noisy_mi`), ``stderr`` its Monte Carlo
  standard error, ``h_t`` and ``h_t_given_x`` the two entropies behind it (nats);
* ``clustering``: :func:`clustering_ratio` of the noiseless representation S_l (the network with its noise
  switched off): mean within-class over mean between-class Euclidean distance, exact over all pairs; lower is
  more clustered;

and a second monitor the noisy network's cross-entropy and accuracy on the training and the held-out patterns.

**Reproducible noise.** ``NoisyMLP.forward`` draws its noise from torch's global generator, which a resumed
run would not restore. Training therefore never calls it: the loss (:func:`noisy_cross_entropy`) draws the
noise from the run's own minibatch generator (seeded with the run's seed by ``fit``, saved in its checkpoints),
and every measurement draws from generators seeded with the run's seed and step. Two runs with the same
parameters give identical tables, interrupted or not.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .. import mi
from ..config import seed_everything
from ..data import disjoint_subsets, load_szt_12bit
from ..grid import run_grid
from ..models import ACTIVATIONS, NoisyMLP
from ..training import Checkpoint, FitConfig, fit, log_spaced_steps
from . import StudyContext, check_seeds, study_identity

TABLES = ("noisy",)
COLUMNS = ["seed", "step", "layer", "width", "ixt", "stderr", "h_t", "h_t_given_x", "clustering", "train_loss",
           "train_acc", "test_acc"]
#: The 12-bit task: 12 input bits, 2 classes.
INPUT_DIM, N_CLASSES = 12, 2
#: Bytes of one block of pairwise distances in :func:`clustering_ratio`.
CLUSTER_CHUNK_BYTES = 2**23


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
# the noisy network, with its noise from a given generator


def noisy_logits(model: NoisyMLP, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Logits ``[N, C]`` of one noisy pass of ``x`` (``[N, input_dim]``) through ``model``, the noise of every
    hidden unit drawn from ``generator`` (a CPU generator; the noise is moved to ``x``'s device). On the CPU the
    draws are those of ``model.noisy_hidden(x, generator)``: the same network, with its noise reproducible."""
    h = x
    for layer in model.layers[:-1]:
        s = model.act(layer(h))
        noise = torch.randn(s.shape, generator=generator, dtype=s.dtype).to(s.device)
        h = s + model.noise_std * noise
    return model.layers[-1](h)


def noisy_cross_entropy(model: NoisyMLP, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The training loss (a :data:`lrc_utils.training.LossFn`): mean cross-entropy (nats) of the noisy network's
    logits for ``x`` ``[N, input_dim]`` against ``y`` ``[N]``, the noise drawn from ``fit``'s generator."""
    return F.cross_entropy(noisy_logits(model, x, generator), y)


def noiseless_representations(model: NoisyMLP, x: torch.Tensor) -> list[torch.Tensor]:
    """S_l ``[N, width_l]`` per hidden layer: the activations of ``model`` with its noise switched off."""
    return [model.act(z) for z in model.preactivations(x)]


# ----------------------------------------------------------------------------------------------------
# clustering


def clustering_ratio(s: torch.Tensor, y: torch.Tensor, chunk_bytes: int = CLUSTER_CHUNK_BYTES) -> float:
    """Mean within-class over mean between-class Euclidean distance of the rows of ``s`` (``[N, d]``, labels ``y``
    ``[N]``), over all pairs of distinct rows, exactly (float64, in row blocks of ``chunk_bytes``).

    Within: the pairs (i, j), i != j, with ``y_i == y_j``; between: those with ``y_i != y_j``. Lower is more
    clustered (0: every class collapsed to a point; about 1: the classes are mixed). A representation whose
    rows are all equal has no between-class spread: NaN. Needs at least two classes and one class with two rows.
    """
    if not isinstance(s, torch.Tensor) or s.ndim != 2 or len(s) < 2:
        raise ValueError(f"s must be a tensor of shape [N >= 2, d], got {getattr(s, 'shape', None)}")
    if not isinstance(y, torch.Tensor) or y.shape != (len(s),):
        raise ValueError(f"y must hold one label per row of s ({len(s)}), got shape {getattr(y, 'shape', None)}")
    s = s.to(torch.float64)
    _, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
    n = len(s)
    n_within = int((counts * (counts - 1)).sum())
    n_between = n * n - int((counts * counts).sum())
    if n_between == 0 or n_within == 0:
        raise ValueError(f"need at least two classes and a class with two rows; class sizes {counts.tolist()}")
    onehot = F.one_hot(inverse, len(counts)).to(torch.float64)  # [N, C]
    rows = max(1, chunk_bytes // (8 * n * s.shape[1]))
    within = total = 0.0
    for i0 in range(0, n, rows):
        d = torch.cdist(s[i0:i0 + rows], s, compute_mode="donot_use_mm_for_euclid_dist")  # [r, N], d(i, i) = 0
        total += float(d.sum())
        within += float((d @ onehot).gather(1, inverse[i0:i0 + rows, None]).sum())
    between = (total - within) / n_between
    return (within / n_within) / between if between > 0 else math.nan


# ----------------------------------------------------------------------------------------------------
# monitors


@dataclass
class NoisyInformation:
    """Per hidden layer: I(X;T_l) by sample propagation over the inputs ``x`` (``[M, input_dim]``, X uniform over
    them), with its standard error and entropies (nats), and the :func:`clustering_ratio` of the noiseless S_l
    for the labels ``y`` (``[M]``). Sample propagation runs on a float64 copy of the model, its generators seeded
    with ``seed`` (the same draws at every step, so that steps differ by the network only)."""

    x: torch.Tensor
    y: torch.Tensor
    n_samples: int
    n_mc: int
    seed: int
    name: str = "information"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        exact = copy.deepcopy(model).double()
        x = self.x.to(torch.float64)
        estimates = mi.noisy_mi(exact, x, n_samples=self.n_samples, n_mc=self.n_mc, seed=self.seed)
        reps = noiseless_representations(exact, x)
        return [{"layer": layer, "width": s.shape[1], "ixt": e.ixt, "stderr": e.ixt_stderr, "h_t": e.h_t.entropy,
                 "h_t_given_x": e.h_t_given_x.entropy, "clustering": clustering_ratio(s, self.y)}
                for layer, (e, s) in enumerate(zip(estimates, reps), start=1)]


@dataclass
class NoisyMetrics:
    """The noisy network's mean cross-entropy (nats) on the training inputs and its accuracy on the training and
    test inputs, from one noisy pass of each input (noise from a generator seeded with ``seed`` and the step):
    columns ``train_loss``, ``train_acc``, ``test_acc``."""

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    seed: int
    name: str = "metrics"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        train_logits = noisy_logits(model, self.train[0], gen)
        test_logits = noisy_logits(model, self.test[0], gen)
        return [{"train_loss": float(F.cross_entropy(train_logits, self.train[1])),
                 "train_acc": float((train_logits.argmax(-1) == self.train[1]).double().mean()),
                 "test_acc": float((test_logits.argmax(-1) == self.test[1]).double().mean())}]


# ----------------------------------------------------------------------------------------------------
# the study


def split(p, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint training and test indices of the ``n`` patterns: ``round(train_fraction * n)`` for training, the
    rest for testing, drawn with ``data_seed``."""
    n_train = round(p.train_fraction * n)
    if not 0 < n_train < n:
        raise ValueError(f"train_fraction {p.train_fraction} leaves no training or no test pattern of {n}")
    train_idx, test_idx = disjoint_subsets(n, [n_train, n - n_train], p.data_seed)
    return train_idx, test_idx


def compute(p, ctx: StudyContext) -> dict:
    """Table ``noisy``: one row per (seed, eval step, hidden layer) with :data:`COLUMNS`."""
    identity = study_identity("noisy_networks", p)
    data: dict = {}

    def run_one(key: dict) -> dict:
        seed = key["seed"]
        if not data:  # loaded only when a run has to be computed
            x, y = load_szt_12bit(ctx.data_dir)
            train_idx, test_idx = split(p, len(y))
            x, y = x.to(ctx.device), y.to(ctx.device)
            data.update(x=x, y=y, train=(x[train_idx], y[train_idx]), test=(x[test_idx], y[test_idx]))
        seed_everything(seed)
        model = NoisyMLP([INPUT_DIM, *p.widths, N_CLASSES], p.activation, noise_std=p.noise_std).to(ctx.device)
        config = FitConfig(steps=p.steps, lr=p.lr, weight_decay=p.weight_decay, batch_size=p.batch_size, seed=seed,
                           eval_steps=tuple(log_spaced_steps(p.steps, p.n_evals)), checkpoint_every=2000)
        monitors = [NoisyInformation(data["x"], data["y"], p.n_samples, p.n_mc, seed),
                    NoisyMetrics(data["train"], data["test"], seed)]
        records = fit(model, noisy_cross_entropy, data["train"], config, monitors,
                      Checkpoint(ctx.checkpoint_dir, {**identity, **key}), desc=f"seed {seed}")
        table = records["information"].merge(records["metrics"], on="step", how="left")
        return {"noisy": table.assign(seed=seed)[COLUMNS]}

    keys = [{"seed": seed} for seed in p.seeds]
    return run_grid(keys, run_one, ctx.checkpoint_dir, identity, runs=ctx.runs, desc="noisy_networks runs")
