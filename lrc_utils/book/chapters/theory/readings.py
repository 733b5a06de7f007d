"""The theory chapter's checks as pure functions of the tables of :mod:`lrc_utils.book.chapters.theory.study`.

Each ``*_check`` returns a small table with a boolean column ``holds``: whether the statement's inequality or
identity holds on every row it covers, measured. :func:`require` turns a failed check into an error, so a
notebook that states a statement fails when its check does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ....theory import information_slope, predicted_crossing_step
from ...readings import first_step_at_accuracy, power_text


def theory_checks(tables: dict[str, pd.DataFrame], p) -> dict[str, pd.DataFrame]:
    """Every check of the theory chapter on the study's ``tables``, with the notebook's parameters ``p``: name ->
    check table (each with a ``holds`` column)."""
    return {"depth": depth_check(tables["depth"]), "relu": relu_check(tables["relu"]),
            "rate": rate_check(tables["rate"]), "channel": channel_check(tables["channel"], p.info_margin),
            "slope": slope_check(tables["slope"], p.info_margin, p.slope_tolerance, p.slope_max_sigma),
            "decay": decay_checks(tables["spectrum"], p), "margin": margin_check(tables["margin"])}


def depth_check(depth: pd.DataFrame) -> pd.DataFrame:
    """Per panel and layer: how many (input) cases break rank(J_l) <= rank(J_{l-1}) (exact ranks), how many break
    the tolerance bound rank_tau(J_l) <= rank_{tau/g}(J_{l-1}), and, for comparison, how many have a larger
    rank at the fixed tolerance tau than the layer before (no statement forbids it when g > 1)."""
    rows = []
    for (panel, layer), r in depth.groupby(["panel", "layer"], sort=False):
        rows.append({"panel": panel, "layer": layer, "inputs": len(r),
                     "exact rank rises": int((r.exact_rank > r.exact_rank_prev).sum()),
                     "bound broken": int((r["rank"] > r.rank_prev_at_scaled_tol).sum()),
                     "rank at tau rises": int((r["rank"] > r.rank_prev).sum()),
                     "median gain g": float(r.gain.median()), "max gain g": float(r.gain.max())})
    out = pd.DataFrame(rows)
    return out.assign(holds=(out["exact rank rises"] == 0) & (out["bound broken"] == 0))


def relu_check(relu: pd.DataFrame, max_error: float = 1e-9) -> pd.DataFrame:
    """Per panel and layer: the mean exact rank and the mean bound min(input dim, width, active units on the
    way), the share of inputs where the bound is attained, cases above the bound, and the largest difference
    between the Jacobian and the product of restricted weights (holds when <= ``max_error``)."""
    rows = []
    for (panel, layer), r in relu.groupby(["panel", "layer"], sort=False):
        rows.append({"panel": panel, "layer": layer, "mean exact rank": r.exact_rank.mean(),
                     "mean bound": r.bound.mean(), "bound attained": (r.exact_rank == r.bound).mean(),
                     "above bound": int((r.exact_rank > r.bound).sum()), "max product error": r.product_error.max()})
    out = pd.DataFrame(rows)
    return out.assign(holds=(out["above bound"] == 0) & (out["max product error"] <= max_error))


def rate_check(rate: pd.DataFrame) -> pd.DataFrame:
    """The local information rate at sigma = tau (delta = 1) against the local rank at tolerance tau: each
    singular value above tau adds more than 1/2 to the rate and none adds more than 1, so per input
    count/2 < rate <= exact rank, and so for the means. One row per panel and layer: the mean exact rank, then
    per tolerance the mean count above it (``rank > tau``) and the mean rate (``rate at tau``); holds when both
    inequalities hold at every tolerance."""
    ok = (rate.local_rank / 2 <= rate.rate + 1e-12) & (rate.rate <= rate.exact_rank + 1e-12)
    rate = rate.assign(ok=ok)
    rows = []
    for (panel, layer), r in rate.groupby(["panel", "layer"], sort=False):
        row = {"panel": panel, "layer": layer, "exact rank": r.exact_rank.iloc[0]}
        for _, t in r.iterrows():
            row[f"rank > {t.tolerance:g}"] = t.local_rank
            row[f"rate at {t.tolerance:g}"] = t.rate
        rows.append({**row, "holds": bool(r.ok.all())})
    return pd.DataFrame(rows)


def margin_check(margin: pd.DataFrame) -> pd.DataFrame:
    """Two inputs predicted differently lie at least (m + m') / lipschitz apart: holds when the largest ratio
    over the pairs is at most 1."""
    return margin.assign(holds=margin.max_ratio.isna() | (margin.max_ratio <= 1.0))


def trusted(table: pd.DataFrame, info_margin: float) -> pd.Series:
    """Rows whose KDE upper estimate lies at least ``info_margin`` nats below log N, where a plug-in estimate
    from N samples can still follow the true information."""
    return table.kde_upper <= table.log_n - info_margin


def channel_check(channel: pd.DataFrame, info_margin: float) -> pd.DataFrame:
    """Per rank of the linear channels: over the trusted noise levels (:func:`trusted`), does the closed form lie
    between the KDE lower and upper estimates (they bound the information of the N-sample mixture, which
    approaches the closed form while it is well below log N)? Also the largest width upper - lower there, the
    fitted slopes against log(1/sigma) of the closed form and of the upper estimate over the same levels, and
    the largest estimate against log N. Holds when the closed form is inside the bounds at every trusted level
    and no estimate exceeds log N."""
    rows = []
    for rank, r in channel.groupby("rank"):
        ok = trusted(r, info_margin)
        t = r[ok]
        inside = (t.kde_lower <= t.closed_form + 1e-9) & (t.closed_form <= t.kde_upper + 1e-9)
        rows.append({"rank": rank, "trusted levels": int(ok.sum()), "levels": len(r),
                     "closed form inside bounds": int(inside.sum()),
                     "largest upper - lower (trusted)": float((t.kde_upper - t.kde_lower).max()) if len(t) else np.nan,
                     "slope of closed form": information_slope(t.sigma, t.closed_form) if len(t) >= 2 else np.nan,
                     "slope of upper estimate": information_slope(t.sigma, t.kde_upper) if len(t) >= 2 else np.nan,
                     "largest estimate": float(r.kde_upper.max()), "log N": float(r.log_n.iloc[0])})
    out = pd.DataFrame(rows)
    return out.assign(judged=out["trusted levels"] > 0,
                      holds=(out["closed form inside bounds"] == out["trusted levels"])
                      & (out["largest estimate"] <= out["log N"] + 1e-9))


def slope_window(rows: pd.DataFrame, info_margin: float, max_relative_sigma: float) -> pd.Series:
    """The noise levels of a ``slope`` table at which its slope is fitted (see :func:`slope_check`)."""
    return trusted(rows, info_margin) & (rows.relative_sigma <= max_relative_sigma) & (rows.sigma >= rows.spacing)


def slope_check(slope: pd.DataFrame, info_margin: float, rel_tol: float, max_relative_sigma: float) -> pd.DataFrame:
    """Per random network: the least-squares slope of the KDE upper estimate against log(1/sigma) over the
    trusted noise levels (:func:`trusted`) with sigma at most ``max_relative_sigma`` x the layer's scale (the
    small-noise regime) and at least the samples' spacing (column ``spacing``: below it the estimate sees the
    samples, not the map), against the mean exact local rank. Holds when they differ by at most ``rel_tol`` x
    the rank (networks with fewer than two such levels are reported, not judged)."""
    rows = []
    for (bottleneck, seed), r in slope.groupby(["bottleneck", "network_seed"]):
        window = r[slope_window(r, info_margin, max_relative_sigma)]
        fitted = information_slope(window.sigma, window.kde_upper) if len(window) >= 2 else np.nan
        rank = float(r.local_rank.iloc[0])
        rows.append({"bottleneck": bottleneck, "network_seed": seed, "local rank": rank,
                     "levels in window": len(window), "slope": fitted,
                     "relative difference": abs(fitted - rank) / rank if rank else np.nan})
    out = pd.DataFrame(rows)
    return out.assign(judged=out["relative difference"].notna(),
                      holds=out["relative difference"].isna() | (out["relative difference"] <= rel_tol))


def interpolated_crossing(series: pd.Series, first_below: int, tol: float) -> float:
    """The step at which ``series`` (singular values indexed by step) reaches ``tol``, interpolating log(value)
    linearly in the step between the last recorded step above ``tol`` and the first at or below it (position
    ``first_below``): log-spaced records would otherwise overstate the step by up to their spacing."""
    s1, v1 = series.index[first_below], series.iloc[first_below]
    s0, v0 = series.index[first_below - 1], series.iloc[first_below - 1]
    if v1 <= 0:
        return float(s1)
    return float(s0 + (s1 - s0) * np.log(v0 / tol) / np.log(v0 / v1))


def decay_check(spectrum: pd.DataFrame, lr: float, weight_decay: float, tol: float, from_step: int,
                rel_tol: float, max_early_share: float = 0.05) -> pd.DataFrame:
    """Per layer of one run's ``spectrum`` table: for every singular value above ``tol`` at ``from_step`` that
    falls to ``tol`` or below later, the number of steps from ``from_step`` it takes (interpolated,
    :func:`interpolated_crossing`) against the number weight decay alone predicts from its value at
    ``from_step`` (:func:`lrc_utils.theory.predicted_crossing_step`). Reports the count, the median ratio
    observed / predicted, the share within ``rel_tol`` of 1 and the share below ``1 - rel_tol``. Weight decay
    alone gives ratio 1; a gradient that still feeds a direction usually holds it up (ratio above 1), though it
    can also push it down. Holds when at most ``max_early_share`` of the crossings have a ratio below
    ``1 - rel_tol``."""
    rows = []
    for layer, part in spectrum.groupby("layer"):
        wide = part.pivot(index="step", columns="index", values="singular_value").sort_index()
        start = wide.index[wide.index >= from_step][0]
        at_start = wide.loc[start]
        ratios = []
        for i in wide.columns[(at_start > tol).to_numpy()]:
            series = wide.loc[wide.index >= start, i]
            below = np.flatnonzero(series.to_numpy() <= tol)
            if len(below):
                observed = interpolated_crossing(series, below[0], tol) - start
                predicted = predicted_crossing_step(float(at_start[i]), int(start), tol, lr, weight_decay) - start
                ratios.append(observed / predicted)
        ratios = np.asarray(ratios)
        rows.append({"layer": layer, "from step": int(start), "singular values": wide.shape[1],
                     "crossing tol": len(ratios),
                     "median observed / predicted": float(np.median(ratios)) if len(ratios) else np.nan,
                     "within tol": float(np.mean(np.abs(ratios - 1) <= rel_tol)) if len(ratios) else np.nan,
                     "earlier than predicted": int((ratios < 1 - rel_tol).sum())})
    out = pd.DataFrame(rows)
    early_share = out["earlier than predicted"] / out["crossing tol"].where(out["crossing tol"] > 0)
    return out.assign(judged=out["crossing tol"] > 0, holds=early_share.isna() | (early_share <= max_early_share))


def decay_checks(spectrum: pd.DataFrame, p) -> pd.DataFrame:
    """:func:`decay_check` for each panel of the theory study's ``spectrum`` table, from its fit step
    (:func:`lrc_utils.book.readings.first_step_at_accuracy` at 99%), with the panel's learning rate and weight
    decay and the tolerance ``p.atol`` from the notebook's parameters ``p``."""
    frames = []
    for panel, part in spectrum.groupby("panel", sort=False):
        lr, wd = getattr(p, f"{panel_prefix(panel)}_lr"), getattr(p, f"{panel_prefix(panel)}_weight_decay")
        check = decay_check(part, lr, wd, p.atol, first_step_at_accuracy(part, 0.99), p.decay_tolerance)
        frames.append(check.assign(panel=panel))
    out = pd.concat(frames, ignore_index=True)
    return out[["panel", *[c for c in out.columns if c != "panel"]]]


