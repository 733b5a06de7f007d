"""Local rank: the numerical rank of the input Jacobian of each hidden pre-activation.

For hidden layer l and input x, ``J_l(x) = d preactivation_l(x) / dx`` has shape ``[width_l, input_dim]``.
Its rank at tolerance ``tol = max(atol, rtol * sigma_max)`` is the number of singular values strictly
greater than ``tol`` (the rule of ``torch.linalg.matrix_rank``). The local rank of layer l is the mean of
that count over the inputs.

Two paths compute the same numbers:

* **General** (any ``nn.Module`` with ``preactivations``): per-sample Jacobians with ``torch.func``
  (``vmap`` of ``jacfwd`` or ``jacrev``, whichever needs fewer passes), all layers at once.
* **Fast** (:class:`lrc_utils.MLP`, :class:`lrc_utils.vib.VIB`: any model with ``chain_layers()`` and
  ``act_derivative``): the chain rule written out,
  ``J_l(x) = W_l diag(f'(z_{l-1}(x))) ... diag(f'(z_1(x))) W_1``, for all layers in one pass. Two facts
  cut the work. (1) ``W_1 = L Q^T`` with ``Q`` of orthonormal columns (a QR of ``W_1^T``, once per
  call), so ``J_l(x) = A_l(x) Q^T`` and ``A_l(x)`` (``[width_l, min(width_1, input_dim)]``) has the
  same singular values: the 784-wide Jacobian of MNIST is never formed. (2) The first layer's Jacobian
  is ``W_1`` for every input, so it is counted once.

Counting. Singular values of ``A`` above ``tol`` are the eigenvalues of the Gram matrix ``G = A A^T``
(or ``A^T A``, the smaller) above ``tol^2``. With ``rtol = 0`` the count is the number of positive
eigenvalues of ``G - tol^2 I``, which Sylvester's law of inertia reads off an ``LDL^T`` factorisation
(Bunch-Kaufman, ``torch.linalg.ldl_factor_ex``): a third of the cost of an eigendecomposition and
far cheaper than an SVD. With ``rtol > 0`` the largest singular value is needed too, and the count comes
from ``eigvalsh(G)``. The Gram matrix is formed in float64, so squaring does not cost precision at the
threshold even for float32 models; a threshold too close to zero for the Gram matrix to resolve
(``atol = 0``, say) is counted from singular values (``torch.linalg.svdvals``) instead, matrix by matrix.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import torch
from torch import nn

METHODS = ("auto", "inertia", "eigh", "svd")
#: Memory budget (bytes) for one chunk's per-layer factors; sets the default chunk size.
CHUNK_BYTES = 2**28
#: Safety factor of the float64 Gram matrix's resolution (see count_singular_values_above).
GRAM_RESOLUTION = 1e3


# ----------------------------------------------------------------------------------------------------
# input checks


def _check_inputs(model: nn.Module, x: torch.Tensor, atol: float = 0.0, rtol: float = 0.0) -> None:
    if not callable(getattr(model, "preactivations", None)):
        raise TypeError(
            f"{type(model).__name__} has no preactivations(x) method; local rank needs a model that returns "
            "its hidden pre-activations (see lrc_utils.MLP)"
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
    with quiet_forward_ad():
        return list(vmap(jac(per_sample))(x))


def has_fast_path(model: nn.Module) -> bool:
    """Whether ``model`` is a chain of affine layers and one elementwise activation (``chain_layers()`` and
    ``act_derivative``, as :class:`lrc_utils.MLP` and :class:`lrc_utils.vib.VIB` have)."""
    return callable(getattr(model, "chain_layers", None)) and callable(getattr(model, "act_derivative", None))


def _chain_factors(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Reduced Jacobians ``A_l(x)`` of a chain model, one ``[n, width_l, r]`` tensor per pre-activation,
    with ``J_l(x) = A_l(x) Q^T`` for a fixed ``Q`` of orthonormal columns, ``r = min(width_1, input_dim)``.
    Layer 1's factor is returned as ``[1, width_1, r]`` (the same for every input)."""
    weights = [layer.weight.detach() for layer in model.chain_layers()]
    w1 = weights[0]
    if w1.shape[1] > w1.shape[0]:
        _, r = torch.linalg.qr(w1.T)  # W_1^T = Q R, so W_1 = R^T Q^T
        factor = r.T.contiguous()
    else:
        factor = w1
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


