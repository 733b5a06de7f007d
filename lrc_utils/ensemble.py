"""Many small networks trained as one batched ensemble: the runs :func:`lrc_utils.training.fit` would train one
at a time, with the same numbers.

A grid's runs often differ only in their seed (and penalty): the 12-bit task's 12-10-7-5-4-3-2 networks, Figure 1's
seeds. For networks this small, one optimiser step costs mostly Python and kernel-launch overhead, so E networks
stacked into one set of batched tensors (weights ``[E, out, in]``, biases ``[E, out]``) train for about the cost of
one. :func:`fit_ensemble` does what :func:`lrc_utils.training.fit` does for each member, with the member's own
generator (its minibatches), its own L2 penalty, and monitors asked about a copy of the member at the evaluation
steps; the records are those of one-at-a-time runs, bit for bit (``tests/test_ensemble.py``, on the CPU; the
batched products equal the unbatched ones there).

Scope: :class:`lrc_utils.models.MLP` members of one architecture and activation, trained on the cross-entropy
(nats) plus ``l2 / 2`` times the summed squares of the hidden layers' weight matrices (the loss of
:func:`lrc_utils.training.l2_penalised_cross_entropy`; ``l2 = 0`` gives
:func:`lrc_utils.training.cross_entropy_loss`), with :class:`lrc_utils.training.FitConfig`\\ s equal but for
their seeds. No checkpoints: an ensemble is meant for runs of minutes (a killed ensemble starts again).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .config import flush_denormals, progress_enabled
from .models import MLP
from .training import Data, FitConfig, FlatAdamW, Monitor, l2_penalised_cross_entropy

#: Members' slices of every operand of a matrix product start on 64-byte boundaries (16 float32 values): MKL's
#: products of equal matrices differ in the last bits with the operands' alignment (measured: 160 of 900 small
#: products), and every tensor of a one-at-a-time run is a fresh, 64-byte aligned allocation.
ALIGN_ELEMENTS = 16
#: Minibatches must be a multiple of this many inputs, so that every activation's member slice is aligned too and
#: elementwise kernels split each member's slice into the same vector blocks as a one-at-a-time run's tensor.
BATCH_MULTIPLE = 64
#: How an ensemble computes its matrix products (see :func:`fit_ensemble`).
PRODUCTS = ("auto", "batched", "per_member")


def _aligned_empty(like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``like``'s shape ``[E, *shape]`` whose member slices each start on a 64-byte
    boundary (a strided view of a padded buffer; member stride a multiple of :data:`ALIGN_ELEMENTS`)."""
    shape = like.shape[1:]
    inner = [1]
    for size in reversed(shape[1:]):
        inner.insert(0, inner[0] * size)
    stride = -(-shape.numel() // ALIGN_ELEMENTS) * ALIGN_ELEMENTS
    buffer = like.new_empty(like.shape[0] * stride)
    return buffer.as_strided(like.shape, (stride, *inner[: len(shape)]))


def _aligned_stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.stack(tensors)`` with each member's slice 64-byte aligned (:func:`_aligned_empty`)."""
    out = _aligned_empty(torch.stack(tensors))
    for e, t in enumerate(tensors):
        out[e].copy_(t)
    return out


def _products(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor, grad: torch.Tensor | None, batched: bool):
    """The products of one stacked layer: forward ``h[e] @ W[e]^T + b[e]`` and, given the output's ``grad``, the
    gradients ``grad[e] @ W[e]``, ``grad[e]^T @ h[e]`` and ``grad[e].sum(0)``, each member's product on 64-byte
    aligned operands and outputs. ``batched``: one ``baddbmm``/``bmm`` call each; else one ``addmm``/``mm`` per
    member, the calls ``F.linear`` and its backward make for one network (exact by construction)."""
    if grad is None:
        if batched:
            return torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
        out = h.new_empty(h.shape[0], h.shape[1], w.shape[1])
        for e in range(h.shape[0]):
            torch.addmm(b[e], h[e], w[e].t(), out=out[e])
        return out
    grad_w, grad_b = _aligned_empty(w), _aligned_empty(b)
    if batched:
        torch.sum(grad, 1, out=grad_b)
        return torch.bmm(grad, w), torch.bmm(grad.transpose(1, 2), h, out=grad_w), grad_b
    grad_h = torch.empty_like(h)
    for e in range(h.shape[0]):
        torch.mm(grad[e], w[e], out=grad_h[e])
        torch.mm(grad[e].t(), h[e], out=grad_w[e])
        torch.sum(grad[e], 0, out=grad_b[e])
    return grad_h, grad_w, grad_b


def batched_products_are_exact(e_count: int, batch: int, sizes: Sequence[int], dtype=torch.float32,
                               trials: int = 3) -> bool:
    """Whether the batched products of :func:`_products` equal the per-member ones, bit for bit, for these shapes
    (random operands, ``trials`` times per layer). Summation orders do not depend on the values, so random operands
    show any difference; on the machines measured (MKL, AVX-512) they were equal whenever the members' operands
    were aligned alike."""
    g = torch.Generator().manual_seed(0)
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        for _ in range(trials):
            h = torch.randn(e_count, batch, fan_in, generator=g, dtype=dtype)
            grad = torch.randn(e_count, batch, fan_out, generator=g, dtype=dtype)
            w = _aligned_stack(list(torch.randn(e_count, fan_out, fan_in, generator=g, dtype=dtype)))
            b = _aligned_stack(list(torch.randn(e_count, fan_out, generator=g, dtype=dtype)))
            pairs = [(_products(h, w, b, None, True), _products(h, w, b, None, False)),
                     *zip(_products(h, w, b, grad, True), _products(h, w, b, grad, False))]
            if not all(torch.equal(a, c) for a, c in pairs):
                return False
    return True


class _MemberLinear(torch.autograd.Function):
    """``out[e] = h[e] @ W[e]^T + b[e]`` for every member ``e``, each product computed as ``F.linear`` computes it
    for one network (:func:`_products`). Autograd's own ``baddbmm`` backward writes the weight gradients of all
    members into one fresh tensor, whose member slices are not aligned: measured last-bit differences in the 12-bit
    network's weight gradients at batch 512."""

    @staticmethod
    def forward(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor, batched: bool) -> torch.Tensor:
        return _products(h, w, b, None, batched)

    @staticmethod
    def setup_context(ctx, inputs, output):
        h, w, b, batched = inputs
        ctx.save_for_backward(h, w, b)
        ctx.batched = batched

    @staticmethod
    def backward(ctx, grad):
        h, w, b = ctx.saved_tensors
        grad_h, grad_w, grad_b = _products(h, w, b, grad.contiguous(), ctx.batched)
        return (grad_h if ctx.needs_input_grad[0] else None), grad_w, grad_b, None


class MLPEnsemble(nn.Module):
    """``E`` MLPs of the same sizes and activation as stacked parameters: ``weights[l]`` ``[E, out_l, in_l]`` and
    ``biases[l]`` ``[E, out_l]`` (copies of the members' parameters, in member order; each member's slice
    64-byte aligned, see :data:`ALIGN_ELEMENTS`)."""

    def __init__(self, members: Sequence[MLP], batched: bool = False):
        super().__init__()
        self.batched = batched  # one batched product per layer (see batched_products_are_exact)
        if not members or not all(isinstance(m, MLP) for m in members):
            raise TypeError("an ensemble needs a non-empty list of lrc_utils.models.MLP members")
        first = members[0]
        if any(m.sizes != first.sizes or m.activation != first.activation or type(m) is not MLP for m in members):
            raise ValueError("ensemble members must be plain MLPs of one architecture and activation; got "
                             f"{sorted({(type(m).__name__, tuple(m.sizes), m.activation) for m in members})}")
        self.template = first
        with torch.no_grad():
            self.weights = nn.ParameterList(_aligned_stack([m.layers[k].weight for m in members])
                                            for k in range(len(first.layers)))
            self.biases = nn.ParameterList(_aligned_stack([m.layers[k].bias for m in members])
                                           for k in range(len(first.layers)))

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[E, B, n_classes]`` of member ``e`` at ``x[e]`` (``x``: ``[E, B, input_dim]``)."""
        h = x
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = _MemberLinear.apply(h, w, b, self.batched)
            if k < last:
                h = self.template.act(h)
        return h

    def penalty(self, l2: torch.Tensor) -> torch.Tensor:
        """``l2[e] / 2`` times the sum of squares of member ``e``'s hidden weight matrices: ``[E]``."""
        squares = sum(w.square().sum((1, 2)) for w in list(self.weights)[:-1])
        return 0.5 * l2 * squares

    @torch.no_grad()
    def copy_member(self, e: int, into: MLP) -> MLP:
        """Member ``e``'s parameters copied into ``into`` (an MLP of the members' architecture)."""
        for k, layer in enumerate(into.layers):
            layer.weight.copy_(self.weights[k][e])
            layer.bias.copy_(self.biases[k][e])
        return into


def _check(members: Sequence[MLP], train: Data, configs: Sequence[FitConfig], l2: Sequence[float], monitors) -> None:
    if len(train[0]) != len(train[1]) or len(train[0]) == 0:
        raise ValueError(f"train must hold the same positive number of inputs and labels, got {len(train[0])} and "
                         f"{len(train[1])}")
    for member_monitors in monitors:
        names = [m.name for m in member_monitors]
        if len(set(names)) != len(names):
            raise ValueError(f"monitor names must be distinct, got {names}")
    if not (len(members) == len(configs) == len(l2) == len(monitors)):
        raise ValueError(f"need one config, L2 penalty and monitor list per member; got {len(members)} members, "
                         f"{len(configs)} configs, {len(l2)} penalties, {len(monitors)} monitor lists")
    common = {replace(c, seed=0) for c in configs}
    if len(common) != 1:
        raise ValueError("the members' FitConfigs must be equal but for their seeds (one schedule for the ensemble)")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 for v in l2):
        raise ValueError(f"L2 penalties must be numbers >= 0, got {list(l2)}")


