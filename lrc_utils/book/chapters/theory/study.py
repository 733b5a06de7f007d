"""The theory chapter's numerical checks: local rank against depth, active units, information and weight decay.

Two kinds of work:

* **Trained networks** (one run per Figure 1 panel, with Figure 1's data, model and training settings and one
  seed): trained by :func:`lrc_utils.training.fit` while :class:`lrc_utils.theory.WeightSpectrumMonitor`
  records the singular values of every weight matrix (table ``spectrum``, with the training loss and
  accuracy); at the end, input by input at the held-out rank points, the depth statement (table ``depth``),
  the ReLU statement (table ``relu``), the local information rate against the local rank (table ``rate``) and
  the margin statement (table ``margin``).
* **Channels with a known answer**: X ~ N(0, I) (``n_samples`` draws), T = A X with A of rank r (table
  ``channel``: the closed form and the KDE bounds of :func:`lrc_utils.mi.kde` over noise levels), and T the
  pre-activation after a ReLU bottleneck of width r in random networks (table ``slope``: the KDE bounds over
  noise levels and the network's mean exact local rank).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .... import mi, theory
from ....config import seed_everything
from ....grid import run_grid
from ....local_rank import singular_values
from ....models import MLP
from ....training import Checkpoint, ClassifierMetrics, FitConfig, fit, log_spaced_steps
from ...params import param
from .. import StudyContext, study_identity
from ..panels import PANELS, PanelParams, panel_data, panel_loss, panel_schedule


@dataclass(kw_only=True)
class Params(PanelParams):
    """The theory chapter's parameters: the schema its notebook's parameters cell is written from
    (:mod:`lrc_utils.book.params`)."""

    seed: int = param(0, "seed of the two trained networks (initialisation and minibatches) and of the random channels")
    tolerances: list = param([0.0001, 0.001, 0.01, 0.1, 1.0], "tolerances tau of the information-rate check")
    channel_ranks: list = param([1, 2, 4], "ranks r of the linear channels: T is AX with A of shape 8 x 10")
    bottlenecks: list = param([1, 2], "bottleneck widths of the random ReLU networks of the slope check")
    network_seeds: list = param([0, 1, 2], "seeds of those random networks")
    n_samples: int = param(4096, "draws of X for the channel and slope checks (log N bounds every estimate)")
    n_sigmas: int = param(11, "noise levels, log-spaced from sigma_max down to sigma_min")
    sigma_min: float = param(0.003, "smallest noise level (absolute for channels, relative to the scale for networks)")
    sigma_max: float = param(1.0, "largest noise level")
    info_margin: float = param(2.0, "an estimate is trusted while at least this many nats below log N (ours)")
    slope_tolerance: float = param(0.15, "largest relative gap between slope and local rank allowed (ours)")
    slope_max_sigma: float = param(0.3, "slopes are fitted at noise levels up to this fraction of the layer's scale "
                                   "(ours)")
    nn_quantile: float = param(0.9, "and down to this quantile of the samples' nearest-neighbour distances (ours)")
    decay_tolerance: float = param(0.25, "crossings counted as earlier than predicted below (1 - this) x the "
                                   "prediction")

    def check(self) -> None:
        check(self)


TABLES = ("spectrum", "depth", "relu", "rate", "margin", "channel", "slope")
#: Input dimension and output width of the channels with a known answer.
CHANNEL_INPUT_DIM, CHANNEL_OUTPUT_DIM = 10, 8
#: Hidden widths around the bottleneck of the random ReLU networks of table ``slope``.
SLOPE_WIDTH = 32


def check(p) -> None:
    if isinstance(p.seed, bool) or not isinstance(p.seed, int) or p.seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {p.seed!r}")
    if not p.tolerances or any(not (isinstance(t, (int, float)) and t > 0) for t in p.tolerances):
        raise ValueError(f"tolerances must be a non-empty list of numbers > 0, got {p.tolerances!r}")
    if not p.channel_ranks or any(not (isinstance(r, int) and 1 <= r <= CHANNEL_OUTPUT_DIM) for r in p.channel_ranks):
        raise ValueError(f"channel_ranks must be integers in [1, {CHANNEL_OUTPUT_DIM}], got {p.channel_ranks!r}")
    if not p.bottlenecks or any(not (isinstance(r, int) and 1 <= r <= SLOPE_WIDTH) for r in p.bottlenecks):
        raise ValueError(f"bottlenecks must be integers in [1, {SLOPE_WIDTH}], got {p.bottlenecks!r}")
    if not p.network_seeds or len(set(p.network_seeds)) != len(p.network_seeds):
        raise ValueError(f"network_seeds must be a non-empty list of distinct integers, got {p.network_seeds!r}")
    if not 0 < p.nn_quantile <= 1:
        raise ValueError(f"nn_quantile must lie in (0, 1], got {p.nn_quantile!r}")
    if p.n_samples < 16 or p.n_sigmas < 3 or not 0 < p.sigma_min < p.sigma_max:
        raise ValueError(f"need n_samples >= 16, n_sigmas >= 3 and 0 < sigma_min < sigma_max; got {p.n_samples}, "
                         f"{p.n_sigmas}, {p.sigma_min}, {p.sigma_max}")


def panel_checks(model: MLP, x: torch.Tensor, atol: float, tolerances: list[float]) -> dict[str, pd.DataFrame]:
    """The statements checked input by input on a trained network at the points ``x``: tables ``depth``,
    ``relu``, ``rate`` (per layer and tolerance tau: the mean count of singular values above tau, the mean local
    information rate at sigma = tau, the mean exact rank) and ``margin``."""
    spectra = singular_values(theory.float64_copy(model), x.double())
    rate = [{"layer": layer, "tolerance": tau, "local_rank": float(theory.count_above(s, tau).double().mean()),
             "rate": float(theory.local_information_rate(s, tau).mean()),
             "exact_rank": float(theory.exact_ranks(s).double().mean())}
            for layer, s in enumerate(spectra, start=1) for tau in tolerances]
    return {"depth": theory.depth_check(model, x, atol), "relu": theory.relu_check(model, x),
            "rate": pd.DataFrame(rate), "margin": pd.DataFrame([theory.margin_separation(model, x)])}


def channel_table(p) -> pd.DataFrame:
    """I(X; AX + sigma Z) for X ~ N(0, I), A ``[8, 10]`` of rank r with unit singular values: the closed form
    r/2 log(1 + 1/sigma^2) (:func:`lrc_utils.mi.gaussian_channel_mi`) and the KDE bounds on ``n_samples``
    draws, over ``n_sigmas`` log-spaced noise levels."""
    gen = torch.Generator().manual_seed(p.seed)
    x = torch.randn(p.n_samples, CHANNEL_INPUT_DIM, generator=gen, dtype=torch.float64)
    rows = []
    for r in p.channel_ranks:
        a = theory.rank_r_matrix(CHANNEL_OUTPUT_DIM, CHANNEL_INPUT_DIM, r, gen)
        t = x @ a.T
        for sigma in np.logspace(math.log10(p.sigma_max), math.log10(p.sigma_min), p.n_sigmas):
            rows.append({"rank": r, "sigma": float(sigma), "closed_form": mi.gaussian_channel_mi(a @ a.T, sigma**2),
                         "kde_upper": mi.kde(t, noise_var=sigma**2).ixt,
                         "kde_lower": mi.kde(t, noise_var=sigma**2, bound="lower").ixt})
    return pd.DataFrame(rows).assign(log_n=math.log(p.n_samples))


def slope_table(p) -> pd.DataFrame:
    """I(X; p_3(X) + sigma Z) for X ~ N(0, I_10) and p_3 the third pre-activation of a random ReLU network
    10-32-r-32 (weights N(0, 1/fan_in), zero biases): its Jacobian is W_3 D_2 W_2 D_1 W_1, of rank at most the
    number of active bottleneck units (at most r), and generically equal to it while that number is at most
    min(10, active units of layer 1). KDE bounds over noise levels relative to the
    layer's scale (the root of the summed variances of p_3), with the mean exact local rank over the same draws
    and the samples' spacing (:func:`lrc_utils.theory.nearest_neighbour_distance` at ``p.nn_quantile``)."""
    gen = torch.Generator().manual_seed(p.seed)
    x = torch.randn(p.n_samples, CHANNEL_INPUT_DIM, generator=gen, dtype=torch.float64)
    rows = []
    for r in p.bottlenecks:
        for net_seed in p.network_seeds:
            seed_everything(net_seed)
            model = MLP([CHANNEL_INPUT_DIM, SLOPE_WIDTH, r, SLOPE_WIDTH, 2], "relu", init="normal").double().eval()
            with torch.no_grad():
                t = model.preactivations(x)[2]
            rank = float(theory.exact_ranks(singular_values(model, x)[2]).double().mean())
            scale = float(t.var(0).sum().sqrt())
            spacing = theory.nearest_neighbour_distance(t, p.nn_quantile)
            for rel in np.logspace(math.log10(p.sigma_max), math.log10(p.sigma_min), p.n_sigmas):
                sigma = scale * float(rel)
                rows.append({"bottleneck": r, "network_seed": net_seed, "local_rank": rank, "scale": scale,
                             "spacing": spacing,
                             "relative_sigma": float(rel), "sigma": sigma,
                             "kde_upper": mi.kde(t, noise_var=sigma**2).ixt,
                             "kde_lower": mi.kde(t, noise_var=sigma**2, bound="lower").ixt})
    return pd.DataFrame(rows).assign(log_n=math.log(p.n_samples))


