"""Benchmark: lrc_utils.mi estimators against plain reference forms of the same formulas.

The NumPy forms compute as the public TensorFlow-1-era code does: binning by ``np.digitize`` / ``np.floor``
and ``np.unique`` over row views; KDE by the full ``N x N`` squared-distance matrix
(``|x|^2 + |x|^2^T - 2 x x^T``) and ``scipy.special.logsumexp``; Monte Carlo mixture entropy by the full
``samples x centres`` matrix. :func:`loop_noisy_mi` is ``lrc_utils.mi.noisy_mi`` as it was before
batching: one Monte Carlo call per input. tests/test_mi_rules.py and tests/test_mi.py run these forms at
tiny sizes.

    python benchmarks/mi.py                      # estimators: N in (4096, 10000), d in (10, 64, 256), CPU
    python benchmarks/mi.py --n 4096 --d 10 --device cuda
    python benchmarks/mi.py --noisy              # noisy_mi: per-input loop vs batched, one network
    python benchmarks/mi.py --curve 30           # noisy_mi over a training run of the 12-bit task network
    python benchmarks/mi.py --noisy --inputs 1024 --threads 1   # smaller; one thread on a shared machine
    python benchmarks/mi.py --chunks --threads 1 # the block size of the batched Monte Carlo

Each section times both forms in one run on the same data, checks that they agree (estimators: equal to
1e-9 relative; noisy_mi: within a few standard errors, since the draws differ) and prints ratios.
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
from lrc_utils.models import NoisyMLP

# ----------------------------------------------------------------------------------------------------
# NumPy reference forms (all in nats)


def np_entropy_of_rows(codes: np.ndarray) -> float:
    rows = np.ascontiguousarray(codes).view(np.dtype((np.void, codes.dtype.itemsize * codes.shape[1])))
    _, counts = np.unique(rows, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def np_discrete_mi(codes: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) = (H(T), H(T) - sum_y p(y) H(T | Y=y)) over distinct rows of ``codes``."""
    h_t = np_entropy_of_rows(codes)
    labels, counts = np.unique(y, return_counts=True)
    h_given_y = sum(c / len(y) * np_entropy_of_rows(codes[y == label]) for label, c in zip(labels, counts))
    return h_t, h_t - h_given_y


def np_binning(t: np.ndarray, y: np.ndarray, n_bins: int = 30) -> tuple[float, float]:
    lo, hi = t.min(), t.max()
    codes = np.clip(np.floor((t - lo) * (n_bins / (hi - lo))), 0, n_bins - 1).astype(np.int64)
    return np_discrete_mi(codes, y)


def np_adaptive_binning(t: np.ndarray, y: np.ndarray, n_bins: int = 30) -> tuple[float, float]:
    values = np.unique(t)
    idx = np.minimum((np.arange(1, n_bins) * len(values) / n_bins).astype(np.int64), len(values) - 1)
    edges = np.unique(values[idx])
    return np_discrete_mi(np.digitize(t, edges, right=False).astype(np.int64), y)


