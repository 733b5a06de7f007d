"""Many networks trained as one batched ensemble: the runs :func:`lrc_utils.training.fit` would train one at a
time, with the same numbers; and the hand-written gradients that make a lone MLP's step cheaper too.

A grid's runs often differ only in their seed (and penalty): the 12-bit task's 12-10-7-5-4-3-2 networks, Figure 1's
seeds, the first author's recipe. E networks stacked into one set of tensors (weights ``[E, out, in]``, biases
``[E, out]``) take one optimiser step for all: the per-step Python and kernel-launch overhead is paid once, the
arithmetic of each member stays (for small networks most of a step is overhead; for Figure 1's MNIST network most
is matrix products, and an ensemble saves little: ``benchmarks/training.py``). :func:`fit_ensemble` does what
:func:`lrc_utils.training.fit` does for each member, with the member's own generator (its minibatches), its own L2
penalty, monitors asked about a copy of the member at the evaluation steps, and a checkpoint per member in the
format of the run alone; the records are those of one-at-a-time runs, bit for bit (``tests/test_ensemble.py``, on
the CPU), whichever other runs a member trains with.

The gradients are written out (:meth:`MLPEnsemble.gradients`): the calls autograd makes for one network (the
log-softmax and NLL backward, each activation's backward, ``F.linear``'s products), without its graph. With one
member this is :func:`lrc_utils.training.fit`'s fast path for plain MLPs, tested against autograd for every
activation and loss, and for noisy MLPs trained on :func:`lrc_utils.models.noisy_cross_entropy`.

Scope: :class:`lrc_utils.models.MLP` members of one architecture and activation, trained with AdamW on the
cross-entropy (nats), optionally plus ``l2 / 2`` times the summed squares of the hidden layers' weight matrices
(:func:`lrc_utils.losses.l2_penalised_cross_entropy`), or on the first author's softmax cross-entropy
(:func:`lrc_utils.losses.softmax_cross_entropy_loss`); or :class:`lrc_utils.models.NoisyMLP` members of one noise
level trained on the cross-entropy of their noisy logits (:func:`lrc_utils.models.noisy_cross_entropy`), each
member's noise drawn from its own generator; with :class:`lrc_utils.optim.FitConfig` objects equal but
for their seeds; on the CPU. A grid trains its runs together where they can share an ensemble
(:func:`lrc_utils.grid.train_runs`).
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
from .data import Data
from .losses import LOSSES, LossFn, ensemble_loss, l2_penalised_cross_entropy
from .models import MLP, NoisyMLP, noisy_cross_entropy
from .optim import FitConfig, FlatAdamW
from .work import Checkpoint

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


def member_kind(model: MLP) -> tuple:
    """What the members of one ensemble share: class, sizes, activation and (noisy networks) noise level."""
    return type(model).__name__, tuple(model.sizes), model.activation, getattr(model, "noise_std", None)


def _check_members(members: Sequence[MLP]) -> None:
    if not members or not all(isinstance(m, MLP) for m in members):
        raise TypeError("an ensemble needs a non-empty list of lrc_utils.models.MLP members")
    if any(member_kind(m) != member_kind(members[0]) or type(m) not in (MLP, NoisyMLP) for m in members):
        raise ValueError("ensemble members must be plain MLPs, or NoisyMLPs of one noise_std, of one architecture "
                         f"and activation; got {sorted(set(map(member_kind, members)), key=str)}")


def _blank_like(model: MLP) -> MLP:
    """A new network of ``model``'s class, sizes and activation (and noise level), its parameters to be copied in."""
    if isinstance(model, NoisyMLP):
        return NoisyMLP(model.sizes, model.activation, noise_std=model.noise_std)
    return MLP(model.sizes, model.activation)


