"""The optimisation of a training run: :class:`FitConfig` (steps, learning-rate schedule, optimiser, seed) and the
optimisers, :class:`FlatAdamW` (``torch.optim.AdamW``'s numbers on one flat buffer) and SGD."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

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
