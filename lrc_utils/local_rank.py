"""Local rank: the numerical rank of the input Jacobian of each hidden pre-activation.

For hidden layer l and input x, ``J_l(x) = d preactivation_l(x) / dx`` has shape ``[width_l, input_dim]``.
Its rank at tolerance ``tol = max(atol, rtol * sigma_max)`` is the number of singular values strictly
greater than ``tol`` (the rule of ``torch.linalg.matrix_rank``). The local rank of layer l is the mean of
that count over the inputs.

Two paths compute the same numbers:

* **General** (any ``nn.Module`` with ``preactivations``): per-sample Jacobians with ``torch.func``
  (``vmap`` of ``jacfwd`` or ``jacrev``, whichever needs fewer passes), all layers at once.
* **Fast** (:class:`lrc_utils.MLP`, :class:`lrc_utils.vib.VIB`: the subclasses of
  :class:`lrc_utils.models.ActivationChain`, whose contract it relies on): the chain rule written out,
  ``J_l(x) = W_l diag(f'(z_{l-1}(x))) ... diag(f'(z_1(x))) W_1``, for all layers in one pass. Three facts
  cut the work. (1) ``W_1 = L Q^T`` with ``Q`` of orthonormal columns (a QR of ``W_1^T``, once per
  call), so ``J_l(x) = A_l(x) Q^T`` and ``A_l(x)`` (``[width_l, min(width_1, input_dim)]``) has the
  same singular values: the 784-wide Jacobian of MNIST is never formed. (2) The first layer's Jacobian
  is ``W_1`` for every input, so it is counted once. (3) Units of layer 1 with ``f'(z_1) = 0`` exactly
  (inactive ReLU units) drop out of every later Jacobian: with ``S`` the ``s`` units where it is
  nonzero, ``J_l = M_l D_S W_{1,S}`` and ``W_{1,S} W_{1,S}^T = C C^T`` (a float64 Cholesky of the ``s x s``
  block of ``W_1 W_1^T``), so ``A_l = M_l D_S C`` (``[width_l, s]``) has the singular values of ``J_l``.
  For a ReLU network about half the units are inactive, which halves the chain products and shrinks
  every Gram matrix and factorisation to ``s x s``. Inputs are sorted by ``s`` and each chunk is padded
  to its largest ``s`` with exactly zero columns, which add only zero singular values.

The reduced Jacobians are formed in the model's dtype (float32 products for a float32 model, as
before this kernel was made faster); everything after them is float64.

Counting. Singular values of ``A`` above ``tol`` are the eigenvalues of the Gram matrix ``G = A A^T``
(or ``A^T A``, the smaller) above ``tol^2``. With ``rtol = 0`` the count is the number of positive
eigenvalues of ``G - tol^2 I``: all of them when its Cholesky factorisation succeeds (the common case
once inactive units are dropped), otherwise as many as Sylvester's law of inertia reads off an
``LDL^T`` factorisation (Bunch-Kaufman, ``torch.linalg.ldl_factor_ex``). Both are far cheaper than an
SVD. With ``rtol > 0`` the largest singular value is needed too, and the count comes from
``eigvalsh(G)``. The Gram matrix is formed in float64, so squaring does not cost precision at the
threshold even for float32 models; a threshold too close to zero for the Gram matrix to resolve
(``atol = 0``, say) is counted from singular values (``torch.linalg.svdvals``) instead, matrix by matrix.
(A float32 Gram matrix would be faster but is not safe at the paper's ``atol = 0.01``: for the
benchmark MLP its rigorous error bound ``gamma_k trace(G)`` (``gamma_k ~ k * 6e-8``) exceeded ``tol^2``
4x to 60x for every input, so no input could be certified, and its counts differed from the float64
ones on 2 of 256 inputs in layer 4.)
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from .models import ActivationChain

METHODS = ("auto", "inertia", "eigh", "svd")
#: Memory budget (bytes) for one chunk's per-layer factors; sets the default chunk size.
CHUNK_BYTES = 2**28
#: The fast path's budget (bytes) for one chunk's float64 reduced Jacobians of one layer, per CPU thread:
#: small enough for a chunk to work in cache (measured best near 2**23 on a 2-core AMD EPYC).
FAST_CHUNK_BYTES = 2**23
#: The fast path splits the inputs into at least this many chunks (so that small batches still keep several CPU
#: threads busy). The chunks, and so every rounding inside them, do not depend on the number of threads: the
#: ranks are the same on any machine.
FAST_MIN_CHUNKS = 8
#: Safety factor of the float64 Gram matrix's resolution (see count_singular_values_above).
GRAM_RESOLUTION = 1e3


# ----------------------------------------------------------------------------------------------------
# input checks


def _check_inputs(model: nn.Module, x: torch.Tensor, atol: float = 0.0, rtol: float = 0.0, method: str = "auto",
                  chunk_size: int | None = None) -> None:
    if not callable(getattr(model, "preactivations", None)):
        raise TypeError(
            f"{type(model).__name__} has no preactivations(x) method; name the layers to measure instead: "
            "local_rank(model, x, layers=[names from model.named_modules()])"
        )
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape [N, input_dim], got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"x must have shape [N, input_dim], got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (N = 0); local rank needs at least one input")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    input_dim = getattr(model, "input_dim", None)
    if input_dim is not None and x.shape[1] != input_dim:
        raise ValueError(f"x has {x.shape[1]} features per input but the model expects input_dim = {input_dim}")
    _check_arguments(model, x, atol, rtol, method, chunk_size)


def _check_arguments(model: nn.Module, x: torch.Tensor, atol: float, rtol: float, method: str = "auto",
                     chunk_size: int | None = None) -> None:
    """The checks every path shares: finite inputs on the model's device and dtype, tolerances, method, chunks."""
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or Inf values")
    param = next(model.parameters(), None)
    if param is not None and (param.device != x.device or param.dtype != x.dtype):
        raise ValueError(
            f"x is {x.dtype} on {x.device} but the model is {param.dtype} on {param.device}; move one to the other"
        )
    for name, value in (("atol", atol), ("rtol", rtol)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise TypeError(f"chunk_size must be an int (inputs per chunk), got {chunk_size!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")


def _default_chunk(widths: list[int], inner: int) -> int:
    return max(1, CHUNK_BYTES // (24 * max(widths) * max(inner, 1)))


# ----------------------------------------------------------------------------------------------------
# Jacobian factors: per layer a tensor [n, width_l, k] with the singular values of J_l(x)


@contextlib.contextmanager
def quiet_forward_ad():
    """Silence the FutureWarning torch itself raises (``torch.jit.script`` is deprecated) the first time
    forward-mode AD loads its decompositions; it concerns torch internals, not the caller."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
        yield


def input_jacobians(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Input Jacobians of every hidden pre-activation by ``torch.func`` (the general path).

    Args:
        model: any module with ``preactivations(x) -> list of [N, width_l]``; evaluated per sample, so
            it must not mix samples (batch norm in training mode would).
        x: ``[N, input_dim]``.
    Returns:
        one tensor ``[N, width_l, input_dim]`` per hidden layer.
    """
    from torch.func import jacfwd, jacrev, vmap

    def per_sample(xi: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(p[0] for p in model.preactivations(xi[None]))

    n_outputs = sum(p.shape[1] for p in model.preactivations(x[:1]))
    jac = jacfwd if x.shape[1] <= n_outputs else jacrev
    with quiet_forward_ad():  # clone: on a slice of a larger tensor, jacfwd allocates tangents for all of it
        return list(vmap(jac(per_sample))(x.clone()))


def has_fast_path(model: nn.Module) -> bool:
    """Whether ``model`` claims the fast path's contract: it is an :class:`lrc_utils.models.ActivationChain` (as
    :class:`lrc_utils.MLP` and :class:`lrc_utils.vib.VIB` are). Methods named ``chain_layers`` and
    ``act_derivative`` on another model do not make it one: a residual network may have both and is no chain."""
    return isinstance(model, ActivationChain)


def _first_factor(w1: torch.Tensor) -> torch.Tensor:
    """``F`` ``[width_1, r]``, ``r = min(width_1, input_dim)``, with ``W_1 = F Q^T`` for orthonormal ``Q``."""
    if w1.shape[1] > w1.shape[0]:
        _, r = torch.linalg.qr(w1.T)  # W_1^T = Q R, so W_1 = R^T Q^T
        return r.T.contiguous()
    return w1


def _chain_factors(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Reduced Jacobians ``A_l(x)`` of a chain model, one ``[n, width_l, r]`` tensor per pre-activation,
    with ``J_l(x) = A_l(x) Q^T`` for a fixed ``Q`` of orthonormal columns, ``r = min(width_1, input_dim)``.
    Layer 1's factor is returned as ``[1, width_1, r]`` (the same for every input). Used by
    :func:`singular_values`; :func:`local_rank` uses the reduced form of :func:`_chain_ranks`."""
    weights = [layer.weight.detach() for layer in model.chain_layers()]
    factor = _first_factor(weights[0])
    n = x.shape[0]
    with torch.no_grad():
        zs = model.preactivations(x)
    factors = [factor[None]]
    a = factor[:, None, :].expand(-1, n, -1)  # layout [width, n, r]: one GEMM per layer
    for w, z in zip(weights[1:], zs[:-1]):
        scaled = a * model.act_derivative(z).T[:, :, None]
        a = (w @ scaled.reshape(scaled.shape[0], -1)).reshape(w.shape[0], n, -1)
        factors.append(a.permute(1, 0, 2))
    return factors


def _active_start(gram1: torch.Tensor, d1: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Transposed start factors without the inactive units of layer 1 (fact (3) of the module docstring).

    Args:
        gram1: ``W_1 W_1^T``, float64 ``[width_1, width_1]``.
        d1: ``f'(z_1)`` of a chunk, ``[m, width_1]``.
    Returns:
        ``T`` ``[m, s, width_1]`` in ``dtype`` with ``T^T T = D_1 W_1 W_1^T D_1`` (``s`` the chunk's largest
        number of units with ``f' != 0``; rows beyond an input's own count are exactly zero), and that
        count, int64 ``[m]``. Raises ``torch.linalg.LinAlgError`` when a block of ``W_1 W_1^T`` on the
        active units is not numerically positive definite (rows of ``W_1`` nearly dependent).
    """
    m = d1.shape[0]
    active = d1 != 0
    n_active = active.sum(1)
    s = int(n_active.max())
    units = torch.argsort((~active).to(torch.uint8), dim=1, stable=True)[:, :s]  # active units first
    valid = torch.arange(s, device=d1.device) < n_active[:, None]  # [m, s]
    block = gram1[units[:, :, None], units[:, None, :]]  # [m, s, s]
    eye = torch.eye(s, dtype=block.dtype, device=block.device)
    block = torch.where(valid[:, :, None] & valid[:, None, :], block, eye)  # padding: an identity block
    chol, info = torch.linalg.cholesky_ex(block)
    if bool(info.any()):
        raise torch.linalg.LinAlgError("W_1 restricted to the active units is numerically rank deficient")
    rows = chol * (torch.gather(d1, 1, units).to(chol.dtype) * valid)[:, :, None]  # D_S C, padding rows 0
    start = torch.zeros(m, s, d1.shape[1], dtype=dtype, device=d1.device)
    return start.scatter_(2, units[:, None, :].expand(m, s, s), rows.mT.to(dtype)), n_active


def _chunk_ranks(model: nn.Module, x: torch.Tensor, first: torch.Tensor, gram1: torch.Tensor, atol: float,
                 rtol: float, method: str) -> torch.Tensor:
    """Ranks of layers 2 onwards for one chunk ``x`` ``[m, input_dim]`` of a chain model: int64 ``[m, n_layers - 1]``.

    Works on transposed reduced Jacobians ``T_l = A_l^T`` ``[m, s, width_l]``, so that each layer is one
    GEMM over the whole chunk: ``T_l = (T_{l-1} * f'(z_{l-1})) @ W_l^T``.
    """
    weights = [layer.weight.detach() for layer in model.chain_layers()]
    with torch.no_grad():
        zs = model.preactivations(x)
    ds = [model.act_derivative(z) for z in zs[:-1]]
    t, n_rows = None, None
    if int((ds[0] != 0).sum(1).max()) < first.shape[1]:
        with contextlib.suppress(torch.linalg.LinAlgError):  # then the full factor below: same ranks
            t, n_rows = _active_start(gram1, ds[0], x.dtype)
    if t is None:
        t = first.T[None] * ds[0][:, None, :]  # [m, r, width_1]
    # Cholesky proves full rank at a third of the cost of LDL^T, but is wasted where the rank is lower. Try it
    # where a full rank is likely: with inactive units dropped (a generic W_2 D_S C has full rank s), and after
    # a layer of full rank. Without dropping (tanh, gelu, ...), layer 2 was mostly below full rank at atol 0.01.
    counts, full = [], None if n_rows is not None else torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for j, w in enumerate(weights[1:]):
        if j:
            t = t * ds[j][:, None, :]
        t = t @ w.T
        c = _count_above(t, atol, rtol, method, n_rows, cholesky=full)
        size = min(t.shape[1], t.shape[2])
        full = c >= (size if n_rows is None else torch.clamp(n_rows, max=size))
        counts.append(c.cpu())
    return torch.stack(counts, dim=1)


@contextlib.contextmanager
def _single_threaded_workers(n: int):
    """A pool of ``n`` Python threads, each running torch with one intra-op thread (restored on exit)."""
    outer = torch.get_num_threads()
    pool = ThreadPoolExecutor(n, initializer=torch.set_num_threads, initargs=(1,))
    try:
        yield pool
    finally:
        pool.shutdown()
        torch.set_num_threads(outer)


def _chain_ranks(model: nn.Module, x: torch.Tensor, atol: float, rtol: float, method: str,
                 chunk_size: int, workers: int = 1) -> torch.Tensor:
    """Per-input ranks of every layer of a chain model (the fast path): int64 ``[N, n_layers]`` on the CPU.

    Inputs are sorted by their number of active units in layer 1, so that a chunk pads little. With
    ``workers > 1`` (CPU only), chunks run concurrently on that many Python threads, each running torch
    single-threaded (torch releases the GIL inside its kernels). The batched factorisations of small
    matrices are a loop of LAPACK calls, and multi-threaded LAPACK spends them waiting at OpenMP barriers;
    on a shared 2-core machine a batched Cholesky factorisation ran up to 30x slower with 2 threads than
    with 1. Threads that each own whole chunks keep both cores busy without barriers.
    """
    layers = model.chain_layers()
    first = _first_factor(layers[0].weight.detach())
    ranks = torch.empty(x.shape[0], len(layers), dtype=torch.int64)
    ranks[:, 0] = count_singular_values_above(first[None], atol, rtol, method).cpu()  # J_1 = W_1 for all x
    if len(layers) == 1:
        return ranks
    w1 = layers[0].weight.detach().to(torch.float64)
    gram1 = w1 @ w1.T
    with torch.no_grad():
        n_active = torch.cat([(model.act_derivative(layers[0](c)) != 0).sum(1) for c in torch.split(x, 4096)])
    order = torch.argsort(n_active, stable=True)
    chunks = torch.split(order, chunk_size)

    def run(idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return _chunk_ranks(model, x[idx], first, gram1, atol, rtol, method)

    if workers > 1:
        with _single_threaded_workers(workers) as pool:
            results = list(pool.map(run, chunks))
    else:
        results = [run(idx) for idx in chunks]
    ranks[order.cpu(), 1:] = torch.cat(results)
    return ranks


def _factors(model: nn.Module, x: torch.Tensor, fast: bool) -> list[torch.Tensor]:
    if fast:
        return _chain_factors(model, x)
    return [j.detach() for j in input_jacobians(model, x)]


# ----------------------------------------------------------------------------------------------------
# counting


def gram(a: torch.Tensor) -> torch.Tensor:
    """``A A^T`` or ``A^T A`` (the smaller) of a batch ``[n, m, k]``, in float64: ``[n, min(m,k), min(m,k)]``."""
    a = a.to(torch.float64)
    return a @ a.mT if a.shape[-2] <= a.shape[-1] else a.mT @ a


def count_positive_eigenvalues(sym: torch.Tensor) -> torch.Tensor:
    """Number of strictly positive eigenvalues of each symmetric matrix in ``[n, k, k]``, by inertia.

    Sylvester's law of inertia: ``S = P L D L^T P^T`` has as many positive eigenvalues as the
    block-diagonal ``D`` of a Bunch-Kaufman factorisation, whose blocks are 1x1 or 2x2. Returns int64 ``[n]``.
    """
    ld, pivots, _ = torch.linalg.ldl_factor_ex(sym)
    d = ld.diagonal(dim1=-2, dim2=-1)
    neg = pivots < 0  # LAPACK marks both columns of a 2x2 block with the same negative pivot
    count = ((~neg) & (d > 0)).sum(-1)
    if neg.any():
        # a negative pivot starts a 2x2 block where its run of negatives has odd length so far
        run = torch.cumsum(neg.to(torch.int64), -1)
        reset = torch.cummax(torch.where(neg, torch.zeros_like(run), run), -1).values
        first = neg & ((run - reset) % 2 == 1)
        a, c = d[..., :-1], d[..., 1:]
        b = ld.diagonal(offset=-1, dim1=-2, dim2=-1)
        det, trace = a * c - b * b, a + c
        n_pos = torch.where(det < 0, 1, torch.where(det > 0, 2 * (trace > 0), (trace > 0).to(torch.int64)))
        count = count + (first[..., :-1] * n_pos).sum(-1)
    return count


def count_positive_cholesky_first(sym: torch.Tensor, attempt: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`count_positive_eigenvalues`, at a third of the cost where all eigenvalues are positive.

    A Cholesky factorisation that succeeds proves them all positive (its backward error is of the order
    of ``LDL^T``'s); the matrices where it fails, or is not attempted (``attempt``, bool ``[n]``, default
    all), are factorised by ``LDL^T``. Both give the same count; ``attempt`` only saves a Cholesky
    factorisation that would likely fail. Returns int64 ``[n]``.
    """
    counts = torch.full(sym.shape[:1], sym.shape[-1], dtype=torch.int64, device=sym.device)
    if attempt is None:
        _, info = torch.linalg.cholesky_ex(sym)
        failed = info != 0
    else:
        failed = ~attempt
        if bool(attempt.any()):
            _, info = torch.linalg.cholesky_ex(sym[attempt])
            failed[attempt] = info != 0
    if bool(failed.any()):
        counts[failed] = count_positive_eigenvalues(sym[failed])
    return counts


def count_singular_values_above(a: torch.Tensor, atol: float, rtol: float, method: str = "auto") -> torch.Tensor:
    """Per matrix of ``a`` (``[n, m, k]``), the number of singular values ``> max(atol, rtol * sigma_max)``.

    Returns int64 ``[n]``. Methods:

    * ``"inertia"`` (needs ``rtol == 0``): positive eigenvalues of ``A A^T - atol^2 I``, by Cholesky where
      they are all positive and by ``LDL^T`` otherwise;
    * ``"eigh"``: eigenvalues of the float64 Gram matrix ``A A^T`` above ``tol^2``;
    * ``"svd"``: singular values of ``A`` itself (slowest);
    * ``"auto"`` (default): inertia when ``rtol == 0``, else eigh, and svd for any matrix whose threshold
      the Gram matrix cannot resolve. Squaring puts eigenvalue errors near ``k * eps64 * sigma_max^2``, so a
      threshold ``tol`` with ``tol^2 <= GRAM_RESOLUTION * k * eps64 * trace(A A^T)`` (for example
      ``atol = 0``, or ``rtol`` below about 1e-6) is counted from singular values instead. Every path
      counts the same quantity; ``auto`` only takes the cheapest one that is exact at this threshold.
    """
    return _count_above(a, atol, rtol, method)


def _count_above(a: torch.Tensor, atol: float, rtol: float, method: str, n_rows: torch.Tensor | None = None,
                 cholesky: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`count_singular_values_above`, where rows ``>= n_rows[i]`` of ``a[i]`` may be zero padding, and
    ``cholesky`` (bool ``[n]``, default all) says where the inertia count tries a Cholesky factorisation."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if method == "inertia" and rtol != 0:
        raise ValueError("method='inertia' counts against a fixed threshold; use rtol=0 or method='eigh'")
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        return torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
    if method == "svd":  # padding rows add zero singular values, never above tol >= 0
        s = torch.linalg.svdvals(a)
        tol = torch.clamp(rtol * s[..., :1], min=atol)
        return (s > tol).sum(-1)
    g = gram(a)
    scale = g.diagonal(dim1=-2, dim2=-1).sum(-1)  # trace(A A^T) = sum of sigma^2
    if a.shape[-2] > a.shape[-1]:
        n_rows = None  # A^T A: zero rows of A leave no trace in it
    use_inertia = method == "inertia" or (method == "auto" and rtol == 0)
    if use_inertia:
        h = g  # g - tol^2 I, in place
        h.diagonal(dim1=-2, dim2=-1).sub_(float(atol) ** 2)
        if n_rows is None:
            counts = count_positive_cholesky_first(h, cholesky)
        else:  # padding rows and columns are zero: put 1 on their diagonal, then discount them
            padding = torch.arange(h.shape[-1], device=h.device) >= n_rows[:, None]
            h.diagonal(dim1=-2, dim2=-1)[padding] = 1.0
            counts = count_positive_cholesky_first(h, cholesky) - padding.sum(-1)
        tol2 = torch.full(counts.shape, float(atol) ** 2, dtype=g.dtype, device=g.device)
    else:
        eig = torch.linalg.eigvalsh(g)
        tol = torch.clamp(rtol * eig[..., -1].clamp(min=0).sqrt(), min=atol)
        tol2 = tol * tol
        counts = (eig > tol2[..., None]).sum(-1)
    if method == "auto":
        unresolved = tol2 <= GRAM_RESOLUTION * g.shape[-1] * torch.finfo(torch.float64).eps * scale
        if unresolved.any():
            counts[unresolved] = count_singular_values_above(a[unresolved], atol, rtol, "svd")
    return counts


# ----------------------------------------------------------------------------------------------------
# public API


def local_rank(
    model: nn.Module,
    x: torch.Tensor,
    atol: float = 1e-2,
    rtol: float = 0.0,
    per_sample: bool = False,
    chunk_size: int | None = None,
    method: str = "auto",
    layers: Sequence[str] | None = None,
    jacobian: str = "auto",
) -> torch.Tensor | LayerRanks:
    """Local rank of every hidden layer of ``model`` at the inputs ``x``; with ``layers``, of those named layers of
    any ``nn.Module`` (:func:`named_layer_ranks`, which gets ``jacobian`` too, and returns a :class:`LayerRanks`
    whatever ``per_sample`` says)::

        ranks = local_rank(my_cnn.eval(), images, layers=["features.0", "features.3"], atol=1e-2)
        ranks.frame()   # layer, local_rank

    Args:
        model: an :class:`lrc_utils.MLP` or :class:`lrc_utils.vib.VIB` (fast path), or any ``nn.Module``
            with ``preactivations``.
        x: inputs ``[N, input_dim]``, on the model's device and dtype.
        atol, rtol: a singular value counts when it is ``> max(atol, rtol * sigma_max)`` (per input).
        per_sample: return the integer ranks ``[N, n_layers]`` instead of their mean.
        chunk_size: inputs per chunk (memory bound); default: for the fast path on the CPU, chunks whose
            reduced Jacobians of one layer take at most :data:`FAST_CHUNK_BYTES` in float64 (one chunk in
            flight per thread; at least :data:`FAST_MIN_CHUNKS` chunks), else from a :data:`CHUNK_BYTES` budget.
        method: how to count, see :func:`count_singular_values_above`.
    Returns:
        float64 ``[n_layers]`` (mean over inputs), or int64 ``[N, n_layers]`` with ``per_sample=True``;
        on the CPU.
    """
    if layers is not None:
        return named_layer_ranks(model, x, layers, atol, rtol, jacobian, chunk_size, method)
    _check_inputs(model, x, atol, rtol, method, chunk_size)
    fast = has_fast_path(model)
    # fast path on the CPU: small chunks, run concurrently on single-threaded workers (see _chain_ranks)
    cpu_fast = fast and x.device.type == "cpu"
    workers = torch.get_num_threads() if cpu_fast else 1
    if chunk_size is None:
        if fast:
            widths = [layer.out_features for layer in model.chain_layers()]
            inner = min(widths[0], x.shape[1])
            chunk_size = _default_chunk(widths, inner)
            if cpu_fast:
                budget = FAST_CHUNK_BYTES // (8 * max(widths) * inner)
                chunk_size = max(1, min(budget, math.ceil(len(x) / FAST_MIN_CHUNKS)))
        else:
            widths = [p.shape[1] for p in model.preactivations(x[:1])]
            chunk_size = _default_chunk(widths, x.shape[1])
    if fast:
        ranks = _chain_ranks(model, x, atol, rtol, method, chunk_size, workers)
    else:
        rows = []
        for chunk in torch.split(x, chunk_size):
            jacobians = input_jacobians(model, chunk)
            counts = [count_singular_values_above(j.detach(), atol, rtol, method) for j in jacobians]
            rows.append(torch.stack(counts, dim=1).cpu())
        ranks = torch.cat(rows)
    return ranks if per_sample else ranks.to(torch.float64).mean(0)


@dataclass(frozen=True)
class LayerRanks:
    """The local rank of named layers: ``layers`` (their dotted names), ``local_rank`` float64 ``[n_layers]`` (mean
    over the inputs) and ``per_input`` int64 ``[N, n_layers]``, on the CPU, whatever was asked."""

    layers: tuple[str, ...]
    local_rank: torch.Tensor
    per_input: torch.Tensor

    def frame(self) -> pd.DataFrame:
        """A tidy table: one row per layer, columns ``layer`` and ``local_rank``."""
        return pd.DataFrame({"layer": list(self.layers), "local_rank": self.local_rank.tolist()})

    def __getitem__(self, layer: str) -> float:
        return float(self.local_rank[self.layers.index(layer)])


#: Jacobian modes of :func:`named_layer_ranks`.
JACOBIANS = ("auto", "fwd", "rev")
#: Words of torch's errors for an operation without a forward-mode derivative (``jacobian="auto"`` then falls
#: back to reverse mode).
FORWARD_AD_MISSING = ("forward ad", "forward-mode", "forward mode", "jvp", "derivative for")


def _check_named_layers(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, nn.Module]:
    if isinstance(layers, str) or not layers or not all(isinstance(n, str) for n in layers):
        raise TypeError(f"layers must be a non-empty list of module names (model.named_modules()), got {layers!r}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct, got {list(layers)}")
    modules = dict(model.named_modules())
    unknown = [n for n in layers if n not in modules]
    if unknown:
        names = [n for n in modules if n]
        raise ValueError(f"no submodule named {unknown} in {type(model).__name__}; its submodules: {names}")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0 or not x.is_floating_point():
        raise ValueError("x must be a non-empty floating-point tensor of shape [N, *input_shape]")
    training_norms = [n for n, m in modules.items() if isinstance(m, nn.modules.batchnorm._NormBase) and m.training]
    if training_norms:
        raise ValueError(f"{training_norms} are in training mode, where batch statistics mix the inputs and the "
                         "Jacobian of one input is not defined: call model.eval() first")
    training_dropout = [n for n, m in modules.items() if isinstance(m, nn.modules.dropout._DropoutNd) and m.training]
    if training_dropout:
        raise ValueError(f"{training_dropout} are in training mode, where they drop random units and the rank is "
                         "that of a random network: call model.eval() first")
    return {n: modules[n] for n in layers}


def _layer_outputs(model: nn.Module, modules: dict[str, nn.Module]):
    """``f(x_one) -> tuple`` of the named modules' outputs (flattened) for one input, collected by forward hooks
    (the model is not edited: the hooks are removed after each call). A module that runs twice in one forward
    pass, or never, is an error: its "output" would be ambiguous or missing."""

    def outputs(x_one: torch.Tensor) -> tuple[torch.Tensor, ...]:
        seen: dict[str, list] = {n: [] for n in modules}
        handles = [m.register_forward_hook(lambda _m, _i, out, n=n: seen[n].append(out)) for n, m in modules.items()]
        try:
            model(x_one[None])
        finally:
            for handle in handles:
                handle.remove()
        twice = [n for n, outs in seen.items() if len(outs) > 1]
        if twice:
            raise ValueError(f"{twice} run more than once in one forward pass; their output is ambiguous: name a "
                             "module that runs once")
        missing = [n for n, outs in seen.items() if not outs]
        if missing:
            raise ValueError(f"{missing} are not reached by the forward pass of {type(model).__name__}")
        bad = [n for n, outs in seen.items() if not isinstance(outs[0], torch.Tensor)]
        if bad:
            raise TypeError(f"the outputs of {bad} are not tensors; name a module that returns one tensor")
        unbatched = [n for n, outs in seen.items() if outs[0].ndim == 0 or outs[0].shape[0] != 1]
        if unbatched:  # e.g. a sequence-first layout [T, 1, E]: taking row 0 would measure one token only
            raise ValueError(f"the outputs of {unbatched} do not lead with the batch dimension (shapes "
                             f"{[tuple(seen[n][0].shape) for n in unbatched]} for one input); name modules whose "
                             "output is [1, ...] for a batch of one")
        return tuple(seen[n][0].reshape(-1) for n in modules)

    return outputs


def named_layer_ranks(model: nn.Module, x: torch.Tensor, layers: Sequence[str], atol: float = 1e-2,
                      rtol: float = 0.0, jacobian: str = "auto", chunk_size: int | None = None,
                      method: str = "auto") -> LayerRanks:
    """Local rank of the named layers of any ``nn.Module``: for each name, the mean over the inputs of the
    numerical rank of the Jacobian of that submodule's output (flattened; name the affine module, not its
    activation, to measure a pre-activation) with respect to the input (flattened).

    Args:
        model: any module, in eval mode where it has batch norm or dropout (checked); called as
            ``model(x[i:i+1])``, so each named module's output must lead with the batch dimension.
        x: ``[N, *input_shape]`` on the model's device and dtype.
        layers: dotted names from ``model.named_modules()``; each must run exactly once per forward pass.
        atol, rtol: a singular value counts when it is ``> max(atol, rtol * sigma_max)`` (per input).
        jacobian: ``"fwd"`` (``torch.func.jacfwd``), ``"rev"`` (``jacrev``) or ``"auto"``: the one with fewer
            passes (input size against total output size), falling back to ``jacrev`` where an operation has no
            forward-mode derivative (e.g. attention's fused kernels).
        chunk_size: inputs per chunk (memory bound; default from :data:`CHUNK_BYTES`).
        method: how to count, see :func:`count_singular_values_above` (a wide Jacobian ``[C*H*W, in]`` is counted
            through the Gram matrix of its smaller side).
    Returns:
        :class:`LayerRanks`.

    Outputs are collected by forward hooks rather than ``torchvision.models.feature_extraction``: hooks need no
    symbolic trace (which fails on data-dependent control flow) and no torchvision in the core; the cost is that a
    module called twice per pass is refused instead of split into its two calls.
    """
    from torch.func import jacfwd, jacrev, vmap

    modules = _check_named_layers(model, x, layers)
    if jacobian not in JACOBIANS:
        raise ValueError(f"jacobian must be one of {JACOBIANS}, got {jacobian!r}")
    _check_arguments(model, x, atol, rtol, method, chunk_size)
    outputs = _layer_outputs(model, modules)
    with torch.no_grad(), torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        widths = [o.numel() for o in outputs(x[0])]
    inner = x[0].numel()
    chunk_size = chunk_size or _default_chunk(widths, inner)  # checked above: None or an int >= 1
    mode = jacobian if jacobian != "auto" else ("fwd" if inner <= sum(widths) else "rev")

    def flat(x_flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return outputs(x_flat.reshape(x.shape[1:]))

    def jacobians(chunk: torch.Tensor, how: str) -> tuple[torch.Tensor, ...]:
        # random operations in the forward pass (a VIB's sample of z) are allowed, drawn from a forked generator so
        # that the caller's stays where it was; the measured outputs must not depend on them
        with quiet_forward_ad(), torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            jac = jacfwd(flat, randomness="different") if how == "fwd" else jacrev(flat)
            return vmap(jac, randomness="different")(
                chunk.reshape(len(chunk), -1).clone())

    rows = []
    for chunk in torch.split(x, chunk_size):
        try:
            jacs = jacobians(chunk, mode)
        except (NotImplementedError, RuntimeError) as err:
            text = str(err).lower()
            if jacobian != "auto" or mode != "fwd" or not any(s in text for s in FORWARD_AD_MISSING):
                raise
            mode = "rev"  # an operation without a forward-mode derivative: reverse mode from here on
            try:
                jacs = jacobians(chunk, mode)
            except Exception as again:
                raise again from err
        rows.append(torch.stack([count_singular_values_above(j.detach(), atol, rtol, method) for j in jacs], 1).cpu())
    per_input = torch.cat(rows)
    return LayerRanks(tuple(layers), per_input.to(torch.float64).mean(0), per_input)


def singular_values(model: nn.Module, x: torch.Tensor, chunk_size: int | None = None) -> list[torch.Tensor]:
    """Singular values of every hidden layer's input Jacobian, for spectra and threshold studies.

    Returns one float64 CPU tensor ``[N, min(width_l, input_dim)]`` per hidden layer, each row in
    descending order. (On the fast path, values beyond ``min(width_1, input_dim)`` are exactly zero.)
    """
    _check_inputs(model, x)
    fast = has_fast_path(model)
    chunk_size = chunk_size or _default_chunk([x.shape[1]], x.shape[1])
    per_layer: list[list[torch.Tensor]] = []
    for chunk in torch.split(x, chunk_size):
        for i, a in enumerate(_factors(model, chunk, fast)):
            s = torch.linalg.svdvals(a.to(torch.float64)).expand(len(chunk), -1).cpu()
            full = min(a.shape[1], x.shape[1])
            s = torch.nn.functional.pad(s, (0, full - s.shape[1]))
            if len(per_layer) <= i:
                per_layer.append([])
            per_layer[i].append(s)
    return [torch.cat(parts) for parts in per_layer]


def ranks_at_tolerances(singular: torch.Tensor, atols: Sequence[float], rtols: Sequence[float]) -> pd.DataFrame:
    """Mean numerical rank of matrices with singular values ``singular`` (``[N, k]``, descending) at each
    absolute tolerance (count of ``s > atol``) and each relative one (``s > rtol * sigma_max``, per matrix).

    Returns rows (convention ``"absolute"``/``"relative"``, tolerance, local_rank).
    """
    s = singular.to(torch.float64)
    rows = [("absolute", float(t), float((s > t).sum(-1).double().mean())) for t in atols]
    rows += [("relative", float(t), float((s > t * s[:, :1]).sum(-1).double().mean())) for t in rtols]
    return pd.DataFrame(rows, columns=["convention", "tolerance", "local_rank"])


# ----------------------------------------------------------------------------------------------------
# measures no threshold decides


def effective_rank(singular: torch.Tensor) -> torch.Tensor:
    """The effective rank of each matrix with singular values ``singular`` (``[N, k]``): the exponential of the
    Shannon entropy (nats) of its normalised singular values ``p_i = s_i / sum_j s_j`` (Roy & Vetterli, 2007),
    between 1 (one nonzero value) and the number of nonzero values (all equal); 0 for an all-zero row. No tolerance
    decides it. Returns float64 ``[N]``."""
    s = singular.to(torch.float64).clamp_min(0)
    total = s.sum(-1, keepdim=True)
    p = torch.where(total > 0, s / total.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(s))
    entropy = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(-1)
    return torch.where(total.squeeze(-1) > 0, torch.exp(entropy), torch.zeros_like(entropy))


@torch.no_grad()
def active_units(model: nn.Module, x: torch.Tensor) -> list[float]:
    """The mean over the inputs ``x`` (``[N, input_dim]``) of the number of units of each hidden layer whose
    activation has a nonzero derivative at its pre-activation (for ReLU: the units with ``z > 0``, the only ones a
    Jacobian passes through). ``model`` is an :class:`lrc_utils.models.ActivationChain`."""
    if not isinstance(model, ActivationChain):
        raise TypeError(f"active_units needs an lrc_utils.models.ActivationChain (an MLP, VIB, NoisyMLP), got "
                        f"{type(model).__name__}")
    return [float((model.act_derivative(z) != 0).sum(-1).double().mean()) for z in model.preactivations(x)]


def restricted_singular_values(model: nn.Module, x: torch.Tensor, basis: torch.Tensor) -> list[torch.Tensor]:
    """Singular values of each hidden layer's input Jacobian restricted to the span of ``basis`` (``[input_dim,
    k]``, orthonormal columns): those of ``J_l(x) B``, the Jacobian of ``z -> p_l(x + B z)``, for the inputs
    ``x`` (``[N, input_dim]``). For data on a k-dimensional subspace this is the rank the data can see. Returns one
    float64 CPU tensor ``[N, min(width_l, k)]`` per hidden layer, rows descending."""
    _check_inputs(model, x)
    if basis.ndim != 2 or basis.shape[0] != x.shape[1]:
        raise ValueError(f"basis must have shape [input_dim={x.shape[1]}, k], got {tuple(basis.shape)}")
    gram_error = (basis.T.double() @ basis.double() - torch.eye(basis.shape[1], dtype=torch.float64)).abs().max()
    if gram_error > 1e-5:
        raise ValueError(f"basis must have orthonormal columns (B^T B = I within 1e-5), off by {float(gram_error):.2g}")
    b = basis.to(x.dtype).to(x.device)
    return [torch.linalg.svdvals((j.detach() @ b).to(torch.float64)).cpu() for j in input_jacobians(model, x)]