def _products(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor, grad: torch.Tensor | None, batched: bool,
              input_grad: bool = True, grad_w: torch.Tensor | None = None, grad_b: torch.Tensor | None = None):
    """The products of one stacked layer: forward ``h[e] @ W[e]^T + b[e]`` and, given the output's ``grad``, the
    gradients ``grad[e] @ W[e]`` (``None`` unless ``input_grad``: the first layer's inputs need none, as autograd
    skips it for one network), ``grad[e]^T @ h[e]`` and ``grad[e].sum(0)`` (written into ``grad_w`` and ``grad_b``
    where given), each member's product on 64-byte aligned operands and outputs. ``batched``: one
    ``baddbmm``/``bmm`` call each; else one ``addmm``/``mm`` per member, the calls ``F.linear`` and its backward
    make for one network."""
    if grad is None:
        if batched:
            return torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
        out = h.new_empty(h.shape[0], h.shape[1], w.shape[1])
        for e in range(h.shape[0]):
            torch.addmm(b[e], h[e], w[e].t(), out=out[e])
        return out
    grad_w = _aligned_empty(w) if grad_w is None else grad_w
    grad_b = _aligned_empty(b) if grad_b is None else grad_b
    if batched:
        torch.sum(grad, 1, out=grad_b)
        grad_h = torch.bmm(grad, w) if input_grad else None
        return grad_h, torch.bmm(grad.transpose(1, 2), h, out=grad_w), grad_b
    grad_h = torch.empty_like(h) if input_grad else None
    for e in range(h.shape[0]):
        if input_grad:
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


#: name -> the backward autograd runs for that activation of :data:`lrc_utils.models.ACTIVATIONS`, as
#: ``(grad, z, a) -> grad of z`` (``z`` the pre-activation, ``a`` the activation): the same ATen kernels, so the same
#: numbers (tests/test_ensemble.py checks each against autograd).
ACTIVATION_BACKWARDS = {
    "relu": lambda grad, z, a: torch.ops.aten.threshold_backward(grad, a, 0),
    "tanh": lambda grad, z, a: torch.ops.aten.tanh_backward(grad, a),
    "sigmoid": lambda grad, z, a: torch.ops.aten.sigmoid_backward(grad, a),
    "gelu": lambda grad, z, a: torch.ops.aten.gelu_backward(grad, z, approximate="none"),
    "elu": lambda grad, z, a: torch.ops.aten.elu_backward(grad, 1.0, 1, 1, False, z),
    "softplus": lambda grad, z, a: torch.ops.aten.softplus_backward(grad, z, 1, 20),
    "identity": lambda grad, z, a: grad,
}


