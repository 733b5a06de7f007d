"""Fully connected networks whose hidden pre-activations can be read off.

The contract every model of this package keeps (and :func:`lrc_utils.local_rank` relies on):
``model.preactivations(x)`` takes an input batch ``[N, input_dim]`` and returns a list with one tensor
``[N, width_l]`` per hidden layer: the affine output of that layer before its nonlinearity. The logits
are not a hidden layer. (The Deep VIB model, :class:`lrc_utils.vib.VIB`, keeps it too, with the
bottleneck mean as its last entry.)

Also here: Goldfeld et al.'s noisy MLP (:class:`NoisyMLP`) with its noise-reproducible forward pass
(:func:`noisy_logits`, :func:`noisy_cross_entropy`, :func:`noiseless_representations`), and the initialisation
of Chelombiev et al.'s code (:func:`init_like_chelombiev`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def _gelu_derivative(z: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return cdf + z * pdf


def _softplus_derivative(z: torch.Tensor) -> torch.Tensor:
    # torch's softplus (beta=1, threshold=20) is the identity above the threshold.
    return torch.where(z > 20.0, torch.ones_like(z), torch.sigmoid(z))


def _sigmoid_derivative(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1.0 - s)


#: name -> (activation, its elementwise derivative). The derivative is what the exact fast path of
#: local_rank multiplies by; tests check each against autograd.
ACTIVATIONS = {
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype)),
    "tanh": (torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2),
    "gelu": (F.gelu, _gelu_derivative),
    "elu": (F.elu, lambda z: torch.where(z > 0, torch.ones_like(z), torch.exp(z))),
    "softplus": (F.softplus, _softplus_derivative),
    "sigmoid": (torch.sigmoid, _sigmoid_derivative),
    "identity": (lambda z: z, torch.ones_like),
}


class ActivationChain(nn.Module):
    """Base of the package's models: one elementwise activation (a name of :data:`ACTIVATIONS`) between
    affine layers, with its derivative for the exact fast path of :func:`lrc_utils.local_rank`.

    The fast path's contract, which a subclass claims by being one (never by having methods of these names):
    ``chain_layers()`` returns the ``nn.Linear`` layers ``L_1 ... L_k`` whose outputs are ``preactivations(x)``,
    and they form a plain chain, ``z_1 = L_1(x)`` and ``z_{l+1} = L_{l+1}(act(z_l))``: no skip connection, no
    normalisation, no other operation between them. tests/test_local_rank.py checks every model of the package
    against the general path; a model that breaks the chain (a residual block, say) must not subclass this.
    """

    def chain_layers(self) -> list[nn.Linear]:
        """The affine layers behind :meth:`preactivations`, in order (see the class's contract)."""
        raise NotImplementedError(f"{type(self).__name__} subclasses ActivationChain but defines no chain_layers()")

    def __init__(self, activation: str):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        self.activation = activation

    def act(self, z: torch.Tensor) -> torch.Tensor:
        return ACTIVATIONS[self.activation][0](z)

    def act_derivative(self, z: torch.Tensor) -> torch.Tensor:
        """Elementwise derivative of the activation at the pre-activation ``z``."""
        return ACTIVATIONS[self.activation][1](z)


class MLP(ActivationChain):
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    ``MLP([784, 200, 200, 200, 200, 10])`` has 4 hidden layers of width 200 and 10 logits. Every hidden
    layer is ``activation(W_l h + b_l)``; the last layer is affine (the logits).

    Args:
        sizes: input width, hidden widths, output width (at least one hidden layer).
        activation: one of :data:`ACTIVATIONS`.
        init: ``"torch"`` (PyTorch's default for ``nn.Linear``) or ``"normal"``: weights
            N(0, 1/fan_in) and zero biases (the first author's habit in public code).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", init: str = "torch"):
        super().__init__(activation)
        sizes = [int(s) for s in sizes]
        if len(sizes) < 3 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must list input, at least one hidden and output width, all >= 1; got {sizes}")
        if init not in ("torch", "normal"):
            raise ValueError(f"unknown init {init!r}; expected 'torch' or 'normal'")
        self.sizes = sizes
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        if init == "normal":
            for layer in self.layers:
                nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
                nn.init.zeros_(layer.bias)

    @property
    def input_dim(self) -> int:
        return self.sizes[0]

    @property
    def hidden_widths(self) -> list[int]:
        return self.sizes[1:-1]

    def chain_layers(self) -> list[nn.Linear]:
        """The affine layers whose outputs are :meth:`preactivations`, in order, with the activation between
        consecutive ones: the hidden layers. Models that provide this (and :meth:`act_derivative`) get the
        exact fast path of :func:`lrc_utils.local_rank`."""
        return list(self.layers[:-1])

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One ``[N, width_l]`` tensor per hidden layer: ``W_l h_{l-1} + b_l`` before the nonlinearity."""
        out, h = [], x
        for layer in self.layers[:-1]:
            z = layer(h)
            out.append(z)
            h = self.act(z)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, sizes[-1]]``."""
        h = x
        for layer in self.layers[:-1]:
            h = self.act(layer(h))
        return self.layers[-1](h)


class NoisyMLP(MLP):
    """An :class:`MLP` with Gaussian noise in every hidden unit (Goldfeld et al. 2019):
    ``T_l = activation(W_l T_{l-1} + b_l) + N(0, noise_std^2 I)``, in training and in measurement.

    ``preactivations`` stays the noiseless map of :class:`MLP`, so local rank measures the same network
    without its noise; :meth:`forward` and :meth:`noisy_hidden` add the noise.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", noise_std: float = 0.1, init: str = "torch"):
        super().__init__(sizes, activation, init)
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std}")
        self.noise_std = float(noise_std)

    def noisy_hidden(self, x: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Propagate ``x`` ``[N, input_dim]`` once through the noisy network.

        Returns per hidden layer the noiseless means ``S_l = activation(W_l T_{l-1} + b_l)`` and the noisy
        values ``T_l = S_l + noise``, each ``[N, width_l]``.
        """
        means, values, h = [], [], x
        for layer in self.layers[:-1]:
            s = self.act(layer(h))
            noise = torch.randn(s.shape, generator=generator, device=s.device, dtype=s.dtype)
            h = s + self.noise_std * noise
            means.append(s)
            values.append(h)
        return means, values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[-1](self.noisy_hidden(x)[1][-1])


#: Chelombiev et al.'s initialisation scale by activation: ``he`` in ``std = he / sqrt(fan_in)``.
HE_FACTOR = {"relu": 2.0, "softplus": 2.0, "elu": 2.0}


def init_like_chelombiev(model: MLP, activation: str) -> None:
    """Chelombiev et al.'s initialisation (``idnns/networks/model.py``), every layer the output included:
    weights from a normal of standard deviation ``he / sqrt(fan_in)`` truncated at two standard deviations
    (TensorFlow's ``truncated_normal_initializer``), ``he`` = 2 for ReLU, softplus and ELU and 1 otherwise;
    zero biases. Draws from torch's global generator (seed it first)."""
    he = HE_FACTOR.get(activation, 1.0)
    with torch.no_grad():
        for layer in model.layers:
            std = he / math.sqrt(layer.in_features)
            torch.nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            layer.bias.zero_()


def noisy_logits(model: NoisyMLP, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Logits ``[N, C]`` of one noisy pass of ``x`` (``[N, input_dim]``) through ``model``, the noise of every
    hidden unit drawn from ``generator`` (a CPU generator; the noise is moved to ``x``'s device). On the CPU the
    draws are those of ``model.noisy_hidden(x, generator)``: the same network, with its noise reproducible."""
    h = x
    for layer in model.layers[:-1]:
        s = model.act(layer(h))
        noise = torch.randn(s.shape, generator=generator, dtype=s.dtype).to(s.device)
        h = s + model.noise_std * noise
    return model.layers[-1](h)


def noisy_cross_entropy(model: NoisyMLP, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The training loss (a :data:`lrc_utils.training.LossFn`): mean cross-entropy (nats) of the noisy network's
    logits for ``x`` ``[N, input_dim]`` against ``y`` ``[N]``, the noise drawn from ``fit``'s generator."""
    return F.cross_entropy(noisy_logits(model, x, generator), y)


def noiseless_representations(model: NoisyMLP, x: torch.Tensor) -> list[torch.Tensor]:
    """S_l ``[N, width_l]`` per hidden layer: the activations of ``model`` with its noise switched off."""
    return [model.act(z) for z in model.preactivations(x)]


# ----------------------------------------------------------------------------------------------------
# beyond MLPs: small convolutional and residual networks on 28x28 images, measured by layer name


class SmallCNN(nn.Module):
    """A small ReLU CNN for 1x28x28 images: ``conv1`` (1 -> ``channels[0]``, 3x3) -> ReLU -> max-pool 2 ->
    ``conv2`` (-> ``channels[1]``) -> ReLU -> max-pool 2 -> ``fc1`` (-> ``hidden``) -> ReLU -> ``fc2`` (-> 10).
    Takes ``[N, 784]`` (flattened, as the package's loaders give) or ``[N, 1, 28, 28]``. :data:`MEASURED` names its
    pre-activations for :func:`lrc_utils.local_rank` (``layers=``); it has no fast path."""

    MEASURED = ("conv1", "conv2", "fc1")

    def __init__(self, channels: Sequence[int] = (8, 16), hidden: int = 64, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.fc1 = nn.Linear(channels[1] * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(torch.relu(self.conv1(x.reshape(-1, 1, 28, 28))), 2)
        h = F.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


class ResidualBlock(nn.Module):
    """``h + conv_b(relu(conv_a(h)))`` (3x3 convolutions, channels kept): the block's output is its sum, before the
    ReLU that follows it, so that naming the block measures a pre-activation."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv_b(torch.relu(self.conv_a(h)))


class SmallResNet(nn.Module):
    """A small residual ReLU network for 1x28x28 images: ``stem`` (1 -> ``channels``, 3x3) -> ReLU -> max-pool 2 ->
    ``block1`` -> ReLU -> ``block2`` -> ReLU -> max-pool 2 -> ``fc1`` (-> ``hidden``) -> ReLU -> ``fc2`` (-> 10),
    the blocks :class:`ResidualBlock`. No batch norm (a rank per input should not depend on batch statistics).
    Takes ``[N, 784]`` or ``[N, 1, 28, 28]``; :data:`MEASURED` names its pre-activations."""

    MEASURED = ("stem", "block1", "block2", "fc1")

    def __init__(self, channels: int = 8, hidden: int = 64, n_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.block1, self.block2 = ResidualBlock(channels), ResidualBlock(channels)
        self.fc1 = nn.Linear(channels * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(torch.relu(self.stem(x.reshape(-1, 1, 28, 28))), 2)
        h = torch.relu(self.block2(torch.relu(self.block1(h))))
        return self.fc2(torch.relu(self.fc1(F.max_pool2d(h, 2).flatten(1))))


#: The image networks of the chapter beyond MLPs, by name.
IMAGE_NETWORKS = {"cnn": SmallCNN, "resnet": SmallResNet}
