"""The training losses (nats): the cross-entropy, the first author's softmax cross-entropy and Chelombiev et al.'s
L2-penalised cross-entropy, as ``loss_fn(model, x_batch, y_batch, generator) -> scalar tensor`` for
:func:`lrc_utils.training.fit`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

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


@dataclass(frozen=True)
class L2PenalisedCrossEntropy:
    """The loss :func:`l2_penalised_cross_entropy` returns, with its penalty ``l2`` readable (so that
    :func:`lrc_utils.ensemble.fast_path_loss` and an ensemble know it)."""

    l2: float

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator=None) -> torch.Tensor:
        ce = F.cross_entropy(model(x), y)
        if self.l2 == 0:
            return ce
        return ce + 0.5 * self.l2 * sum(layer.weight.square().sum() for layer in model.chain_layers())


def l2_penalised_cross_entropy(l2: float) -> L2PenalisedCrossEntropy:
    """``loss(model, x, y, gen)``: mean cross-entropy (nats) + ``l2`` x (1/2) x the sum of the squared entries
    of the hidden layers' weight matrices (not the output layer's, not the biases).

    This is Chelombiev et al.'s loss (``idnns/networks/model.py``: ``penalty * sum(tf.nn.l2_loss(W))`` over
    every weight matrix but the last; their default penalty is 0.015). Their cross-entropy is summed over the
    batch where ours is averaged, which Adam's normalised steps make equivalent (up to its epsilon)."""
    return L2PenalisedCrossEntropy(l2)


def ensemble_loss(loss_fn: LossFn) -> tuple[str, float] | None:
    """(name in :data:`LOSSES`, L2 penalty) of a loss :func:`lrc_utils.ensemble.fit_ensemble` trains with:
    :func:`cross_entropy_loss`, :func:`softmax_cross_entropy_loss` or :func:`l2_penalised_cross_entropy`; else None."""
    if isinstance(loss_fn, L2PenalisedCrossEntropy):
        return "cross_entropy", float(loss_fn.l2)
    name = next((name for name, fn in LOSSES.items() if fn is loss_fn), None)  # by identity: losses may be unhashable
    return None if name is None else (name, 0.0)
