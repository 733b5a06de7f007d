"""local_rank against independent references: autograd Jacobians + SVD, closed forms, hand-set spectra."""

import math

import pytest
import torch
from torch import nn

from lrc_utils import ACTIVATIONS, MLP, input_jacobians, local_rank, singular_values
from lrc_utils.local_rank import count_positive_eigenvalues, count_singular_values_above
from lrc_utils.local_rank_reference import autograd_loop_local_rank, recipe_local_rank

from .conftest import needs_cuda


class Wrapped(nn.Module):
    """Hides the MLP type, so local_rank takes the general torch.func path."""

    def __init__(self, mlp):
        super().__init__()
        self.mlp = mlp

    def preactivations(self, x):
        return self.mlp.preactivations(x)


SHAPES = [[6, 9, 7, 3], [12, 5, 8, 6, 4], [4, 10, 10, 10, 2]]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("sizes", SHAPES)
def test_fast_and_general_paths_equal_autograd_svd(activation, sizes):
    torch.manual_seed(sum(sizes))
    model = MLP(sizes, activation).double()
    x = 2 * torch.randn(40, sizes[0], dtype=torch.float64)
    atol = 0.05
    expected = autograd_loop_local_rank(model, x, atol)  # per-input autograd Jacobian + SVD
    assert torch.equal(local_rank(model, x, atol=atol, per_sample=True), expected)
    assert torch.equal(local_rank(Wrapped(model), x, atol=atol, per_sample=True), expected)
    for method in ("eigh", "svd"):
        assert torch.equal(local_rank(model, x, atol=atol, per_sample=True, method=method), expected)
    relative = autograd_loop_local_rank(model, x, atol=0.0, rtol=0.05)
    assert torch.equal(local_rank(model, x, atol=0.0, rtol=0.05, per_sample=True), relative)
    assert torch.allclose(local_rank(model, x, atol=atol), expected.double().mean(0))


def test_float32_matches_public_recipe_and_autograd_loop():
    torch.manual_seed(0)
    model = MLP([50, 30, 30, 30, 5])
    x = torch.randn(64, 50)
    ours = local_rank(model, x, per_sample=True)
    assert torch.equal(ours, recipe_local_rank(model, x))
    assert torch.equal(ours, autograd_loop_local_rank(model, x))


def test_rank_capped_by_low_rank_weights():
    torch.manual_seed(1)
    model = MLP([10, 8, 8, 8, 3], "tanh").double()
    r = 3
    with torch.no_grad():
        model.layers[1].weight.copy_(torch.randn(8, r, dtype=torch.float64) @ torch.randn(r, 8, dtype=torch.float64))
    ranks = local_rank(model, torch.randn(30, 10, dtype=torch.float64), atol=1e-9, per_sample=True)
    assert (ranks[:, 0] == 8).all()
    assert (ranks[:, 1] == r).all()  # tanh' > 0 everywhere: exactly r
    assert (ranks[:, 2] <= r).all() and (ranks[:, 2] == r).all()


def test_identity_network_has_rank_of_weight_product():
    torch.manual_seed(2)
    model = MLP([9, 7, 4, 6, 2], "identity").double()
    x = torch.randn(5, 9, dtype=torch.float64)
    product = torch.eye(9, dtype=torch.float64)
    expected = []
    for layer in model.layers[:-1]:
        product = layer.weight @ product
        expected.append(int(torch.linalg.matrix_rank(product, atol=1e-9)))
    assert expected == [7, 4, 4]
    assert local_rank(model, x, atol=1e-9).tolist() == expected


def test_dead_relu_layer_gives_zero_rank_downstream():
    torch.manual_seed(3)
    model = MLP([6, 5, 5, 5, 2]).double()
    with torch.no_grad():
        model.layers[1].bias.fill_(-1e6)  # every unit of layer 2 is off for these inputs
    x = torch.randn(20, 6, dtype=torch.float64)
    ranks = local_rank(model, x, atol=1e-9, per_sample=True)
    active = (model.preactivations(x)[0] > 0).sum(1)  # rank W2 D1(x) W1 = active units of layer 1
    assert (ranks[:, 0] == 5).all() and torch.equal(ranks[:, 1], active)
    assert (ranks[:, 2] == 0).all()


