"""Information planes: I(X;T_l) and I(T_l;Y) of every hidden layer over training, by the estimators of the
studies that disagreed about "compression", each with the rule its claim was made with.

X is uniform over the rows of the input set ``x`` (``[N, input_dim]``, distinct inputs, e.g. all 4,096
patterns of the 12-bit task); T_l is hidden layer l's activity ``activation(W_l T_{l-1} + b_l)``
(``[N, width_l]``, float32 as trained); Y the label. All values in nats.

The estimators (:data:`ESTIMATORS`, name -> what it computes):

* ``binning_sz``: Shwartz-Ziv & Tishby's binning, ``rule="shwartz-ziv"`` of :func:`lrc_utils.mi.binning`
  (30 edges on [-1, 1]). Meaningful for activations with values in [-1, 1] (tanh); for others every value
  above 1 shares one code.
* ``binning``: Saxe et al.'s fixed-width binning, ``rule="saxe"`` with bin width :data:`SAXE_BINSIZE`
  (theirs on the 12-bit task): an unbounded grid, the same for every activation and every epoch.
* ``kde_upper``: the Kolchinsky-Tracey upper bound of :func:`lrc_utils.mi.kde` with Saxe et al.'s noise
  variance :data:`SAXE_KDE_NOISE_VAR` for the 12-bit task; I(T;Y) from the same bound, as they do.
* ``adaptive_binning``: Chelombiev et al.'s public code, ``rule="chelombiev"`` of
  :func:`lrc_utils.mi.adaptive_binning`, with the lower edge their code picks by activation
  (:func:`chelombiev_low`).
* ``adaptive_kde``: our adaptive KDE, ``rule="ours"`` of :func:`lrc_utils.mi.adaptive_kde` (noise standard
  deviation 0.1 x the layer's range). Chelombiev et al.'s paper scales the noise to the largest activity;
  their public code has no adaptive rule (a fixed variance 0.01 on ``|t + jitter|``, ``rule="chelombiev"``),
  so the claims made with their adaptive KDE are measured with ours, which follows the paper's idea.

For noisy networks (Goldfeld et al.): :class:`NoisyInformation` and :class:`NoisyMetrics` record I(X;T_l) by
sample propagation and :func:`clustering_ratio` how clustered each layer's noiseless representations are.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from . import mi
from .models import noiseless_representations, noisy_logits

#: Saxe et al.'s bin width and KDE noise variance on the 12-bit task (``simplebinmi.py``, ``kde.py``).
SAXE_BINSIZE = 0.07
SAXE_KDE_NOISE_VAR = 1e-3

#: Activations whose values lie in [-1, inf) (tanh-like lower end) or [0, inf): Chelombiev et al.'s lower
#: edge. Their code chooses -1.000001 for tanh and 0 for the others; ELU (values >= -1) would fail with 0,
#: so we give it the tanh edge (our choice).
CHELOMBIEV_LOWER_EDGE = {
    "tanh": mi.CHELOMBIEV_LOW_TANH,
    "elu": mi.CHELOMBIEV_LOW_TANH,
    "relu": mi.CHELOMBIEV_LOW_NONNEGATIVE,
    "softplus": mi.CHELOMBIEV_LOW_NONNEGATIVE,
    "sigmoid": mi.CHELOMBIEV_LOW_NONNEGATIVE,
}


def chelombiev_low(activation: str) -> float:
    """The fixed lower bin edge of Chelombiev et al.'s adaptive binning for ``activation``."""
    if activation not in CHELOMBIEV_LOWER_EDGE:
        raise ValueError(f"adaptive binning needs the activation's lower end, known for "
                         f"{sorted(CHELOMBIEV_LOWER_EDGE)}; "
                         f"got {activation!r}")
    return CHELOMBIEV_LOWER_EDGE[activation]


Estimator = Callable[[torch.Tensor, torch.Tensor, str], mi.MIEstimate]

#: name -> ``estimate(t [N, d], y [N], activation) -> MIEstimate`` (nats).
ESTIMATORS: dict[str, Estimator] = {
    "binning_sz": lambda t, y, act: mi.binning(t, y, rule="shwartz-ziv"),
    "binning": lambda t, y, act: mi.binning(t, y, rule="saxe", binsize=SAXE_BINSIZE),
    "kde_upper": lambda t, y, act: mi.kde(t, y, noise_var=SAXE_KDE_NOISE_VAR, bound="upper"),
    "adaptive_binning": lambda t, y, act: mi.adaptive_binning(t, y, rule="chelombiev", low=chelombiev_low(act)),
    "adaptive_kde": lambda t, y, act: mi.adaptive_kde(t, y, rule="ours"),
}


def check_estimators(names: Sequence[str], activations: Sequence[str] = ()) -> None:
    """Clear errors for unknown estimator names, and for adaptive binning of an activation without a known
    lower end, before any work."""
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"estimators must be a non-empty list of distinct names from {list(ESTIMATORS)}, "
                         f"got {list(names)}")
    if "adaptive_binning" in names:
        for act in activations:
            chelombiev_low(act)


@torch.no_grad()
def hidden_activity(model, x: torch.Tensor) -> list[torch.Tensor]:
    """T_l = activation(pre-activation) of every hidden layer of an :class:`lrc_utils.models.MLP`, each
    ``[N, width_l]``, for inputs ``x`` ``[N, input_dim]``."""
    return [model.act(z) for z in model.preactivations(x)]


def layer_information(model, x: torch.Tensor, y: torch.Tensor, activation: str,
                      estimators: Sequence[str]) -> list[dict[str, object]]:
    """Rows ``{layer (from 1), estimator, ixt, ity}`` (nats): each estimator on each hidden layer's activity
    at ``x`` (``[N, input_dim]``) with labels ``y`` (``[N]``)."""
    rows = []
    for layer, t in enumerate(hidden_activity(model, x), start=1):
        for name in estimators:
            est = ESTIMATORS[name](t, y, activation)
            rows.append({"layer": layer, "estimator": name, "ixt": float(est.ixt), "ity": float(est.ity)})
    return rows


@dataclass
class InformationMonitor:
    """A :func:`lrc_utils.training.fit` monitor: :func:`layer_information` at every evaluation step, table
    ``information`` with columns ``step, layer, estimator, ixt, ity``."""

    x: torch.Tensor
    y: torch.Tensor
    activation: str
    estimators: Sequence[str]
    name: str = "information"

    def __call__(self, model, step, batch_loss):
        return layer_information(model, self.x, self.y, self.activation, self.estimators)


#: Bytes of one block of pairwise distances in :func:`clustering_ratio`.
CLUSTER_CHUNK_BYTES = 2**23


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
