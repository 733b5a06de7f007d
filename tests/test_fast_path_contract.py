"""The local-rank fast path is taken only by models that claim its contract by subclassing
:class:`lrc_utils.models.ActivationChain`, never by models that merely have methods of its names; every model of
the package that claims it gives the general path's ranks (per-input autograd Jacobian + SVD)."""

import pytest
import torch
from torch import nn

from lrc_utils import MLP, VIB, local_rank
from lrc_utils.local_rank import has_fast_path
from lrc_utils.local_rank_reference import autograd_loop_local_rank
from lrc_utils.models import ActivationChain, NoisyMLP


class ResidualMLP(nn.Module):
    """``z_1 = W_1 x``, ``z_2 = W_2 relu(z_1) + z_1``: a skip connection, so no chain, yet it has the methods the
    fast path once looked for (``chain_layers`` and ``act_derivative``)."""

    def __init__(self, d_in: int, width: int):
        super().__init__()
        self.first, self.second = nn.Linear(d_in, width), nn.Linear(width, width)

    def chain_layers(self):
        return [self.first, self.second]

    def act_derivative(self, z):
        return (z > 0).to(z.dtype)

    def preactivations(self, x):
        z1 = self.first(x)
        return [z1, self.second(torch.relu(z1)) + z1]


class OnlyPreactivations(nn.Module):
    """Hides a model's type, so local_rank takes the general torch.func path."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def preactivations(self, x):
        return self.model.preactivations(x)


def test_a_residual_model_with_the_fast_paths_method_names_gets_the_exact_general_answer():
    torch.manual_seed(0)
    model = ResidualMLP(8, 6).double()
    with torch.no_grad():
        model.second.weight.mul_(-1.0)  # so that the skip and the chain disagree about the rank
    x = torch.randn(30, 8, dtype=torch.float64)
    assert not has_fast_path(model)
    expected = autograd_loop_local_rank(model, x, atol=0.1)
    assert torch.equal(local_rank(model, x, atol=0.1, per_sample=True), expected)
    # what the chain rule without the skip connection would have counted differs: the old silent wrong answer
    chained = MLP([8, 6, 6, 2], "relu").double()
    with torch.no_grad():
        chained.layers[0].load_state_dict(model.first.state_dict())
        chained.layers[1].load_state_dict(model.second.state_dict())
    assert not torch.equal(local_rank(chained, x, atol=0.1, per_sample=True), expected)


@pytest.mark.parametrize("make", [lambda: MLP([7, 9, 6, 3], "relu"), lambda: MLP([7, 9, 6, 3], "tanh"),
                                  lambda: VIB(7, [9, 8], 4, 3), lambda: NoisyMLP([7, 9, 6, 3], "tanh", noise_std=0.1)],
                         ids=["relu MLP", "tanh MLP", "VIB", "noisy MLP"])
def test_every_model_of_the_package_that_claims_the_fast_path_equals_the_general_path(make):
    torch.manual_seed(1)
    model = make().double().eval()
    assert has_fast_path(model)
    x = 2 * torch.randn(25, 7, dtype=torch.float64)
    for atol, rtol in ((0.05, 0.0), (0.0, 0.05)):
        fast = local_rank(model, x, atol=atol, rtol=rtol, per_sample=True)
        general = local_rank(OnlyPreactivations(model), x, atol=atol, rtol=rtol, per_sample=True)
        assert torch.equal(fast, general)
        assert torch.equal(fast, autograd_loop_local_rank(model, x, atol=atol, rtol=rtol))


def test_a_chain_without_its_layers_says_so():
    class Incomplete(ActivationChain):
        def preactivations(self, x):
            return [x]

    with pytest.raises(NotImplementedError, match="defines no chain_layers"):
        local_rank(Incomplete("relu"), torch.randn(3, 2))
