"""The one training loop of the package: :func:`fit`, with monitors and resumable checkpoints.

Every experiment of the book trains through :func:`fit`::

    config = FitConfig(steps=3000, lr=1e-3, weight_decay=0.1, batch_size=64, seed=0, eval_steps=(1, 10, 3000))
    monitors = [ClassifierMetrics(train, test), LocalRankMonitor(x_rank, atol=1e-2)]
    records = fit(model, cross_entropy_loss, train, config, monitors, checkpoint=Checkpoint(folder, identity))
    records["local_rank"]   # a tidy DataFrame: one row per (eval step, layer)

* Optimisation: minibatches drawn with replacement by one CPU generator seeded with ``config.seed`` (it
  also drives any sampling inside the loss, such as the VIB's samples of z); AdamW with
  ``betas=(adam_beta1, 0.999)`` and decoupled weight decay on weight matrices only; the learning rate decays
  exponentially from ``lr`` to ``lr * lr_final_ratio`` over the run (constant when the ratio is 1).
* Monitors: small objects asked at every step of ``config.eval_steps`` for rows of a tidy table (see
  :class:`Monitor`). The model is in eval mode while they measure.
* Checkpoints: :class:`Checkpoint` is the one place that decides whether saved work belongs to a run. Its
  file name is a digest of the run's identity (the fit config plus whatever the caller adds: model, data
  and study parameters, run key), the identity is stored inside and compared on load, and the file is read
  with ``torch.load(weights_only=True)``: only tensors and plain Python values, never pickled objects.
  A run resumed from a checkpoint gives exactly the records of an uninterrupted run; a finished run removes it.
* Losses: :func:`cross_entropy_loss`, the first author's :func:`softmax_cross_entropy_loss` (both by name in
  :data:`LOSSES`) and Chelombiev et al.'s :func:`l2_penalised_cross_entropy`; their evaluation epochs,
  :func:`eval_epochs`.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .config import flush_denormals, progress_enabled
from .local_rank import (
    active_units,
    effective_rank,
    local_rank,
    ranks_at_tolerances,
    restricted_singular_values,
    singular_values,
)

Data = tuple[torch.Tensor, torch.Tensor]
#: ``loss_fn(model, x_batch, y_batch, generator) -> scalar loss tensor`` (nats). The generator is the run's
#: minibatch generator, for losses that sample (the VIB); others ignore it.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator=None) -> torch.Tensor:
    """Mean cross-entropy (nats) of ``model(x)`` (logits ``[N, C]``) against labels ``y`` (``[N]``)."""
    return F.cross_entropy(model(x), y)


def softmax_cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator=None
                               ) -> torch.Tensor:
    """Mean cross-entropy (nats) of the *probabilities* ``softmax(model(x))`` taken as logits: a softmax applied
    twice, as the first author's public code trains (its model ends in a softmax and its loss is
    ``nn.CrossEntropyLoss``; ``niketp03/localcomplexity``). With C classes the loss is bounded below by
    ``log(e + C - 1) - 1`` (1.46 nats for 10 classes, at one-hot probabilities), so it never reaches zero and its
    gradient never vanishes, unlike :func:`cross_entropy_loss`. Accuracy is unchanged (the softmax keeps the
    arg-max)."""
    return F.cross_entropy(F.softmax(model(x), dim=-1), y)


#: The classification losses a study can name.
LOSSES: dict[str, LossFn] = {"cross_entropy": cross_entropy_loss, "softmax_cross_entropy": softmax_cross_entropy_loss}


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` (``[N, d]``) whose arg-max output equals the label ``y`` (``[N]``)."""
    return float((model(x).argmax(-1) == y).double().mean())


def log_spaced_steps(total: int, n: int) -> list[int]:
    """About ``n`` distinct integer steps from 1 to ``total``, evenly spaced in log step (both ends included)."""
    if total < 1 or n < 1:
        raise ValueError(f"need total >= 1 and n >= 1, got {total} and {n}")
    steps = np.unique(np.round(np.logspace(0, np.log10(total), n)).astype(int))
    return [int(s) for s in steps]


