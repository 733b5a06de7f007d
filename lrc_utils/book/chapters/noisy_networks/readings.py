"""Compression and clustering in noisy networks (Goldfeld et al. 2019): readings of the ``noisy`` table of
:mod:`lrc_utils.book.chapters.noisy_networks.study` (columns ``seed, step, layer, ixt, stderr, clustering``;
MI in nats).

Nothing here is imported by a study: these are readings of stored tables.
"""

from __future__ import annotations

import math

import pandas as pd

from ....data import SZT_PATTERNS
from ...readings import spearman


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
        rho, p = spearman(part.ixt, part.clustering)
        peak = int(part.step.iloc[part.ixt.to_numpy().argmax()])
        after = part[part.step >= peak]
        rho_after, p_after = spearman(after.ixt, after.clustering)
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


def rho_text(value: float) -> str:
    """A rank correlation as the chapter and the claims table write it: ``+0.98``; "undefined" for NaN."""
    return "undefined" if value != value else f"{value:+.2f}"


def describe_clustering_correlations(correlations: pd.DataFrame, alpha: float = 0.05) -> str:
    """Markdown bullets, one per layer of :func:`clustering_correlations`: from the I(X;T_l) peak on (the
    criterion: the compression phase) and over every step (descriptive) (:func:`clustering_by_layer`), in how
    many seeds the rank correlation between I(X;T_l) and the clustering ratio is positive with p < ``alpha``,
    and its median over seeds."""
    by_layer = clustering_by_layer(correlations, alpha, "all")
    after_peak = clustering_by_layer(correlations, alpha, "after_peak")
    rho = rho_text
    lines = []
    for a, b in zip(by_layer.itertuples(), after_peak.itertuples()):
        verdict = "**holds**" if b.holds else "**does not hold**"
        lines.append(f"* layer {a.layer}: from the I(X;T) peak on, rho > 0 with p < {alpha:g} in {b.seeds_hold} of "
                     f"{b.seeds} seeds (median rho {rho(b.median_rho)}): {verdict}"
                     f"; over every step (not the criterion), in {a.seeds_hold} of {a.seeds} seeds (median rho "
                     f"{rho(a.median_rho)}).")
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


def prose_numbers(n_patterns: int = SZT_PATTERNS) -> dict[str, float]:
    """The numbers the chapter's prose quotes, from the number of distinct input patterns ``n_patterns`` (X is
    uniform over them; default: all of the 12-bit task's). Keys: ``noisy_log_n``, log ``n_patterns`` (nats), the
    ceiling of every I(X;T_l)."""
    if n_patterns < 1:
        raise ValueError(f"n_patterns must be at least 1, got {n_patterns}")
    return {"noisy_log_n": math.log(n_patterns)}
