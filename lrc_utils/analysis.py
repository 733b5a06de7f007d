"""Summaries of recorded training runs (pure functions of the tidy tables the notebooks save)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch


def ranks_at_tolerances(singular: torch.Tensor, atols: Sequence[float], rtols: Sequence[float]) -> pd.DataFrame:
    """Mean numerical rank of matrices with singular values ``singular`` (``[N, k]``, descending) at each
    absolute tolerance (count of ``s > atol``) and each relative one (``s > rtol * sigma_max``, per matrix).

    Returns rows (convention ``"absolute"``/``"relative"``, tolerance, local_rank).
    """
    s = singular.to(torch.float64)
    rows = [("absolute", float(t), float((s > t).sum(-1).double().mean())) for t in atols]
    rows += [("relative", float(t), float((s > t * s[:, :1]).sum(-1).double().mean())) for t in rtols]
    return pd.DataFrame(rows, columns=["convention", "tolerance", "local_rank"])


def first_step_at_accuracy(rows: pd.DataFrame, threshold: float = 0.99) -> int:
    """First recorded step at which the seed-mean ``train_acc`` reaches ``threshold`` (else the last step)."""
    acc = rows.groupby("step").train_acc.mean()
    reached = acc[acc >= threshold]
    return int(reached.index.min()) if len(reached) else int(acc.index.max())


def terminal_phase_falls(table: pd.DataFrame, drop: float = 0.1, threshold: float = 0.99) -> pd.DataFrame:
    """Per panel and hidden layer of a table with columns panel, seed, step, layer, local_rank, train_acc:
    does the seed-mean local rank at the last step lie at least ``drop`` below both its maximum over
    training and its maximum from the first step with ``threshold`` training accuracy on?"""
    out = []
    for (panel, layer), rows in table.groupby(["panel", "layer"], sort=False):
        mean = rows.groupby("step").local_rank.mean()
        fit_step = first_step_at_accuracy(table[table.panel == panel], threshold)
        peak, peak_after = mean.max(), mean[mean.index >= fit_step].max()
        last = mean.iloc[-1]
        out.append({"panel": panel, "layer": layer, "max": peak, "step of max": int(mean.idxmax()),
                    f"step at {threshold:.0%} train acc": fit_step, "max after fit": peak_after, "last": last,
                    "fall from max (%)": 100 * (1 - last / peak) if peak else 0.0,
                    "falls in terminal phase": bool(last <= (1 - drop) * peak and last <= (1 - drop) * peak_after)})
    return pd.DataFrame(out)


def seed_mean_over_beta(sweep: pd.DataFrame, column: str) -> pd.Series:
    """The seed-mean of ``column`` per beta of a VIB sweep table (one dataset), indexed by beta ascending."""
    return sweep.groupby("beta")[column].mean().sort_index()


def sharp_steps(sweep: pd.DataFrame, column: str, min_change: float) -> pd.DataFrame:
    """Sharp steps of a seed-mean quantity (a local rank, an accuracy) along the beta grid of a VIB sweep
    table (one dataset).

    A step is a pair of adjacent betas between which the seed-mean of ``column`` changes by at least
    ``min_change`` (in the column's units: rank units for a local rank). Returns rows (beta_from, beta_to,
    rank_from, rank_to, change), in beta order; ``change`` is signed; the ``rank_*`` columns hold the
    column's seed-mean values.
    """
    mean = seed_mean_over_beta(sweep, column)
    steps = mean.diff().iloc[1:]
    out = [{"beta_from": mean.index[i - 1], "beta_to": beta, "rank_from": mean.iloc[i - 1], "rank_to": mean.iloc[i],
            "change": change}
           for i, (beta, change) in enumerate(steps.items(), start=1) if abs(change) >= min_change]
    return pd.DataFrame(out, columns=["beta_from", "beta_to", "rank_from", "rank_to", "change"])


def vib_sweep_summary(sweep: pd.DataFrame, n_classes: dict[str, int], chance_margin: float = 0.05) -> pd.DataFrame:
    """Per dataset of a VIB sweep table: seed-mean KL and test accuracy at the smallest and largest beta,
    whether both fall as beta grows (last below first), and whether the test accuracy at the largest beta
    is within ``chance_margin`` of chance (``1 / n_classes[dataset]``)."""
    rows = []
    for dataset, part in sweep.groupby("dataset", sort=False):
        kl, acc = seed_mean_over_beta(part, "kl"), seed_mean_over_beta(part, "test_acc")
        chance = 1.0 / n_classes[dataset]
        rows.append({"dataset": dataset, "kl at min beta": kl.iloc[0], "kl at max beta": kl.iloc[-1],
                     "test acc at min beta": acc.iloc[0], "test acc at max beta": acc.iloc[-1], "chance": chance,
                     "kl falls": bool(kl.iloc[-1] < kl.iloc[0]), "accuracy falls": bool(acc.iloc[-1] < acc.iloc[0]),
                     "chance at max beta": bool(abs(acc.iloc[-1] - chance) <= chance_margin)})
    return pd.DataFrame(rows)


def describe_rank_trend(sweep: pd.DataFrame, column: str, label: str, min_change: float) -> str:
    """One Markdown sentence on a VIB sweep table (one dataset): the seed-mean of ``column`` at the smallest
    and the largest beta, whether it rises or falls, and its sharp steps (see :func:`sharp_steps`)."""
    mean = seed_mean_over_beta(sweep, column)
    first, last = mean.iloc[0], mean.iloc[-1]
    direction = "rises" if last > first else "falls" if last < first else "stays"
    steps = ", ".join(f"{r.beta_from:.3g} to {r.beta_to:.3g} ({r.change:+.2f})"
                      for r in sharp_steps(sweep, column, min_change).itertuples())
    return (f"**{label}**: {first:.2f} at beta = {mean.index[0]:.3g}, {last:.2f} at beta = {mean.index[-1]:.3g}: "
            f"the rank **{direction}** with beta; sharp steps (|change| >= {min_change:g}) between beta = "
            f"{steps or 'none'}.")


def describe_terminal_phase(falls: pd.DataFrame) -> str:
    """Markdown bullets, one per (panel, layer) of :func:`terminal_phase_falls`: maximum, last value, verdict."""
    lines = []
    for _, r in falls.iterrows():
        verdict = "falls in the terminal phase" if r["falls in terminal phase"] else "**does not fall by 10%**"
        lines.append(f"* {r.panel}, layer {r.layer}: {r['max']:.1f} at its maximum, {r['last']:.1f} at the last "
                     f"step ({r['fall from max (%)']:.0f}% lower): {verdict}.")
    return "\n".join(lines)


def describe_vib_sweep(sweep: pd.DataFrame, n_classes: int, atol: float, rtol: float, min_change: float,
                       title: str = "") -> str:
    """Markdown bullets on a VIB sweep table (one dataset): each convention's rank trend and sharp steps, and
    the KL term and test accuracy at the ends of the beta grid."""
    prefix = f"{title}, " if title else ""
    lines = [prefix + describe_rank_trend(sweep, "local_rank_abs", f"absolute tolerance {atol:g}", min_change),
             prefix + describe_rank_trend(sweep, "local_rank_rel", f"relative tolerance {rtol:g}", min_change)]
    s = vib_sweep_summary(sweep, {sweep.dataset.iloc[0]: n_classes}).iloc[0]
    lines.append(f"{prefix}KL from {s['kl at min beta']:.2f} to {s['kl at max beta']:.4f} nats; test accuracy from "
                 f"{s['test acc at min beta']:.3f} to {s['test acc at max beta']:.3f} (chance {s['chance']:.3f}).")
    return "\n".join(f"* {line}" for line in lines)


def monte_carlo_within_bounds(mix: pd.DataFrame, n_stderr: float = 4.0) -> pd.Series:
    """Per row of the mixture-entropy table: does the Monte Carlo entropy lie between the KDE lower and upper
    bounds, within ``n_stderr`` of its standard errors?"""
    slack = n_stderr * mix.stderr
    return (mix.kde_lower <= mix.monte_carlo + slack) & (mix.monte_carlo - slack <= mix.kde_upper)


# ----------------------------------------------------------------------------------------------------
# noisy networks: compression and clustering (tables with columns seed, step, layer, ixt, stderr, clustering)


def _spearman(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """Spearman's rank correlation of two series and its two-sided p-value (NaN for fewer than 3 points or a
    constant series)."""
    import warnings

    from scipy.stats import spearmanr

    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = spearmanr(a.to_numpy(), b.to_numpy())
    return float(result.statistic), float(result.pvalue)


def clustering_correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Per hidden layer and seed of a noisy-network table: Spearman's rank correlation over the recorded training
    steps between ``ixt`` (I(X;T_l), nats) and ``clustering`` (mean within- over between-class distance).

    Columns: layer, seed, steps (the number of steps), rho, p_value (two-sided) over every step; peak_step (the
    step of the largest ``ixt``), steps_after_peak, rho_after_peak and p_after_peak over the steps from the peak
    on (the compression phase, when I(X;T_l) falls). A positive rho: the two rise and fall together; compression
    (ixt falling) then goes with clustering (the ratio falling). NaN where a series is constant or has fewer than
    3 steps.
    """
    rows = []
    for (layer, seed), part in table.sort_values("step").groupby(["layer", "seed"], sort=True):
        rho, p = _spearman(part.ixt, part.clustering)
        peak = int(part.step.iloc[part.ixt.to_numpy().argmax()])
        after = part[part.step >= peak]
        rho_after, p_after = _spearman(after.ixt, after.clustering)
        rows.append({"layer": layer, "seed": seed, "steps": len(part), "rho": rho, "p_value": p, "peak_step": peak,
                     "steps_after_peak": len(after), "rho_after_peak": rho_after, "p_after_peak": p_after})
    return pd.DataFrame(rows)


