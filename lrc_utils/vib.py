"""Deep Variational Information Bottleneck (Alemi et al. 2017): the model, its loss and its measurement.

The model: an MLP encoder maps ``x`` to the mean ``mu(x)`` and the scale
``sigma(x) = softplus(raw(x) - 5)`` of a diagonal Gaussian ``q(z|x)`` on ``R^K``; a sample
``z = mu + sigma * eps`` (``eps ~ N(0, I)``, reparameterised, so gradients flow through it) goes to a
linear softmax decoder. The loss of a batch is::

    CE + beta * KL,   CE = E_q[-log p(y | z)],   KL = mean over the batch of KL(q(z|x) || N(0, I)),

with the KL summed over the K latent dimensions (closed form, nats). Prediction averages the decoder's
class probabilities over several samples of ``z``.

For local rank the model keeps the package's ``preactivations`` contract: the encoder's hidden
pre-activations, then the bottleneck mean ``mu(x)`` as the last entry. The mean is an affine map of the
last hidden layer, so ``chain_layers()`` exposes the whole chain and :func:`lrc_utils.local_rank` takes
its exact fast path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .models import ActivationChain

#: sigma = softplus(raw - SCALE_SHIFT): a new encoder starts with small scales (Alemi et al.).
SCALE_SHIFT = 5.0


class VIB(ActivationChain):
    """Deep VIB classifier ``input_dim -> encoder_widths -> (mu, sigma) in R^latent_dim -> n_classes``.

    Args:
        input_dim: features per input.
        encoder_widths: hidden widths of the encoder (at least one), each followed by ``activation``.
        latent_dim: K, the dimension of the bottleneck ``z``.
        n_classes: number of classes (the decoder is one linear layer, as in the original).
        activation: one of :data:`lrc_utils.models.ACTIVATIONS` (:meth:`act`, :meth:`act_derivative`).
        n_predict_samples: samples of ``z`` averaged by :meth:`forward` (12 in the original).
    """

    def __init__(self, input_dim: int, encoder_widths: Sequence[int], latent_dim: int, n_classes: int,
                 activation: str = "relu", n_predict_samples: int = 12):
        super().__init__(activation)
        widths = [int(w) for w in encoder_widths]
        sizes = [int(input_dim), *widths, int(latent_dim), int(n_classes)]
        if not widths or any(s < 1 for s in sizes) or n_classes < 2:
            raise ValueError(f"need input_dim, latent_dim >= 1, at least one encoder width >= 1 and n_classes >= 2; "
                             f"got input_dim={input_dim}, encoder_widths={list(encoder_widths)}, "
                             f"latent_dim={latent_dim}, n_classes={n_classes}")
        if n_predict_samples < 1:
            raise ValueError(f"n_predict_samples must be >= 1, got {n_predict_samples}")
        self.sizes = sizes
        self.n_predict_samples = int(n_predict_samples)
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-3], sizes[1:-2]))
        self.mean_head = nn.Linear(widths[-1], latent_dim)
        self.scale_head = nn.Linear(widths[-1], latent_dim)
        self.decoder = nn.Linear(latent_dim, n_classes)

    @property
    def input_dim(self) -> int:
        return self.sizes[0]

    @property
    def latent_dim(self) -> int:
        return self.mean_head.out_features

    @property
    def n_classes(self) -> int:
        return self.decoder.out_features

    def chain_layers(self) -> list[nn.Linear]:
        """The encoder's hidden layers and the mean head: the affine maps behind :meth:`preactivations`."""
        return [*self.encoder, self.mean_head]

    def _hidden(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        zs, h = [], x
        for layer in self.encoder:
            zs.append(layer(h))
            h = self.act(zs[-1])
        return zs, h

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's hidden pre-activations ``[N, width_l]``, then the bottleneck mean ``[N, K]``."""
        zs, h = self._hidden(x)
        return [*zs, self.mean_head(h)]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of ``q(z|x)``, each ``[N, K]``; the scale is ``softplus(raw - 5) > 0``."""
        _, h = self._hidden(x)
        return self.mean_head(h), F.softplus(self.scale_head(h) - SCALE_SHIFT)

    def forward(self, x: torch.Tensor, n_samples: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Log of the predictive distribution ``log mean_s softmax(decoder(z_s))``, ``[N, n_classes]``,
        over ``n_samples`` samples of ``z`` (default :attr:`n_predict_samples`). These are normalised
        log-probabilities: their arg-max is the prediction and their cross-entropy is the predictive NLL."""
        mu, sigma = self.encode(x)
        z = sample_latent(mu, sigma, n_samples or self.n_predict_samples, generator)
        log_probs = F.log_softmax(self.decoder(z), dim=-1)  # [S, N, C]
        return torch.logsumexp(log_probs, dim=0) - math.log(z.shape[0])


def sample_latent(mu: torch.Tensor, sigma: torch.Tensor, n_samples: int = 1,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Reparameterised samples ``z = mu + sigma * eps`` of ``q(z|x)``: ``[n_samples, N, K]``.

    ``eps`` is drawn on the CPU by ``generator`` (so a CPU generator can drive a run on any device and
    be checkpointed) and moved to ``mu``'s device; gradients flow to ``mu`` and ``sigma``.
    """
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + sigma * eps


def kl_to_standard_normal(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag sigma^2) || N(0, I))`` per input, summed over the K dimensions: ``[N]``, nats.

    Closed form ``0.5 * sum_k (mu_k^2 + sigma_k^2 - 1 - 2 log sigma_k)``.
    """
    return 0.5 * (mu.square() + sigma.square() - 1.0 - 2.0 * torch.log(sigma)).sum(-1)


@dataclass
class VIBLoss:
    """The terms of the VIB loss of one batch (scalars, nats): ``total = ce + beta * kl``."""

    total: torch.Tensor
    ce: torch.Tensor
    kl: torch.Tensor


def vib_loss(model: VIB, x: torch.Tensor, y: torch.Tensor, beta: float, n_samples: int = 1,
             generator: torch.Generator | None = None) -> VIBLoss:
    """The VIB loss of a batch ``x`` ``[N, input_dim]``, ``y`` ``[N]``.

    ``ce`` is the cross-entropy of the decoder at ``n_samples`` reparameterised samples per input
    (averaged over samples and batch), ``kl`` the closed-form KL of :func:`kl_to_standard_normal`
    averaged over the batch.
    """
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    mu, sigma = model.encode(x)
    z = sample_latent(mu, sigma, n_samples, generator)
    logits = model.decoder(z)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.repeat(n_samples))
    kl = kl_to_standard_normal(mu, sigma).mean()
    return VIBLoss(total=ce + beta * kl, ce=ce, kl=kl)


def noise_resolved_rank(model: VIB, x: torch.Tensor) -> torch.Tensor:
    """Per input, the local rank of the bottleneck mean counted against the encoder's own noise: the number of
    singular values above 1 of ``diag(1 / sigma(x)) J(x)``, where ``J(x)`` (``[K, input_dim]``) is the Jacobian of
    the mean ``mu(x)`` with respect to the input and ``sigma(x)`` (``[K]``) the encoder's scale at ``x``. These are
    the directions in which a unit change of the input moves the mean by more than one standard deviation of the
    noise ``q(z|x)`` adds: a tolerance the VIB sets itself, per input and per latent coordinate, where the atol and
    rtol ranks take one from outside. With one scale ``s`` for every coordinate it is the count of ``J(x)``'s
    singular values above ``s``. The count depends on the units of ``x`` (a unit change), as any absolute tolerance
    does.

    Args:
        model: a :class:`VIB`, in eval mode.
        x: ``[N, input_dim]``.
    Returns:
        int64 ``[N]``. The Jacobian is computed in the model's dtype (as the reduced factor ``A(x)`` of
        :func:`lrc_utils.local_rank.singular_values`' fast path, ``J(x) = A(x) Q^T`` with ``Q`` of orthonormal
        columns, which has ``J``'s singular values also after the rows are scaled), then whitened and decomposed
        in float64.
    """
    from .local_rank import _factors, has_fast_path

    if x.ndim != 2 or x.shape[1] != model.input_dim or len(x) == 0:
        raise ValueError(f"x must be [N >= 1, {model.input_dim}], got {list(x.shape)}")
    with torch.no_grad():
        factor = _factors(model, x, has_fast_path(model))[-1].double()  # [N or 1, K, r]: the mean's Jacobian
        _, sigma = model.encode(x)
    whitened = factor / sigma.double()[:, :, None]
    return (torch.linalg.svdvals(whitened) > 1.0).sum(-1)


@torch.no_grad()
def evaluate_vib(model: VIB, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                 x_rank: torch.Tensor, atol: float, rtol: float, seed: int = 0, n_samples: int = 12) -> dict:
    """Measure a trained VIB model.

    Returns ``kl`` and ``ce`` (the loss terms averaged over the training set, nats; ``ce`` at ``n_samples``
    samples per input), ``train_acc`` and ``test_acc`` (prediction averaged over ``n_samples`` samples), the
    local rank of the bottleneck mean at ``x_rank`` with absolute tolerance ``atol`` (``local_rank_abs``) and
    with relative tolerance ``rtol`` (``local_rank_rel``: singular values above ``rtol * sigma_max`` of each
    input's own Jacobian), the mean over ``x_rank`` of the rank against the encoder's own noise
    (``local_rank_noise``, :func:`noise_resolved_rank`) and of the effective rank of the bottleneck Jacobian
    (``effective_rank``, :func:`lrc_utils.local_rank.effective_rank`: no tolerance), and ``singular_values``: the
    bottleneck Jacobian's singular values per input, float64 ``[len(x_rank), K]`` in descending order. Samples of z
    come from a generator seeded with ``seed``.
    """
    from .local_rank import effective_rank, local_rank, singular_values

    gen = torch.Generator().manual_seed(seed)
    mu, sigma = model.encode(train[0])
    kl = float(kl_to_standard_normal(mu, sigma).mean())
    ce = float(vib_loss(model, *train, beta=0.0, n_samples=n_samples, generator=gen).ce)
    accs = [float((model(x, n_samples, gen).argmax(-1) == y).double().mean()) for x, y in (train, test)]
    rank_abs = float(local_rank(model, x_rank, atol=atol)[-1])
    rank_rel = float(local_rank(model, x_rank, atol=0.0, rtol=rtol)[-1])
    spectrum = singular_values(model, x_rank)[-1][:, : model.latent_dim]
    rank_noise = float(noise_resolved_rank(model, x_rank).double().mean())
    return {"kl": kl, "ce": ce, "train_acc": accs[0], "test_acc": accs[1], "local_rank_abs": rank_abs,
            "local_rank_rel": rank_rel, "local_rank_noise": rank_noise,
            "effective_rank": float(effective_rank(spectrum).mean()), "singular_values": spectrum}
