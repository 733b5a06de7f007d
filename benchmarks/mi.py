"""Benchmark: lrc_utils.mi estimators against plain NumPy forms of the same formulas.

The NumPy forms compute as the public TensorFlow-1-era code does: binning by ``np.digitize`` and
``np.unique`` over row views; KDE by the full ``N x N`` squared-distance matrix
(``|x|^2 + |x|^2^T - 2 x x^T``) and ``scipy.special.logsumexp``; Monte Carlo mixture entropy by the full
``samples x centres`` matrix. In one run, on the same data: times each pair, asserts equal values
(to 1e-9 relative), and prints the ratios.

    python benchmarks/mi.py                      # N in (4096, 10000), d in (10, 64, 256), CPU
    python benchmarks/mi.py --n 4096 --d 10 --device cuda
"""

# ruff: noqa: B023  (each pair of lambdas is called within the loop iteration that defines it)
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.special import logsumexp

from lrc_utils import get_device, mi


def np_entropy_of_rows(codes: np.ndarray) -> float:
    rows = np.ascontiguousarray(codes).view(np.dtype((np.void, codes.dtype.itemsize * codes.shape[1])))
    _, counts = np.unique(rows, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def np_discrete_mi(codes: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    h_t = np_entropy_of_rows(codes)
    h_y = np_entropy_of_rows(y[:, None])
    h_ty = np_entropy_of_rows(np.concatenate([codes, y[:, None]], axis=1))
    return h_t, h_t + h_y - h_ty


def np_binning(t: np.ndarray, y: np.ndarray, n_bins: int = 30) -> tuple[float, float]:
    lo, hi = t.min(), t.max()
    codes = np.clip(np.floor((t - lo) * (n_bins / (hi - lo))), 0, n_bins - 1).astype(np.int64)
    return np_discrete_mi(codes, y)


def np_adaptive_binning(t: np.ndarray, y: np.ndarray, n_bins: int = 30) -> tuple[float, float]:
    values = np.unique(t)
    idx = np.minimum((np.arange(1, n_bins) * len(values) / n_bins).astype(np.int64), len(values) - 1)
    edges = np.unique(values[idx])
    return np_discrete_mi(np.digitize(t, edges, right=False).astype(np.int64), y)


def np_kde_entropy(t: np.ndarray, var: float, bound: str) -> float:
    kernel_var = var if bound == "upper" else 4 * var
    x2 = (t * t).sum(1)[:, None]
    dists = np.maximum(x2 + x2.T - 2 * t @ t.T, 0.0)
    lme = logsumexp(-dists / (2 * kernel_var), axis=1) - math.log(len(t))
    return 0.5 * t.shape[1] * (math.log(2 * math.pi * var) + 1) - float(lme.mean())


def np_kde(t: np.ndarray, y: np.ndarray, var: float, bound: str = "upper") -> tuple[float, float]:
    h_t = np_kde_entropy(t, var, bound)
    h_given_x = 0.5 * t.shape[1] * (math.log(2 * math.pi * var) + 1)
    labels, counts = np.unique(y, return_counts=True)
    h_given_y = sum(c / len(y) * np_kde_entropy(t[y == label], var, bound) for label, c in zip(labels, counts))
    return h_t - h_given_x, h_t - h_given_y


def np_mixture_neg_log_density(samples: np.ndarray, centers: np.ndarray, sigma: float) -> float:
    s2, c2 = (samples * samples).sum(1)[:, None], (centers * centers).sum(1)[None, :]
    dists = np.maximum(s2 + c2 - 2 * samples @ centers.T, 0.0)
    log_density = (logsumexp(-dists / (2 * sigma**2), axis=1) - math.log(len(centers))
                   - 0.5 * samples.shape[1] * math.log(2 * math.pi * sigma**2))
    return float(-log_density.mean())


def timed(fn, device=None):
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    value = fn()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4096, 10000])
    parser.add_argument("--d", type=int, nargs="+", default=[10, 64, 256])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = get_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}, numpy {np.__version__}")
    print(f"{'estimator':<18}{'N':>7}{'d':>5}{'numpy s':>10}{'lrc s':>9}{'ratio':>8}")
    for n in args.n:
        for d in args.d:
            gen = torch.Generator().manual_seed(n + d)
            y = torch.randint(0, 10, (n,), generator=gen)
            t = torch.tanh(torch.randn(n, d, generator=gen, dtype=torch.float64) + 0.5 * y[:, None])
            t_np, y_np, t_dev, y_dev = t.numpy(), y.numpy(), t.to(device), y.to(device)
            var = 0.1
            adaptive_var = mi.adaptive_noise_var(t, 0.1)
            centers = t_dev[: min(n, 4096)]
            gen_mc = torch.Generator().manual_seed(1)
            samples = centers[torch.randint(0, len(centers), (2000,), generator=gen_mc).to(device)]
            samples = samples + 0.3 * torch.randn(samples.shape, generator=gen_mc, dtype=torch.float64).to(device)
            pairs = {
                "binning": (lambda: np_binning(t_np, y_np), lambda: mi.binning(t_dev, y_dev)),
                "adaptive_binning": (lambda: np_adaptive_binning(t_np, y_np),
                                     lambda: mi.adaptive_binning(t_dev, y_dev)),
                "kde upper": (lambda: np_kde(t_np, y_np, var, "upper"), lambda: mi.kde(t_dev, y_dev, var, "upper")),
                "kde lower": (lambda: np_kde(t_np, y_np, var, "lower"), lambda: mi.kde(t_dev, y_dev, var, "lower")),
                "adaptive_kde": (lambda: np_kde(t_np, y_np, adaptive_var), lambda: mi.adaptive_kde(t_dev, y_dev)),
                "mixture log-dens": (
                    lambda: (np_mixture_neg_log_density(samples.cpu().numpy(), centers.cpu().numpy(), 0.3),),
                    lambda: (float(-mi.gaussian_mixture_log_density(samples, centers, 0.3).mean()),)),
            }
            for name, (numpy_fn, lrc_fn) in pairs.items():
                numpy_s, expected = timed(numpy_fn)
                lrc_s, got = timed(lrc_fn, device)
                got = (got.ixt, got.ity) if isinstance(got, mi.MIEstimate) else got
                assert np.allclose(got, expected, rtol=1e-9, atol=1e-9), f"{name}: {got} != {expected}"
                print(f"{name:<18}{n:>7}{d:>5}{numpy_s:>10.3f}{lrc_s:>9.3f}{numpy_s / lrc_s:>8.1f}", flush=True)
    print("all values equal to the NumPy forms (rtol 1e-9)")


if __name__ == "__main__":
    main()
