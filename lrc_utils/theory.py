"""Statements that tie local rank to depth, to active units, to information and to weight decay: the
computations behind the theory chapter's numerical checks. The statements are ours, not the paper's (whose
theorems are not available); each function here computes one side of one of them, so that a check compares
it with an independent computation.

Conventions: ``model`` is an :class:`lrc_utils.models.MLP` (``chain_layers()``, ``preactivations``,
``act_derivative``); ``x`` is ``[N, input_dim]``; layers count from 1 (hidden layers only); ranks are counts of
singular values, information in nats. "Exact" ranks are computed in float64 and count singular values above
``EXACT_RTOL`` x the largest (rounding, not the tolerance ``atol`` of the local rank, decides them).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .local_rank import input_jacobians, singular_values

#: Relative threshold of an "exact" rank in float64: far above rounding (about 1e-16 x the largest singular
#: value, times a few matrix products), far below any tolerance a local rank uses.
EXACT_RTOL = 1e-10


def float64_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A float64 copy of ``model`` in eval mode (the original is left as it is)."""
    return copy.deepcopy(model).double().eval()


def count_above(singular: torch.Tensor, tol: torch.Tensor | float) -> torch.Tensor:
    """Number of singular values strictly above ``tol`` per row of ``singular`` ``[N, k]`` (``tol`` a float or
    ``[N]``): int64 ``[N]``."""
    tol = torch.as_tensor(tol, dtype=singular.dtype)
    return (singular > (tol[:, None] if tol.ndim else tol)).sum(-1)


def exact_ranks(singular: torch.Tensor) -> torch.Tensor:
    """The float64 rank of each row of ``singular`` ``[N, k]``: the count above ``EXACT_RTOL`` x its largest."""
    return count_above(singular, EXACT_RTOL * singular[:, 0])


# ----------------------------------------------------------------------------------------------------
# depth


