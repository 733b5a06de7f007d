"""Figure 1: readings of the study's tables (pure functions: tables in, tables or text out)."""

from __future__ import annotations

import pandas as pd

from ...readings import first_step_at_accuracy


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


def describe_terminal_phase(falls: pd.DataFrame) -> str:
    """Markdown bullets, one per (panel, layer) of :func:`terminal_phase_falls`: maximum, last value, verdict."""
    lines = []
    for _, r in falls.iterrows():
        verdict = "falls in the terminal phase" if r["falls in terminal phase"] else "**does not fall by 10%**"
        lines.append(f"* {r.panel}, layer {r.layer}: {r['max']:.1f} at its maximum, {r['last']:.1f} at the last "
                     f"step ({r['fall from max (%)']:.0f}% lower): {verdict}.")
    return "\n".join(lines)
