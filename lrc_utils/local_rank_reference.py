"""Slow, obvious reference implementations of local rank, for tests and benchmarks.

* :func:`recipe_local_rank`: the recipe of the first author's public code: per layer, ``torch.func``
  ``vmap(jacfwd)`` of the per-sample pre-activation, then ``torch.linalg.matrix_rank(J, atol=atol)``.
* :func:`autograd_loop_local_rank`: one input at a time, ``torch.autograd.functional.jacobian`` of each
  layer's pre-activation, then the singular values by ``torch.linalg.svdvals``.

Both return int64 ``[N, n_layers]`` on the CPU, with the same rule as :func:`lrc_utils.local_rank`:
count singular values ``> max(atol, rtol * sigma_max)``.
"""

from __future__ import annotations

import torch
from torch import nn


def recipe_local_rank(model: nn.Module, x: torch.Tensor, atol: float = 1e-2, rtol: float = 0.0) -> torch.Tensor:
    from torch.func import jacfwd, vmap

    from .local_rank import quiet_forward_ad

    n_layers = len(model.preactivations(x[:1]))
    columns = []
    for layer in range(n_layers):
        def preact(xi: torch.Tensor, layer: int = layer) -> torch.Tensor:
            return model.preactivations(xi[None])[layer][0]

        with quiet_forward_ad():  # clone: on a slice of a larger tensor, jacfwd allocates tangents for all of it
            jac = vmap(jacfwd(preact))(x.clone())
        columns.append(torch.linalg.matrix_rank(jac, atol=atol, rtol=rtol).cpu())
    return torch.stack(columns, dim=1)


def autograd_loop_local_rank(model: nn.Module, x: torch.Tensor, atol: float = 1e-2,
                             rtol: float = 0.0) -> torch.Tensor:
    n_layers = len(model.preactivations(x[:1]))
    ranks = torch.zeros(len(x), n_layers, dtype=torch.int64)
    for i, xi in enumerate(x):
        for layer in range(n_layers):
            jac = torch.autograd.functional.jacobian(lambda v, k=layer: model.preactivations(v[None])[k][0], xi)
            s = torch.linalg.svdvals(jac)
            tol = max(atol, rtol * float(s[0])) if len(s) else atol
            ranks[i, layer] = int((s > tol).sum())
    return ranks


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_methods(model: nn.Module, x: torch.Tensor, methods: tuple[str, ...] = ("local_rank", "recipe", "loop"),
                 atol: float = 1e-2) -> dict[str, tuple[float, torch.Tensor]]:
    """Run each method once on the same inputs (after one small warm-up); return name -> (seconds, ranks).

    ``local_rank`` is :func:`lrc_utils.local_rank` (fast path for an MLP); ``recipe`` and ``loop`` are the
    references above. Ranks are int64 ``[N, n_layers]``.
    """
    import time

    from .local_rank import local_rank

    functions = {
        "local_rank": lambda inputs: local_rank(model, inputs, atol=atol, per_sample=True),
        "recipe": lambda inputs: recipe_local_rank(model, inputs, atol=atol),
        "loop": lambda inputs: autograd_loop_local_rank(model, inputs, atol=atol),
    }
    unknown = [m for m in methods if m not in functions]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {sorted(functions)}")
    out = {}
    for name in methods:
        functions[name](x[:2])  # warm-up: kernels, allocator
        _synchronize(x.device)
        start = time.perf_counter()
        ranks = functions[name](x)
        _synchronize(x.device)
        out[name] = (time.perf_counter() - start, ranks)
    return out