def fit_ensemble(members: Sequence[MLP], train: Data, configs: Sequence[FitConfig], l2: Sequence[float] | None = None,
                 monitors: Sequence[Sequence[Monitor]] | None = None, progress: bool | None = None,
                 desc: str = "ensemble", products: str = "auto") -> list[dict[str, pd.DataFrame]]:
    """Train every member as :func:`lrc_utils.training.fit` would train it alone; return its records.

    Args:
        members: ``E`` MLPs of one architecture and activation (trained in place: their parameters are those of
            the trained ensemble on return).
        train: (``[N, input_dim]``, ``[N]`` labels), shared by the members.
        configs: one :class:`FitConfig` per member, equal but for the seed.
        l2: the members' L2 penalties (default 0): loss = cross-entropy + ``l2 / 2`` x sum of squares of the hidden
            weight matrices.
        monitors: one list of monitors per member (asked about a copy of the member at ``eval_steps``).
        products: ``"batched"`` (one ``bmm`` per layer and pass), ``"per_member"`` (one ``mm`` per member: the
            calls of a one-at-a-time run, exact by construction, slower) or ``"auto"``: batched when
            :func:`batched_products_are_exact` for these shapes on this machine, else per member, with a warning.
    Returns:
        One records dict per member, as :func:`lrc_utils.training.fit` returns it.
    """
    x, y = train
    e_count = len(members)
    l2 = [0.0] * e_count if l2 is None else list(l2)
    monitors = [[] for _ in members] if monitors is None else [list(m) for m in monitors]
    _check(members, train, configs, l2, monitors)
    config = configs[0]
    batch = min(config.batch_size, len(x))
    if batch % BATCH_MULTIPLE:
        raise ValueError(f"an ensemble's minibatch must be a multiple of {BATCH_MULTIPLE} inputs (so that it computes "
                         f"exactly what one-at-a-time runs compute), got {batch}")
    if any(c.optimizer != "adamw" for c in configs):
        raise ValueError("fit_ensemble trains with AdamW only; train SGD runs one at a time with fit")
    if x.device.type != "cpu":
        raise ValueError("fit_ensemble runs on the CPU (its bit-for-bit equality is a property of the CPU kernels)")
    if products not in PRODUCTS:
        raise ValueError(f"products must be one of {PRODUCTS}, got {products!r}")
    batched = products == "batched"
    if products == "auto":
        batched = batched_products_are_exact(e_count, batch, members[0].sizes, x.dtype)
        if not batched:
            warnings.warn("batched products differ from one-at-a-time ones for these shapes on this machine; the "
                          "ensemble computes them member by member (the same numbers, slower)", stacklevel=2)
    ens = MLPEnsemble(members, batched=batched)
    l2_rates = torch.tensor([float(v) for v in l2], dtype=x.dtype, device=x.device)
    opt = FlatAdamW((list(ens.weights), list(ens.biases)), config.lr, config.weight_decay,
                    betas=(config.adam_beta1, 0.999))
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    with torch.random.fork_rng():  # building the copies draws from the global generator; a lone run does not
        copies = [MLP(members[0].sizes, members[0].activation) for _ in members]
    records: list[dict[str, list]] = [{m.name: [] for m in ms} for ms in monitors]
    evals = set(config.eval_steps)
    for step in tqdm(range(1, config.steps + 1), disable=not progress_enabled(progress), desc=desc, mininterval=2.0,
                     leave=False):
        with flush_denormals():  # as fit's step (the minibatch loss too); monitors compute in full
            opt.lr = config.lr_at(step)
            idx = torch.stack([torch.randint(0, len(x), (batch,), generator=g) for g in gens])
            xb, yb = x[idx], y[idx]
            logits = ens(xb)
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="none")
            loss = ce.view(e_count, batch).mean(1) + ens.penalty(l2_rates)
            opt.zero_grad(set_to_none=True)
            with warnings.catch_warnings():  # the stacked parameters' padded (64-byte aligned) layout is not "dense";
                warnings.filterwarnings("ignore", message="grad and param do not obey")  # gradients still add in place
                loss.sum().backward()
            evaluate = step in evals
            if evaluate:  # the minibatch loss a run reports is computed before its step, by the member alone
                with torch.no_grad():
                    batch_losses = [float(_member_loss(ens.copy_member(e, copies[e]), xb[e], yb[e], l2[e]))
                                    if monitors[e] else math.nan for e in range(e_count)]
            opt.step()
        if evaluate:
            with torch.no_grad():
                for e, member_monitors in enumerate(monitors):
                    if not member_monitors:
                        continue
                    model = ens.copy_member(e, copies[e]).eval()
                    batch_loss = batch_losses[e]
                    for monitor in member_monitors:
                        records[e][monitor.name] += [{"step": step, **row} for row in monitor(model, step, batch_loss)]
    with torch.no_grad():
        for e, member in enumerate(members):
            ens.copy_member(e, member).eval()
    return [{name: pd.DataFrame(rows) for name, rows in r.items()} for r in records]


def _member_loss(model: MLP, x: torch.Tensor, y: torch.Tensor, l2: float) -> torch.Tensor:
    """The loss one run would report for this minibatch: the study's own loss function on the member alone."""
    return l2_penalised_cross_entropy(l2)(model, x, y)
