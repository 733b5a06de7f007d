"""MI estimators against ground truth: exact discrete cases, the Gaussian channel, mixture entropies."""

import math

import numpy as np
import pytest
import torch

from lrc_utils.mi import (
    MIEstimate,
    adaptive_bin_edges,
    adaptive_binning,
    adaptive_kde,
    binning,
    kde,
    kde_entropy,
    log_mean_kernel,
    mixture_entropy,
    noisy_mi,
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
    truth = 0.5 * float(torch.logdet(torch.eye(2, dtype=torch.float64) + a @ cov @ a.T / s2))
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
    truth = 0.5 * float(torch.logdet(torch.eye(2, dtype=torch.float64) + a @ cov @ a.T / sigma**2))
    assert abs(est.ixt - truth) < 0.05 + 4 * est.stderr


def test_first_noisy_layer_conditional_entropy_is_gaussian():
    torch.manual_seed(0)
    sigma, width = 0.3, 5
    model = NoisyMLP([4, width, 3, 2], "tanh", noise_std=sigma).double()
    x = torch.randn(20, 4, dtype=torch.float64)
    first = noisy_mi(model, x, n_samples=16, n_mc=4000, seed=1)[0]
    closed = 0.5 * width * math.log(2 * math.pi * math.e * sigma**2)
    assert abs(first.h_t_given_x - closed) < 4 * first.stderr + 1e-3


def test_long_monte_carlo_lies_between_the_kde_bounds():
    gen = torch.Generator().manual_seed(3)
    for n, d, s2 in [(50, 2, 0.1), (200, 3, 0.05), (100, 5, 0.5)]:
        centers = torch.randn(n, d, generator=gen, dtype=torch.float64)
        h, se = mixture_entropy(centers, math.sqrt(s2), n_mc=40_000, seed=4)
        assert kde_entropy(centers, s2, "lower") <= h + 4 * se
        assert h - 4 * se <= kde_entropy(centers, s2, "upper")


def test_single_gaussian_entropy():
    h, se = mixture_entropy(torch.zeros(1, 3, dtype=torch.float64), 0.5, n_mc=20_000, seed=0)
    assert abs(h - 1.5 * math.log(2 * math.pi * math.e * 0.25)) < 4 * se


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