@pytest.mark.parametrize("method", ["inertia", "eigh", "svd"])
def test_threshold_is_strict_at_the_boundary(method):
    model = MLP([3, 3, 1], "identity").double()
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.diag(torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64)))
    x = torch.zeros(1, 3, dtype=torch.float64)
    assert local_rank(model, x, atol=0.5, method=method).item() == 1  # 0.5 is not > 0.5
    assert local_rank(model, x, atol=0.4999, method=method).item() == 2
    assert local_rank(model, x, atol=0.25, method=method).item() == 2
    assert local_rank(model, x, atol=0.0, method=method).item() == 3
    assert local_rank(model, x, atol=1.0, method=method).item() == 0
    if method != "inertia":
        assert local_rank(model, x, atol=0.0, rtol=0.5, method=method).item() == 1  # tol = 0.5 * 1.0
        assert local_rank(model, x, atol=0.0, rtol=0.2, method=method).item() == 3
        assert local_rank(model, x, atol=0.3, rtol=0.2, method=method).item() == 2  # max(0.3, 0.2)


def test_inertia_count_equals_eigenvalue_count():
    torch.manual_seed(4)
    for n in (1, 2, 5, 17, 40):
        q = torch.linalg.qr(torch.randn(200, n, n, dtype=torch.float64)).Q
        eig = torch.randn(200, n, dtype=torch.float64)  # indefinite: many 2x2 Bunch-Kaufman pivots
        eig[::3] = eig[::3].abs()
        sym = q @ torch.diag_embed(eig) @ q.mT
        sym = (sym + sym.mT) / 2
        assert torch.equal(count_positive_eigenvalues(sym), (eig > 0).sum(-1))


def test_count_singular_values_above_on_set_spectra():
    torch.manual_seed(5)
    u = torch.linalg.qr(torch.randn(4, 6, 6, dtype=torch.float64)).Q
    v = torch.linalg.qr(torch.randn(4, 9, 9, dtype=torch.float64)).Q[..., :6]
    s = torch.tensor([3.0, 1.0, 0.3, 0.1, 0.03, 0.0], dtype=torch.float64).expand(4, 6)
    a = u @ torch.diag_embed(s) @ v.mT  # [4, 6, 9] with singular values s
    for method in ("inertia", "eigh", "svd"):
        assert count_singular_values_above(a, 0.2, 0.0, method).tolist() == [3] * 4
        assert count_singular_values_above(a.mT, 0.05, 0.0, method).tolist() == [4] * 4
    assert count_singular_values_above(a, 0.0, 0.02, "eigh").tolist() == [4] * 4  # > 0.06


def test_singular_values_equal_svd_of_autograd_jacobian():
    torch.manual_seed(6)
    model = MLP([15, 6, 9, 4, 3], "gelu").double()
    x = torch.randn(7, 15, dtype=torch.float64)
    spectra = singular_values(model, x)
    for layer, s in enumerate(spectra):
        for i, xi in enumerate(x):
            jac = torch.autograd.functional.jacobian(lambda v, k=layer: model.preactivations(v[None])[k][0], xi)
            assert torch.allclose(s[i], torch.linalg.svdvals(jac), atol=1e-10)
    general = singular_values(Wrapped(model), x)
    for a, b in zip(spectra, general):
        assert torch.allclose(a, b, atol=1e-10)


