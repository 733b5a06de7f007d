"""Local rank of named layers of any nn.Module (``local_rank(model, x, layers=[...])``) against an independent
reference: per input, the autograd Jacobian of the layer's output, read by a forward hook, and its SVD."""

import pytest
import torch
from torch import nn

from lrc_utils import MLP, VIB, local_rank
from lrc_utils.local_rank import LayerRanks


def reference(model: nn.Module, x: torch.Tensor, layers: list[str], atol: float, rtol: float = 0.0) -> torch.Tensor:
    """int64 [N, n_layers]: each input's Jacobian by torch.autograd.functional.jacobian, counted by svdvals."""
    modules = dict(model.named_modules())
    out = torch.zeros(len(x), len(layers), dtype=torch.int64)
    for i, xi in enumerate(x):
        for k, name in enumerate(layers):
            def output(v, name=name):
                got = []
                handle = modules[name].register_forward_hook(lambda _m, _i, o: got.append(o))
                try:
                    model(v.reshape(x.shape[1:])[None])
                finally:
                    handle.remove()
                return got[0][0].reshape(-1)

            s = torch.linalg.svdvals(torch.autograd.functional.jacobian(output, xi.reshape(-1)))
            tol = max(atol, rtol * float(s[0]))
            out[i, k] = int((s > tol).sum())
    return out


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv1(x)))
        h = torch.relu(self.conv2(h))
        return self.head(h.flatten(1))


class ResidualBlock(nn.Module):
    def __init__(self, width: int = 6):
        super().__init__()
        self.inp = nn.Linear(5, width)
        self.fc = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)
        self.out = nn.Linear(width, 3)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = h + torch.relu(self.norm(self.fc(h)))
        return self.out(h)


def batchnorm_statistics(model: nn.Module, x: torch.Tensor) -> None:
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


CASES = {
    "nn.Sequential MLP": (lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.Tanh(),
                                                nn.Linear(5, 2)), (6,), ["0", "2"]),
    "CNN with pooling": (SmallCNN, (1, 8, 8), ["conv1", "conv2", "head"]),
    "residual block with BatchNorm": (ResidualBlock, (5,), ["inp", "fc", "norm", "out"]),
    "transformer encoder layer": (lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0,
                                                                     batch_first=True), (3, 4),
                                  ["self_attn", "linear1", "linear2"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_named_layers_equal_per_input_autograd_svd(name):
    make, shape, layers = CASES[name]
    torch.manual_seed(0)
    model = make().double()
    x = torch.randn(12, *shape, dtype=torch.float64)
    if name == "residual block with BatchNorm":
        batchnorm_statistics(model, torch.randn(32, *shape, dtype=torch.float64))
    if name == "transformer encoder layer":  # self_attn returns (output, weights): measure the modules after it
        layers = ["linear1", "linear2"]
    model.eval()
    for atol, rtol in ((0.05, 0.0), (0.0, 0.1)):
        expected = reference(model, x, layers, atol, rtol)
        got = local_rank(model, x, layers=layers, atol=atol, rtol=rtol)
        assert isinstance(got, LayerRanks) and got.layers == tuple(layers)
        assert got.per_input.dtype == torch.int64 and torch.equal(got.per_input, expected)
        assert torch.equal(got.local_rank, expected.double().mean(0))
        for mode in ("fwd", "rev"):
            if name == "transformer encoder layer" and mode == "fwd":
                continue  # forward-mode AD may be missing for its attention kernel: "auto" falls back to "rev"
            assert torch.equal(local_rank(model, x, layers=layers, atol=atol, rtol=rtol, jacobian=mode).per_input,
                               expected)
    frame = got.frame()
    assert list(frame.columns) == ["layer", "local_rank"] and list(frame.layer) == layers
    assert got[layers[0]] == float(expected.double().mean(0)[0])


def test_the_named_layers_of_the_packages_models_equal_their_fast_path():
    torch.manual_seed(2)
    mlp = MLP([7, 9, 6, 3], "relu").double()
    x = torch.randn(20, 7, dtype=torch.float64)
    assert torch.equal(local_rank(mlp, x, layers=["layers.0", "layers.1"], atol=0.05).per_input,
                       local_rank(mlp, x, atol=0.05, per_sample=True))
    vib = VIB(7, [9, 8], 4, 3).double().eval()
    named = local_rank(vib, x, layers=["encoder.0", "encoder.1", "mean_head"], atol=0.05).per_input
    assert torch.equal(named, local_rank(vib, x, atol=0.05, per_sample=True))


def test_named_layer_errors_are_clear_and_come_before_any_work():
    torch.manual_seed(3)
    seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"no submodule named \['9'\] in Sequential; its submodules: \['0', '1', '2'"):
        local_rank(seq, x, layers=["9"])

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ValueError, match=r"\['spare'\] are not reached by the forward pass"):
        local_rank(Unused(), x, layers=["spare"])

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.Linear(4, 4)

        def forward(self, x):
            return self.shared(torch.relu(self.shared(x)))

    with pytest.raises(ValueError, match=r"\['shared'\] run more than once in one forward pass"):
        local_rank(Twice(), x, layers=["shared"])
    block = ResidualBlock()  # training mode: batch statistics mix the inputs
    with pytest.raises(ValueError, match=r"\['norm'\] are in training mode.*call model.eval\(\) first"):
        local_rank(block, torch.randn(3, 5), layers=["fc"])
    with pytest.raises(ValueError, match="jacobian must be one of"):
        local_rank(seq, x, layers=["0"], jacobian="sideways")
    with pytest.raises(TypeError, match="layers must be a non-empty list"):
        local_rank(seq, x, layers="0")


def test_outputs_that_do_not_lead_with_the_batch_dimension_and_training_dropout_are_refused():
    class SequenceFirst(nn.Module):  # [1, T*E] -> [T, 1, E]: a layer sees a sequence-first layout
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x):
            return self.proj(x.reshape(3, 1, 4))

    with pytest.raises(ValueError, match=r"\['proj'\] do not lead with the batch dimension"):
        local_rank(SequenceFirst(), torch.randn(2, 12), layers=["proj"])
    dropped = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 8))
    with pytest.raises(ValueError, match=r"\['1'\] are in training mode.*random network"):
        local_rank(dropped, torch.randn(3, 4), layers=["2"])
    evaluated = local_rank(dropped.eval(), torch.randn(3, 4, dtype=torch.float32), layers=["2"], atol=1e-6)
    assert evaluated.local_rank.tolist() == [4.0]  # rank of W2 W1 [8x8][8x4]: 4
    for bad in (0, -1):
        with pytest.raises(ValueError, match="chunk_size must be >= 1"):
            local_rank(dropped, torch.randn(3, 4), layers=["2"], chunk_size=bad)
    for bad in (2.5, True):
        with pytest.raises(TypeError, match="chunk_size must be an int"):
            local_rank(dropped, torch.randn(3, 4), layers=["2"], chunk_size=bad)