def count_singular_values_above(a: torch.Tensor, atol: float, rtol: float, method: str = "auto") -> torch.Tensor:
    """Per matrix of ``a`` (``[n, m, k]``), the number of singular values ``> max(atol, rtol * sigma_max)``.

    Returns int64 ``[n]``. Methods:

    * ``"inertia"`` (needs ``rtol == 0``): positive eigenvalues of ``A A^T - atol^2 I`` by ``LDL^T``;
    * ``"eigh"``: eigenvalues of the float64 Gram matrix ``A A^T`` above ``tol^2``;
    * ``"svd"``: singular values of ``A`` itself (slowest);
    * ``"auto"`` (default): inertia when ``rtol == 0``, else eigh, and svd for any matrix whose threshold
      the Gram matrix cannot resolve. Squaring puts eigenvalue errors near ``k * eps64 * sigma_max^2``, so a
      threshold ``tol`` with ``tol^2 <= GRAM_RESOLUTION * k * eps64 * trace(A A^T)`` (for example
      ``atol = 0``, or ``rtol`` below about 1e-6) is counted from singular values instead. Every path
      counts the same quantity; ``auto`` only takes the cheapest one that is exact at this threshold.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if method == "inertia" and rtol != 0:
        raise ValueError("method='inertia' counts against a fixed threshold; use rtol=0 or method='eigh'")
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        return torch.zeros(a.shape[0], dtype=torch.int64, device=a.device)
    if method == "svd":
        s = torch.linalg.svdvals(a)
        tol = torch.clamp(rtol * s[..., :1], min=atol)
        return (s > tol).sum(-1)
    g = gram(a)
    use_inertia = method == "inertia" or (method == "auto" and rtol == 0)
    if use_inertia:
        eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
        counts = count_positive_eigenvalues(g - (float(atol) ** 2) * eye)
        tol2 = torch.full(counts.shape, float(atol) ** 2, dtype=g.dtype, device=g.device)
    else:
        eig = torch.linalg.eigvalsh(g)
        tol = torch.clamp(rtol * eig[..., -1].clamp(min=0).sqrt(), min=atol)
        tol2 = tol * tol
        counts = (eig > tol2[..., None]).sum(-1)
    if method == "auto":
        scale = g.diagonal(dim1=-2, dim2=-1).sum(-1)
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
) -> torch.Tensor:
    """Local rank of every hidden layer of ``model`` at the inputs ``x``.

    Args:
        model: an :class:`lrc_utils.MLP` or :class:`lrc_utils.vib.VIB` (fast path), or any ``nn.Module``
            with ``preactivations``.
        x: inputs ``[N, input_dim]``, on the model's device and dtype.
        atol, rtol: a singular value counts when it is ``> max(atol, rtol * sigma_max)`` (per input).
        per_sample: return the integer ranks ``[N, n_layers]`` instead of their mean.
        chunk_size: inputs per chunk (memory bound); default from a 256 MiB budget.
        method: how to count, see :func:`count_singular_values_above`.
    Returns:
        float64 ``[n_layers]`` (mean over inputs), or int64 ``[N, n_layers]`` with ``per_sample=True``;
        on the CPU.
    """
    _check_inputs(model, x, atol, rtol)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    fast = has_fast_path(model)
    if chunk_size is None:
        if fast:
            widths = [layer.out_features for layer in model.chain_layers()]
        else:
            widths = [p.shape[1] for p in model.preactivations(x[:1])]
        inner = min(widths[0], x.shape[1]) if fast else x.shape[1]
        chunk_size = _default_chunk(widths, inner)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    rows = []
    for chunk in torch.split(x, chunk_size):
        counts = [count_singular_values_above(a, atol, rtol, method) for a in _factors(model, chunk, fast)]
        rows.append(torch.stack([c.expand(len(chunk)) for c in counts], dim=1).cpu())
    ranks = torch.cat(rows)
    return ranks if per_sample else ranks.to(torch.float64).mean(0)


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
