"""Compression in information planes: per-curve summaries and the claims of the information-plane studies,
each with a stated numeric criterion, evaluated on the ``planes`` table of
:mod:`lrc_utils.studies.information_planes` (columns ``run, seed, activation, l2, epoch, layer, estimator,
ixt, ity, train_acc, test_acc``; MI in nats).

Definitions (ours; the papers show curves, not numbers):

* a *curve* is one (run, layer, estimator) over the evaluation epochs;
* its **compression** is ``max_epoch I(X;T) - I(X;T) at the last epoch`` (nats, >= 0) and its **relative
  compression** that difference over the maximum; a curve *compresses* when its relative compression is at
  least :data:`COMPRESSION_THRESHOLD`;
* its **fitting** is ``I(T;Y)`` at the epoch of the maximum of I(X;T) minus I(T;Y) at the first epoch;
* a layer compresses for an (activation, l2, estimator) when the median over seeds of its relative
  compression reaches the threshold.

Nothing here is imported by a study: these are readings of stored tables.
"""

from __future__ import annotations

import pandas as pd
from scipy import stats

#: A curve compresses when I(X;T) ends at least this fraction below its maximum.
COMPRESSION_THRESHOLD = 0.05
#: Significance level of the rank correlations.
ALPHA = 0.05
CURVE = ["run", "seed", "activation", "l2", "layer", "estimator"]


def curve_summary(planes: pd.DataFrame) -> pd.DataFrame:
    """One row per curve: :data:`CURVE` columns, ``ixt_max``, ``epoch_max``, ``ixt_final``, ``compression``,
    ``relative_compression``, ``fitting`` (nats), ``compresses`` (bool), and the run's final
    ``train_acc``, ``test_acc`` and ``gap`` = train - test accuracy."""
    rows = []
    for key, curve in planes.sort_values("epoch").groupby(CURVE, sort=True):
        at_max = curve["ixt"].idxmax()
        first, last = curve.iloc[0], curve.iloc[-1]
        peak = float(curve.loc[at_max, "ixt"])
        drop = peak - float(last["ixt"])
        rel = drop / peak if peak > 0 else 0.0
        rows.append({**dict(zip(CURVE, key)), "ixt_max": peak, "epoch_max": int(curve.loc[at_max, "epoch"]),
                     "ixt_final": float(last["ixt"]), "compression": drop, "relative_compression": rel,
                     "fitting": float(curve.loc[at_max, "ity"]) - float(first["ity"]),
                     "compresses": rel >= COMPRESSION_THRESHOLD, "train_acc": float(last["train_acc"]),
                     "test_acc": float(last["test_acc"]), "gap": float(last["train_acc"] - last["test_acc"])})
    return pd.DataFrame(rows)


def layer_verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """Seed medians per (activation, l2, estimator, layer): ``relative_compression``, ``fitting``, the number
    of seeds whose curve compresses, and ``compresses`` (the median reaches the threshold)."""
    grouped = summary.groupby(["activation", "l2", "estimator", "layer"])
    out = grouped.agg(relative_compression=("relative_compression", "median"), fitting=("fitting", "median"),
                      seeds_compressing=("compresses", "sum"), seeds=("compresses", "size")).reset_index()
    out["compresses"] = out["relative_compression"] >= COMPRESSION_THRESHOLD
    return out


def _layers(verdicts: pd.DataFrame, activation: str, estimator: str, l2: float) -> pd.DataFrame:
    part = verdicts[(verdicts["activation"] == activation) & (verdicts["estimator"] == estimator)
                    & (verdicts["l2"] == l2)]
    if part.empty:
        raise ValueError(f"no curves for activation={activation!r}, estimator={estimator!r}, l2={l2}")
    return part


def _count(part: pd.DataFrame, column: str = "compresses") -> tuple[int, int]:
    return int(part[column].sum()), len(part)


def claim_fitting_then_compression(verdicts: pd.DataFrame, activation: str = "tanh", estimator: str = "binning_sz",
                                   l2: float = 0.0) -> dict:
    """(a) Shwartz-Ziv & Tishby: tanh under their binning shows fitting then compression. Holds when at least
    half of the hidden layers compress and, in each of those, I(T;Y) rose before the maximum of I(X;T)
    (median fitting > 0)."""
    part = _layers(verdicts, activation, estimator, l2)
    both = part[part["compresses"] & (part["fitting"] > 0)]
    n, total = len(both), len(part)
    return {"holds": 2 * n >= total, "layers": n, "of": total, "which": sorted(both["layer"].tolist())}


