"""The MI estimators against ground truth: binning of an injective layer (truth log N), the Gaussian channel
(closed form), Monte Carlo mixture entropy between the KDE bounds, and sample propagation in a noisy network
(layer 1's h(T|X) is exact). All values in nats; every data set is synthetic."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from .... import mi
from ....config import seed_everything
from ....models import NoisyMLP
from ...params import RunParams, param
from .. import StudyContext


@dataclass(kw_only=True)
class Params(RunParams):
    """The MI-estimator chapter's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seed: int = param(0, "seed of every synthetic sample")
    sample_sizes: list = param([256, 1024, 4096], "N, the number of distinct inputs")
    dims: list = param([1, 2, 5, 10], "dimensions d of the layer")
    bin_counts: list = param([2, 5, 10, 30, 100, 1000], "numbers of bins for the binning estimators")
    noise_vars: list = param([0.001, 0.01, 0.1, 1.0], "s^2, the channel (and KDE) noise variance")
    n_mc: int = param(4000, "Monte Carlo samples per entropy")
    noisy_samples: list = param([4, 16, 64], "samples per input for sample propagation in a noisy network")
    noisy_inputs: int = param(128, "inputs of the noisy network")
    noisy_sigma: float = param(0.5, "standard deviation of the noise in every hidden unit of the noisy network")


TABLES = ("binning", "gaussian_channel", "mixture_entropy", "noisy_network")


def binning_study(p) -> pd.DataFrame:
    rows = []
    gen = torch.Generator().manual_seed(p.seed)
    for n in p.sample_sizes:
        for d in p.dims:
            t = torch.randn(n, d, generator=gen, dtype=torch.float64)
            for n_bins in p.bin_counts:
                for name, fn in (("binning", mi.binning), ("adaptive_binning", mi.adaptive_binning)):
                    rows.append((name, n, d, n_bins, fn(t, n_bins=n_bins).ixt, math.log(n)))
    return pd.DataFrame(rows, columns=["estimator", "n", "d", "n_bins", "ixt", "truth"])


def gaussian_channel_sample(n: int, d: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``T = A X`` for ``n`` samples of ``X ~ N(0, S)`` (``S`` diagonal, scales ``0.8^i``) and a random ``A``:
    returns (``[n, d]`` samples, the covariance ``A S A^T`` ``[d, d]``), float64."""
    scales = 0.8 ** torch.arange(d, dtype=torch.float64)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * scales
    a = torch.randn(d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    return x @ a.T, a @ torch.diag(scales**2) @ a.T


def channel_study(p, device) -> pd.DataFrame:
    rows = []
    gen = torch.Generator().manual_seed(p.seed + 1)
    for n in p.sample_sizes:
        for d in p.dims:
            t, cov = gaussian_channel_sample(n, d, gen)
            for s2 in p.noise_vars:
                truth = mi.gaussian_channel_mi(cov, s2)
                h_noise = 0.5 * d * math.log(2 * math.pi * math.e * s2)
                h = mi.mixture_entropy(t.to(device), math.sqrt(s2), p.n_mc, seed=p.seed)
                estimates = {"kde lower": (mi.kde(t, noise_var=s2, bound="lower").ixt, 0.0),
                             "kde upper": (mi.kde(t, noise_var=s2, bound="upper").ixt, 0.0),
                             "sample propagation": (h.entropy - h_noise, h.stderr)}
                rows += [(name, n, d, s2, value, stderr, truth, math.log(n))
                         for name, (value, stderr) in estimates.items()]
    return pd.DataFrame(rows, columns=["estimator", "n", "d", "noise_var", "ixt", "stderr", "truth", "log_n"])


def mixture_study(p, device) -> pd.DataFrame:
    rows = []
    gen = torch.Generator().manual_seed(p.seed + 2)
    for n in p.sample_sizes:
        for d in p.dims:
            centers = torch.randn(n, d, generator=gen, dtype=torch.float64)
            for s2 in p.noise_vars:
                h = mi.mixture_entropy(centers.to(device), math.sqrt(s2), p.n_mc, seed=p.seed)
                rows.append((n, d, s2, mi.kde_entropy(centers, s2, "lower").entropy, h.entropy, h.stderr,
                             mi.kde_entropy(centers, s2, "upper").entropy))
    return pd.DataFrame(rows, columns=["n", "d", "noise_var", "kde_lower", "monte_carlo", "stderr", "kde_upper"])


def noisy_study(p, device) -> pd.DataFrame:
    seed_everything(p.seed)
    model = NoisyMLP([12, 10, 7, 5, 4, 3, 2], "tanh", noise_std=p.noisy_sigma).double().to(device)
    x = torch.randn(p.noisy_inputs, 12, dtype=torch.float64, device=device)
    rows = []
    for n_samples in p.noisy_samples:
        for layer, est in enumerate(mi.noisy_mi(model, x, n_samples=n_samples, n_mc=p.n_mc, seed=p.seed), start=1):
            width = model.hidden_widths[layer - 1]
            exact = 0.5 * width * math.log(2 * math.pi * math.e * p.noisy_sigma**2) if layer == 1 else None
            rows.append((n_samples, layer, est.ixt, est.ixt_stderr, est.h_t_given_x.entropy, exact,
                         math.log(p.noisy_inputs)))
    return pd.DataFrame(rows, columns=["n_samples", "layer", "ixt", "stderr", "h_t_given_x", "exact_h_t_given_x",
                                       "log_n"])


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    ctx = ctx or StudyContext()
    return {"binning": binning_study(p), "gaussian_channel": channel_study(p, ctx.device),
            "mixture_entropy": mixture_study(p, ctx.device), "noisy_network": noisy_study(p, ctx.device)}
