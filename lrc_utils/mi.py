"""Mutual-information estimators of information-plane studies. All values in nats.

Setting: ``t`` (``[N, d]``) is a layer's activity for the N distinct inputs of a data set, X uniform over
those inputs, ``y`` (``[N]``, integers) the labels. Each estimator returns an :class:`MIEstimate` with
``ixt`` = I(X;T) and ``ity`` = I(T;Y) (None without labels).

* :func:`binning` (Shwartz-Ziv & Tishby 2017): every unit cut into equal-width bins; for a deterministic
  network and distinct inputs, I(X;T) = H(Bin T) and I(T;Y) = H(Bin T) + H(Y) - H(Bin T, Y).
* :func:`adaptive_binning` (entropy-based adaptive binning, Chelombiev, Houghton & O'Donnell 2019): the
  same counting with bin edges at equally spaced ranks of the layer's sorted distinct values (the rule of
  their public code), so that bins hold equal numbers of distinct observed values.
* :func:`kde` (Kolchinsky & Tracey 2017, as used by Saxe et al. 2018): T + N(0, s2 I) is a mixture of N
  Gaussians; its entropy lies between a Bhattacharyya lower and a KL upper bound, both pairwise-distance
  sums. I(X;T) = H(T) - (d/2) log(2 pi e s2); I(T;Y) = H(T) - sum_y p(y) H(T | Y=y).
* :func:`adaptive_kde`: :func:`kde` with the noise scaled to the layer's activity (rule below).
* :func:`mixture_entropy` and :func:`noisy_mi` (Goldfeld et al. 2019): differential entropy of a Gaussian
  mixture by Monte Carlo, and I(X; T_l) of a network with Gaussian noise in every hidden unit by sample
  propagation, with Monte Carlo standard errors.

The pairwise work (squared distances and log-sum-exp of Gaussian kernels) lives in one helper,
:func:`log_mean_kernel`, computed in chunks so memory stays bounded for large N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Bytes for one chunk of the pairwise-distance matrix: small enough to stay in cache (measured fastest
#: on 2 CPU cores at 4 MiB, see benchmarks/mi.py).
CHUNK_BYTES = 2**22


@dataclass(frozen=True)
class MIEstimate:
    """I(X;T) and I(T;Y) in nats (``ity`` is None when no labels were given)."""

    ixt: float
    ity: float | None = None


# ----------------------------------------------------------------------------------------------------
# checks and the shared pairwise helper


def _check(t: torch.Tensor, y: torch.Tensor | None) -> None:
    if not isinstance(t, torch.Tensor) or t.ndim != 2:
        raise ValueError(f"t must be a tensor of shape [N, d], got {getattr(t, 'shape', type(t).__name__)}")
    if t.shape[0] < 2:
        raise ValueError(f"need at least N = 2 samples, got N = {t.shape[0]}")
    if not t.is_floating_point():
        raise TypeError(f"t must be floating point, got {t.dtype}")
    if not torch.isfinite(t).all():
        raise ValueError("t contains NaN or Inf values")
    if y is not None:
        if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(y) != len(t):
            raise ValueError(f"y must be a 1-D tensor with one label per row of t ({len(t)}), "
                             f"got shape {getattr(y, 'shape', None)}")
        if y.is_floating_point() or y.is_complex():
            raise TypeError(f"y must hold integer labels, got {y.dtype}")


def _check_variance(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def log_mean_kernel(points: torch.Tensor, centers: torch.Tensor, var: float) -> torch.Tensor:
    """``log (1/N) sum_j exp(-||p_i - c_j||^2 / (2 var))`` for each point: ``[M, d] x [N, d] -> [M]``.

    Computed in float64 in row chunks, with ``||p||^2 + ||c||^2 - 2 p.c`` distances and a stable
    log-sum-exp, so the ``[M, N]`` matrix never exists whole.
    """
    points, centers = points.to(torch.float64), centers.to(torch.float64)
    c2 = (centers * centers).sum(1)
    rows = max(1, CHUNK_BYTES // (8 * max(1, len(centers))))
    out = []
    for chunk in torch.split(points, rows):
        d2 = torch.addmm((chunk * chunk).sum(1, keepdim=True) + c2, chunk, centers.T, alpha=-2.0).clamp_(min=0.0)
        out.append(torch.logsumexp(d2.mul_(-0.5 / var), dim=1))
    return torch.cat(out) - math.log(len(centers))


def gaussian_mixture_log_density(points: torch.Tensor, centers: torch.Tensor, sigma: float) -> torch.Tensor:
    """``log (1/N) sum_j N(p_i; c_j, sigma^2 I)`` for each point ``[M, d]``: ``[M]``, float64."""
    d = points.shape[1]
    return log_mean_kernel(points, centers, sigma**2) - 0.5 * d * math.log(2 * math.pi * sigma**2)


# ----------------------------------------------------------------------------------------------------
# discrete estimators


def dense_row_ids(codes: torch.Tensor) -> torch.Tensor:
    """Ids ``[N]`` in ``0 .. U-1`` with equal ids exactly for equal rows of a non-negative integer ``[N, k]``.

    Rows are read as mixed-radix numbers column by column, and the running key is compressed back to
    dense ids (a 1-D ``unique``) before it could overflow int64: exact, and much faster than
    ``unique(dim=0)``.
    """
    ids = torch.zeros(len(codes), dtype=torch.int64, device=codes.device)
    n_ids = 1
    for column in codes.T.to(torch.int64):
        base = int(column.max()) + 1
        if n_ids * base >= 2**62:
            ids = torch.unique(ids, return_inverse=True)[1]
            n_ids = int(ids.max()) + 1
        ids = ids * base + column
        n_ids *= base
    return torch.unique(ids, return_inverse=True)[1]


def _entropy_of_ids(ids: torch.Tensor) -> float:
    p = torch.bincount(ids).to(torch.float64) / len(ids)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def discrete_mi(codes: torch.Tensor, y: torch.Tensor | None = None) -> MIEstimate:
    """I(X;T) = H(T) and I(T;Y) = H(T) + H(Y) - H(T,Y) for a discrete T given as integer rows ``[N, k]``."""
    t_ids = dense_row_ids(codes)
    h_t = _entropy_of_ids(t_ids)
    if y is None:
        return MIEstimate(h_t)
    y_ids = torch.unique(y.to(codes.device), return_inverse=True)[1]
    h_y = _entropy_of_ids(y_ids)
    h_ty = _entropy_of_ids(dense_row_ids(torch.stack([t_ids, y_ids], dim=1)))
    return MIEstimate(h_t, h_t + h_y - h_ty)


def binning(t: torch.Tensor, y: torch.Tensor | None = None, n_bins: int = 30,
            value_range: tuple[float, float] | None = None) -> MIEstimate:
    """Equal-width binning of every unit into ``n_bins`` bins over ``value_range`` (default: the layer's
    min and max). Values outside a given range go to the end bins."""
    _check(t, y)
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    lo, hi = value_range if value_range is not None else (float(t.min()), float(t.max()))
    if not hi > lo:
        if value_range is not None:
            raise ValueError(f"value_range must have low < high, got {value_range}")
        hi = lo + 1.0  # a constant layer: every value in one bin
    codes = ((t.to(torch.float64) - lo) * (n_bins / (hi - lo))).floor().clamp_(0, n_bins - 1).to(torch.int64)
    return discrete_mi(codes, y)


def adaptive_bin_edges(t: torch.Tensor, n_bins: int = 30) -> torch.Tensor:
    """Interior bin edges of entropy-based adaptive binning: the layer's distinct values, sorted, taken
    at ranks ``k * U / n_bins`` for ``k = 1 .. n_bins - 1`` (U distinct values)."""
    values = torch.unique(t.to(torch.float64))
    idx = (torch.arange(1, n_bins, dtype=torch.float64) * len(values) / n_bins).long().clamp_(max=len(values) - 1)
    return torch.unique(values[idx])


def adaptive_binning(t: torch.Tensor, y: torch.Tensor | None = None, n_bins: int = 30) -> MIEstimate:
    """Entropy-based adaptive binning (Chelombiev et al. 2019): see :func:`adaptive_bin_edges`."""
    _check(t, y)
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    edges = adaptive_bin_edges(t, n_bins)
    codes = torch.bucketize(t.to(torch.float64).contiguous(), edges, right=True)
    return discrete_mi(codes, y)


# ----------------------------------------------------------------------------------------------------
# KDE bounds


def kde_entropy(t: torch.Tensor, noise_var: float, bound: str = "upper") -> float:
    """Bound on the differential entropy (nats) of ``(1/N) sum_i N(t_i, noise_var I)``.

    ``"upper"``: Kolchinsky-Tracey KL bound ``H(T|X) - mean_i log mean_j exp(-D_ij / (2 s2))``;
    ``"lower"``: Bhattacharyya bound, the same with ``8 s2`` in place of ``2 s2``;
    ``H(T|X) = (d/2) log(2 pi e s2)``.
    """
    if bound not in ("upper", "lower"):
        raise ValueError(f"unknown bound {bound!r}; expected 'upper' or 'lower'")
    _check_variance("noise_var", noise_var)
    d = t.shape[1]
    kernel_var = noise_var if bound == "upper" else 4.0 * noise_var
    h_given_x = 0.5 * d * (math.log(2 * math.pi * noise_var) + 1.0)
    return h_given_x - float(log_mean_kernel(t, t, kernel_var).mean())


def kde(t: torch.Tensor, y: torch.Tensor | None = None, noise_var: float = 1e-1,
        bound: str = "upper") -> MIEstimate:
    """KDE estimates of I(X;T) (a bound: upper or lower) and I(T;Y) (the difference of two bounds of the
    same kind, as in Saxe et al.; not itself a bound)."""
    _check(t, y)
    h_t = kde_entropy(t, noise_var, bound)
    h_given_x = 0.5 * t.shape[1] * (math.log(2 * math.pi * noise_var) + 1.0)
    if y is None:
        return MIEstimate(h_t - h_given_x)
    labels, counts = torch.unique(y, return_counts=True)
    h_given_y = sum(float(c) / len(y) * kde_entropy(t[y == label], noise_var, bound)
                    for label, c in zip(labels, counts))
    return MIEstimate(h_t - h_given_x, h_t - h_given_y)


def adaptive_noise_var(t: torch.Tensor, relative_noise: float = 0.1) -> float:
    """Noise variance scaled to the layer's activity: ``(relative_noise * (max t - min t))^2``."""
    _check_variance("relative_noise", relative_noise)
    spread = float(t.max() - t.min())
    return (relative_noise * spread) ** 2 if spread > 0 else relative_noise**2