def claim_no_compression(verdicts: pd.DataFrame, activation: str = "relu",
                         estimators: tuple[str, ...] = ("binning", "kde_upper"), l2: float = 0.0) -> dict:
    """(b) Saxe et al.: ReLU under fixed-width binning and the KDE bound shows no compression. Holds when no
    hidden layer compresses under either estimator."""
    counts = {e: _count(_layers(verdicts, activation, e, l2)) for e in estimators}
    return {"holds": all(n == 0 for n, _ in counts.values()), "counts": counts}


def claim_adaptive_compression(verdicts: pd.DataFrame, activation: str = "relu",
                               estimators: tuple[str, ...] = ("adaptive_binning", "adaptive_kde"),
                               l2: float = 0.0) -> dict:
    """(c) Chelombiev et al.: ReLU under the adaptive estimators does compress. Holds when at least half of
    the hidden layers compress under each adaptive estimator."""
    counts = {e: _count(_layers(verdicts, activation, e, l2)) for e in estimators}
    return {"holds": all(2 * n >= total for n, total in counts.values()), "counts": counts}


def claim_l2_increases(verdicts: pd.DataFrame, estimators: tuple[str, ...] = ("adaptive_binning", "adaptive_kde"),
                       share: float = 0.75) -> pd.DataFrame | dict:
    """(d) Chelombiev et al.: L2 regularisation increases compression. Over every (activation, adaptive
    estimator, layer), compare the seed-median relative compression with the largest l2 against l2 = 0.
    Holds when it is larger with L2 in at least ``share`` of the cells."""
    l2_max = float(verdicts["l2"].max())
    if l2_max == 0:
        raise ValueError("claim (d) needs runs with l2 > 0")
    part = verdicts[verdicts["estimator"].isin(estimators)]
    keys = ["activation", "estimator", "layer"]
    pair = part[part["l2"] == 0].merge(part[part["l2"] == l2_max], on=keys, suffixes=("_none", "_l2"))
    larger = int((pair["relative_compression_l2"] > pair["relative_compression_none"]).sum())
    return {"holds": larger >= share * len(pair), "larger": larger, "of": len(pair), "l2": l2_max, "pairs": pair}


def claim_varies_with_initialisation(summary: pd.DataFrame, estimator: str = "adaptive_binning",
                                     share: float = 0.25) -> dict:
    """(e) Chelombiev et al.: the amount of compression varies across initialisations. Per (activation, l2,
    layer) under ``estimator``, the seeds *disagree* when at least one curve compresses and at least one does
    not. Holds when the seeds disagree in at least ``share`` of the cells. Also reports the spread: the
    median over cells of the range (max - min over seeds) of relative compression."""
    part = summary[summary["estimator"] == estimator]
    cells = part.groupby(["activation", "l2", "layer"]).agg(
        some=("compresses", "any"), every=("compresses", "all"),
        spread=("relative_compression", lambda v: float(v.max() - v.min())),
        std=("relative_compression", "std")).reset_index()
    cells["disagree"] = cells["some"] & ~cells["every"]
    n = int(cells["disagree"].sum())
    return {"holds": n >= share * len(cells), "disagree": n, "of": len(cells),
            "median_spread": float(cells["spread"].median()), "cells": cells}


def compression_generalisation(summary: pd.DataFrame, estimator: str = "adaptive_binning",
                               target: str = "test_acc") -> pd.DataFrame:
    """Spearman rank correlation across runs between each layer's relative compression (under ``estimator``)
    and the run's final ``target`` (``test_acc`` or ``gap``): columns ``layer, rho, p, runs``."""
    part = summary[summary["estimator"] == estimator]
    rows = []
    for layer, g in part.groupby("layer"):
        if g["relative_compression"].nunique() < 2 or g[target].nunique() < 2:
            rho, p = float("nan"), float("nan")
        else:
            rho, p = stats.spearmanr(g["relative_compression"], g[target])
        rows.append({"layer": int(layer), "rho": float(rho), "p": float(p), "runs": len(g)})
    return pd.DataFrame(rows)


def claim_last_layer_generalisation(summary: pd.DataFrame, estimator: str = "adaptive_binning") -> dict:
    """(f) Chelombiev et al.: only last-layer compression correlates with generalisation. With the Spearman
    correlations of :func:`compression_generalisation` (relative compression against final test accuracy,
    across all runs), holds when the last hidden layer's is positive with p < :data:`ALPHA` and no other
    layer's has p < :data:`ALPHA`."""
    corr = compression_generalisation(summary, estimator)
    last = corr[corr["layer"] == corr["layer"].max()].iloc[0]
    others = corr[corr["layer"] != corr["layer"].max()]
    last_ok = bool(last["rho"] > 0 and last["p"] < ALPHA)
    others_sig = others[others["p"] < ALPHA]["layer"].tolist()
    return {"holds": last_ok and not others_sig, "last": last.to_dict(), "others_significant": others_sig,
            "table": corr}


