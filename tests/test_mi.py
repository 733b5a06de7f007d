"""MI estimators against ground truth: exact discrete cases, the Gaussian channel, mixture entropies,
numerical integration, and the values of the code before the result convention changed."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.mi import (
    EntropyEstimate,
    MIEstimate,
    adaptive_bin_edges,
    adaptive_binning,
    adaptive_kde,
    batched_mixture_entropy,
    batched_mixture_log_density,
    binning,
    gaussian_channel_mi,
    gaussian_mixture_log_density,
    kde,
    kde_entropy,
    log_mean_kernel,
    mixture_entropy,
    noisy_mi,
    propagated_centers,
)
from lrc_utils.models import NoisyMLP

N = 512


@pytest.mark.parametrize("estimator", [binning, adaptive_binning])
def test_injective_and_constant_layers(estimator):
    injective = torch.arange(N, dtype=torch.float64)[:, None] * torch.ones(1, 2)  # one bin per input
    assert estimator(injective, n_bins=N).ixt == pytest.approx(math.log(N))
    constant = torch.full((N, 3), 0.7, dtype=torch.float64)
    assert estimator(constant, n_bins=30).ixt == 0.0


@pytest.mark.parametrize("estimator", [binning, adaptive_binning])
def test_ity_equals_h_y_when_t_determines_y(estimator):
    y = torch.arange(N) % 4  # T determines Y: each bin holds one label
    t = y[:, None].to(torch.float64) * torch.ones(1, 5)
    est = estimator(t, y, n_bins=4)
    assert est.ity == pytest.approx(math.log(4))
    assert est.ixt == pytest.approx(math.log(4))


def test_binning_hand_counted():
    t = torch.tensor([[0.0], [0.1], [0.5], [0.9], [1.0]])  # bins of width 0.5 on [0, 1]: 0,0,1,1,1
    y = torch.tensor([0, 1, 0, 0, 1])
    est = binning(t, y, n_bins=2)
    h_t = -(0.4 * math.log(0.4) + 0.6 * math.log(0.6))
    # H(T,Y): (0,0),(0,1),(1,0),(1,0),(1,1) -> 1/5, 1/5, 2/5, 1/5
    h_ty = -(3 * 0.2 * math.log(0.2) + 0.4 * math.log(0.4))
    h_y = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    assert est.ixt == pytest.approx(h_t) and est.ity == pytest.approx(h_t + h_y - h_ty)
    clipped = binning(torch.tensor([[-5.0], [0.2], [0.8], [7.0]]), n_bins=2, value_range=(0.0, 1.0))
    assert clipped.ixt == pytest.approx(math.log(2))  # out-of-range values go to the end bins


def test_adaptive_edges_hold_equal_numbers_of_distinct_values():
    values = torch.tensor([0.0] * 50 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])  # 10 distinct
    assert adaptive_bin_edges(values[:, None], n_bins=5).tolist() == [2.0, 4.0, 6.0, 8.0]


def gaussian_channel(n, dim, seed):
    gen = torch.Generator().manual_seed(seed)
    scales = torch.tensor([1.0, 0.5, 0.2][:dim], dtype=torch.float64)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64) * scales
    a = torch.randn(dim, dim, generator=gen, dtype=torch.float64)
    cov = torch.diag(scales**2)
    return x, a, cov


@pytest.mark.parametrize("s2", [0.05, 0.2])
def test_kde_bounds_bracket_the_gaussian_channel(s2):
    x, a, cov = gaussian_channel(4096, 2, seed=1)
    t = x @ a.T
    truth = gaussian_channel_mi(a @ cov @ a.T, s2)
    assert truth < 0.5 * math.log(4096)  # well below log N
    lower, upper = kde(t, noise_var=s2, bound="lower").ixt, kde(t, noise_var=s2, bound="upper").ixt
    assert lower <= truth <= upper


def test_sample_propagation_approaches_the_gaussian_channel():
    x, a, cov = gaussian_channel(2048, 2, seed=2)
    sigma = 0.4
    model = NoisyMLP([2, 2, 1], "identity", noise_std=sigma).double()
    with torch.no_grad():
        model.layers[0].weight.copy_(a)
        model.layers[0].bias.zero_()
    est = noisy_mi(model, x, n_samples=1, n_mc=4000, seed=0)[0]
    truth = gaussian_channel_mi(a @ cov @ a.T, sigma**2)
    assert abs(est.ixt - truth) < 0.05 + 4 * est.ixt_stderr


def test_first_noisy_layer_conditional_entropy_is_gaussian():
    torch.manual_seed(0)
    sigma, width = 0.3, 5
    model = NoisyMLP([4, width, 3, 2], "tanh", noise_std=sigma).double()
    x = torch.randn(20, 4, dtype=torch.float64)
    first = noisy_mi(model, x, n_samples=16, n_mc=4000, seed=1)[0]
    closed = 0.5 * width * math.log(2 * math.pi * math.e * sigma**2)
    assert abs(first.h_t_given_x.entropy - closed) < 4 * first.h_t_given_x.stderr
    assert first.ixt == first.h_t.entropy - first.h_t_given_x.entropy


def test_long_monte_carlo_lies_between_the_kde_bounds():
    gen = torch.Generator().manual_seed(3)
    for n, d, s2 in [(50, 2, 0.1), (200, 3, 0.05), (100, 5, 0.5)]:
        centers = torch.randn(n, d, generator=gen, dtype=torch.float64)
        est = mixture_entropy(centers, math.sqrt(s2), n_mc=40_000, seed=4)
        h, se = est.entropy, est.stderr
        assert kde_entropy(centers, s2, "lower").entropy <= h + 4 * se
        assert h - 4 * se <= kde_entropy(centers, s2, "upper").entropy


def test_single_gaussian_entropy():
    est = mixture_entropy(torch.zeros(1, 3, dtype=torch.float64), 0.5, n_mc=20_000, seed=0)
    assert isinstance(est, EntropyEstimate)
    assert abs(est.entropy - 1.5 * math.log(2 * math.pi * math.e * 0.25)) < 4 * est.stderr


def test_log_mean_kernel_equals_the_plain_formula():
    gen = torch.Generator().manual_seed(5)
    p, c = torch.randn(30, 4, generator=gen), torch.randn(70, 4, generator=gen)
    d2 = ((p[:, None, :].double() - c[None, :, :].double()) ** 2).sum(-1).numpy()
    expected = np.log(np.exp(-d2 / (2 * 0.3)).mean(1))
    assert np.allclose(log_mean_kernel(p, c, 0.3).numpy(), expected)


def test_kde_ity_and_adaptive_kde():
    torch.manual_seed(6)
    y = torch.randint(0, 3, (300,))
    t = torch.randn(300, 4, dtype=torch.float64) * 0.1 + y[:, None]
    est = kde(t, y, noise_var=0.01)
    assert isinstance(est, MIEstimate) and 0 < est.ity <= est.ixt + 1e-9
    assert est.ity == pytest.approx(math.log(3), abs=0.05)  # well separated classes: I(T;Y) = H(Y)
    scaled = adaptive_kde(10 * t, y, relative_noise=0.1)
    assert scaled.ixt == pytest.approx(adaptive_kde(t, y, relative_noise=0.1).ixt)  # scale-free rule


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: binning(torch.randn(5, 2), torch.zeros(4, dtype=torch.int64)), "one label per row"),
        (lambda: binning(torch.full((5, 2), float("nan"))), "NaN or Inf"),
        (lambda: kde(torch.randn(1, 2)), "N = 2"),
        (lambda: kde(torch.randn(5, 2), noise_var=0.0), "noise_var must be"),
        (lambda: kde(torch.randn(5, 2), noise_var=-1.0), "noise_var must be"),
        (lambda: kde(torch.randn(5, 2), bound="middle"), "unknown bound"),
        (lambda: adaptive_kde(torch.randn(5, 2), relative_noise=0.0), "relative_noise must be"),
        (lambda: mixture_entropy(torch.randn(5, 2), sigma=0.0), "sigma must be"),
        (lambda: binning(torch.randn(5, 2), torch.randn(5)), "integer labels"),
        (lambda: binning(torch.randn(5, 2), n_bins=0), "n_bins"),
        (lambda: binning(torch.randn(5, 0)), "d >= 1"),
        (lambda: noisy_mi(torch.nn.Linear(2, 2), torch.randn(5, 2)), "not a noisy network"),
        (lambda: noisy_mi(NoisyMLP([2, 3, 2], "tanh"), torch.randn(5, 2), n_mc_given_x=1), "n_mc_given_x"),
        (lambda: noisy_mi(NoisyMLP([2, 3, 2], "tanh"), torch.randn(1, 2)), "m >= 2"),
        (lambda: batched_mixture_entropy(torch.randn(4, 3), 0.1), r"\[B >= 1, n >= 1, d >= 1\]"),
        (lambda: batched_mixture_entropy(torch.randn(0, 3, 2), 0.1), "B >= 1"),
        (lambda: batched_mixture_entropy(torch.randn(4, 3, 2), 0.1, n_mc=1), "n_mc must be"),
        (lambda: batched_mixture_log_density(torch.randn(2, 3, 2), torch.randn(3, 4, 2), 0.1), "agree in B and d"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_dense_row_ids_equal_unique_rows():
    from lrc_utils.mi import dense_row_ids

    gen = torch.Generator().manual_seed(7)
    for bins, width in [(2, 3), (30, 40), (1000, 9)]:  # the last ones force compressions of the key
        codes = torch.randint(0, bins, (500, width), generator=gen)
        codes[250:] = codes[:250]  # duplicates
        ids = dense_row_ids(codes)
        _, inverse = torch.unique(codes, dim=0, return_inverse=True)
        assert torch.equal(ids, inverse)


# ----------------------------------------------------------------------------------------------------
# the default numbers of the code before the result convention changed (commit 345f819)

#: Values printed by the code at commit 345f819 (``float.hex``) on the inputs of :func:`old_inputs`.
OLD_VALUES = {
    "binning": ("0x1.6bbf5ae8d639ap+2", "0x1.18bb3c11315f8p+0"),
    "binning_7_range": ("0x1.18867c07b2c70p+2", "0x1.70c0adc117770p-1"),
    "adaptive_binning": ("0x1.6d0ac5a6095d7p+2", "0x1.18bb3c11315fcp+0"),
    "adaptive_binning_5": ("0x1.58ff8f0f2a88cp+2", "0x1.f85df80064238p-1"),
    "kde_upper": ("0x1.2014aac69899ap+2", "0x1.720d46612adf0p-1"),
    "kde_lower": ("0x1.7fd03c5bde1cfp+1", "0x1.b54540227f3b0p-2"),
    "kde_default": ("0x1.e8a7a3cdb1376p+1", "0x1.1b1ff10f71678p-1"),
    "adaptive_kde": ("0x1.2b97e2cef2a80p+2", "0x1.8e15e1f76edb8p-1"),
    "adaptive_kde_lower": ("0x1.9efea4840802ep+0", "0x1.1f1bb10de66f0p-2"),
    "kde_entropy_upper": ("0x1.0be0115280563p+2",),
    "kde_entropy_lower": ("0x1.57670973ad961p+1",),
    "mixture_entropy": ("0x1.b49bcded81ff9p+1", "0x1.4f302240f4580p-6"),
}


def old_inputs():
    gen = torch.Generator().manual_seed(20240)
    y = torch.randint(0, 3, (300,), generator=gen)
    t = torch.tanh(torch.randn(300, 4, generator=gen, dtype=torch.float64) + 0.7 * y[:, None])
    return t, y, torch.randn(40, 3, generator=gen, dtype=torch.float64)


def test_default_numbers_are_those_of_the_old_code():
    """Counts are compared exactly; sums of matrix products to 1e-12 relative, which allows another CPU's
    BLAS kernels (on the machine that produced OLD_VALUES they are equal to the last bit as well)."""
    t, y, centers = old_inputs()
    new = {
        "binning": binning(t, y), "binning_7_range": binning(t, y, n_bins=7, value_range=(-0.5, 0.5)),
        "adaptive_binning": adaptive_binning(t, y), "adaptive_binning_5": adaptive_binning(t, y, n_bins=5),
        "kde_upper": kde(t, y, 0.05, "upper"), "kde_lower": kde(t, y, 0.05, "lower"), "kde_default": kde(t, y),
        "adaptive_kde": adaptive_kde(t, y), "adaptive_kde_lower": adaptive_kde(t, y, 0.2, "lower"),
        "kde_entropy_upper": kde_entropy(t, 0.05, "upper"), "kde_entropy_lower": kde_entropy(t, 0.05, "lower"),
        "mixture_entropy": mixture_entropy(centers, 0.3, n_mc=3000, seed=5),
    }
    for name, est in new.items():
        got = (est.ixt, est.ity) if isinstance(est, MIEstimate) else (est.entropy, est.stderr)
        expected = tuple(float.fromhex(h) for h in OLD_VALUES[name])
        if name.startswith(("binning", "adaptive_binning")):
            assert got == expected, name
        else:
            assert got[: len(expected)] == pytest.approx(expected, rel=1e-12, abs=0), name


def test_every_estimator_follows_the_result_convention():
    t, y, _ = old_inputs()
    estimates = [binning(t, y), binning(t, y, rule="shwartz-ziv"), binning(t, y, rule="saxe", binsize=0.5),
                 adaptive_binning(t, y), adaptive_binning(t, y, rule="chelombiev", low=-1.000001),
                 kde(t, y), adaptive_kde(t, y), adaptive_kde(t, y, rule="chelombiev")]
    for est in estimates:
        assert isinstance(est, MIEstimate) and est.ity is not None
        assert est.ixt_stderr is None and est.ity_stderr is None  # deterministic (given the seed)
        assert est.ixt == pytest.approx(est.h_t.entropy - est.h_t_given_x.entropy, abs=1e-12)
    assert binning(t).ity is None and kde(t).ity is None


# ----------------------------------------------------------------------------------------------------
# batched Monte Carlo and sample propagation


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_mi", REPO_ROOT / "benchmarks" / "mi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entropy_by_quadrature(centers: np.ndarray, sigma: float) -> float:
    """-int p log p of the 1-D mixture (1/n) sum_j N(c_j, sigma^2), trapezoid rule on a fine grid."""
    grid = np.arange(centers.min() - 12 * sigma, centers.max() + 12 * sigma, sigma / 50)
    p = np.exp(-0.5 * ((grid[:, None] - centers[None, :]) / sigma) ** 2).mean(1) / (sigma * math.sqrt(2 * math.pi))
    f = -p * np.log(np.maximum(p, 1e-300))
    return float(((f[1:] + f[:-1]) / 2 * np.diff(grid)).sum())


def test_quadrature_of_a_single_gaussian():
    exact = 0.5 * math.log(2 * math.pi * math.e * 0.09)
    assert entropy_by_quadrature(np.zeros(1), 0.3) == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize("chunk_bytes", [2**24, 8 * 5 * 3, 8])  # whole mixtures; sample rows; blocks of centres
def test_batched_log_density_equals_the_plain_one(chunk_bytes):
    gen = torch.Generator().manual_seed(8)
    points, centers = torch.randn(4, 7, 3, generator=gen), torch.randn(4, 5, 3, generator=gen)
    got = batched_mixture_log_density(points, centers, 0.6, chunk_bytes)
    expected = torch.stack([gaussian_mixture_log_density(p, c, 0.6) for p, c in zip(points, centers)])
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [2**24, 8 * 50])
def test_batched_mixture_entropy_against_numerical_integration(chunk_bytes):
    gen = torch.Generator().manual_seed(9)
    centers = torch.randn(6, 5, 1, generator=gen, dtype=torch.float64) * torch.linspace(0.1, 2, 6)[:, None, None]
    h, se = batched_mixture_entropy(centers, 0.3, n_mc=4000, seed=2, chunk_bytes=chunk_bytes)
    exact = torch.tensor([entropy_by_quadrature(c[:, 0].numpy(), 0.3) for c in centers], dtype=torch.float64)
    assert (se > 0).all() and ((h - exact).abs() < 4 * se).all(), (h - exact) / se


def test_noisy_mi_against_numerical_integration_in_one_dimension():
    """Hidden layers of width 1: every entropy of sample propagation is a 1-D integral."""
    torch.manual_seed(10)
    sigma, m, n_samples = 0.2, 12, 8
    model = NoisyMLP([2, 1, 1, 2], "tanh", noise_std=sigma).double()
    x = 2 * torch.randn(m, 2, dtype=torch.float64)
    estimates = noisy_mi(model, x, n_samples=n_samples, n_mc=3000, seed=3, n_mc_given_x=500)
    for est, centers in zip(estimates, propagated_centers(model, x, n_samples, seed=3)):
        c = centers[..., 0].numpy()  # [m, n_samples]
        h_t = entropy_by_quadrature(c.reshape(-1), sigma)
        h_given_x = float(np.mean([entropy_by_quadrature(row, sigma) for row in c]))
        assert abs(est.h_t.entropy - h_t) < 4 * est.h_t.stderr
        assert abs(est.h_t_given_x.entropy - h_given_x) < 4 * est.h_t_given_x.stderr
        assert abs(est.ixt - (h_t - h_given_x)) < 4 * est.ixt_stderr


def test_batched_noisy_mi_agrees_with_the_per_input_loop():
    torch.manual_seed(11)
    model = NoisyMLP([4, 5, 3, 2], "tanh", noise_std=0.3).double()
    x = torch.randn(24, 4, dtype=torch.float64)
    loop = load_benchmark().loop_noisy_mi(model, x, n_samples=16, n_mc=1000, seed=4)
    for batched in (noisy_mi(model, x, n_samples=16, n_mc=1000, seed=4, n_mc_given_x=1000),
                    noisy_mi(model, x, n_samples=16, n_mc=1000, seed=4)):
        for a, b in zip(loop, batched):
            assert b.h_t.entropy == pytest.approx(a.h_t.entropy, rel=1e-12)  # the same draws for h(T)
            assert abs(a.ixt - b.ixt) < 4 * math.hypot(a.ixt_stderr, b.ixt_stderr)
            assert abs(a.h_t_given_x.entropy - b.h_t_given_x.entropy) < 4 * math.hypot(
                a.h_t_given_x.stderr, b.h_t_given_x.stderr)


def test_gaussian_channel_closed_form_by_hand():
    # one dimension: I = 1/2 log(1 + var / s2); independent directions add up
    assert gaussian_channel_mi(torch.tensor([[3.0]]), 0.5) == pytest.approx(0.5 * math.log(1 + 3.0 / 0.5), rel=1e-15)
    cov = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    expected = 0.5 * math.log(1 + 3.0 / 0.5) + 0.5 * math.log(1 + 1.0 / 0.5)
    assert gaussian_channel_mi(cov, 0.5) == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match="noise_var"):
        gaussian_channel_mi(cov, 0.0)
