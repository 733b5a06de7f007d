"""The rules of the original public code (Shwartz-Ziv & Tishby, Saxe et al., Chelombiev et al.) on hand-worked
examples, and the NumPy reference forms of benchmarks/mi.py against lrc_utils.mi at tiny sizes."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.mi import (
    CHELOMBIEV_LOW_NONNEGATIVE,
    CHELOMBIEV_LOW_TANH,
    adaptive_binning,
    adaptive_kde,
    binning,
    chelombiev_bin_edges,
    digitize_codes,
    gaussian_mixture_log_density,
    kde,
    shwartz_ziv_bin_edges,
)


def entropy_of_counts(*counts: int) -> float:
    n = sum(counts)
    return -sum(c / n * math.log(c / n) for c in counts)


def column(*values: float, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)[:, None]


# ----------------------------------------------------------------------------------------------------
# Shwartz-Ziv & Tishby: linspace(-1, 1, 30) in float32, codes edges[digitize(v) - 1]


def test_shwartz_ziv_codes_by_hand():
    # 4 bins: edges -1, -0.5, 0, 0.5, 1 (codes 0..4); >= 1 gets code 4, and < -1 wraps round to code 4 too
    t = column(-1.0, -0.7, 0.2, 0.5, 0.9999, 1.0, 3.0, -1.5)
    edges = shwartz_ziv_bin_edges(4)
    assert edges.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert digitize_codes(t, edges)[:, 0].tolist() == [0, 0, 2, 3, 3, 4, 4, 4]
    est = binning(t, n_bins=4, rule="shwartz-ziv")
    assert est.ixt == pytest.approx(entropy_of_counts(2, 1, 2, 3))  # codes 0, 2, 3, 4
    # ours keeps the two tails apart: bins of width 1.125 on [-1.5, 3]
    assert binning(t, n_bins=4).ixt == pytest.approx(entropy_of_counts(3, 2, 2, 1))  # -1.5 with -1, -0.7


def test_shwartz_ziv_edges_are_float32_numpy_linspace():
    edges = shwartz_ziv_bin_edges()
    assert edges.dtype == torch.float32 and len(edges) == 30  # their default: 30 edges, 29 bins
    assert np.array_equal(edges.numpy(), np.linspace(-1, 1, 30).astype(np.float32))
    # a float64 value at a float64 edge that float32 rounds up falls into the bin below
    e64 = np.linspace(-1, 1, 30)
    k = int(np.flatnonzero(e64.astype(np.float32) > e64)[0])
    t = column(e64[k], float(edges[k]))
    assert digitize_codes(t, edges)[:, 0].tolist() == [k - 1, k]
    assert binning(t, rule="shwartz-ziv").ixt == pytest.approx(math.log(2))


def test_shwartz_ziv_labels():
    t = column(-0.9, -0.8, 0.1, 0.2, 1.0, -2.0)  # 29 bins of width 2/29: codes 1, 2, 15, 16, 29, 29
    y = torch.tensor([0, 0, 1, 1, 0, 1])
    est = binning(t, y, rule="shwartz-ziv")
    assert est.ixt == pytest.approx(entropy_of_counts(1, 1, 1, 1, 2))
    # H(T|Y): y=0 holds codes {1, 2, 29}, y=1 holds {15, 16, 29}: log 3 each
    assert est.ity == pytest.approx(entropy_of_counts(1, 1, 1, 1, 2) - math.log(3))


# ----------------------------------------------------------------------------------------------------
# Saxe et al.: floor(v / binsize) in the activations' dtype


def test_saxe_codes_by_hand():
    t = column(-0.75, -0.25, 0.0, 0.3, 0.5, 1.2)  # floor(v / 0.5): -2, -1, 0, 0, 1, 2
    assert binning(t, rule="saxe", binsize=0.5).ixt == pytest.approx(entropy_of_counts(1, 1, 2, 1, 1))
    two_units = torch.tensor([[0.1, 0.1], [0.2, 0.9], [0.3, 0.1]])  # rows (0, 0), (0, 1), (0, 0)
    assert binning(two_units, rule="saxe", binsize=0.5).ixt == pytest.approx(entropy_of_counts(2, 1))


def test_saxe_divides_in_float32_like_numpy():
    t32 = (np.arange(200, dtype=np.float32) * np.float32(0.07)).reshape(-1, 1)  # values at the bin edges
    expected = np.floor(t32 / 0.07).astype(np.int64)
    _, counts = np.unique(expected, return_counts=True)
    assert binning(torch.from_numpy(t32), rule="saxe", binsize=0.07).ixt == pytest.approx(entropy_of_counts(*counts))
    assert len(counts) < 200  # float32 division puts some values into the bin below: a real difference


def test_ours_equals_saxe_on_their_grid():
    gen = torch.Generator().manual_seed(0)
    t = torch.rand(400, 3, generator=gen, dtype=torch.float64) * 1.9 - 0.95  # within [-1, 1)
    y = torch.randint(0, 2, (400,), generator=gen)
    saxe = binning(t, y, rule="saxe", binsize=0.1)
    ours = binning(t, y, n_bins=20, value_range=(-1.0, 1.0))  # the grid k * 0.1, k = -10 .. 10
    assert (ours.ixt, ours.ity) == pytest.approx((saxe.ixt, saxe.ity), abs=1e-12)


# ----------------------------------------------------------------------------------------------------
# Chelombiev et al.: edges low, u[int(k * (U / n))] for k < n, u[-1]; then the digitize step


def test_chelombiev_nonnegative_layer_by_hand():
    t = column(0, 0, 0, 1, 2, 3, 4, 5)
    # u = 1..5 (zeros left out), U = 5, n = 2: ranks 0, 2 -> 1, 3; then the maximum 5
    assert chelombiev_bin_edges(t, 2, CHELOMBIEV_LOW_NONNEGATIVE).tolist() == [0.0, 1.0, 3.0, 5.0]
    est = adaptive_binning(t, n_bins=2, rule="chelombiev", low=CHELOMBIEV_LOW_NONNEGATIVE)
    assert est.ixt == pytest.approx(entropy_of_counts(3, 2, 2, 1))  # zeros | 1, 2 | 3, 4 | the maximum alone
    # ours: one edge at rank 6 / 2 = 3 of the values 0..5
    assert adaptive_binning(t, n_bins=2).ixt == pytest.approx(entropy_of_counts(5, 3))


def test_chelombiev_tanh_layer_by_hand():
    t = column(-1.0, -0.5, 0.0, 0.5, 0.9, 1.0)
    # U = 6, n = 2: ranks 0, 3 -> -1.0, 0.5; then 1.0. The bin [low, -1.0) stays empty.
    edges = chelombiev_bin_edges(t, 2, CHELOMBIEV_LOW_TANH)
    assert edges.tolist() == [float(np.float32(-1.000001)), -1.0, 0.5, 1.0]
    assert digitize_codes(t, edges)[:, 0].tolist() == [1, 1, 1, 2, 2, 3]
    assert adaptive_binning(t, n_bins=2, rule="chelombiev", low=CHELOMBIEV_LOW_TANH).ixt == pytest.approx(
        entropy_of_counts(3, 2, 1))


def test_chelombiev_float32_edges():
    # float32(0.1) > 0.1 and float32(0.3) > 0.3: float64 values fall below their own edges
    t64 = column(0.0, 0.1, 0.3)  # edges [0, 0.1f, 0.3f]: codes 0, 0, 1
    assert digitize_codes(t64, chelombiev_bin_edges(t64, 1, 0.0))[:, 0].tolist() == [0, 0, 1]
    assert adaptive_binning(t64, n_bins=1, rule="chelombiev", low=0.0).ixt == pytest.approx(entropy_of_counts(2, 1))
    t32 = t64.float()  # the same values in float32 meet their edges exactly: codes 0, 1, 2
    assert adaptive_binning(t32, n_bins=1, rule="chelombiev", low=0.0).ixt == pytest.approx(math.log(3))


def test_chelombiev_degenerate_layers():
    zeros = torch.zeros(5, 2)  # every value is low: the edges are [low] alone, one code
    assert chelombiev_bin_edges(zeros, 30, 0.0).tolist() == [0.0]
    assert adaptive_binning(zeros, rule="chelombiev", low=0.0).ixt == 0.0
    few = column(0.0, 0.5, 0.5, 1.0)  # U = 2 < n = 4: repeated edges make empty bins only
    assert chelombiev_bin_edges(few, 4, 0.0).tolist() == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert adaptive_binning(few, n_bins=4, rule="chelombiev", low=0.0).ixt == pytest.approx(entropy_of_counts(1, 2, 1))


# ----------------------------------------------------------------------------------------------------
# Chelombiev et al.'s KDE


def test_chelombiev_kde_without_jitter_is_kde_on_absolute_values_with_two_groups():
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (120,), generator=gen)
    t = torch.tanh(torch.randn(120, 3, generator=gen, dtype=torch.float64) + y[:, None])
    for bound in ("upper", "lower"):
        got = adaptive_kde(t, y, bound=bound, rule="chelombiev", jitter=False)
        expected = kde(t.abs(), (y != 0).long(), noise_var=0.01, bound=bound)
        assert (got.ixt, got.ity) == (expected.ixt, expected.ity)


def test_chelombiev_kde_jitter_is_seeded():
    gen = torch.Generator().manual_seed(2)
    y = torch.randint(0, 2, (80,), generator=gen)
    t = torch.randn(80, 2, generator=gen, dtype=torch.float64)
    jitter = 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    got = adaptive_kde(t, y, rule="chelombiev", seed=7)
    expected = kde((t + jitter).abs(), y, noise_var=0.01)
    assert (got.ixt, got.ity) == pytest.approx((expected.ixt, expected.ity), rel=1e-14)
    assert got != adaptive_kde(t, y, rule="chelombiev", seed=8)


# ----------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: binning(torch.randn(5, 2), rule="idnns"), "unknown rule"),
        (lambda: binning(torch.randn(5, 2), rule="saxe"), "takes binsize"),
        (lambda: binning(torch.randn(5, 2), rule="saxe", binsize=0.1, n_bins=30), "takes binsize"),
        (lambda: binning(torch.randn(5, 2), rule="saxe", binsize=-0.1), "binsize must be"),
        (lambda: binning(torch.randn(5, 2), binsize=0.1), "only by rule='saxe'"),
        (lambda: binning(torch.randn(5, 2), value_range=(1.0, 1.0)), "low < high"),
        (lambda: adaptive_binning(torch.randn(5, 2), rule="chelombiev"), "needs low"),
        (lambda: adaptive_binning(torch.rand(5, 2) - 2, rule="chelombiev", low=-1.000001), "every value >= low"),
        (lambda: adaptive_binning(torch.randn(5, 2), low=0.0), "only by rule='chelombiev'"),
        (lambda: adaptive_kde(torch.randn(5, 2), rule="chelombiev", relative_noise=0.1), "only by rule='ours'"),
        (lambda: adaptive_kde(torch.randn(5, 2), rule="paper"), "unknown rule"),
        (lambda: digitize_codes(torch.randn(5, 2), torch.tensor([1.0, 0.0])), "non-decreasing"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ----------------------------------------------------------------------------------------------------
# the NumPy reference forms of benchmarks/mi.py at tiny sizes


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_mi", REPO_ROOT / "benchmarks" / "mi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("n, d", [(40, 1), (150, 3)])
def test_numpy_reference_forms(bench, n, d):
    gen = torch.Generator().manual_seed(n + d)
    y = torch.randint(0, 3, (n,), generator=gen)
    t = torch.tanh(torch.randn(n, d, generator=gen, dtype=torch.float64) + 0.5 * y[:, None])
    relu = torch.relu(torch.randn(n, d, generator=gen, dtype=torch.float64)).float()
    t32, y_np = t.float(), y.numpy()
    jitter = torch.randn(t.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    pairs = [
        (bench.np_binning(t.numpy(), y_np, 7), binning(t, y, n_bins=7)),
        (bench.np_adaptive_binning(t.numpy(), y_np, 7), adaptive_binning(t, y, n_bins=7)),
        (bench.np_shwartz_ziv_binning(t32.numpy(), y_np), binning(t32, y, rule="shwartz-ziv")),
        (bench.np_shwartz_ziv_binning(3 * t.numpy(), y_np, 12), binning(3 * t, y, n_bins=11, rule="shwartz-ziv")),
        (bench.np_saxe_binning(t32.numpy(), y_np, 0.07), binning(t32, y, rule="saxe", binsize=0.07)),
        (bench.np_chelombiev_binning(t32.numpy(), y_np, 5, CHELOMBIEV_LOW_TANH),
         adaptive_binning(t32, y, n_bins=5, rule="chelombiev", low=CHELOMBIEV_LOW_TANH)),
        (bench.np_chelombiev_binning(t.numpy(), y_np, 30, CHELOMBIEV_LOW_TANH),
         adaptive_binning(t, y, rule="chelombiev", low=CHELOMBIEV_LOW_TANH)),
        (bench.np_chelombiev_binning(relu.numpy(), y_np, 4, 0.0),
         adaptive_binning(relu, y, 4, rule="chelombiev", low=0.0)),
        (bench.np_kde(t.numpy(), y_np, 0.05, "upper"), kde(t, y, 0.05, "upper")),
        (bench.np_kde(t.numpy(), y_np, 0.05, "lower"), kde(t, y, 0.05, "lower")),
        (bench.np_chelombiev_kde(t.numpy(), y_np, None, "lower"),
         adaptive_kde(t, y, bound="lower", rule="chelombiev", jitter=False)),
        (bench.np_chelombiev_kde(t.numpy(), y_np, 0.01 * jitter.numpy()),
         adaptive_kde(t, y, rule="chelombiev", seed=3)),
    ]
    for expected, est in pairs:
        assert (est.ixt, est.ity) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    samples, centers = t[: n // 2] + 0.1, t[n // 2:]
    assert bench.np_mixture_neg_log_density(samples.numpy(), centers.numpy(), 0.3) == pytest.approx(
        float(-gaussian_mixture_log_density(samples, centers, 0.3).mean()), rel=1e-12)
