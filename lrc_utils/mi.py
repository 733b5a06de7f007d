"""Mutual-information estimators of information-plane studies. All values in nats.

Setting: ``t`` (``[N, d]``) is a layer's activity for the N distinct inputs of a data set, X uniform over
those inputs, ``y`` (``[N]``, integers) the labels.

**One result convention.** Every MI estimator returns an :class:`MIEstimate`: ``ixt`` = I(X;T),
``ity`` = I(T;Y) (None without labels), their Monte Carlo standard errors ``ixt_stderr`` / ``ity_stderr``
(None for deterministic estimators), and the two entropies ``h_t`` = H(T) and ``h_t_given_x`` = H(T|X)
with ``ixt = h_t.entropy - h_t_given_x.entropy``, each an :class:`EntropyEstimate` (``entropy``,
``stderr``). Entropy estimators (:func:`kde_entropy`, :func:`mixture_entropy`) return an
:class:`EntropyEstimate`. The public codes compared below report bits; everything here is in nats
(divide by ``log 2`` for bits; Saxe et al.'s functions return nats and their notebooks plot bits).

* :func:`binning` (Shwartz-Ziv & Tishby 2017): every unit cut into bins; for a deterministic network and
  distinct inputs, I(X;T) = H(Bin T) and I(T;Y) = H(Bin T) + H(Y) - H(Bin T, Y). ``rule="ours"``
  (equal-width bins over the layer's range), ``rule="shwartz-ziv"`` (their fixed [-1, 1] grid) and
  ``rule="saxe"`` (Saxe et al.'s ``floor(v / binsize)``).
* :func:`adaptive_binning` (entropy-based adaptive binning, Chelombiev, Houghton & O'Donnell 2019): bin
  edges at equally spaced ranks of the layer's sorted distinct values. ``rule="ours"`` and
  ``rule="chelombiev"`` (their public code's edges).
* :func:`kde` (Kolchinsky & Tracey 2017, as used by Saxe et al. 2018): T + N(0, s2 I) is a mixture of N
  Gaussians; its entropy lies between a Bhattacharyya lower and a KL upper bound, both pairwise-distance
  sums. I(X;T) = H(T) - (d/2) log(2 pi e s2); I(T;Y) = H(T) - sum_y p(y) H(T | Y=y).
* :func:`adaptive_kde`: :func:`kde` with the noise scaled to the layer's activity (``rule="ours"``), or
  Chelombiev et al.'s public KDE (``rule="chelombiev"``).
* :func:`mixture_entropy`, :func:`batched_mixture_entropy` and :func:`noisy_mi` (Goldfeld et al. 2019):
  differential entropy of Gaussian mixtures by Monte Carlo, and I(X; T_l) of a network with Gaussian noise
  in every hidden unit by sample propagation, with Monte Carlo standard errors.

The pairwise work (squared distances and log-sum-exp of Gaussian kernels) is computed in chunks so memory
stays bounded for large N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Bytes for one chunk of the pairwise-distance matrix: small enough to stay in cache (measured fastest
#: on 2 CPU cores at 4 MiB, see benchmarks/mi.py).
CHUNK_BYTES = 2**22

#: Lower edges of Chelombiev et al.'s adaptive binning (``set_up_bins`` of their public code): just below
#: -1 for tanh-like activations (their tanh and ELU), 0 for non-negative ones (ReLU, softplus).
CHELOMBIEV_LOW_TANH = -1.000001
CHELOMBIEV_LOW_NONNEGATIVE = 0.0
#: Chelombiev et al.'s KDE: standard deviation of the jitter and kernel variance (one constant, ``sig``).
CHELOMBIEV_KDE_SIG = 0.01


@dataclass(frozen=True)
class EntropyEstimate:
    """An entropy in nats (discrete, or differential for continuous T) and its Monte Carlo standard error
    (None where the estimate is deterministic: a count, a closed form or a KDE bound)."""

    entropy: float
    stderr: float | None = None


@dataclass(frozen=True)
class MIEstimate:
    """I(X;T) and I(T;Y) in nats, with standard errors and the entropies behind I(X;T).

    ``ity`` is None when no labels were given; ``*_stderr`` is None for deterministic estimators;
    ``ixt = h_t.entropy - h_t_given_x.entropy``.
    """

    ixt: float
    ity: float | None = None
    ixt_stderr: float | None = None
    ity_stderr: float | None = None
    h_t: EntropyEstimate | None = None
    h_t_given_x: EntropyEstimate | None = None


# ----------------------------------------------------------------------------------------------------
# checks and the shared pairwise helper


def _check(t: torch.Tensor, y: torch.Tensor | None) -> None:
    if not isinstance(t, torch.Tensor) or t.ndim != 2:
        raise ValueError(f"t must be a tensor of shape [N, d], got {getattr(t, 'shape', type(t).__name__)}")
    if t.shape[0] < 2 or t.shape[1] < 1:
        raise ValueError(f"need at least N = 2 samples of d >= 1 units, got N = {t.shape[0]}, d = {t.shape[1]}")
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


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_rule(rule: str, allowed: tuple[str, ...]) -> None:
    if rule not in allowed:
        raise ValueError(f"unknown rule {rule!r}; expected one of {allowed}")


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


def gaussian_entropy(d: int, var: float) -> float:
    """Differential entropy (nats) of ``N(0, var I_d)``: ``(d/2) log(2 pi e var)``."""
    return 0.5 * d * (math.log(2 * math.pi * var) + 1.0)


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
    """I(X;T) = H(T) and I(T;Y) = H(T) + H(Y) - H(T,Y) for a discrete T given as integer rows ``[N, k]``
    (one row per distinct input, so H(T|X) = 0)."""
    codes = codes - codes.min(0).values  # dense_row_ids needs non-negative codes
    t_ids = dense_row_ids(codes)
    h_t = _entropy_of_ids(t_ids)
    entropies = dict(h_t=EntropyEstimate(h_t), h_t_given_x=EntropyEstimate(0.0))
    if y is None:
        return MIEstimate(h_t, **entropies)
    y_ids = torch.unique(y.to(codes.device), return_inverse=True)[1]
    h_y = _entropy_of_ids(y_ids)
    h_ty = _entropy_of_ids(dense_row_ids(torch.stack([t_ids, y_ids], dim=1)))
    return MIEstimate(h_t, h_t + h_y - h_ty, **entropies)


def digitize_codes(t: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Codes ``[N, d]`` in ``0 .. E-1`` of the digitize step of the IDNNs code (and of Chelombiev et al.'s).

    There every value is replaced by ``edges[digitize(v, edges) - 1]``: ``v`` in ``[edges[k], edges[k+1])``
    gets code ``k``, ``v >= edges[-1]`` gets ``E - 1``, and ``v < edges[0]`` gets index ``-1``, which wraps
    round to the same code ``E - 1``. ``edges`` (``[E]``, non-decreasing) are compared as given (float32
    there) against ``t`` in float64, as NumPy compares float64 data with float32 edges.
    """
    if edges.ndim != 1 or len(edges) < 1 or bool((edges[1:] < edges[:-1]).any()):
        raise ValueError(f"edges must be a non-empty non-decreasing 1-D tensor, got {edges}")
    index = torch.bucketize(t.to(torch.float64).contiguous(), edges.to(torch.float64), right=True) - 1
    return torch.where(index < 0, len(edges) - 1, index)