def adaptive_kde(t: torch.Tensor, y: torch.Tensor | None = None, relative_noise: float = 0.1,
                 bound: str = "upper") -> MIEstimate:
    """:func:`kde` with the noise standard deviation a fixed fraction of the layer's activity range.

    Chelombiev et al. (2019) scale the KDE noise to each layer's activity so that saturating and
    non-saturating layers are measured at the same relative resolution; their public code keeps a fixed
    variance, and the exact constant is not given there. We implement the rule stated in their paper's
    spirit and name the constant: standard deviation = ``relative_noise`` x (max - min of the layer's
    values over all units and inputs), see :func:`adaptive_noise_var`. This is our choice.
    """
    _check(t, y)
    return kde(t, y, adaptive_noise_var(t, relative_noise), bound)


# ----------------------------------------------------------------------------------------------------
# Monte Carlo for noisy networks


def mixture_entropy(centers: torch.Tensor, sigma: float, n_mc: int = 10_000,
                    seed: int = 0) -> tuple[float, float]:
    """Differential entropy (nats) of ``(1/n) sum_j N(c_j, sigma^2 I)`` by Monte Carlo.

    Draws ``n_mc`` samples from the mixture and averages ``-log density``. Returns the estimate and its
    standard error.
    """
    if not isinstance(centers, torch.Tensor) or centers.ndim != 2 or len(centers) < 1:
        raise ValueError(f"centers must be a tensor of shape [n >= 1, d], got {getattr(centers, 'shape', None)}")
    if not torch.isfinite(centers).all():
        raise ValueError("centers contain NaN or Inf values")
    _check_variance("sigma", sigma)
    if n_mc < 2:
        raise ValueError(f"n_mc must be >= 2, got {n_mc}")
    gen = torch.Generator(device=centers.device).manual_seed(seed)
    pick = torch.randint(0, len(centers), (n_mc,), generator=gen, device=centers.device)
    noise = torch.randn(n_mc, centers.shape[1], generator=gen, device=centers.device, dtype=torch.float64)
    samples = centers[pick].to(torch.float64) + sigma * noise
    neg_log = -gaussian_mixture_log_density(samples, centers, sigma)
    return float(neg_log.mean()), float(neg_log.std() / math.sqrt(n_mc))