def np_digitized(t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value replaced by ``edges[np.digitize(v, edges) - 1]`` (index -1 is the last edge)."""
    return edges[np.digitize(t.reshape(-1), edges) - 1].reshape(t.shape)


def np_shwartz_ziv_binning(t: np.ndarray, y: np.ndarray, n_edges: int = 30) -> tuple[float, float]:
    """Shwartz-Ziv & Tishby's rule: float32 edges ``linspace(-1, 1, n_edges)``, codes of ``np_digitized``."""
    return np_discrete_mi(np_digitized(t, np.linspace(-1, 1, n_edges).astype(np.float32)), y)


def np_saxe_binning(t: np.ndarray, y: np.ndarray, binsize: float) -> tuple[float, float]:
    """Saxe et al.'s rule: integer codes ``floor(v / binsize)`` in ``t``'s dtype."""
    return np_discrete_mi(np.floor(t / binsize).astype(np.int64), y)


def np_chelombiev_edges(t: np.ndarray, n_bins: int, low: float) -> np.ndarray:
    """Chelombiev et al.'s adaptive edges: ``low``, the distinct values other than ``low`` at positions
    ``int(k * (U / n_bins))`` for k = 0 .. n_bins - 1, then the largest; float32."""
    unique = np.setdiff1d(np.unique(t), [low])
    edges = [low]
    if unique.size > 0:
        edges += [unique[int(k * (unique.size / n_bins))] for k in range(n_bins)] + [unique[-1]]
    return np.asarray(edges, dtype=np.float64).astype(np.float32)


def np_chelombiev_binning(t: np.ndarray, y: np.ndarray, n_bins: int, low: float) -> tuple[float, float]:
    return np_discrete_mi(np_digitized(t, np_chelombiev_edges(t, n_bins, low)), y)


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


def np_chelombiev_kde(t: np.ndarray, y: np.ndarray, jitter: np.ndarray | None, bound: str = "upper"
                      ) -> tuple[float, float]:
    """Chelombiev et al.'s KDE: ``|t + jitter|``, kernel variance 0.01, label 0 against the rest."""
    sig = 0.01
    data = np.abs(t if jitter is None else t + jitter)
    first = y == np.unique(y)[0]
    h_t = np_kde_entropy(data, sig, bound)
    h_given_y = sum(part.mean() * np_kde_entropy(data[part], sig, bound) for part in (first, ~first) if part.any())
    return h_t - 0.5 * t.shape[1] * (math.log(2 * math.pi * sig) + 1), h_t - h_given_y


def np_mixture_neg_log_density(samples: np.ndarray, centers: np.ndarray, sigma: float) -> float:
    s2, c2 = (samples * samples).sum(1)[:, None], (centers * centers).sum(1)[None, :]
    dists = np.maximum(s2 + c2 - 2 * samples @ centers.T, 0.0)
    log_density = (logsumexp(-dists / (2 * sigma**2), axis=1) - math.log(len(centers))
                   - 0.5 * samples.shape[1] * math.log(2 * math.pi * sigma**2))
    return float(-log_density.mean())


# ----------------------------------------------------------------------------------------------------
# noisy_mi before batching


def loop_noisy_mi(model, x: torch.Tensor, n_samples: int = 64, n_mc: int = 2000, seed: int = 0
                  ) -> list[mi.MIEstimate]:
    """``lrc_utils.mi.noisy_mi`` as it was at commit 345f819: the same centres and the same h(T), but one
    :func:`lrc_utils.mi.mixture_entropy` call per input for h(T | X = x_i) (seed ``seed + 1000 l + 1 + i``)."""
    sigma, m = model.noise_std, len(x)
    out = []
    for layer, s in enumerate(mi.propagated_centers(model, x, n_samples, seed)):
        h_t = mi.mixture_entropy(s.reshape(m * n_samples, -1), sigma, n_mc, seed=seed + 1000 * layer)
        conditional = [mi.mixture_entropy(block, sigma, n_mc, seed=seed + 1000 * layer + 1 + i)
                       for i, block in enumerate(s)]
        h_cond = mi.EntropyEstimate(sum(e.entropy for e in conditional) / m,
                                    math.sqrt(sum(e.stderr**2 for e in conditional)) / m)
        out.append(mi.MIEstimate(h_t.entropy - h_cond.entropy, ixt_stderr=math.hypot(h_t.stderr, h_cond.stderr),
                                 h_t=h_t, h_t_given_x=h_cond))
    return out


# ----------------------------------------------------------------------------------------------------
# timing


def timed(fn, device=None):
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    value = fn()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, value


def estimators(ns: list[int], ds: list[int], device: torch.device) -> None:
    print(f"{'estimator':<20}{'N':>7}{'d':>5}{'numpy s':>10}{'lrc s':>9}{'ratio':>8}")
    for n in ns:
        for d in ds:
            gen = torch.Generator().manual_seed(n + d)
            y = torch.randint(0, 10, (n,), generator=gen)
            t = torch.tanh(torch.randn(n, d, generator=gen, dtype=torch.float64) + 0.5 * y[:, None])
            t_np, y_np, t_dev, y_dev = t.numpy(), y.numpy(), t.to(device), y.to(device)
            t32, t32_dev = t_np.astype(np.float32), t.float().to(device)
            var = 0.1
            adaptive_var = mi.adaptive_noise_var(t, 0.1)
            centers = t_dev[: min(n, 4096)]
            gen_mc = torch.Generator().manual_seed(1)
            samples = centers[torch.randint(0, len(centers), (2000,), generator=gen_mc).to(device)]
            samples = samples + 0.3 * torch.randn(samples.shape, generator=gen_mc, dtype=torch.float64).to(device)
            pairs = {
                "binning": (lambda: np_binning(t_np, y_np), lambda: mi.binning(t_dev, y_dev)),
                "binning shwartz-ziv": (lambda: np_shwartz_ziv_binning(t32, y_np),
                                        lambda: mi.binning(t32_dev, y_dev, rule="shwartz-ziv")),
                "binning saxe": (lambda: np_saxe_binning(t32, y_np, 0.07),
                                 lambda: mi.binning(t32_dev, y_dev, rule="saxe", binsize=0.07)),
                "adaptive_binning": (lambda: np_adaptive_binning(t_np, y_np),
                                     lambda: mi.adaptive_binning(t_dev, y_dev)),
                "adaptive chelombiev": (lambda: np_chelombiev_binning(t32, y_np, 30, mi.CHELOMBIEV_LOW_TANH),
                                        lambda: mi.adaptive_binning(t32_dev, y_dev, rule="chelombiev",
                                                                    low=mi.CHELOMBIEV_LOW_TANH)),
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
                print(f"{name:<20}{n:>7}{d:>5}{numpy_s:>10.3f}{lrc_s:>9.3f}{numpy_s / lrc_s:>8.1f}", flush=True)
    print("all values equal to the NumPy forms (rtol 1e-9)")


def szt_network(device: torch.device, sigma: float) -> tuple[NoisyMLP, torch.Tensor, torch.Tensor]:
    from lrc_utils.data import load_szt_12bit

    x, y = load_szt_12bit()
    torch.manual_seed(0)
    model = NoisyMLP([12, 10, 7, 5, 4, 3, 2], "tanh", noise_std=sigma).double().to(device)
    return model, x.double().to(device), y.to(device)


def noisy(m: int, n_samples: int, n_mc: int, sigma: float, device: torch.device) -> None:
    """Per-input loop vs batched noisy_mi on one network: the same work (``n_mc`` samples per input) and the
    default (``n_mc_given_x = max(2, ceil(n_mc / m))``). CPU seconds are printed too: on a shared machine
    they move less than wall-clock seconds."""
    model, x, _ = szt_network(device, sigma)
    x = x[:m]
    print(f"noisy_mi, 12-10-7-5-4-3-2 tanh NoisyMLP (sigma {sigma}), first {m} inputs of the 12-bit task, "
          f"{n_samples} samples per input, n_mc {n_mc}")
    runs = {"per-input loop": lambda: loop_noisy_mi(model, x, n_samples, n_mc),
            "batched, same work": lambda: mi.noisy_mi(model, x, n_samples, n_mc, n_mc_given_x=n_mc),
            "batched, default": lambda: mi.noisy_mi(model, x, n_samples, n_mc)}
    seconds, results = {}, {}
    for name, fn in runs.items():
        cpu = time.process_time()
        wall, results[name] = timed(fn, device)
        seconds[name] = (wall, time.process_time() - cpu)
    names = list(runs)
    print(f"{'layer':>5}" + "".join(f"{name:>22}" for name in names) + f"{'max |diff| / se':>17}")
    for layer in range(len(results[names[0]])):
        ests = [results[name][layer] for name in names]
        z = max(abs(b.ixt - ests[0].ixt) / math.hypot(ests[0].ixt_stderr, b.ixt_stderr) for b in ests[1:])
        print(f"{layer + 1:>5}" + "".join(f"{e.ixt:>14.4f} +- {e.ixt_stderr:.4f}" for e in ests) + f"{z:>17.2f}")
        assert z < 5, f"layer {layer + 1}: the loop and the batched forms differ by {z:.1f} standard errors"
    loop_wall, loop_cpu = seconds[names[0]]
    for name in names:
        wall, cpu = seconds[name]
        print(f"{name:<20} wall {wall:7.1f} s  cpu {cpu:7.1f} s  loop / this: wall {loop_wall / wall:5.1f}  "
              f"cpu {loop_cpu / cpu:5.1f}")


def curve(steps: int, m: int, n_samples: int, n_mc: int, sigma: float, device: torch.device) -> None:
    """I(X;T_l) of every layer at ``steps`` log-spaced points of a full-batch Adam run on the 12-bit task."""
    model, x, y = szt_network(device, sigma)
    checkpoints = []
    for target in np.geomspace(1, 20 * steps, steps):  # log-spaced, at least one step apart
        checkpoints.append(max(round(float(target)), checkpoints[-1] + 1 if checkpoints else 1))
    print(f"curve: {len(checkpoints)} checkpoints up to step {checkpoints[-1]}, {m} inputs, {n_samples} samples "
          f"per input, {n_mc} Monte Carlo samples per entropy, sigma {sigma}")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    wall_s, cpu_s, step = 0.0, 0.0, 0
    for checkpoint in checkpoints:
        while step < checkpoint:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            step += 1
        cpu = time.process_time()
        seconds, estimates = timed(lambda: mi.noisy_mi(model, x[:m], n_samples, n_mc, seed=step), device)
        wall_s, cpu_s = wall_s + seconds, cpu_s + time.process_time() - cpu
        print(f"step {step:>5}: I(X;T_l) " + " ".join(f"{e.ixt:.3f}" for e in estimates)
              + f"  (wall {seconds:.1f} s, cpu {time.process_time() - cpu:.1f} s)", flush=True)
    print(f"noisy_mi over {len(checkpoints)} checkpoints: wall {wall_s:.1f} s, cpu {cpu_s:.1f} s in all")


def chunks(device: torch.device) -> None:
    """Seconds per distance of :func:`lrc_utils.mi.batched_mixture_log_density` against its block size, for
    the shapes of noisy_mi on 1,024 inputs x 64 samples: h(T) (one mixture of 65,536 centres, 2,000 samples)
    and the conditional term (1,024 mixtures of 64 centres, 32 samples each); d = 10, tanh-like values.
    CPU seconds of this process on a CPU (with one thread: the work, even on a busy machine), else wall."""
    gen = torch.Generator().manual_seed(0)
    shapes = {"h(T)": ((1, 2000, 10), (1, 65536, 10)), "conditional": ((1024, 32, 10), (1024, 64, 10))}
    sizes = "".join(f"{f'{2**e >> 10} KiB':>10}" for e in range(18, 27, 2))
    print(f"{'shape':<12}{sizes}   (ns per distance, CPU)")
    for name, (p_shape, c_shape) in shapes.items():
        points = (torch.rand(p_shape, generator=gen, dtype=torch.float64) * 2 - 1).to(device)
        centers = (torch.rand(c_shape, generator=gen, dtype=torch.float64) * 2 - 1).to(device)
        row = []
        for e in range(18, 27, 2):
            cpu = time.process_time()
            wall, _ = timed(lambda: mi.batched_mixture_log_density(points, centers, 0.1, 2**e), device)
            seconds = wall if device.type == "cuda" else time.process_time() - cpu
            row.append(seconds / (p_shape[0] * p_shape[1] * c_shape[1]) * 1e9)
        print(f"{name:<12}" + "".join(f"{v:>10.2f}" for v in row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4096, 10000])
    parser.add_argument("--d", type=int, nargs="+", default=[10, 64, 256])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--noisy", action="store_true", help="noisy_mi: per-input loop vs batched")
    parser.add_argument("--curve", type=int, default=0, metavar="STEPS", help="noisy_mi over a training curve")
    parser.add_argument("--inputs", type=int, default=4096, help="inputs of the 12-bit task for --noisy/--curve")
    parser.add_argument("--samples", type=int, default=64, help="samples per input for --noisy/--curve")
    parser.add_argument("--n-mc", type=int, default=2000, help="Monte Carlo samples per entropy")
    parser.add_argument("--sigma", type=float, default=0.1, help="noise standard deviation of the NoisyMLP")
    parser.add_argument("--chunks", action="store_true", help="batched Monte Carlo: time against block size")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}, numpy {np.__version__}")
    if args.noisy:
        noisy(args.inputs, args.samples, args.n_mc, args.sigma, device)
    if args.curve:
        curve(args.curve, args.inputs, args.samples, args.n_mc, args.sigma, device)
    if args.chunks:
        chunks(device)
    if not (args.noisy or args.curve or args.chunks):
        estimators(args.n, args.d, device)


if __name__ == "__main__":
    main()