class MLPEnsemble(nn.Module):
    """``E`` MLPs of the same sizes and activation as stacked parameters: ``weights[l]`` ``[E, out_l, in_l]`` and
    ``biases[l]`` ``[E, out_l]`` (copies of the members' parameters, in member order; each member's slice
    64-byte aligned, see :data:`ALIGN_ELEMENTS`). The members are plain :class:`lrc_utils.models.MLP` or all
    :class:`lrc_utils.models.NoisyMLP` of one ``noise_std`` (``noise_std`` here; ``None`` for plain MLPs)."""

    def __init__(self, members: Sequence[MLP], batched: bool = False):
        super().__init__()
        self.batched = batched  # one batched product per layer (see batched_products_are_exact)
        _check_members(members)
        first = members[0]
        self.template = first
        self.noise_std = first.noise_std if isinstance(first, NoisyMLP) else None
        with torch.no_grad():
            self.weights = nn.ParameterList(_aligned_stack([m.layers[k].weight for m in members])
                                            for k in range(len(first.layers)))
            self.biases = nn.ParameterList(_aligned_stack([m.layers[k].bias for m in members])
                                           for k in range(len(first.layers)))

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor, noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits ``[E, B, n_classes]`` of member ``e`` at ``x[e]`` (``x``: ``[E, B, input_dim]``; no autograd graph:
        training computes its gradients in :meth:`gradients`); for noisy members, with ``noise`` (see
        :meth:`gradients`) or, without it, noiseless."""
        if noise is not None and self.noise_std is None:
            raise ValueError("plain members take no noise")
        return self._forward(x, noise)[-1][0]

    def _forward(self, x: torch.Tensor, noise: Sequence[torch.Tensor] | None = None
                 ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per layer, (pre-activation, activation, the next layer's input) with the input first as ``(x, x, x)`` and
        the logits last ``(z, z, z)``; the next layer's input is the activation plus ``noise_std * noise[k]`` for
        noisy members given ``noise``, else the activation (as :func:`lrc_utils.models.noisy_logits` computes it)."""
        chain = [(x, x, x)]
        last = len(self.weights) - 1
        with torch.no_grad():
            for k, (w, b) in enumerate(zip(self.weights, self.biases)):
                z = _products(chain[-1][2], w, b, None, self.batched)
                a = self.template.act(z) if k < last else z
                chain.append((z, a, a + self.noise_std * noise[k] if noise is not None and k < last else a))
        return chain

    @torch.no_grad()
    def gradients(self, x: torch.Tensor, y: torch.Tensor, loss: str, half_l2: torch.Tensor | None = None,
                  noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Write into the parameters' ``.grad`` the gradient of each member's mean loss on its minibatch ``x[e]``
        (``[E, B, input_dim]``), labels ``y[e]`` (``[E, B]``), plus, with ``half_l2`` (``[E]``, ``l2 / 2``), the L2
        penalty on its hidden weight matrices: the calls autograd makes for one network trained by
        :func:`lrc_utils.training.fit` with :func:`member_loss` (log-softmax and NLL backward, the activation's
        backward, ``F.linear``'s products; the penalty's ``(l2 / 2) * (2 W)`` added to the weight gradient), member
        by member the same numbers (tests/test_ensemble.py), without autograd's graph. Noisy members need
        ``noise``: per hidden layer ``k`` the standard normal draws ``[E, B, width_k]`` added (times ``noise_std``)
        to its activations, as :func:`lrc_utils.models.noisy_cross_entropy` draws them for one network. Returns the
        logits ``[E, B, n_classes]``."""
        e_count, batch = y.shape
        if (noise is None) != (self.noise_std is None):
            raise ValueError("noisy members need their noise, plain ones take none")
        chain = self._forward(x, noise)
        logits = chain[-1][0].view(e_count * batch, -1)
        probabilities = torch.softmax(logits, -1) if loss == "softmax_cross_entropy" else None
        log_p = torch.log_softmax(logits if probabilities is None else probabilities, -1)
        grad = torch.zeros_like(log_p).scatter_(1, y.reshape(-1, 1), -1.0 / batch)  # NLL's mean backward
        grad = torch._log_softmax_backward_data(grad, log_p, -1, log_p.dtype)
        if probabilities is not None:
            grad = torch._softmax_backward_data(grad, probabilities, -1, probabilities.dtype)
        grad = grad.view(e_count, batch, -1)
        backward = ACTIVATION_BACKWARDS[self.template.activation]
        last = len(self.weights) - 1
        for k in range(last, -1, -1):
            w, b = self.weights[k], self.biases[k]
            grad_h, grad_w, _ = _products(chain[k][2], w, b, grad, self.batched, input_grad=k > 0, grad_w=w.grad,
                                          grad_b=b.grad)
            if half_l2 is not None and k < last:  # autograd: grad * (2 * W) from the square, summed with the product's
                grad_w.add_(half_l2[:, None, None] * (2.0 * w))
            if k > 0:  # the noise is added: its backward passes the gradient on unchanged
                grad = backward(grad_h, *chain[k][:2])
        return chain[-1][0]

    def draw_noise(self, generators: Sequence[torch.Generator], batch: int, dtype: torch.dtype
                   ) -> list[torch.Tensor] | None:
        """The noise of one step for noisy members (``None`` for plain ones): per hidden layer ``[E, batch, width]``,
        member ``e``'s drawn from ``generators[e]`` layer after layer, as :func:`lrc_utils.models.noisy_logits` draws
        it for one network after its minibatch."""
        if self.noise_std is None:
            return None
        return [torch.stack([torch.randn((batch, w.shape[1]), generator=g, dtype=dtype) for g in generators])
                for w in self.weights[:-1]]

    @torch.no_grad()
    def copy_member(self, e: int, into: MLP) -> MLP:
        """Member ``e``'s parameters copied into ``into`` (an MLP of the members' architecture)."""
        for k, layer in enumerate(into.layers):
            layer.weight.copy_(self.weights[k][e])
            layer.bias.copy_(self.biases[k][e])
        return into


#: The losses an ensemble trains with (names of :data:`lrc_utils.losses.LOSSES`).
ENSEMBLE_LOSSES = ("cross_entropy", "softmax_cross_entropy")


def fast_path_loss(model: nn.Module, loss_fn: LossFn, config: FitConfig, train: Data) -> tuple[str, float] | None:
    """(loss name, L2 penalty) where :func:`fit_ensemble` trains ``model`` exactly as
    :func:`lrc_utils.training.fit` would with autograd, so that ``fit`` takes this fast path (an ensemble of one):
    a plain :class:`lrc_utils.models.MLP` in float32 or float64 on the CPU, every parameter trainable and of the
    inputs' dtype, int64 labels, AdamW, and the cross-entropy (:func:`lrc_utils.losses.ensemble_loss`: with or
    without an L2 penalty) or the softmax cross-entropy; or a :class:`lrc_utils.models.NoisyMLP` so placed, trained
    on :func:`lrc_utils.models.noisy_cross_entropy` (the cross-entropy of its noisy logits). ``None`` elsewhere."""
    if type(model) is NoisyMLP:
        loss = ("cross_entropy", 0.0) if loss_fn is noisy_cross_entropy else None
    else:
        loss = ensemble_loss(loss_fn) if type(model) is MLP else None
    x, y = train
    if (loss is None or config.optimizer != "adamw" or x.device.type != "cpu"
            or x.dtype not in (torch.float32, torch.float64) or y.dtype != torch.int64
            or any(p.device.type != "cpu" or p.dtype != x.dtype or not p.requires_grad for p in model.parameters())):
        return None
    return loss


def member_loss(loss: str, l2: float) -> LossFn:
    """The loss function one member's run would train with alone: :data:`lrc_utils.losses.LOSSES` ``[loss]``,
    or :func:`lrc_utils.losses.l2_penalised_cross_entropy` for the cross-entropy with an L2 penalty."""
    return l2_penalised_cross_entropy(l2) if loss == "cross_entropy" else LOSSES[loss]


def _check(members: Sequence[MLP], train: Data, configs: Sequence[FitConfig], l2: Sequence[float], monitors,
           loss: str) -> None:
    if len(train[0]) != len(train[1]) or len(train[0]) == 0:
        raise ValueError(f"train must hold the same positive number of inputs and labels, got {len(train[0])} and "
                         f"{len(train[1])}")
    for member_monitors in monitors:
        names = [m.name for m in member_monitors]
        if len(set(names)) != len(names):
            raise ValueError(f"monitor names must be distinct, got {names}")
    _check_members(members)
    if len({id(m) for m in members}) != len(members):
        raise ValueError("each member must be its own MLP object (one was given twice)")
    dtypes = {p.dtype for m in members for p in m.parameters()}
    if dtypes != {train[0].dtype} or train[0].dtype not in (torch.float32, torch.float64):
        raise ValueError(f"members and inputs must be float32 or float64 alike; got parameters of "
                         f"{sorted(map(str, dtypes))} and inputs of {train[0].dtype}")
    if not (len(members) == len(configs) == len(l2) == len(monitors)):
        raise ValueError(f"need one config, L2 penalty and monitor list per member; got {len(members)} members, "
                         f"{len(configs)} configs, {len(l2)} penalties, {len(monitors)} monitor lists")
    common = {replace(c, seed=0) for c in configs}
    if len(common) != 1:
        raise ValueError("the members' FitConfigs must be equal but for their seeds (one schedule for the ensemble)")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 for v in l2):
        raise ValueError(f"L2 penalties must be numbers >= 0, got {list(l2)}")
    if loss not in ENSEMBLE_LOSSES:
        raise ValueError(f"loss must be one of {ENSEMBLE_LOSSES}, got {loss!r}")
    if loss != "cross_entropy" and any(l2):
        raise ValueError(f"an L2 penalty goes with the cross-entropy only; the {loss} loss was given {list(l2)}")
    if isinstance(members[0], NoisyMLP) and (loss != "cross_entropy" or any(l2)):
        raise ValueError("noisy networks train on the cross-entropy of their noisy logits, without a penalty "
                         f"(lrc_utils.models.noisy_cross_entropy); got loss={loss!r}, l2={list(l2)}")


def fit_ensemble(members: Sequence[MLP], train: Data, configs: Sequence[FitConfig], l2: Sequence[float] | None = None,
                 monitors: Sequence[Sequence] | None = None, progress: bool | None = None,
                 desc: str = "ensemble", products: str = "auto", loss: str = "cross_entropy",
                 checkpoints: Sequence[Checkpoint] | None = None) -> list[dict[str, pd.DataFrame]]:
    """Train every member as :func:`lrc_utils.training.fit` would train it alone; return its records.

    Args:
        members: ``E`` MLPs of one architecture and activation (trained in place: their parameters are those of
            the trained ensemble on return); or ``E`` :class:`lrc_utils.models.NoisyMLP` of one noise level, each
            trained as ``fit`` trains it on :func:`lrc_utils.models.noisy_cross_entropy` (its noise drawn from its
            own generator after its minibatch).
        train: (``[N, input_dim]``, ``[N]`` labels), shared by the members.
        configs: one :class:`FitConfig` per member, equal but for the seeds.
        l2: the members' L2 penalties (default 0): loss = cross-entropy + ``l2 / 2`` x sum of squares of the hidden
            weight matrices (:func:`lrc_utils.losses.l2_penalised_cross_entropy`).
        monitors: one list of monitors per member (asked about a copy of the member at ``eval_steps``).
        products: ``"batched"`` (one ``bmm`` per layer and pass), ``"per_member"`` (one ``mm`` per member: the
            calls of a one-at-a-time run, exact by construction, slower) or ``"auto"``: batched when
            :func:`batched_products_are_exact` for these shapes on this machine, else per member, with a warning.
        loss: ``"cross_entropy"`` or ``"softmax_cross_entropy"`` (:data:`lrc_utils.losses.LOSSES`; each plain
            member trains as ``fit`` with :func:`member_loss` would train it; noisy members take the cross-entropy,
            as ``fit`` with :func:`lrc_utils.models.noisy_cross_entropy` trains them).
        checkpoints: one :class:`lrc_utils.training.Checkpoint` per member: every ``checkpoint_every`` steps each
            member's state is saved in the file and format :func:`lrc_utils.training.fit` writes for that run alone,
            and resumed from, so a run checkpointed in one ensemble, or alone, resumes in another or alone, with the
            records of an uninterrupted run; members whose checkpoints stand at different steps (say, a kill between
            two members' files) train as separate ensembles, one per step. The files are removed when the runs
            finish.
    Returns:
        One records dict per member, as :func:`lrc_utils.training.fit` returns it.
    """
    x, y = train
    e_count = len(members)
    l2 = [0.0] * e_count if l2 is None else list(l2)
    monitors = [[] for _ in members] if monitors is None else [list(m) for m in monitors]
    _check(members, train, configs, l2, monitors, loss)
    ckpts = None if checkpoints is None else [c.for_config(cfg) for c, cfg in zip(checkpoints, configs, strict=True)]
    states = None if ckpts is None else [c.read() for c in ckpts]  # each member's saved state, read once
    if states is not None:  # members whose checkpoints stand at different steps train apart
        steps = [0 if st is None else int(st["step"]) for st in states]
        if len(set(steps)) > 1:
            records: list = [None] * e_count
            for at in sorted(set(steps)):
                part = [e for e in range(e_count) if steps[e] == at]
                for e, rec in zip(part, fit_ensemble(
                        [members[e] for e in part], train, [configs[e] for e in part], [l2[e] for e in part],
                        [monitors[e] for e in part], progress, desc, products, loss, [checkpoints[e] for e in part])):
                    records[e] = rec
            return records
    config = configs[0]
    batch = min(config.batch_size, len(x))
    if e_count > 1 and batch % BATCH_MULTIPLE:
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
    # without a penalty the loss is the members' plain loss (as fit's is)
    half_l2 = 0.5 * torch.tensor([float(v) for v in l2], dtype=x.dtype) if any(l2) else None
    opt = FlatAdamW((list(ens.weights), list(ens.biases)), config.lr, config.weight_decay,
                    betas=(config.adam_beta1, 0.999))
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    with torch.random.fork_rng(devices=[]):  # building the copies draws from the CPU generator; a lone run does not
        copies = [_blank_like(members[0]).to(x.dtype) for _ in members]
    records: list[dict[str, list]] = [{m.name: [] for m in ms} for ms in monitors]
    start = 0 if states is None else _resume(states, ens, opt, gens, copies, records)
    losses = [member_loss(loss, v) for v in l2]
    evals = set(config.eval_steps)
    for step in tqdm(range(start + 1, config.steps + 1), initial=start, total=config.steps,
                     disable=not progress_enabled(progress), desc=desc, mininterval=2.0, leave=False):
        with flush_denormals():  # as fit's step (the minibatch loss too); monitors compute in full
            opt.lr = config.lr_at(step)
            idx = torch.stack([torch.randint(0, len(x), (batch,), generator=g) for g in gens])
            flat_idx = idx.view(-1)  # one gather of every member's minibatch
            xb, yb = x.index_select(0, flat_idx).view(e_count, batch, -1), y.index_select(0, flat_idx).view(idx.shape)
            noise = ens.draw_noise(gens, batch, x.dtype)
            logits = ens.gradients(xb, yb, loss, half_l2, noise)  # every gradient entry written: no zeroing needed
            evaluate = step in evals
            if evaluate:  # the minibatch loss a run reports is computed before its step, by the member alone
                with torch.no_grad():  # (a noisy member's from its logits: their noise is drawn once)
                    batch_losses = [math.nan if not monitors[e] else
                                    float(F.cross_entropy(logits[e], yb[e])) if noise is not None else
                                    float(losses[e](ens.copy_member(e, copies[e]), xb[e], yb[e]))
                                    for e in range(e_count)]
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
        if ckpts is not None and step % config.checkpoint_every == 0 and step < config.steps:
            _save(ckpts, ens, opt, gens, copies, records, step)
    for ckpt in ckpts or []:
        ckpt.remove()  # finished: what it held is in the returned records
    with torch.no_grad():
        for e, member in enumerate(members):
            ens.copy_member(e, member).eval()
    return [{name: pd.DataFrame(rows) for name, rows in r.items()} for r in records]


def _resume(states: list[dict | None], ens: MLPEnsemble, opt: FlatAdamW, gens: list[torch.Generator],
            copies: list[MLP], records: list[dict[str, list]]) -> int:
    """Restore every member from its checkpoint's state (:meth:`lrc_utils.training.Checkpoint.read`, as
    :func:`lrc_utils.training.fit` saves a run alone, or :func:`_save`), all at one step (:func:`fit_ensemble` splits
    the others off); return that step (0 without checkpoints)."""
    if all(st is None for st in states):
        return 0
    with torch.no_grad():
        for e, state in enumerate(states):
            copies[e].load_state_dict(state["model"])
            for k, layer in enumerate(copies[e].layers):
                ens.weights[k][e].copy_(layer.weight)
                ens.biases[k][e].copy_(layer.bias)
            gens[e].set_state(state["generator"])
            for name in records[e]:
                records[e][name] = list(state["records"].get(name, []))
    member_states = [st["optimizer"]["state"] for st in states]
    opt.load_state_dict({"param_groups": states[0]["optimizer"]["param_groups"],
                         "state": {i: {"step": member_states[0][i]["step"],
                                       **{key: torch.stack([ms[i][key] for ms in member_states])
                                          for key in ("exp_avg", "exp_avg_sq")}}
                                   for i in member_states[0]}})
    return int(states[0]["step"])


def _save(ckpts: list[Checkpoint], ens: MLPEnsemble, opt: FlatAdamW, gens: list[torch.Generator],
          copies: list[MLP], records: list[dict[str, list]], step: int) -> None:
    """Save each member's state in its own checkpoint, as :func:`lrc_utils.training.fit` saves a run alone."""
    optimizer = opt.state_dict()
    with torch.no_grad():
        for e, ckpt in enumerate(ckpts):
            member_optimizer = {"param_groups": optimizer["param_groups"],
                                "state": {i: {"step": entry["step"], "exp_avg": entry["exp_avg"][e].clone(),
                                              "exp_avg_sq": entry["exp_avg_sq"][e].clone()}
                                          for i, entry in optimizer["state"].items()}}
            ckpt.write(ens.copy_member(e, copies[e]).state_dict(), member_optimizer, gens[e].get_state(),
                       records[e], step)