@dataclass(frozen=True)
class NoisyMIEstimate:
    """I(X; T_l) in nats for one hidden layer of a noisy network, with its Monte Carlo standard error."""

    ixt: float
    stderr: float
    h_t: float
    h_t_given_x: float


def noisy_mi(model, x: torch.Tensor, n_samples: int = 64, n_mc: int = 2000, seed: int = 0) -> list[NoisyMIEstimate]:
    """I(X; T_l) for every hidden layer of a :class:`lrc_utils.models.NoisyMLP` by sample propagation.

    X is uniform over the rows of ``x`` (``[m, input_dim]``). Each input is propagated ``n_samples`` times
    through the noisy network; the noiseless means ``S_l`` of those samples are the centres of Gaussian
    mixtures with the network's noise ``sigma``: T_l given X = x_i is the mixture of x_i's centres, T_l the
    mixture of all ``m * n_samples`` centres. Then ``I(X;T_l) = h(T_l) - (1/m) sum_i h(T_l | X = x_i)``,
    each entropy by :func:`mixture_entropy` with ``n_mc`` samples.
    """
    sigma = getattr(model, "noise_std", None)
    if sigma is None or not hasattr(model, "noisy_hidden"):
        raise TypeError(f"{type(model).__name__} is not a noisy network (see lrc_utils.models.NoisyMLP)")
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must have shape [m >= 2, input_dim], got {getattr(x, 'shape', None)}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or Inf values")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    m = len(x)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    with torch.no_grad():
        means, _ = model.noisy_hidden(x.repeat_interleave(n_samples, dim=0), generator=gen)
    out = []
    for layer, s in enumerate(means):
        h_t, se_t = mixture_entropy(s, sigma, n_mc, seed=seed + 1000 * layer)
        conditional = [mixture_entropy(block, sigma, n_mc, seed=seed + 1000 * layer + 1 + i)
                       for i, block in enumerate(s.split(n_samples))]
        h_cond = sum(h for h, _ in conditional) / m
        se = math.sqrt(se_t**2 + sum(e**2 for _, e in conditional) / m**2)
        out.append(NoisyMIEstimate(h_t - h_cond, se, h_t, h_cond))
    return out


def gaussian_channel_mi(cov: torch.Tensor, noise_var: float) -> float:
    """Closed form I(X; T + N(0, noise_var I)) for Gaussian T = AX with covariance ``cov`` = A S A^T (``[d, d]``):
    ``1/2 log det(I + cov / noise_var)`` nats (float64)."""
    _check_variance("noise_var", noise_var)
    cov = cov.to(torch.float64)
    return 0.5 * float(torch.logdet(torch.eye(cov.shape[0], dtype=torch.float64) + cov / noise_var))