def panel_prefix(panel: str) -> str:
    """The parameter prefix of a Figure 1 panel: ``gauss`` or ``mnist``."""
    return {"gaussian": "gauss", "mnist": "mnist"}[panel]


def loss_spike(spectrum: pd.DataFrame, panel: str = "mnist") -> dict[str, float]:
    """The largest spike of the training loss of ``panel`` after its fit step (the first recorded step with 99%
    training accuracy): the recorded step at which the loss rose most, as a ratio to the record before, with
    the loss before (``before``) and at it (``after``)."""
    part = spectrum[spectrum.panel == panel]
    loss = part.groupby("step").train_loss.first().sort_index()
    loss = loss[loss.index >= first_step_at_accuracy(part, 0.99)]
    step = (loss / loss.shift()).idxmax()
    position = loss.index.get_loc(step)
    return {"step": int(step), "before": float(loss.iloc[position - 1]), "after": float(loss.iloc[position])}


def prose_numbers(tables: dict[str, pd.DataFrame], checks: dict[str, pd.DataFrame], p) -> dict[str, float | int | str]:
    """The numbers the theory chapter's prose quotes, from the study's ``tables`` (``relu``, ``spectrum``), the
    checks of :func:`theory_checks` and the notebook's parameters ``p``. Keys (``theory_`` prefix):

    * ``eta_lambda_md``: the MNIST panel's learning rate x weight decay (per step), as text; ``decay_steps_md``:
      ln(1 / atol) / (lr x weight decay), the steps pure weight decay takes to bring a singular value from 1 to
      ``atol``, as text; ``unfed_directions``: Gaussian input dimension - intrinsic dimension.
    * ``depth_rises_md``: whether the rank at the fixed tolerance rose with depth (a phrase naming the number of
      inputs, or the number of (input, layer) cases where it rose); ``gain_max_gaussian``, ``gain_max_mnist``:
      the largest layer gain g of each panel.
    * ``mnist_active``: the mean number of active units of the MNIST panel's first layer per input.
    * ``mnist_exact_rank``: the mean exact rank of the MNIST panel's first layer; ``mnist_smallest_tol_count``:
      its mean number of singular values above the smallest tolerance of the rate check.
    * ``crossings``: singular values that cross ``atol`` after the fit (all panels and layers);
      ``crossings_early``: those that cross earlier than (1 - ``decay_tolerance``) x the prediction;
      ``decay_median_min``, ``decay_median_max``: the smallest and largest per-layer median ratio observed /
      predicted.
    * ``spike_step``: the step of the MNIST panel's largest loss spike after the fit (:func:`loss_spike`);
      ``spike_before_md``, ``spike_after_md``: the loss before and at it, as text.
    * ``margin_gaussian``, ``margin_mnist``: the largest ratio of the margin check per panel.
    """
    depth, rate, decay, margin = checks["depth"], checks["rate"], checks["decay"], checks["margin"]
    rises, inputs = int(depth["rank at tau rises"].sum()), int(depth.inputs.max())
    depth_rises = (f"did not rise either, at any of the {inputs} inputs" if rises == 0 else
                   f"rose at {rises} of the {int(depth.inputs.sum())} (input, layer) cases")
    relu = tables["relu"]
    active = relu[(relu.panel == "mnist") & (relu.layer == 2)].min_active.mean()
    first = rate[(rate.panel == "mnist") & (rate.layer == 1)].iloc[0]
    smallest = min(float(c.split(" > ")[1]) for c in rate.columns if c.startswith("rank > "))
    eta_lambda = p.mnist_lr * p.mnist_weight_decay
    spike = loss_spike(tables["spectrum"], "mnist")
    return {"theory_eta_lambda_md": power_text(eta_lambda),
            "theory_decay_steps_md": power_text(np.log(1 / p.atol) / eta_lambda),
            "theory_unfed_directions": int(p.gauss_input_dim - p.gauss_intrinsic_dim),
            "theory_depth_rises_md": depth_rises,
            "theory_gain_max_gaussian": float(depth[depth.panel == "gaussian"]["max gain g"].max()),
            "theory_gain_max_mnist": float(depth[depth.panel == "mnist"]["max gain g"].max()),
            "theory_mnist_active": float(active),
            "theory_mnist_exact_rank": float(first["exact rank"]),
            "theory_mnist_smallest_tol_count": float(first[f"rank > {smallest:g}"]),
            "theory_crossings": int(decay["crossing tol"].sum()),
            "theory_crossings_early": int(decay["earlier than predicted"].sum()),
            "theory_decay_median_min": float(decay["median observed / predicted"].min()),
            "theory_decay_median_max": float(decay["median observed / predicted"].max()),
            "theory_spike_step": spike["step"],
            "theory_spike_before_md": power_text(spike["before"], 1),
            "theory_spike_after_md": power_text(spike["after"], 1),
            "theory_margin_gaussian": float(margin[margin.panel == "gaussian"].max_ratio.max()),
            "theory_margin_mnist": float(margin[margin.panel == "mnist"].max_ratio.max())}