def test_input_jacobians_equal_autograd():
    torch.manual_seed(7)
    model = MLP([5, 4, 3, 2], "softplus").double()
    x = torch.randn(3, 5, dtype=torch.float64)
    jacs = input_jacobians(model, x)
    for layer, jac in enumerate(jacs):
        for i, xi in enumerate(x):
            ref = torch.autograd.functional.jacobian(lambda v, k=layer: model.preactivations(v[None])[k][0], xi)
            assert torch.allclose(jac[i], ref)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_derivatives_match_autograd(activation):
    model = MLP([2, 3, 1], activation).double()
    z = torch.linspace(-30, 30, 601, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(model.act(z).sum(), z)
    assert torch.allclose(model.act_derivative(z.detach()), grad, atol=1e-12)


def test_chunking_and_per_sample_shape():
    torch.manual_seed(8)
    model = MLP([20, 10, 10, 4])
    x = torch.randn(33, 20)
    full = local_rank(model, x, per_sample=True)
    assert full.dtype == torch.int64 and full.shape == (33, 2)
    assert torch.equal(local_rank(model, x, per_sample=True, chunk_size=4), full)
    mean = local_rank(model, x)
    assert mean.dtype == torch.float64 and mean.shape == (2,)
    assert math.isclose(mean[1].item(), full[:, 1].double().mean().item())


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda: torch.randn(4, 7), "input_dim = 6"),
        (lambda: torch.randn(0, 6), "empty batch"),
        (lambda: torch.full((2, 6), float("nan")), "NaN or Inf"),
        (lambda: torch.tensor([[float("inf")] + [0.0] * 5]), "NaN or Inf"),
        (lambda: torch.randn(6), "shape"),
        (lambda: torch.ones(2, 6, dtype=torch.int64), "floating-point"),
        (lambda: torch.randn(2, 6, dtype=torch.float64), "move one to the other"),
    ],
)
def test_bad_inputs_raise_clear_errors(make_input, message):
    model = MLP([6, 4, 2])
    with pytest.raises((ValueError, TypeError), match=message):
        local_rank(model, make_input())


def test_bad_arguments_raise_clear_errors():
    model = MLP([6, 4, 2])
    x = torch.randn(3, 6)
    with pytest.raises(TypeError, match="no preactivations"):
        local_rank(nn.Linear(6, 4), x)
    with pytest.raises(ValueError, match="atol must be"):
        local_rank(model, x, atol=-1e-3)
    with pytest.raises(ValueError, match="rtol must be"):
        local_rank(model, x, rtol=-0.1)
    with pytest.raises(ValueError, match="unknown method"):
        local_rank(model, x, method="qr")
    with pytest.raises(ValueError, match="fixed threshold"):
        local_rank(model, x, rtol=0.1, method="inertia")
    with pytest.raises(ValueError, match="chunk_size"):
        local_rank(model, x, chunk_size=0)
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([3, 3, 1], "swish")


@needs_cuda
def test_cuda_equals_cpu():
    torch.manual_seed(9)
    model = MLP([30, 20, 20, 5]).double()
    x = torch.randn(50, 30, dtype=torch.float64)
    cpu = local_rank(model, x, per_sample=True)
    cuda = local_rank(model.cuda(), x.cuda(), per_sample=True)
    assert torch.equal(cpu, cuda)
    assert torch.equal(local_rank(model.float(), x.float().cuda(), per_sample=True, method="eigh"),
                       local_rank(model.float().cpu(), x.float(), per_sample=True, method="eigh"))


# ----------------------------------------------------------------------------------------------------
# the fast kernel: inactive units dropped, padding, Cholesky-first counting, near-threshold cases


def reference_spectra(model, x):
    """Float64 singular values of every layer's autograd Jacobian, one [N, min(width, input_dim)] per layer."""
    out = []
    for layer in range(len(model.preactivations(x[:1]))):
        out.append(torch.stack([
            torch.linalg.svdvals(torch.autograd.functional.jacobian(
                lambda v, k=layer: model.preactivations(v[None])[k][0], xi)) for xi in x]))
    return out


def count_above(spectra, atol):
    return torch.stack([(s > atol).sum(-1) for s in spectra], dim=1)