def shwartz_ziv_bin_edges(n_bins: int = 29, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """The float32 edges ``[n_bins + 1]`` of Shwartz-Ziv & Tishby's binning: ``np.linspace(lo, hi, n_bins + 1)``
    computed in float64 as NumPy does (``k * step + lo``, the last edge set to ``hi``), then rounded to
    float32. Their code's default is ``linspace(-1, 1, 30)``: 30 edges, 29 bins."""
    lo, hi = value_range
    step = (hi - lo) / n_bins
    edges = torch.arange(n_bins + 1, dtype=torch.float64) * step + lo
    edges[-1] = hi
    return edges.to(torch.float32)


BINNING_RULES = ("ours", "shwartz-ziv", "saxe")


def binning(t: torch.Tensor, y: torch.Tensor | None = None, n_bins: int | None = None,
            value_range: tuple[float, float] | None = None, *, rule: str = "ours",
            binsize: float | None = None) -> MIEstimate:
    """Binning estimate of I(X;T) and I(T;Y): plug-in entropies of the distinct binned rows.

    ``rule="ours"`` (default): ``n_bins`` (default 30) equal-width bins per unit over ``value_range``
    (default: the layer's min and max), computed in float64; values outside a given range go to the end
    bins.

    ``rule="shwartz-ziv"`` reproduces the IDNNs code (``information_process.py``): edges
    ``linspace(-1, 1, 30)`` in float32 (:func:`shwartz_ziv_bin_edges`; ``n_bins`` defaults to 29, the
    bins between those 30 edges, ``value_range`` to ``(-1, 1)``) and the digitize step of
    :func:`digitize_codes`: values ``>= 1`` get a code of their own, and values ``< -1`` wrap round to that
    same code. Their code reports bits.

    ``rule="saxe"`` reproduces Saxe et al.'s ``simplebinmi.py``: code ``floor(v / binsize)`` per unit,
    computed in ``t``'s dtype (float32 for their Keras activations), an unbounded grid anchored at 0;
    ``binsize`` is required (theirs: 0.07 on the 12-bit task, 0.5 on MNIST), ``n_bins`` and
    ``value_range`` are not used. Their function returns nats; their notebooks plot bits.

    Where ours differs and why: ours adapts the grid to the layer's range with a fixed bin count, so it
    works for any activation (on the [-1, 1] grid every ReLU value above 1 shares one code, and values
    below -1 share it too), and it never merges the two tails. Saxe et al.'s fixed width agrees with ours
    when our range is put on their grid: ``value_range=(a * binsize, b * binsize)`` with ``n_bins = b - a``
    for integers ``a < b`` covering the data.
    """
    _check(t, y)
    _check_rule(rule, BINNING_RULES)
    if rule == "saxe":
        if binsize is None or n_bins is not None or value_range is not None:
            raise ValueError("rule='saxe' takes binsize (theirs: 0.07 on the 12-bit task, 0.5 on MNIST) "
                             f"and neither n_bins nor value_range; got binsize={binsize!r}, n_bins={n_bins!r}, "
                             f"value_range={value_range!r}")
        _check_positive("binsize", binsize)
        return discrete_mi(torch.floor(t / binsize).to(torch.int64), y)
    if binsize is not None:
        raise ValueError(f"binsize is used only by rule='saxe', got rule={rule!r}")
    if value_range is not None and not (len(value_range) == 2 and value_range[1] > value_range[0]):
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    if rule == "shwartz-ziv":
        n_bins = 29 if n_bins is None else n_bins
        _check_count("n_bins", n_bins)
        edges = shwartz_ziv_bin_edges(n_bins, value_range if value_range is not None else (-1.0, 1.0))
        return discrete_mi(digitize_codes(t, edges), y)
    n_bins = 30 if n_bins is None else n_bins
    _check_count("n_bins", n_bins)
    lo, hi = value_range if value_range is not None else (float(t.min()), float(t.max()))
    if not hi > lo:
        hi = lo + 1.0  # a constant layer: every value in one bin
    codes = ((t.to(torch.float64) - lo) * (n_bins / (hi - lo))).floor().clamp_(0, n_bins - 1).to(torch.int64)
    return discrete_mi(codes, y)


def adaptive_bin_edges(t: torch.Tensor, n_bins: int = 30) -> torch.Tensor:
    """Interior bin edges of our entropy-based adaptive binning: the layer's distinct values, sorted, taken
    at ranks ``k * U / n_bins`` for ``k = 1 .. n_bins - 1`` (U distinct values), float64."""
    values = torch.unique(t.to(torch.float64))
    idx = (torch.arange(1, n_bins, dtype=torch.float64) * len(values) / n_bins).long().clamp_(max=len(values) - 1)
    return torch.unique(values[idx])


def chelombiev_bin_edges(t: torch.Tensor, n_bins: int = 30, low: float = CHELOMBIEV_LOW_TANH) -> torch.Tensor:
    """Bin edges (float32) of Chelombiev et al.'s adaptive binning (``set_up_bins`` with the defaults of
    ``get_information``): ``[low, u[0], u[int(1 * (U / n))], ..., u[int((n-1) * (U / n))], u[U-1]]``, where
    ``u`` are the U sorted distinct values of ``t`` other than ``low`` itself; just ``[low]`` when U = 0."""
    values = torch.unique(t.to(torch.float64))
    values = values[values != low]
    edges = [torch.tensor([low], dtype=torch.float64)]
    if len(values) > 0:
        ranks = (torch.arange(n_bins, dtype=torch.float64) * (len(values) / n_bins)).long()  # int(k * (U / n))
        edges += [values[ranks], values[-1:]]
    return torch.cat(edges).to(torch.float32)


ADAPTIVE_BINNING_RULES = ("ours", "chelombiev")


def adaptive_binning(t: torch.Tensor, y: torch.Tensor | None = None, n_bins: int = 30, *, rule: str = "ours",
                     low: float | None = None) -> MIEstimate:
    """Entropy-based adaptive binning (Chelombiev et al. 2019): bins holding equal numbers of the layer's
    distinct observed values.

    ``rule="ours"`` (default): the ``n_bins - 1`` interior edges of :func:`adaptive_bin_edges`, float64;
    ``n_bins`` bins over all distinct values, the maximum in the top bin with its neighbours.

    ``rule="chelombiev"`` reproduces their public code (github ivansche/adaptive_estimators,
    ``information_process.py``, the defaults of ``get_information``: per-layer, per-epoch "maxentropy"
    bins): the edges of :func:`chelombiev_bin_edges`, rounded to float32, then the IDNNs digitize step
    (:func:`digitize_codes`). ``low`` is required: :data:`CHELOMBIEV_LOW_TANH` (-1.000001) for tanh-like
    activations, :data:`CHELOMBIEV_LOW_NONNEGATIVE` (0) for non-negative ones, as their code chooses by
    activation. So the zeros of a non-negative layer sit in a bin of their own ``[0, u[0])`` and the ranks
    are counted over the values above them; the maximum, appended as a last edge, sits alone in its own
    bin; ``n_bins`` (their ``num_of_bins``, 30) counts the bins from the smallest to the largest value
    other than ``low``. Values below ``low`` raise an error here (their ``np.digitize`` fails on the
    resulting non-monotonic edges). Their code reports bits.

    Where ours differs and why: ours makes exactly ``n_bins`` bins of equal counts, with no fixed lower
    edge (that needs the activation's range) and no bin for the maximum alone (an artefact of appending
    the maximum as an edge of half-open bins, not part of the equal-count idea); its edges stay float64.
    """
    _check(t, y)
    _check_rule(rule, ADAPTIVE_BINNING_RULES)
    _check_count("n_bins", n_bins)
    if rule == "ours":
        if low is not None:
            raise ValueError("low is used only by rule='chelombiev'")
        edges = adaptive_bin_edges(t, n_bins)
        return discrete_mi(torch.bucketize(t.to(torch.float64).contiguous(), edges, right=True), y)
    if low is None or isinstance(low, bool) or not isinstance(low, (int, float)) or not math.isfinite(low):
        raise ValueError(f"rule='chelombiev' needs low: {CHELOMBIEV_LOW_TANH} for tanh-like activations or "
                         f"{CHELOMBIEV_LOW_NONNEGATIVE} for non-negative ones, got {low!r}")
    if float(t.min()) < low:
        raise ValueError(f"rule='chelombiev' needs every value >= low = {low}, got a minimum of {float(t.min())}")
    return discrete_mi(digitize_codes(t, chelombiev_bin_edges(t, n_bins, float(low))), y)


# ----------------------------------------------------------------------------------------------------
# KDE bounds


def kde_entropy(t: torch.Tensor, noise_var: float, bound: str = "upper") -> EntropyEstimate:
    """Bound on the differential entropy (nats) of ``(1/N) sum_i N(t_i, noise_var I)``, ``t`` ``[N, d]``.

    ``"upper"``: Kolchinsky-Tracey KL bound ``H(T|X) - mean_i log mean_j exp(-D_ij / (2 s2))``;
    ``"lower"``: Bhattacharyya bound, the same with ``8 s2`` in place of ``2 s2``;
    ``H(T|X) = (d/2) log(2 pi e s2)``. Deterministic: ``stderr`` is None.
    """
    if bound not in ("upper", "lower"):
        raise ValueError(f"unknown bound {bound!r}; expected 'upper' or 'lower'")
    _check_positive("noise_var", noise_var)
    kernel_var = noise_var if bound == "upper" else 4.0 * noise_var
    return EntropyEstimate(gaussian_entropy(t.shape[1], noise_var) - float(log_mean_kernel(t, t, kernel_var).mean()))


def kde(t: torch.Tensor, y: torch.Tensor | None = None, noise_var: float = 1e-1,
        bound: str = "upper") -> MIEstimate:
    """KDE estimates of I(X;T) (a bound: upper or lower) and I(T;Y) (the difference of two bounds of the
    same kind, as in Saxe et al.; not itself a bound)."""
    _check(t, y)
    h_t = kde_entropy(t, noise_var, bound)
    h_given_x = gaussian_entropy(t.shape[1], noise_var)
    entropies = dict(h_t=h_t, h_t_given_x=EntropyEstimate(h_given_x))
    if y is None:
        return MIEstimate(h_t.entropy - h_given_x, **entropies)
    labels, counts = torch.unique(y, return_counts=True)
    h_given_y = sum(float(c) / len(y) * kde_entropy(t[y == label], noise_var, bound).entropy
                    for label, c in zip(labels, counts))
    return MIEstimate(h_t.entropy - h_given_x, h_t.entropy - h_given_y, **entropies)


def adaptive_noise_var(t: torch.Tensor, relative_noise: float = 0.1) -> float:
    """Noise variance scaled to the layer's activity: ``(relative_noise * (max t - min t))^2``."""
    _check_positive("relative_noise", relative_noise)
    spread = float(t.max() - t.min())
    return (relative_noise * spread) ** 2 if spread > 0 else relative_noise**2


ADAPTIVE_KDE_RULES = ("ours", "chelombiev")


def adaptive_kde(t: torch.Tensor, y: torch.Tensor | None = None, relative_noise: float | None = None,
                 bound: str = "upper", *, rule: str = "ours", jitter: bool = True, seed: int = 0) -> MIEstimate:
    """:func:`kde` with the noise adapted to the layer (``rule="ours"``), or Chelombiev et al.'s public KDE.

    ``rule="ours"`` (default): noise standard deviation = ``relative_noise`` (default 0.1) x (max - min of
    the layer's values over all units and inputs), see :func:`adaptive_noise_var`.

    ``rule="chelombiev"`` reproduces their public code (ivansche/adaptive_estimators,
    ``calc_kde_info_for_layer``), which has no adaptive rule: Gaussian jitter of standard deviation 0.01 is
    added to the activity (drawn from a ``torch.Generator`` seeded with ``seed``; ``jitter=False`` leaves it
    out), absolute values are taken, and 0.01 is the kernel *variance* of the bounds; I(T;Y) uses two label
    groups, label 0 against the rest (here: the smallest label against the rest), weighted by their
    frequencies. This equals :func:`kde` at ``noise_var=0.01`` on ``|t + jitter|`` with those two groups.
    Their code draws with an unseeded NumPy generator, adds the jitter in place in the activations' dtype
    and runs the bounds in TensorFlow in that dtype (we use float64), fails with more than two labels (it
    indexes its two-group list by label) and reports bits.

    Where ours differs and why: the paper describes the noise variance as proportional to the largest
    activity value; we scale the standard deviation with the layer's range (max - min) instead, which makes
    the estimate invariant to shifting and scaling the layer (a range is meaningful for tanh and ReLU alike)
    and names the constant, which the paper's text does not fix for us. This is our choice.
    """
    _check(t, y)
    _check_rule(rule, ADAPTIVE_KDE_RULES)
    if rule == "ours":
        return kde(t, y, adaptive_noise_var(t, 0.1 if relative_noise is None else relative_noise), bound)
    if relative_noise is not None:
        raise ValueError("relative_noise is used only by rule='ours'; rule='chelombiev' has a fixed variance 0.01")
    t = t.to(torch.float64)
    if jitter:
        gen = torch.Generator(device=t.device).manual_seed(seed)
        t = t + CHELOMBIEV_KDE_SIG * torch.randn(t.shape, generator=gen, device=t.device, dtype=torch.float64)
    groups = None if y is None else (y != y.min()).to(torch.int64)
    return kde(t.abs(), groups, noise_var=CHELOMBIEV_KDE_SIG, bound=bound)


# ----------------------------------------------------------------------------------------------------
# Monte Carlo for noisy networks


def mixture_entropy(centers: torch.Tensor, sigma: float, n_mc: int = 10_000, seed: int = 0) -> EntropyEstimate:
    """Differential entropy (nats) of ``(1/n) sum_j N(c_j, sigma^2 I)``, ``centers`` ``[n, d]``, by Monte Carlo.

    Draws ``n_mc`` samples from the mixture and averages ``-log density``; ``stderr`` is the standard error
    of that mean.
    """
    if not isinstance(centers, torch.Tensor) or centers.ndim != 2 or len(centers) < 1:
        raise ValueError(f"centers must be a tensor of shape [n >= 1, d], got {getattr(centers, 'shape', None)}")
    if not torch.isfinite(centers).all():
        raise ValueError("centers contain NaN or Inf values")
    _check_positive("sigma", sigma)
    _check_count("n_mc", n_mc, minimum=2)
    gen = torch.Generator(device=centers.device).manual_seed(seed)
    pick = torch.randint(0, len(centers), (n_mc,), generator=gen, device=centers.device)
    noise = torch.randn(n_mc, centers.shape[1], generator=gen, device=centers.device, dtype=torch.float64)
    samples = centers[pick].to(torch.float64) + sigma * noise
    neg_log = -gaussian_mixture_log_density(samples, centers, sigma)
    return EntropyEstimate(float(neg_log.mean()), float(neg_log.std() / math.sqrt(n_mc)))


#: Bytes for one block of the ``[mixtures, samples, centres]`` distances of the batched Monte Carlo
#: (:func:`batched_mixture_log_density`), and the sample rows of a block when one mixture has more centres
#: than fit. Blocks of 1-4 MiB ran fastest on one CPU thread, 16-64 MiB up to 2-3 times slower per
#: distance (``python benchmarks/mi.py --chunks``); thin blocks of a few rows against all centres are slow
#: in the matrix product, hence the fixed 256 rows.
MC_CHUNK_BYTES = 2**20
MC_BLOCK_ROWS = 256


def batched_mixture_log_density(points: torch.Tensor, centers: torch.Tensor, sigma: float,
                                chunk_bytes: int = MC_CHUNK_BYTES) -> torch.Tensor:
    """``log (1/n) sum_j N(p_bi; c_bj, sigma^2 I)`` for B mixtures at once: ``[B, k, d] x [B, n, d] -> [B, k]``.

    Mixture b has centres ``centers[b]``; row i of ``points[b]`` is evaluated under mixture b only. Float64,
    ``||p||^2 + ||c||^2 - 2 p.c`` distances, computed in blocks of at most ``chunk_bytes`` of distances:
    whole mixtures at a time where they fit, else rows of :data:`MC_BLOCK_ROWS` samples against blocks of
    centres whose log-sum-exps are combined at the end.
    """
    _check_positive("sigma", sigma)
    _check_count("chunk_bytes", chunk_bytes)
    if points.ndim != 3 or centers.ndim != 3 or points.shape[::2] != centers.shape[::2]:
        raise ValueError(f"points [B, k, d] and centers [B, n, d] must agree in B and d, "
                         f"got {tuple(points.shape)} and {tuple(centers.shape)}")
    n_mix, k, d = points.shape
    n = centers.shape[1]
    points, centers = points.to(torch.float64), centers.to(torch.float64)
    elements = max(1, chunk_bytes // 8)
    if k * n <= elements:
        mixtures, rows, cols = max(1, elements // (k * n)), k, n
    elif n * MC_BLOCK_ROWS <= elements:
        mixtures, rows, cols = 1, elements // n, n
    else:
        mixtures, rows, cols = 1, min(k, MC_BLOCK_ROWS), max(1, elements // MC_BLOCK_ROWS)
    scale = -0.5 / sigma**2
    c2 = (centers * centers).sum(-1).mul_(scale)  # [B, n]
    out = []
    for m0 in range(0, n_mix, mixtures):
        c, cc = centers[m0:m0 + mixtures], c2[m0:m0 + mixtures]
        rows_out = []
        for p in torch.split(points[m0:m0 + mixtures], rows, dim=1):
            p2 = (p * p).sum(-1, keepdim=True).mul_(scale)  # [b, rows, 1]
            parts = []
            for j0 in range(0, n, cols):
                # scale * ||p - c||^2 = scale ||p||^2 + scale ||c||^2 - 2 scale p.c  (<= 0), [b, rows, cols]
                a = torch.baddbmm(p2 + cc[:, None, j0:j0 + cols], p, c[:, j0:j0 + cols].transpose(1, 2),
                                  alpha=-2.0 * scale).clamp_(max=0.0)
                parts.append(_logsumexp_lastdim_(a))
            rows_out.append(parts[0] if len(parts) == 1 else torch.logsumexp(torch.stack(parts, -1), dim=-1))
        out.append(torch.cat(rows_out, dim=1))
    return torch.cat(out) - (math.log(n) + 0.5 * d * math.log(2 * math.pi * sigma**2))


def _logsumexp_lastdim_(a: torch.Tensor) -> torch.Tensor:
    """``log sum exp`` over the last dimension of a finite ``a``, overwriting ``a``. Terms more than 700 below
    the largest are raised to exactly 700 below it: together they change the sum by at most ``n e^-700``
    relative (nothing in float64), and exp stays off its slow path for results that underflow (about twice
    the time per element, measured), common when clusters lie many noise widths apart."""
    top = a.amax(-1, keepdim=True)
    return a.sub_(top).clamp_(min=-700.0).exp_().sum(-1).log_().add_(top[..., 0])


def batched_mixture_entropy(centers: torch.Tensor, sigma: float, n_mc: int = 2000, seed: int = 0,
                            chunk_bytes: int = MC_CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """Differential entropies (nats) of B Gaussian mixtures at once, by Monte Carlo.

    ``centers`` ``[B, n, d]`` holds mixture b's centres ``c_b1 .. c_bn``; mixture b is
    ``(1/n) sum_j N(c_bj, sigma^2 I)``. For each mixture, ``n_mc`` samples (a uniformly drawn centre plus
    Gaussian noise) and the mean of ``-log density`` (:func:`batched_mixture_log_density`), as
    :func:`mixture_entropy` does for one mixture with other draws. Returns the entropies ``[B]`` and their
    standard errors ``[B]``, float64. The samples are drawn for as many mixtures at a time as fit in
    ``chunk_bytes`` of distances, from one generator seeded with ``seed``, so the draws depend on
    ``chunk_bytes`` as well as on ``seed``.
    """
    if not isinstance(centers, torch.Tensor) or centers.ndim != 3 or min(centers.shape) < 1:
        raise ValueError(f"centers must be a tensor of shape [B >= 1, n >= 1, d >= 1], "
                         f"got {getattr(centers, 'shape', None)}")
    if not torch.isfinite(centers).all():
        raise ValueError("centers contain NaN or Inf values")
    _check_positive("sigma", sigma)
    _check_count("n_mc", n_mc, minimum=2)
    _check_count("chunk_bytes", chunk_bytes)
    n_mix, n, d = centers.shape
    device = centers.device
    centers = centers.to(torch.float64)
    mixtures = max(1, chunk_bytes // (8 * n_mc * n))
    gen = torch.Generator(device=device).manual_seed(seed)
    means, stderrs = [], []
    for c in torch.split(centers, mixtures):
        pick = torch.randint(0, n, (len(c), n_mc, 1), generator=gen, device=device).expand(-1, -1, d)
        noise = torch.randn(len(c), n_mc, d, generator=gen, device=device, dtype=torch.float64)
        samples = torch.gather(c, 1, pick).add_(noise, alpha=sigma)  # [b, n_mc, d]
        neg_log = -batched_mixture_log_density(samples, c, sigma, chunk_bytes)
        means.append(neg_log.mean(1))
        stderrs.append(neg_log.std(1) / math.sqrt(n_mc))
    return torch.cat(means), torch.cat(stderrs)


def propagated_centers(model, x: torch.Tensor, n_samples: int = 64, seed: int = 0) -> list[torch.Tensor]:
    """Sample propagation through a :class:`lrc_utils.models.NoisyMLP`: per hidden layer ``l`` the noiseless
    means ``S_l`` ``[m, n_samples, width_l]`` of ``n_samples`` noisy passes of each input (``x`` ``[m, input_dim]``).

    Row ``i`` holds the centres of T_l given X = x_i: T_l | x_i is the mixture of
    ``N(s, sigma^2 I)`` over those centres. One generator seeded with ``seed`` drives the noise.
    """
    if getattr(model, "noise_std", None) is None or not hasattr(model, "noisy_hidden"):
        raise TypeError(f"{type(model).__name__} is not a noisy network (see lrc_utils.models.NoisyMLP)")
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must have shape [m >= 2, input_dim], got {getattr(x, 'shape', None)}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or Inf values")
    _check_count("n_samples", n_samples)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    with torch.no_grad():
        means, _ = model.noisy_hidden(x.repeat_interleave(n_samples, dim=0), generator=gen)
    return [s.reshape(len(x), n_samples, -1) for s in means]


def noisy_mi(model, x: torch.Tensor, n_samples: int = 64, n_mc: int = 2000, seed: int = 0, *,
             n_mc_given_x: int | None = None, chunk_bytes: int = MC_CHUNK_BYTES) -> list[MIEstimate]:
    """I(X; T_l) for every hidden layer of a :class:`lrc_utils.models.NoisyMLP` by sample propagation
    (Goldfeld et al. 2019), one :class:`MIEstimate` per hidden layer.

    X is uniform over the rows of ``x`` (``[m, input_dim]``). Each input is propagated ``n_samples`` times
    through the noisy network (:func:`propagated_centers`); T_l given X = x_i is the Gaussian mixture over
    x_i's centres, T_l the mixture over all ``m * n_samples`` centres, both with the network's noise
    ``sigma``. Then ``I(X;T_l) = h(T_l) - (1/m) sum_i h(T_l | X = x_i)``, all entropies by
    :func:`batched_mixture_entropy`: ``h_t`` from ``n_mc`` samples (seed ``seed + 1000 l``), the m
    conditional entropies at once from ``n_mc_given_x`` samples each (seed ``seed + 1000 l + 1``), their
    mean in ``h_t_given_x``. Standard errors: ``h_t_given_x.stderr = sqrt(sum_i se_i^2) / m``,
    ``ixt_stderr = sqrt(h_t.stderr^2 + h_t_given_x.stderr^2)`` (independent draws). ``ity`` is None.

    ``n_mc_given_x`` defaults to ``min(n_mc, max(2, ceil(4 n_mc / m)))``: the conditional term then gets
    about ``4 n_mc`` samples in all, so its standard error is about half that of h(T_l) when the per-sample
    spreads are alike (adding about 12% to ``ixt_stderr``), for ``4 n_mc n_samples`` distances instead of
    the ``m n_mc n_samples`` of ``n_mc`` samples per input (the default before batching; pass
    ``n_mc_given_x=n_mc`` for it). Each conditional estimate is unbiased for any sample count; more samples
    only lower its standard error. The cost is then dominated by h(T_l): ``n_mc x m n_samples`` distances.
    """
    _check_count("n_mc", n_mc, minimum=2)
    centers = propagated_centers(model, x, n_samples, seed)
    sigma, m = model.noise_std, len(x)
    if n_mc_given_x is None:
        n_mc_given_x = min(n_mc, max(2, math.ceil(4 * n_mc / m)))
    _check_count("n_mc_given_x", n_mc_given_x, minimum=2)
    out = []
    for layer, s in enumerate(centers):
        h, se = batched_mixture_entropy(s.reshape(1, m * n_samples, -1), sigma, n_mc, seed + 1000 * layer, chunk_bytes)
        h_t = EntropyEstimate(float(h[0]), float(se[0]))
        h_i, se_i = batched_mixture_entropy(s, sigma, n_mc_given_x, seed + 1000 * layer + 1, chunk_bytes)
        h_cond = EntropyEstimate(float(h_i.mean()), float(se_i.square().sum().sqrt()) / m)
        out.append(MIEstimate(h_t.entropy - h_cond.entropy, ixt_stderr=math.hypot(h_t.stderr, h_cond.stderr),
                              h_t=h_t, h_t_given_x=h_cond))
    return out


def gaussian_channel_mi(cov: torch.Tensor, noise_var: float) -> float:
    """Closed form I(X; T + N(0, noise_var I)) for Gaussian T = AX with covariance ``cov`` = A S A^T (``[d, d]``):
    ``1/2 log det(I + cov / noise_var)`` nats (float64)."""
    _check_positive("noise_var", noise_var)
    cov = cov.to(torch.float64)
    return 0.5 * float(torch.logdet(torch.eye(cov.shape[0], dtype=torch.float64) + cov / noise_var))
