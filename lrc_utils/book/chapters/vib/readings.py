"""Figures 2 and 3 (Deep VIB): readings of the study's tables (pure functions: tables in, tables or text out)."""

from __future__ import annotations

import pandas as pd


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