def seed_mean_trajectories(planes: pd.DataFrame) -> pd.DataFrame:
    """Seed means of ``ixt`` and ``ity`` per (activation, l2, estimator, layer, epoch)."""
    keys = ["activation", "l2", "estimator", "layer", "epoch"]
    return planes.groupby(keys, as_index=False)[["ixt", "ity"]].mean()


def verdict_word(holds: bool) -> str:
    return "holds" if holds else "does not hold"


def fraction(n: int, total: int) -> str:
    return f"{n} of {total}"



# ----------------------------------------------------------------------------------------------------
# the chapter's sentences


def _counts_text(counts: dict[str, tuple[int, int]]) -> str:
    return "; ".join(f"`{e}`: {n} of {total} layers compress" for e, (n, total) in counts.items())


def describe_claims(planes: pd.DataFrame) -> dict[str, str]:
    """One Markdown paragraph per claim (keys ``a`` to ``f``): the criterion's verdict as measured on
    ``planes``, with the counts and numbers behind it; "not measured" where the runs lack what the claim
    needs (an activation, an estimator, L2)."""
    summary = curve_summary(planes)
    verdicts = layer_verdicts(summary)
    have = set(zip(verdicts["activation"], verdicts["estimator"]))
    l2_max = float(planes["l2"].max())

    def missing(activation: str | None, estimators: tuple[str, ...]) -> str | None:
        lacking = [e for e in estimators if (activation, e) not in have] if activation else \
            [e for e in estimators if e not in set(verdicts["estimator"])]
        return f"these runs have no {activation or ''} curves under {', '.join(lacking)}" if lacking else None

    def not_measured(key: str, why: str) -> str:
        return f"**({key}) not measured**: {why}."

    text = {}
    why = missing("tanh", ("binning_sz",))
    if why:
        text["a"] = not_measured("a", why)
    else:
        a = claim_fitting_then_compression(verdicts)
        text["a"] = (f"**(a) {verdict_word(a['holds'])}**: {a['layers']} of {a['of']} tanh layers compress after "
                     f"fitting under Shwartz-Ziv & Tishby's binning (layers {a['which'] or 'none'}).")
    for key, claim, estimators in (("b", claim_no_compression, ("binning", "kde_upper")),
                                   ("c", claim_adaptive_compression, ("adaptive_binning", "adaptive_kde"))):
        why = missing("relu", estimators)
        if why:
            text[key] = not_measured(key, why)
        else:
            result = claim(verdicts)
            text[key] = f"**({key}) {verdict_word(result['holds'])}**: ReLU, {_counts_text(result['counts'])}."
    adaptive = tuple(e for e in ("adaptive_binning", "adaptive_kde") if e in set(verdicts["estimator"]))
    if l2_max == 0 or 0.0 not in set(planes["l2"]) or not adaptive:
        text["d"] = not_measured("d", "these runs need L2 = 0 and L2 > 0, and an adaptive estimator")
    else:
        d = claim_l2_increases(verdicts, adaptive)
        text["d"] = (f"**(d) {verdict_word(d['holds'])}**: with L2 = {d['l2']:g} the median relative compression "
                     f"is larger in {d['larger']} of {d['of']} (activation, adaptive estimator, layer) cells.")
    if "adaptive_binning" not in set(summary["estimator"]):
        text["e"] = not_measured("e", "these runs have no adaptive binning")
        text["f"] = not_measured("f", "these runs have no adaptive binning")
        return text
    e = claim_varies_with_initialisation(summary)
    text["e"] = (f"**(e) {verdict_word(e['holds'])}**: under adaptive binning the seeds disagree on whether a layer "
                 f"compresses in {e['disagree']} of {e['of']} (activation, L2, layer) cells; the median range of "
                 f"relative compression over seeds is {e['median_spread']:.2f}.")
    f = claim_last_layer_generalisation(summary)
    corr = ", ".join(f"layer {int(r.layer)}: rho = {r.rho:.2f} (p = {r.p:.2g})" for r in f["table"].itertuples())
    text["f"] = (f"**(f) {verdict_word(f['holds'])}**: Spearman correlation across {int(f['table'].runs.max())} runs "
                 f"between relative compression (adaptive binning) and final test accuracy: {corr}.")
    return text