def digest(value: object) -> str:
    """A short, stable digest of a JSON-able value (dict keys sorted)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


#: The optimisers :func:`fit` offers (:class:`FitConfig` ``optimizer``).
OPTIMIZERS = ("adamw", "sgd")


@dataclass(frozen=True)
class FitConfig:
    """The optimisation of one training run (all of it is part of the run's checkpoint identity)."""

    steps: int
    lr: float
    batch_size: int
    seed: int
    eval_steps: tuple[int, ...] = ()  # steps (1..steps) at which the monitors are asked
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay, on weight matrices only
    adam_beta1: float = 0.9
    lr_final_ratio: float = 1.0  # the learning rate decays exponentially to lr * lr_final_ratio
    checkpoint_every: int = 1000
    optimizer: str = "adamw"  # "adamw" (FlatAdamW) or "sgd" (torch.optim.SGD with momentum, see sgd_weights_only)
    momentum: float = 0.9  # SGD's momentum (unused by AdamW)

    def identity(self) -> dict:
        """What names a run's checkpoint: every field, but the optimiser fields only where they differ from
        AdamW's defaults (so the checkpoints of runs made before they existed keep their names)."""
        fields = asdict(self)
        if self.optimizer == "adamw":
            fields.pop("optimizer"), fields.pop("momentum")
        return fields

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"need steps >= 1, batch_size >= 1, lr > 0, weight_decay >= 0; got {self}")
        if not 0 <= self.adam_beta1 < 1 or not 0 < self.lr_final_ratio <= 1 or self.checkpoint_every < 1:
            raise ValueError(f"need 0 <= adam_beta1 < 1, 0 < lr_final_ratio <= 1, checkpoint_every >= 1; got {self}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.optimizer not in OPTIMIZERS or not 0 <= self.momentum < 1:
            raise ValueError(f"need optimizer in {OPTIMIZERS} and 0 <= momentum < 1; got {self}")
        if self.eval_steps and (min(self.eval_steps) < 1 or max(self.eval_steps) > self.steps):
            raise ValueError(f"eval_steps must lie in [1, steps={self.steps}], got {self.eval_steps}")

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (1-based)."""
        return self.lr * self.lr_final_ratio ** ((step - 1) / self.steps)


def adamw_weights_only(model: nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (biases and other vectors are not decayed)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas)


def sgd_weights_only(model: nn.Module, lr: float, weight_decay: float, momentum: float = 0.9) -> torch.optim.SGD:
    """``torch.optim.SGD`` with momentum and weight decay on weight matrices only (biases and other vectors not
    decayed). Its weight decay is SGD's, added to the gradient (``g + wd * w``) before the momentum, unlike AdamW's
    decoupled decay."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=momentum)


def set_learning_rate(opt: torch.optim.Optimizer | FlatAdamW, lr: float) -> None:
    """Set the learning rate of :class:`FlatAdamW` or of every parameter group of a torch optimiser."""
    if isinstance(opt, FlatAdamW):
        opt.lr = lr
    else:
        for group in opt.param_groups:
            group["lr"] = lr


#: Parameters in :class:`FlatAdamW`'s buffer start on 64-byte boundaries, as separately allocated tensors do.
ALIGN_BYTES = 64


class FlatAdamW:
    """:func:`adamw_weights_only` (``torch.optim.AdamW``, its single-tensor path, the CPU default) on one flat buffer:
    the same arithmetic element by element, so the same numbers bit for bit on the CPU (tests/test_flat_adamw.py;
    on CUDA torch's default is its foreach path, not compared), in eight array operations per step instead of
    eight per parameter tensor.

    ``params`` is a model (its weight matrices decayed, its biases and other vectors not) or the two lists
    (decayed, not decayed). At construction the parameters are copied into one contiguous buffer (the decayed ones
    first) and become views of it, and their ``.grad`` views of one
    gradient buffer that backward accumulates into; :meth:`zero_grad` zeroes it. So every trainable parameter must
    take part in the loss at every step (where ``torch.optim.AdamW`` skips a parameter without a gradient, this
    one would decay it); the model must not be moved to another device afterwards. :meth:`state_dict` and
    :meth:`load_state_dict` use ``torch.optim.AdamW``'s format, so checkpoints of either load into the other.
    """

    def __init__(self, params: nn.Module | tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]], lr: float,
                 weight_decay: float, betas=(0.9, 0.999), eps: float = 1e-8):
        if isinstance(params, nn.Module):  # weight matrices decayed, vectors not
            trainable = [p for p in params.parameters() if p.requires_grad]
            decay, no_decay = [p for p in trainable if p.ndim >= 2], [p for p in trainable if p.ndim < 2]
        else:  # (decayed, not decayed), e.g. an ensemble's stacked weights and biases
            decay, no_decay = (list(group) for group in params)
        if not decay + no_decay:
            raise ValueError("the model has no trainable parameter")
        self.params = decay + no_decay
        kinds = {(p.dtype, p.device) for p in self.params}
        if len(kinds) > 1:
            raise ValueError(f"FlatAdamW needs every parameter in one dtype on one device, got "
                             f"{sorted(map(str, kinds))}")
        # each parameter keeps its strides and starts on a 64-byte boundary, as a tensor of its own would (the
        # matrix kernels' summation order may depend on alignment); the gaps stay zero and never move
        first = self.params[0]
        align = ALIGN_BYTES // first.element_size()
        starts, ends = [], [0]
        for param in self.params:
            starts.append(-(-ends[-1] // align) * align)
            ends.append(starts[-1] + 1 + sum((size - 1) * stride for size, stride in zip(param.shape, param.stride())))
        end = ends[-1]
        self.n_decay = ends[len(decay)]  # the decayed parameters' part of the buffer
        self.flat = torch.zeros(end, dtype=first.dtype, device=first.device)
        self.grad = torch.zeros_like(self.flat)
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.denom = torch.empty_like(self.flat)
        self.views: list[tuple[int, tuple, tuple]] = []
        with torch.no_grad():
            for param, start in zip(self.params, starts):
                view = (start, tuple(param.shape), tuple(param.stride()))
                self.flat.as_strided(view[1], view[2], start).copy_(param)
                param.data = self.flat.as_strided(view[1], view[2], start)
                param.grad = self.grad.as_strided(view[1], view[2], start)
                self.views.append(view)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, tuple(betas), eps
        self.step_count = 0.0  # float, as torch's float32 step counter (exact up to 2**24 steps)
        self._groups = [{"lr": lr, "betas": self.betas, "eps": eps, "weight_decay": wd, "amsgrad": False,
                         "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                         "fused": None, "decoupled_weight_decay": True, "params": list(ids)}
                        for wd, ids in ((weight_decay, range(len(decay))),
                                        (0.0, range(len(decay), len(self.params))))]

    def _view(self, buffer: torch.Tensor, i: int) -> torch.Tensor:
        start, shape, stride = self.views[i]
        return buffer.as_strided(shape, stride, start)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the gradient buffer (``set_to_none`` is accepted for ``torch.optim`` compatibility; the views stay)."""
        self.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for param, (start, _, _) in zip(self.params, self.views):
            if param.grad is None or param.grad.data_ptr() != self.grad.data_ptr() + start * self.grad.element_size():
                raise RuntimeError("a parameter's .grad is no longer a view of FlatAdamW's gradient buffer (did "
                                   "something call model.zero_grad() or set .grad = None?): zero gradients through "
                                   "the optimiser, opt.zero_grad()")
        lr, (beta1, beta2) = self.lr, self.betas
        self.step_count += 1
        if self.weight_decay != 0:
            self.flat[:self.n_decay].mul_(1 - lr * self.weight_decay)
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        step_size = lr / (1 - beta1 ** self.step_count)
        bias_correction2_sqrt = (1 - beta2 ** self.step_count) ** 0.5
        torch.sqrt(self.exp_avg_sq, out=self.denom)
        self.denom.div_(bias_correction2_sqrt).add_(self.eps)
        self.flat.addcdiv_(self.exp_avg, self.denom, value=-step_size)

    def state_dict(self) -> dict:
        state = {}
        if self.step_count:
            state = {i: {"step": torch.tensor(self.step_count, dtype=torch.float32),
                         "exp_avg": self._view(self.exp_avg, i).clone(),
                         "exp_avg_sq": self._view(self.exp_avg_sq, i).clone()}
                     for i in range(len(self.params))}
        groups = [{**g, "lr": self.lr, "params": list(g["params"])} for g in self._groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in groups]
        if sizes != [len(g["params"]) for g in self._groups]:
            raise ValueError(f"optimizer state for parameter groups of sizes {sizes}, this model has "
                             f"{[len(g['params']) for g in self._groups]}")
        ids = [i for g in groups for i in g["params"]]
        state = state_dict["state"]
        with torch.no_grad():
            steps = set()
            for i, index in enumerate(ids):
                entry = state.get(index)
                if entry is None:
                    self._view(self.exp_avg, i).zero_()
                    self._view(self.exp_avg_sq, i).zero_()
                    steps.add(0.0)
                    continue
                for key, buffer in (("exp_avg", self.exp_avg), ("exp_avg_sq", self.exp_avg_sq)):
                    if tuple(entry[key].shape) != self.views[i][1]:
                        raise ValueError(f"optimizer state {key} of parameter {index} has shape "
                                         f"{tuple(entry[key].shape)}, the parameter {self.views[i][1]}")
                    self._view(buffer, i).copy_(entry[key])
                steps.add(float(entry["step"]))
        if len(steps) != 1:
            raise ValueError(f"optimizer state holds parameters at different steps {sorted(steps)}")
        self.step_count = steps.pop()
        self.lr = groups[0]["lr"]


# ----------------------------------------------------------------------------------------------------
# monitors


class Monitor(Protocol):
    """Asked at every evaluation step for rows of its table ``records[name]`` (a ``step`` column is added)."""

    name: str

    def __call__(self, model: nn.Module, step: int, batch_loss: float) -> list[dict[str, object]]: ...


@dataclass
class BatchLoss:
    """The loss (nats) of the minibatch of the evaluation step: column ``batch_loss``."""

    name: str = "batch_loss"

    def __call__(self, model, step, batch_loss):
        return [{"batch_loss": batch_loss}]


@dataclass
class ClassifierMetrics:
    """Full-set training loss (cross-entropy, nats) and accuracy, and test accuracy: columns ``train_loss``,
    ``train_acc``, ``test_acc``."""

    train: Data
    test: Data
    name: str = "metrics"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        train_loss = float(F.cross_entropy(model(self.train[0]), self.train[1]))
        return [{"train_loss": train_loss, "train_acc": accuracy(model, *self.train),
                 "test_acc": accuracy(model, *self.test)}]


@dataclass
class LocalRankMonitor:
    """Local rank of every hidden layer at ``x`` (``[M, input_dim]``): columns ``layer`` (from 1), ``local_rank``.
    With ``layers`` (dotted names of submodules of any model), of those layers instead (:func:`local_rank`'s named
    path, ``x`` of shape ``[M, *input_shape]``): ``layer`` is then the name."""

    x: torch.Tensor
    atol: float
    rtol: float = 0.0
    name: str = "local_rank"
    layers: tuple[str, ...] | None = None

    def __call__(self, model, step, batch_loss):
        if self.layers is not None:
            named = local_rank(model, self.x, atol=self.atol, rtol=self.rtol, layers=list(self.layers))
            return [{"layer": layer, "local_rank": float(r)} for layer, r in zip(named.layers, named.local_rank)]
        ranks = local_rank(model, self.x, atol=self.atol, rtol=self.rtol)
        return [{"layer": layer, "local_rank": float(r)} for layer, r in enumerate(ranks, start=1)]


@dataclass
class RankMeasures:
    """Per hidden layer at ``x`` (``[M, input_dim]``), means over the inputs: ``rank_atol`` (singular values of the
    input Jacobian above ``atol``), ``rank_rtol`` (above ``rtol`` times the largest), ``effective_rank``
    (:func:`lrc_utils.local_rank.effective_rank`: no threshold), ``active_units``
    (:func:`lrc_utils.local_rank.active_units`) and, with ``basis`` (``[input_dim, k]``, orthonormal), ``rank_subspace``
    (the Jacobian restricted to the basis's span, above ``atol``; NaN without a basis). ``model`` is an
    :class:`lrc_utils.models.ActivationChain`."""

    x: torch.Tensor
    atol: float
    rtol: float
    basis: torch.Tensor | None = None
    name: str = "rank_measures"

    @torch.no_grad()
    def __call__(self, model, step, batch_loss):
        spectra, active = singular_values(model, self.x), active_units(model, self.x)
        restricted = (restricted_singular_values(model, self.x, self.basis) if self.basis is not None
                      else [None] * len(spectra))
        rows = []
        for layer, (s, units, sub) in enumerate(zip(spectra, active, restricted), start=1):
            rank_atol, rank_rtol = ranks_at_tolerances(s, [self.atol], [self.rtol]).local_rank
            rank_subspace = ranks_at_tolerances(sub, [self.atol], []).local_rank[0] if sub is not None else math.nan
            rows.append({"layer": layer, "rank_atol": rank_atol, "rank_rtol": rank_rtol,
                         "effective_rank": float(effective_rank(s).mean()), "active_units": units,
                         "rank_subspace": float(rank_subspace)})
        return rows


# ----------------------------------------------------------------------------------------------------
# checkpoints


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``: never half a file
    at ``path``. The file gets the mode a new file gets under the process's umask (``mkstemp`` would leave it 0600,
    unreadable by a group sharing the results) and reaches the disk (fsync) before the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------------
# work files: checkpoints and finished runs, checksummed and stamped with the code that wrote them

#: The first bytes of a work file; the SHA-256 of the rest (hex) follows on the same line.
WORK_MAGIC = b"lrc-work-v1 sha256="


class DamagedWork(ValueError):
    """A checkpoint or run file whose bytes are not what was written (or that this package did not write)."""


class StaleWork(RuntimeError):
    """A checkpoint or run file written by other code than the code now computing (see :func:`work_code`)."""


_WORK_CODE: contextvars.ContextVar[tuple[str | None, bool]] = contextvars.ContextVar("lrc_work_code",
                                                                                      default=(None, False))


@contextmanager
def work_code(digest: str | None, reuse_stale: bool = False) -> Iterator[None]:
    """Within the block, checkpoints and finished-run files are stamped with ``digest`` (a digest of the code that
    computes them, e.g. :func:`lrc_utils.book.store.code_digest` of a study), and one stamped with another digest is
    refused with :class:`StaleWork` when it is loaded, unless ``reuse_stale``. Work written while ``reuse_stale``
    is on may continue work of other code, so it is stamped as such (never equal to ``digest``): a later block
    without ``reuse_stale`` refuses it too. Outside any block no digest is written or compared (a library user's
    own runs)."""
    token = _WORK_CODE.set((digest, reuse_stale))
    try:
        yield
    finally:
        _WORK_CODE.reset(token)


def current_work_code() -> tuple[str | None, bool]:
    """(digest, reuse_stale) of the innermost :func:`work_code` block; ``(None, False)`` outside any."""
    return _WORK_CODE.get()


def is_stale(stored_code: str | None) -> bool:
    """Whether work stamped ``stored_code`` was written by other code than the current :func:`work_code`."""
    digest, _ = _WORK_CODE.get()
    return digest is not None and stored_code != digest


def save_work(obj: dict, path: Path) -> None:
    """Write ``obj`` (tensors and plain values) to ``path`` atomically, stamped with the current :func:`work_code`
    digest (key ``code``), behind a header holding the SHA-256 of the payload."""
    digest, reuse_stale = _WORK_CODE.get()
    stamp = f"{digest} (written with reuse of stale work)" if digest is not None and reuse_stale else digest
    buffer = io.BytesIO()
    torch.save({**obj, "code": stamp}, buffer)
    payload = buffer.getvalue()
    data = WORK_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def load_work(path: Path, map_location=None) -> dict:
    """What :func:`save_work` wrote to ``path``, after checking its SHA-256 (:class:`DamagedWork` if the bytes
    differ) and reading it with ``torch.load(weights_only=True)`` (tensors and plain values only: a file carrying
    any other pickled object is refused and nothing of it runs). A file written before work files had a header
    (plain values, no checksum) is read with code ``None``: stale wherever a :func:`work_code` digest is compared,
    so it is resumed only when its reuse is asked."""
    data = Path(path).read_bytes()
    if not data.startswith(WORK_MAGIC):  # written before work files had a header: no checksum, no code digest
        try:
            legacy = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
        except Exception:  # noqa: BLE001 - not a torch file of plain values either
            legacy = None
        if isinstance(legacy, dict):
            return {**legacy, "code": None}  # of unknown code: stale wherever a digest is compared
        raise DamagedWork(f"{path} has no checksum header and is not a file of tensors and plain values: it was "
                          "not loaded. Delete it, or rerun with recompute = 'always' (runner: --recompute), to "
                          "compute that work again.")
    header, _, payload = data.partition(b"\n")
    recorded, actual = header[len(WORK_MAGIC):].decode(errors="replace"), hashlib.sha256(payload).hexdigest()
    if actual != recorded:
        raise DamagedWork(f"{path} is not the file that was written: its SHA-256 is {actual[:16]}..., its header "
                          f"records {recorded[:16]}... (cut, edited or corrupted). Delete it, or rerun with recompute "
                          "= 'always' (runner: --recompute), to compute that work again.")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError (or RuntimeError) for disallowed globals
        raise DamagedWork(f"{path} holds objects other than tensors and plain values; it was not loaded. Delete it, "
                          f"or rerun with recompute = 'always' (runner: --recompute), to start over. ({err})") from err


class Checkpoint:
    """Resumable state of one training run: ``<folder>/<digest of identity>.pt``.

    ``identity`` (a JSON-able dict) says what the run computes; :func:`fit` adds its :class:`FitConfig`.
    A file whose stored identity differs from the run's is refused (``ValueError``), never reused; so is one whose
    checksum fails (:class:`DamagedWork`) or that other code wrote (:class:`StaleWork`, see :func:`work_code`).
    """

    def __init__(self, folder: str | Path, identity: dict):
        self.folder = Path(folder)
        self.identity = json.loads(json.dumps(identity, default=str))  # as it will be stored

    def for_config(self, config: FitConfig) -> Checkpoint:
        return Checkpoint(self.folder, {**self.identity, "fit": config.identity()})

    @property
    def path(self) -> Path:
        return self.folder / f"{digest(self.identity)}.pt"

    def load(self, model: nn.Module, opt: torch.optim.Optimizer | FlatAdamW, gen: torch.Generator) -> tuple[dict, int]:
        """Restore ``model``, ``opt`` and ``gen``; return (records so far, step), or ({}, 0) without a file."""
        if not self.path.exists():
            return {}, 0
        state = load_work(self.path, map_location=next(model.parameters()).device)
        if state.get("identity") != self.identity:
            raise ValueError(f"checkpoint {self.path} was written for another run; delete it to start over")
        if is_stale(state.get("code")) and not current_work_code()[1]:
            raise StaleWork(f"checkpoint {self.path} (step {int(state['step'])}) was written by other code (digest "
                            f"{state.get('code')}, now {current_work_code()[0]}); it was not resumed")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        return state["records"], int(state["step"])

    def save(self, model: nn.Module, opt: torch.optim.Optimizer | FlatAdamW, gen: torch.Generator, records: dict,
             step: int) -> None:
        save_work({"identity": self.identity, "model": model.state_dict(), "optimizer": opt.state_dict(),
                   "generator": gen.get_state(), "records": records, "step": step}, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------
# the loop


def minibatch_step(model: nn.Module, opt: torch.optim.Optimizer | FlatAdamW, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int, gen: torch.Generator, loss_fn: LossFn = cross_entropy_loss) -> float:
    """One optimiser step on a minibatch drawn with replacement by ``gen``; returns its loss (nats)."""
    idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=gen).to(x.device)
    loss = loss_fn(model, x[idx], y[idx], gen)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def fit(model: nn.Module, loss_fn: LossFn, train: Data, config: FitConfig, monitors: Sequence[Monitor] = (),
        checkpoint: Checkpoint | None = None, progress: bool | None = None, desc: str = "training"
        ) -> dict[str, pd.DataFrame]:
    """Train ``model`` in place on ``train`` = (``[N, input_dim]``, ``[N]``) and record its monitors.

    Returns one tidy DataFrame per monitor (``records[monitor.name]``), its rows in step order with a
    ``step`` column first. With ``checkpoint``, the model, optimiser, generator and records are saved every
    ``config.checkpoint_every`` steps, and a later call resumes from there with identical records; the file
    is removed when the run finishes (store the returned records, e.g. with :func:`lrc_utils.grid.run_grid`).
    Each step, its minibatch loss included, runs inside :func:`lrc_utils.config.flush_denormals` (with one torch
    thread, subnormal numbers read as zero, for speed; the same numbers on Figure 1's runs and in
    ``tests/test_training.py``); monitors' own computations and checkpoints compute in full.
    """
    x, y = train
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"train must hold the same positive number of inputs and labels, got {len(x)} and {len(y)}")
    names = [m.name for m in monitors]
    if len(set(names)) != len(names):
        raise ValueError(f"monitor names must be distinct, got {names}")
    gen = torch.Generator().manual_seed(config.seed)
    if config.optimizer == "sgd":
        opt = sgd_weights_only(model, config.lr, config.weight_decay, config.momentum)
    else:
        opt = FlatAdamW(model, config.lr, config.weight_decay, betas=(config.adam_beta1, 0.999))
    ckpt = checkpoint.for_config(config) if checkpoint is not None else None
    records, start = ckpt.load(model, opt, gen) if ckpt is not None else ({}, 0)
    records = {name: list(records.get(name, [])) for name in names}
    evals = set(config.eval_steps)
    bar = tqdm(total=config.steps, initial=start, disable=not progress_enabled(progress), desc=desc,
               mininterval=2.0, leave=False)
    model.train()
    decaying_lr = config.lr_final_ratio != 1.0  # else lr_at(step) == lr, as the optimiser was built with
    for step in range(start + 1, config.steps + 1):
        if decaying_lr:
            set_learning_rate(opt, config.lr_at(step))
        with flush_denormals():  # the step only (its loss included): monitors and checkpoints compute in full
            batch_loss = minibatch_step(model, opt, x, y, config.batch_size, gen, loss_fn)
        bar.update()
        if step in evals:
            model.eval()
            for monitor in monitors:
                records[monitor.name] += [{"step": step, **row} for row in monitor(model, step, batch_loss)]
            model.train()
        if ckpt is not None and step % config.checkpoint_every == 0 and step < config.steps:
            ckpt.save(model, opt, gen, records, step)
    bar.close()
    if ckpt is not None:
        ckpt.remove()  # finished: what it held is in the returned records
    model.eval()
    return {name: pd.DataFrame(rows) for name, rows in records.items()}


def l2_penalised_cross_entropy(l2: float):
    """``loss(model, x, y, gen)``: mean cross-entropy (nats) + ``l2`` x (1/2) x the sum of the squared entries
    of the hidden layers' weight matrices (not the output layer's, not the biases).

    This is Chelombiev et al.'s loss (``idnns/networks/model.py``: ``penalty * sum(tf.nn.l2_loss(W))`` over
    every weight matrix but the last; their default penalty is 0.015). Their cross-entropy is summed over the
    batch where ours is averaged, which Adam's normalised steps make equivalent (up to its epsilon)."""

    def loss(model, x, y, generator=None):
        ce = F.cross_entropy(model(x), y)
        if l2 == 0:
            return ce
        return ce + 0.5 * l2 * sum(layer.weight.square().sum() for layer in model.chain_layers())

    return loss


def eval_epochs(epochs: int, n_evals: int) -> list[int]:
    """About ``n_evals`` distinct epochs from 1 to ``epochs``, log-spaced."""
    return sorted({int(e) for e in np.round(np.logspace(0, math.log10(epochs), n_evals))})