def clustering_by_layer(correlations: pd.DataFrame, alpha: float = 0.05, phase: str = "all") -> pd.DataFrame:
    """Per layer of :func:`clustering_correlations`: in how many seeds ``rho > 0`` with ``p < alpha``, over every
    step (``phase="all"``) or from the I(X;T_l) peak on (``phase="after_peak"``).

    Columns: layer, seeds, seeds_hold, holds (in every seed), median_rho, min_rho, max_rho.
    """
    if phase not in ("all", "after_peak"):
        raise ValueError(f"phase must be 'all' or 'after_peak', got {phase!r}")
    rho, p = ("rho", "p_value") if phase == "all" else ("rho_after_peak", "p_after_peak")
    rows = []
    for layer, part in correlations.groupby("layer", sort=True):
        hold = (part[rho] > 0) & (part[p] < alpha)
        rows.append({"layer": layer, "seeds": len(part), "seeds_hold": int(hold.sum()), "holds": bool(hold.all()),
                     "median_rho": float(part[rho].median()), "min_rho": float(part[rho].min()),
                     "max_rho": float(part[rho].max())})
    return pd.DataFrame(rows)


def noisy_compression_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per hidden layer of a noisy-network table, from the seed means over steps: I(X;T_l) (nats) at the first
    step, at its maximum (and the step of it) and at the last step, with the fall from the maximum to the last
    step in nats and in mean standard errors; the clustering ratio at the first and the last step."""
    rows = []
    for layer, part in table.groupby("layer", sort=True):
        mean = part.groupby("step")[["ixt", "stderr", "clustering"]].mean().sort_index()
        peak = mean.ixt.idxmax()
        fall = mean.ixt.max() - mean.ixt.iloc[-1]
        rows.append({"layer": layer, "ixt first": mean.ixt.iloc[0], "ixt max": mean.ixt.max(), "step of max": peak,
                     "ixt last": mean.ixt.iloc[-1], "fall (nats)": fall,
                     "fall (stderr)": fall / mean.stderr.iloc[-1] if mean.stderr.iloc[-1] > 0 else float("nan"),
                     "clustering first": mean.clustering.iloc[0], "clustering last": mean.clustering.iloc[-1]})
    return pd.DataFrame(rows)


def describe_clustering_correlations(correlations: pd.DataFrame, alpha: float = 0.05) -> str:
    """Markdown bullets, one per layer of :func:`clustering_correlations`: over every step and from the I(X;T_l)
    peak on (:func:`clustering_by_layer`), in how many seeds the rank correlation between I(X;T_l) and the
    clustering ratio is positive with p < ``alpha``, and its median over seeds."""
    by_layer = clustering_by_layer(correlations, alpha, "all")
    after_peak = clustering_by_layer(correlations, alpha, "after_peak")

    def rho(value: float) -> str:
        return "undefined" if value != value else f"{value:+.2f}"

    lines = []
    for a, b in zip(by_layer.itertuples(), after_peak.itertuples()):
        lines.append(f"* layer {a.layer}: over every step, rho > 0 with p < {alpha:g} in {a.seeds_hold} of {a.seeds} "
                     f"seeds (median rho {rho(a.median_rho)}): {'**holds**' if a.holds else '**does not hold**'}; "
                     f"from the I(X;T) peak on, in {b.seeds_hold} of {b.seeds} seeds (median rho "
                     f"{rho(b.median_rho)}).")
    return "\n".join(lines)


def describe_noisy_compression(summary: pd.DataFrame) -> str:
    """Markdown bullets, one per layer of :func:`noisy_compression_summary`: how I(X;T_l) and the clustering ratio
    moved over training."""
    lines = []
    for _, r in summary.iterrows():
        lines.append(f"* layer {int(r.layer)}: I(X;T) {r['ixt first']:.2f} nats at the first step, {r['ixt max']:.2f} "
                     f"at its maximum (step {r['step of max']:.0f}), {r['ixt last']:.2f} at the last step, "
                     f"{r['fall (nats)']:.2f} nats ({r['fall (stderr)']:.0f} standard errors) below its maximum; "
                     f"clustering ratio {r['clustering first']:.3f} at the first step, {r['clustering last']:.3f} at "
                     f"the last.")
    return "\n".join(lines)


def describe_noisy_compute(info: dict) -> str:
    """One Markdown line on the computation of the noisy-networks table from its ``meta.json`` entry ``info``
    (keys wall_time_s, device, computed_utc and the parameters seeds, steps, n_evals)."""
    p = info["parameters"]
    return (f"Measured in this run: computing the table took {info['wall_time_s'] / 60:.1f} minutes of wall time "
            f"({len(p['seeds'])} runs of {p['steps']:,} steps, measured at up to {p['n_evals']} steps each) on "
            f"{info['device']}, as recorded in `meta.json` on {info['computed_utc'][:10]}.")