@torch.no_grad()
def layer_gains(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """``||W_{l+1} diag(f'(z_l(x)))||_2`` for l = 1 .. L-1 (the step from hidden layer l's Jacobian to layer
    l+1's, J_{l+1} = W_{l+1} diag(f'(z_l)) J_l), one ``[N]`` float64 tensor per step."""
    weights = [layer.weight.detach().double() for layer in model.chain_layers()]
    zs = model.preactivations(x)
    return [torch.linalg.matrix_norm(w[None] * model.act_derivative(z).double()[:, None, :], ord=2)
            for w, z in zip(weights[1:], zs[:-1])]


def depth_check(model: torch.nn.Module, x: torch.Tensor, atol: float) -> pd.DataFrame:
    """Per input and hidden layer l >= 2: ranks of J_l and J_{l-1}, exact and at ``atol``, and the tolerance
    bound.

    Columns ``input, layer, exact_rank, exact_rank_prev, rank, rank_prev, gain, rank_prev_at_scaled_tol``:
    ``gain`` is ``g = ||W_l diag(f'(z_{l-1}))||_2`` and ``rank_prev_at_scaled_tol`` counts the singular values of
    J_{l-1} above ``atol / g``. The statements: ``exact_rank <= exact_rank_prev`` (rank(AB) <= rank(B)) and
    ``rank <= rank_prev_at_scaled_tol`` (s_i(AB) <= ||A||_2 s_i(B)); ``rank <= rank_prev`` need not hold when
    ``g > 1``. Computed on a float64 copy of ``model``.
    """
    m64 = float64_copy(model)
    x64 = x.detach().double()
    spectra = singular_values(m64, x64)
    gains = layer_gains(m64, x64)
    frames = []
    for layer in range(2, len(spectra) + 1):
        s, s_prev, g = spectra[layer - 1], spectra[layer - 2], gains[layer - 2]
        frames.append(pd.DataFrame({
            "input": np.arange(len(x)), "layer": layer,
            "exact_rank": exact_ranks(s).numpy(), "exact_rank_prev": exact_ranks(s_prev).numpy(),
            "rank": count_above(s, atol).numpy(), "rank_prev": count_above(s_prev, atol).numpy(),
            "gain": g.numpy(), "rank_prev_at_scaled_tol": count_above(s_prev, atol / g).numpy()}))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------------
# ReLU networks: the product of weights restricted to the active units


def restricted_product(weights: list[torch.Tensor], active: list[torch.Tensor]) -> torch.Tensor:
    """``W_l[:, A_{l-1}] W_{l-1}[A_{l-1}, A_{l-2}] ... W_1[A_1, :]`` for one input: the product of the weight
    matrices ``weights`` (``W_1 .. W_l``) restricted to the active units ``active`` (boolean masks of layers
    1 .. l-1). For a ReLU network this is the input Jacobian of pre-activation l, written without any
    derivative."""
    product = weights[0]
    for w, mask in zip(weights[1:], active):
        product = w[:, mask] @ product[mask]
    return product


def relu_check(model: torch.nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """Per input and hidden layer of a ReLU MLP: the exact rank of J_l, the bound
    ``min(input_dim, width_l, active_1, ..., active_{l-1})`` (``active_k``: units of layer k with a positive
    pre-activation at the input), and the largest entry of ``|J_l - restricted_product|`` with J_l from
    ``torch.func`` (:func:`lrc_utils.local_rank.input_jacobians`). Columns ``input, layer, exact_rank,
    min_active (NaN for layer 1, which has no units before it), bound, product_error``. Float64 copy of
    ``model``."""
    if getattr(model, "activation", None) != "relu":
        raise ValueError(f"relu_check needs a ReLU MLP, got activation {getattr(model, 'activation', None)!r}")
    m64 = float64_copy(model)
    x64 = x.detach().double()
    weights = [layer.weight.detach() for layer in m64.chain_layers()]
    with torch.no_grad():
        active = [z > 0 for z in m64.preactivations(x64)]
    jacobians = [j.detach() for j in input_jacobians(m64, x64)]
    rows = []
    for i in range(len(x)):
        for layer in range(1, len(weights) + 1):
            masks = [a[i] for a in active[: layer - 1]]
            product = restricted_product(weights[:layer], masks)
            counts = [int(m.sum()) for m in masks]
            s = torch.linalg.svdvals(jacobians[layer - 1][i])[None]
            rows.append({"input": i, "layer": layer, "exact_rank": int(exact_ranks(s)[0]),
                         "min_active": min(counts) if counts else math.nan,
                         "bound": min([x.shape[1], weights[layer - 1].shape[0], *counts]),
                         "product_error": float((jacobians[layer - 1][i] - product).abs().max())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------
# the bridge to information


def local_information(singular: torch.Tensor, sigma: float, delta: float = 1.0) -> torch.Tensor:
    """I_x(sigma) = 1/2 sum_i log(1 + delta^2 s_i^2 / sigma^2) (nats) of the linearised channel
    U -> J_x U + sigma Z at each input, U ~ N(0, delta^2 I), Z ~ N(0, I): ``singular`` ``[N, k]`` -> ``[N]``."""
    return 0.5 * torch.log1p((delta * singular / sigma) ** 2).sum(-1)


def local_information_rate(singular: torch.Tensor, sigma: float, delta: float = 1.0) -> torch.Tensor:
    """dI_x / d log(1/sigma) = sum_i delta^2 s_i^2 / (delta^2 s_i^2 + sigma^2): a smooth count of the singular
    values above sigma / delta (each term is 1/2 exactly at s_i = sigma / delta), bounded by the rank and tending
    to it as sigma -> 0. ``singular`` ``[N, k]`` -> ``[N]``."""
    r2 = (delta * singular) ** 2
    return (r2 / (r2 + sigma**2)).sum(-1)


def information_slope(sigmas, information) -> float:
    """Least-squares slope of ``information`` (nats) against log(1/sigma): nats per nat of 1/sigma."""
    log_inv = -np.log(np.asarray(sigmas, dtype=float))
    if len(log_inv) < 2:
        raise ValueError(f"a slope needs at least two noise levels, got {len(log_inv)}")
    return float(np.polyfit(log_inv, np.asarray(information, dtype=float), 1)[0])


def rank_r_matrix(rows: int, cols: int, rank: int, generator: torch.Generator) -> torch.Tensor:
    """A float64 ``[rows, cols]`` matrix of rank ``rank`` whose nonzero singular values are all 1 (orthonormal
    factors from QR of Gaussian matrices)."""
    if not 1 <= rank <= min(rows, cols):
        raise ValueError(f"rank must lie in [1, {min(rows, cols)}], got {rank}")
    u, _ = torch.linalg.qr(torch.randn(rows, rank, generator=generator, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, rank, generator=generator, dtype=torch.float64))
    return u @ v.T


# ----------------------------------------------------------------------------------------------------
# weight decay


def decay_per_step(lr: float, weight_decay: float) -> float:
    """-log(1 - lr x weight_decay): the fall of log(singular value) per step of a weight direction that only
    decoupled weight decay moves (AdamW multiplies every weight by 1 - lr x weight_decay each step)."""
    if not 0 < lr * weight_decay < 1:
        raise ValueError(f"need 0 < lr x weight_decay < 1, got lr={lr}, weight_decay={weight_decay}")
    return -math.log1p(-lr * weight_decay)


def predicted_crossing_step(value: float, from_step: int, tol: float, lr: float, weight_decay: float) -> float:
    """The step at which a singular value ``value`` at ``from_step``, moved by weight decay alone, falls to
    ``tol``: ``from_step + log(value / tol) / decay_per_step`` (``from_step`` itself if already at or below)."""
    return from_step + max(0.0, math.log(value / tol)) / decay_per_step(lr, weight_decay)


@dataclass
class WeightSpectrumMonitor:
    """A :func:`lrc_utils.training.fit` monitor: the singular values of every chain layer's weight matrix
    (float64), table ``spectrum`` with columns ``step, layer, index, singular_value`` (index 0 the largest)."""

    name: str = "spectrum"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        rows = []
        for layer, linear in enumerate(model.chain_layers(), start=1):
            s = torch.linalg.svdvals(linear.weight.detach().double()).cpu()
            rows += [{"layer": layer, "index": i, "singular_value": float(v)} for i, v in enumerate(s)]
        return rows


# ----------------------------------------------------------------------------------------------------
# margins and weight norms

#: Activations that are 1-Lipschitz (their derivative lies in [0, 1]).
LIPSCHITZ_ACTIVATIONS = frozenset({"relu", "tanh", "sigmoid", "softplus", "elu", "identity"})


@torch.no_grad()
def margin_separation(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """For an MLP with 1-Lipschitz activations: ``lipschitz`` = sqrt(2) x the product of the spectral norms of
    its weight matrices bounds the Lipschitz constant of every logit difference f_a - f_b, so two inputs with
    different predicted classes and margins m, m' (top logit minus the runner-up) lie at least
    (m + m') / lipschitz apart. Returns ``lipschitz``, ``pairs`` (input pairs with different predictions) and
    ``max_ratio`` = the largest (m + m') / (lipschitz x distance) over them, which the statement puts at <= 1
    (NaN if no pair). Refuses activations that are not 1-Lipschitz (GELU) and noisy networks (their forward pass
    is random)."""
    activation = getattr(model, "activation", None)
    if activation not in LIPSCHITZ_ACTIVATIONS or getattr(model, "noise_std", None) is not None:
        raise ValueError(f"margin_separation needs a noiseless MLP with an activation among "
                         f"{sorted(LIPSCHITZ_ACTIVATIONS)}, got {type(model).__name__} with {activation!r}")
    weights = [layer.weight.detach().double() for layer in model.layers]
    lipschitz = math.sqrt(2) * math.prod(float(torch.linalg.matrix_norm(w, ord=2)) for w in weights)
    logits = float64_copy(model)(x.double())
    top2 = logits.topk(2, dim=1)
    margin, predicted = top2.values[:, 0] - top2.values[:, 1], top2.indices[:, 0]
    different = predicted[:, None] != predicted[None, :]
    ratio = (margin[:, None] + margin[None, :]) / (lipschitz * torch.cdist(x.double(), x.double()))
    pairs = int(different.triu(1).sum())
    return {"lipschitz": lipschitz, "pairs": pairs, "max_ratio": float(ratio[different].max()) if pairs else math.nan}


def nearest_neighbour_distance(t: torch.Tensor, quantile: float = 0.9) -> float:
    """The ``quantile`` of the distances from each sample of ``t`` (``[N, d]``) to its nearest other sample,
    over the samples whose nearest neighbour is not at the same point (coincident samples, e.g. inputs mapped
    to one point by dead units, do not count). A plug-in estimate from these samples resolves noise levels above
    it; below it the samples' own spacing, not the map, decides the estimate."""
    d = torch.cdist(t.double(), t.double())
    d.fill_diagonal_(float("inf"))
    nearest = d.min(1).values
    nearest = nearest[nearest > EXACT_RTOL * float(nearest.max().clamp(min=1.0))]
    return float(nearest.quantile(quantile)) if len(nearest) else 0.0