@pytest.mark.parametrize("sizes, chunk_size", [([16, 12, 10, 9, 3], 5), ([16, 12, 10, 9, 3], None),
                                               ([6, 10, 8, 7, 2], 3), ([9, 7, 20, 3, 2], 4)])
def test_relu_fast_path_equals_float64_reference_near_threshold(sizes, chunk_size):
    """Inputs with different numbers of active units in layer 1 (so chunks are padded), thresholds within
    1e-7 (relative) of a reference singular value: counts equal the float64 autograd + SVD counts."""
    torch.manual_seed(len(sizes) + sizes[1])
    model = MLP(sizes).double()
    with torch.no_grad():
        model.layers[0].bias.copy_(torch.linspace(-3, 3, sizes[1], dtype=torch.float64))
    x = torch.randn(30, sizes[0], dtype=torch.float64)
    x[0] = 0.0  # the units with negative bias off, the others on
    spectra = reference_spectra(model, x)
    n_active = (model.preactivations(x)[0] > 0).sum(1)
    assert n_active.min() < n_active.max()  # chunks mix different numbers of active units
    sigma = torch.cat([s[s > 0.05 * s[:, :1]] for s in spectra[1:]])  # resolvable by the float64 Gram
    for target in sigma[torch.randperm(len(sigma))[:6]].tolist():
        for atol in (target * (1 - 1e-7), target * (1 + 1e-7)):
            expected = count_above(spectra, atol)
            assert torch.equal(local_rank(model, x, atol=atol, per_sample=True, chunk_size=chunk_size), expected)


def test_fast_path_when_active_rows_of_first_weight_are_dependent():
    """A zero row of W_1 on an always-active unit: the reduced start needs the Cholesky factor of a singular
    block, so those chunks take the full factor instead; the counts still equal the reference."""
    from lrc_utils.local_rank import _active_start

    torch.manual_seed(11)
    model = MLP([10, 6, 5, 4, 2]).double()
    with torch.no_grad():
        model.layers[0].weight[0] = 0.0
        model.layers[0].bias[0] = 1.0
    x = torch.randn(25, 10, dtype=torch.float64)
    w1 = model.layers[0].weight.detach()
    d1 = model.act_derivative(model.preactivations(x)[0])
    assert (d1.sum(1) < 6).any()  # some chunks try the reduced start
    with pytest.raises(torch.linalg.LinAlgError, match="rank deficient"):
        _active_start(w1 @ w1.T, d1, torch.float64)
    spectra = reference_spectra(model, x)
    for atol in (1e-6, 0.05, 0.3):
        expected = count_above(spectra, atol)
        assert torch.equal(local_rank(model, x, atol=atol, per_sample=True, chunk_size=3), expected)