def compute(p: Params, ctx: StudyContext | None = None) -> dict:
    """Tables :data:`TABLES` (see the module docstring); the panel tables carry a ``panel`` column."""
    ctx = ctx or StudyContext()
    identity = study_identity("theory", p)

    def run_one(key: dict) -> dict:
        panel = key["panel"]
        train, test, x_rank, sizes = panel_data(p, panel, ctx)
        steps, lr, wd = panel_schedule(p, panel)
        seed_everything(p.seed)
        model = MLP(sizes, "relu", init="normal").to(ctx.device)
        config = FitConfig(steps=steps, lr=lr, weight_decay=wd, batch_size=p.batch_size, seed=p.seed,
                           eval_steps=tuple(log_spaced_steps(steps, p.n_evals)), checkpoint_every=5000)
        records = fit(model, panel_loss(p), train, config,
                      [theory.WeightSpectrumMonitor(), ClassifierMetrics(train, test)],
                      Checkpoint(ctx.checkpoint_dir, {**identity, **key}), desc=f"{panel} seed {p.seed}")
        tables = {"spectrum": records["spectrum"].merge(records["metrics"], on="step", how="left")}
        tables.update(panel_checks(model.cpu(), x_rank.cpu(), p.atol, p.tolerances))
        return {name: t.assign(panel=panel) for name, t in tables.items()}

    tables = run_grid([{"panel": panel} for panel in PANELS], run_one, ctx.checkpoint_dir, identity, runs=ctx.runs,
                      desc="theory runs")
    return {**tables, "channel": channel_table(p), "slope": slope_table(p)}
