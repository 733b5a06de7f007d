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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import mi

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