def test_saturated_tanh_units_drop_out_exactly():
    """tanh'(z) is exactly 0 in float64 for |z| > 19: those units leave the Jacobian like inactive ReLUs."""
    torch.manual_seed(12)
    model = MLP([8, 7, 6, 5, 2], "tanh").double()
    with torch.no_grad():
        model.layers[0].bias.copy_(torch.tensor([40.0, -40.0, 40.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64))
    x = torch.randn(20, 8, dtype=torch.float64)
    assert ((model.act_derivative(model.preactivations(x)[0]) == 0).sum(1) >= 3).all()
    spectra = reference_spectra(model, x)
    for atol in (1e-3, 0.1):
        assert torch.equal(local_rank(model, x, atol=atol, per_sample=True), count_above(spectra, atol))
        assert torch.equal(local_rank(model, x, atol=atol, per_sample=True, method="eigh"), count_above(spectra, atol))


def test_cholesky_first_count_equals_eigenvalue_count():
    from lrc_utils.local_rank import count_positive_cholesky_first

    torch.manual_seed(13)
    for k in (1, 4, 9, 30):
        q = torch.linalg.qr(torch.randn(300, k, k, dtype=torch.float64)).Q
        eig = torch.randn(300, k, dtype=torch.float64)
        eig[::2] = eig[::2].abs() + 0.1  # half positive definite: decided by the Cholesky factorisation alone
        sym = q @ torch.diag_embed(eig) @ q.mT
        sym = (sym + sym.mT) / 2
        assert torch.equal(count_positive_cholesky_first(sym), (eig > 0).sum(-1))


@pytest.mark.parametrize("method", ["inertia", "eigh", "svd"])
def test_padded_rows_add_no_singular_values(method):
    """Matrices [n, s, 12] whose rows beyond n_rows[i] are zero, with singular values set by hand."""
    from lrc_utils.local_rank import _count_above

    torch.manual_seed(14)
    n, s, k = 200, 8, 12
    n_rows = torch.randint(0, s + 1, (n,))
    a = torch.zeros(n, s, k, dtype=torch.float64)
    expected = torch.zeros(n, dtype=torch.int64)
    for i, r in enumerate(n_rows.tolist()):
        sigma = 2 * torch.rand(r, dtype=torch.float64)
        u = torch.linalg.qr(torch.randn(r, r, dtype=torch.float64)).Q
        v = torch.linalg.qr(torch.randn(k, r, dtype=torch.float64)).Q
        a[i, :r] = u @ torch.diag(sigma) @ v.T
        expected[i] = (sigma > 0.7).sum()
    assert torch.equal(_count_above(a, 0.7, 0.0, method, n_rows), expected)
    assert torch.equal(_count_above(a, 0.7, 0.0, method), expected)


# ----------------------------------------------------------------------------------------------------
# readings: the numbers of the chapter's prose


def test_power_text_hand_written():
    from lrc_utils.book.readings import power_text

    assert (power_text(1e-7, 1), power_text(2.4e-8, 1), power_text(0.031, 1)) == ("10⁻⁷", "2·10⁻⁸",
                                                                                 "3·10⁻²")
    assert power_text(float("nan"), 1) == power_text(0.0) == "n/a"
    assert power_text(1.0000000000000002e-4) == "10⁻⁴" and power_text(46051.7) == "4.6·10⁴"
    assert power_text(2995.7) == "3·10³"


def test_prose_numbers_on_hand_set_spectra_and_counts():
    import pandas as pd

    from lrc_utils.book.chapters.local_rank import readings

    # median spectra: layer 1 decays smoothly; layer 2 falls from 0.25 to 2e-8 of the largest, layer 3 from
    # 2e-3 to 4e-8: cliffs after index 2, at the median 3e-8 of the largest
    spectrum = pd.DataFrame({"layer": [1] * 3 + [2] * 3 + [3] * 3, "index": [1, 2, 3] * 3,
                             "median": [4.0, 2.0, 1.0, 2.0, 0.5, 4e-8, 1.0, 2e-3, 4e-8]})
    cliffs = readings.cliffs(spectrum)
    assert cliffs.layer.tolist() == [2, 3] and cliffs["index"].tolist() == [2, 2]
    assert cliffs.above.tolist() == pytest.approx([0.25, 2e-3]) and cliffs.below.tolist() == pytest.approx([2e-8, 4e-8])
    # mean counts at relative tolerances 1e-9 .. 1 (only those below the cliffs' upper edge 2e-3 count): layer 2
    # moves by 0.9 going down to 1e-8, layer 3 by 0.8 to 1e-9; stable from 1e-7 on, where layer 2 counts 2 of
    # layer 1's 3 directions
    tolerances = [1e-9, 1e-8, 1e-7, 1e-6, 1e-2, 1.0]
    counts = {1: [3, 3, 3, 3, 3, 1], 2: [3, 2.9, 2, 2, 1, 1], 3: [3, 2.2, 2, 2, 1, 1]}
    tolerance = pd.DataFrame([(layer, "relative", t, c) for layer, cs in counts.items() for t, c in zip(tolerances, cs)]
                             + [(2, "absolute", 1e-9, 0.0), (2, "absolute", 1e-8, 3.0)],
                             columns=["layer", "convention", "tolerance", "local_rank"])
    out = readings.prose_numbers(tolerance, spectrum)
    assert out["local_rank_cliff"] == pytest.approx(3e-8) and out["local_rank_cliff_md"] == "3·10⁻⁸"
    assert out["local_rank_noise_tol"] == pytest.approx(1e-8) and out["local_rank_noise_tol_md"] == "10⁻⁸"
    assert out["local_rank_active_units"] == 2.0 and out["local_rank_inactive_percent"] == pytest.approx(100 / 3)
    smooth = readings.prose_numbers(tolerance, spectrum[spectrum.layer == 1])
    assert math.isnan(smooth["local_rank_cliff"]) and math.isnan(smooth["local_rank_inactive_percent"])
    assert smooth["local_rank_cliff_md"] == "n/a"


def test_prose_numbers_on_the_committed_paper_tables():
    import pandas as pd

    from lrc_utils.book.chapters.local_rank import readings
    from lrc_utils.book.paths import REPO_ROOT

    folder = REPO_ROOT / "results" / "paper" / "local_rank"
    out = readings.prose_numbers(pd.read_csv(folder / "tolerance.csv"), pd.read_csv(folder / "spectrum.csv"))
    assert out["local_rank_cliff"] == pytest.approx(2e-8, rel=0.05)
    assert out["local_rank_cliff_md"] == "2·10⁻⁸"
    assert out["local_rank_noise_tol"] == pytest.approx(2.5e-8, rel=0.01)  # stable down to 4e-8
    assert out["local_rank_active_units"] == pytest.approx(130.9, abs=0.05)
    assert out["local_rank_inactive_percent"] == pytest.approx(35, abs=0.5)


# ----------------------------------------------------------------------------------------------------
# measures no threshold decides


def test_effective_rank_counted_by_hand():
    """exp of the entropy of s / sum(s): two equal values give 2; [3, 1] gives exp(-(3/4 ln 3/4 + 1/4 ln 1/4));
    one nonzero value gives 1; an all-zero row 0."""
    import math

    from lrc_utils.local_rank import effective_rank

    s = torch.tensor([[1.0, 1.0, 0.0], [3.0, 1.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    expected = [2.0, math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))), 1.0, 0.0]
    assert effective_rank(s).tolist() == pytest.approx(expected, rel=1e-12)


def test_active_units_and_restricted_singular_values_against_a_plain_loop():
    """Active ReLU units counted from the pre-activations by hand; the Jacobian restricted to a subspace against
    torch.autograd.functional.jacobian per input, in float64."""
    from lrc_utils.local_rank import active_units, restricted_singular_values

    torch.manual_seed(0)
    model = MLP([6, 5, 4, 3], "relu", init="normal").double()
    x = torch.randn(7, 6, dtype=torch.float64)
    z1 = model.layers[0](x)
    z2 = model.layers[1](torch.relu(z1))
    assert active_units(model, x) == pytest.approx([float((z1 > 0).sum(1).double().mean()),
                                                    float((z2 > 0).sum(1).double().mean())], rel=1e-12)
    basis, _ = torch.linalg.qr(torch.randn(6, 2, dtype=torch.float64))
    got = restricted_singular_values(model, x, basis)
    for i, xi in enumerate(x):
        for layer, values in enumerate(got):
            jac = torch.autograd.functional.jacobian(lambda v, k=layer: model.preactivations(v[None])[k][0], xi)
            expected = torch.linalg.svdvals(jac @ basis)
            assert torch.allclose(values[i], expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="orthonormal columns"):
        restricted_singular_values(model, x, 2 * basis)
    with pytest.raises(TypeError, match="needs an lrc_utils.models.ActivationChain"):
        active_units(torch.nn.Linear(6, 3), x)
