"""Readings several chapters share: pure functions of the tidy tables the studies save (tables in, numbers or
text out), and :func:`require`, which stops a notebook whose stated check fails."""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

#: How a data set or panel is named in prose and tables.
DATASET_LABELS = {"gaussian": "Gaussian", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def dataset_label(name: str) -> str:
    """``"MNIST"`` for ``"mnist"``: :data:`DATASET_LABELS`, else the name itself."""
    return DATASET_LABELS.get(name, name)


#: A seed-mean accuracy this close below a threshold reaches it: the mean of 0.990, 0.987 and 0.993 is 0.99, but
#: computes as 0.98999...
ACCURACY_ROUNDING = 1e-9


def reaches_accuracy(acc, threshold: float):
    """``acc >= threshold`` up to :data:`ACCURACY_ROUNDING` (an accuracy, a seed mean of them, or a Series of
    either): the one comparison every reading of "the data are fit" makes."""
    return acc >= threshold - ACCURACY_ROUNDING


def first_step_at_accuracy(rows: pd.DataFrame, threshold: float = 0.99) -> int:
    """First recorded step at which the seed-mean ``train_acc`` reaches ``threshold`` (:func:`reaches_accuracy`;
    else the last step)."""
    acc = rows.groupby("step").train_acc.mean()
    reached = acc[reaches_accuracy(acc, threshold)]
    return int(reached.index.min()) if len(reached) else int(acc.index.max())


def spearman(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """Spearman's rank correlation of two series and its two-sided p-value; NaN for both with fewer than 3
    points or a constant series."""
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return float("nan"), float("nan")
    result = stats.spearmanr(a.to_numpy(), b.to_numpy())
    return float(result.statistic), float(result.pvalue)


#: The verdict words of the book's one rule, per kind of statement: every case holds / more than half hold /
#: otherwise (the claims table and the chapters use them alike).
RULE_WORDS = {"paper": ("reproduced", "partly", "not reproduced"), "others": ("reproduced", "partly", "not reproduced"),
              "check": ("verified", "partly", "not verified"),
              "ours": ("verified (ours)", "partly (ours)", "not verified (ours)"),
              "answer": ("yes", "partly", "no")}


def rule_verdict(n_hold: int, n_cases: int, group: str = "paper") -> str:
    """The rule every verdict of the book follows: the first of :data:`RULE_WORDS` ``[group]`` when all
    ``n_cases`` hold, the second ("partly") when more than half do, else the third."""
    if n_cases < 1 or not 0 <= n_hold <= n_cases:
        raise ValueError(f"need 0 <= n_hold <= n_cases and n_cases >= 1, got n_hold={n_hold}, n_cases={n_cases}")
    if group not in RULE_WORDS:
        raise ValueError(f"group must be one of {list(RULE_WORDS)}, got {group!r}")
    every, most, otherwise = RULE_WORDS[group]
    return every if n_hold == n_cases else most if 2 * n_hold > n_cases else otherwise


def verdict_word(holds: bool) -> str:
    return "holds" if holds else "does not hold"


def p_value_text(p: float) -> str:
    """``"p = 0.032"``, ``"p < 1e-4"`` below that, ``"p undefined"`` for NaN."""
    return "p undefined" if math.isnan(p) else "p < 1e-4" if p < 1e-4 else f"p = {p:.2g}"


def require(check: pd.DataFrame, statement: str) -> None:
    """Raise ``AssertionError`` naming ``statement`` and the failing rows if any row of ``check`` fails, or if
    the check has a ``judged`` column and judged no row (a check that tested nothing does not pass)."""
    if "judged" in check and not check.judged.any():
        raise AssertionError(f"{statement}: no case could be judged\n{check.to_string()}")
    failed = check[~check.holds.astype(bool)]
    if len(failed):
        raise AssertionError(f"{statement}: the check fails on\n{failed.to_string()}")


#: Unicode superscripts of a power of ten's exponent.
SUPERSCRIPTS = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def power_text(value: float, digits: int = 2) -> str:
    """``value`` in scientific notation with ``digits`` significant digits as plain text, ``4.6·10⁴``, or ``10⁻⁴``
    when the mantissa is 1; "n/a" for a value that is not finite and positive. Plain text, not LaTeX: MyST-NB
    renders a glued string's Markdown but not its ``$...$`` math."""
    if not math.isfinite(value) or value <= 0:
        return "n/a"
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    power = "10" + str(int(exponent)).translate(SUPERSCRIPTS)
    return power if mantissa == "1" else f"{mantissa}\u00b7{power}"


# Figure 1's terminal-phase criterion, which the chapters beyond it (beyond MLPs, the mechanism) apply too


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


def terminal_phase_falls_per_seed(table: pd.DataFrame, drop: float = 0.1, threshold: float = 0.99) -> pd.DataFrame:
    """:func:`terminal_phase_falls` on each seed's own curves (one row per seed, panel and layer, column ``seed``)."""
    return pd.concat([terminal_phase_falls(rows, drop, threshold).assign(seed=seed)
                      for seed, rows in table.groupby("seed")], ignore_index=True)


def fall_start(rows: pd.DataFrame, fit_step: int, drop: float = 0.1) -> int | None:
    """The first recorded step at which the seed-mean ``local_rank`` of ``rows`` (one panel and layer) lies
    ``drop`` below its maximum over the steps from ``fit_step`` on, after that maximum; ``None`` if it never
    does."""
    mean = rows.groupby("step").local_rank.mean()
    after = mean[mean.index >= fit_step]
    below = after[(after.index > after.idxmax()) & (after <= (1 - drop) * after.max())]
    return int(below.index.min()) if len(below) else None
