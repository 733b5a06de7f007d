"""Compression in information planes: per-curve summaries and the claims of the information-plane studies,
each with a stated numeric criterion, evaluated on the ``planes`` table of
:mod:`lrc_utils.book.chapters.information_planes.study` (columns ``run, seed, activation, l2, epoch, layer, estimator,
ixt, ity, train_acc, test_acc``; epoch 0 is the initialisation; MI in nats).

Definitions (ours; the papers show curves, not numbers):

* a *curve* is one (run, layer, estimator) over the evaluation epochs;
* its **maximum** is the largest I(X;T) over the epochs after initialisation (epoch >= 1), so that a fall
  from the random initial state is not counted as compression;
* its **compression** is that maximum minus I(X;T) at the last epoch (nats, >= 0 by construction unless the
  last epoch is the maximum), its **relative compression** the difference over the maximum; a curve
  *compresses* when its relative compression is at least :data:`COMPRESSION_THRESHOLD`;
* its **fitting** is I(T;Y) at the epoch of the maximum minus I(T;Y) at initialisation; a curve *fits
  first* when its fitting is at least ``-FITTING_TOLERANCE`` (I(T;Y) rose, or stayed where it was, typically at
  its ceiling H(Y), while I(X;T) went to its maximum);
* a curve is *pinned* when I(X;T) never falls below 99% of log N (N distinct inputs): the estimator sees an
  injective layer throughout and can show neither fitting nor compression;
* a layer compresses for an (activation, l2, estimator) when the median over seeds of its relative
  compression reaches the threshold (medians likewise for fitting; pinned when every seed is pinned).

Nothing here is imported by a study: these are readings of stored tables.
"""

from __future__ import annotations

import math

import pandas as pd

from ...readings import p_value_text, spearman, verdict_word

#: A curve compresses when I(X;T) ends at least this fraction below its maximum.
COMPRESSION_THRESHOLD = 0.05
#: I(T;Y) may fall by this much (nats) on the way to the maximum of I(X;T) and still count as fitting first.
FITTING_TOLERANCE = 0.01
#: A curve is pinned when I(X;T) stays at or above this fraction of log N.
PINNED_FRACTION = 0.99
#: Significance level of the rank correlations.
ALPHA = 0.05
CURVE = ["run", "seed", "activation", "l2", "layer", "estimator"]
GROUP = ["activation", "l2"]


def curve_summary(planes: pd.DataFrame, n_inputs: int) -> pd.DataFrame:
    """One row per curve of ``planes`` (X uniform over ``n_inputs`` distinct inputs): :data:`CURVE` columns,
    ``ixt_max``, ``epoch_max``, ``ixt_final``, ``compression``, ``relative_compression``, ``fitting`` (nats),
    ``compresses``, ``fits_first``, ``pinned`` (bools), and the run's final ``train_acc``, ``test_acc`` and
    ``gap`` = train - test accuracy. Curves with a missing I(X;T) are refused."""
    missing = [c for c in (*CURVE, "epoch", "ixt", "ity", "train_acc", "test_acc") if c not in planes.columns]
    if missing or planes.empty:
        raise ValueError(f"planes must be a non-empty table with the columns of the information_planes study; "
                         f"missing {missing}" if missing else "planes is empty")
    if planes["ixt"].isna().any():
        raise ValueError("planes has missing I(X;T) values; expected a value at every epoch")
    ceiling = PINNED_FRACTION * math.log(n_inputs)
    rows = []
    for key, curve in planes.sort_values("epoch", kind="stable").groupby(CURVE, sort=True):
        curve = curve.reset_index(drop=True)
        init, last = curve.iloc[0], curve.iloc[-1]
        trained = curve[curve["epoch"] >= 1] if (curve["epoch"] >= 1).any() else curve
        at_max = trained.index[trained["ixt"].to_numpy().argmax()]
        peak = float(curve.loc[at_max, "ixt"])
        drop = peak - float(last["ixt"])
        rel = drop / peak if peak > 0 else 0.0
        fitting = float(curve.loc[at_max, "ity"]) - float(init["ity"])
        rows.append({**dict(zip(CURVE, key)), "ixt_max": peak, "epoch_max": int(curve.loc[at_max, "epoch"]),
                     "ixt_final": float(last["ixt"]), "compression": drop, "relative_compression": rel,
                     "fitting": fitting, "compresses": rel >= COMPRESSION_THRESHOLD,
                     "fits_first": fitting >= -FITTING_TOLERANCE, "pinned": float(curve["ixt"].min()) >= ceiling,
                     "train_acc": float(last["train_acc"]), "test_acc": float(last["test_acc"]),
                     "gap": float(last["train_acc"] - last["test_acc"])})
    return pd.DataFrame(rows)


def layer_verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, l2, estimator, layer): seed medians of ``relative_compression`` and ``fitting``, the
    number of seeds whose curve compresses, ``compresses`` (the median reaches the threshold), ``fits_first``
    (the median fitting does) and ``pinned`` (every seed is pinned)."""
    grouped = summary.groupby([*GROUP, "estimator", "layer"])
    out = grouped.agg(relative_compression=("relative_compression", "median"), fitting=("fitting", "median"),
                      seeds_compressing=("compresses", "sum"), seeds=("compresses", "size"),
                      pinned=("pinned", "all")).reset_index()
    out["compresses"] = out["relative_compression"] >= COMPRESSION_THRESHOLD
    out["fits_first"] = out["fitting"] >= -FITTING_TOLERANCE
    return out


def _layers(verdicts: pd.DataFrame, activation: str, estimator: str, l2: float) -> pd.DataFrame:
    part = verdicts[(verdicts["activation"] == activation) & (verdicts["estimator"] == estimator)
                    & (verdicts["l2"] == l2)]
    if part.empty:
        raise ValueError(f"no curves for activation={activation!r}, estimator={estimator!r}, l2={l2}")
    return part


def claim_fitting_then_compression(verdicts: pd.DataFrame, activation: str = "tanh", estimator: str = "binning_sz",
                                   l2: float = 0.0) -> dict:
    """(a) Shwartz-Ziv & Tishby: tanh under their binning shows fitting, then compression. Over the hidden
    layers that are not pinned at log N, holds when at least half of them fit first and compress."""
    part = _layers(verdicts, activation, estimator, l2)
    resolved = part[~part["pinned"]]
    both = resolved[resolved["compresses"] & resolved["fits_first"]]
    n, total = len(both), len(resolved)
    return {"holds": total > 0 and 2 * n >= total, "layers": n, "of": total,
            "pinned": sorted(part[part["pinned"]]["layer"].tolist()), "which": sorted(both["layer"].tolist())}


def _compressing(verdicts: pd.DataFrame, activation: str, estimator: str, l2: float) -> tuple[int, int]:
    """(layers that compress, layers not pinned) for one activation, estimator and l2."""
    part = _layers(verdicts, activation, estimator, l2)
    resolved = part[~part["pinned"]]
    return int(resolved["compresses"].sum()), len(resolved)


def claim_no_compression(verdicts: pd.DataFrame, activation: str = "relu",
                         estimators: tuple[str, ...] = ("binning", "kde_upper"), l2: float = 0.0) -> dict:
    """(b) Saxe et al.: ReLU under fixed-width binning and the KDE bound shows no compression. Holds when no
    hidden layer compresses under either estimator."""
    counts = {e: _compressing(verdicts, activation, e, l2) for e in estimators}
    return {"holds": all(n == 0 for n, _ in counts.values()), "counts": counts}


def claim_adaptive_compression(verdicts: pd.DataFrame, activation: str = "relu",
                               estimators: tuple[str, ...] = ("adaptive_binning", "adaptive_kde"),
                               l2: float = 0.0) -> dict:
    """(c) Chelombiev et al.: ReLU under the adaptive estimators does compress. Holds when, under each adaptive
    estimator, at least half of the hidden layers that are not pinned compress."""
    counts = {e: _compressing(verdicts, activation, e, l2) for e in estimators}
    return {"holds": all(total > 0 and 2 * n >= total for n, total in counts.values()), "counts": counts}


def claim_l2_increases(verdicts: pd.DataFrame, estimators: tuple[str, ...] = ("adaptive_binning", "adaptive_kde"),
                       share: float = 0.75) -> dict:
    """(d) Chelombiev et al.: L2 regularisation increases compression. Over every (activation, adaptive
    estimator, layer), compare the seed-median relative compression with the largest l2 against l2 = 0; cells
    where the two are equal (typically both 0) are ties and left out. Holds when compression is larger with
    L2 in at least ``share`` of the other cells (and there is at least one)."""
    l2_max = float(verdicts["l2"].max())
    if l2_max == 0 or not (verdicts["l2"] == 0).any():
        raise ValueError("claim (d) needs runs with l2 = 0 and with l2 > 0")
    part = verdicts[verdicts["estimator"].isin(estimators)]
    keys = ["activation", "estimator", "layer"]
    pair = part[part["l2"] == 0].merge(part[part["l2"] == l2_max], on=keys, suffixes=("_none", "_l2"))
    diff = pair["relative_compression_l2"] - pair["relative_compression_none"]
    larger, smaller = int((diff > 0).sum()), int((diff < 0).sum())
    untied = larger + smaller
    return {"holds": untied > 0 and larger >= share * untied, "larger": larger, "of": untied,
            "ties": len(pair) - untied, "l2": l2_max, "pairs": pair}


#: Claim (e): seeds differ "markedly" when the range of their relative compression is at least this.
SPREAD_THRESHOLD = 0.10


def claim_varies_with_initialisation(summary: pd.DataFrame, estimator: str = "adaptive_binning") -> dict:
    """(e) Chelombiev et al.: the amount of compression varies across initialisations. Per (activation, l2,
    layer) where at least one seed's curve compresses under ``estimator``, the spread is the range (max - min
    over seeds) of relative compression. Holds when the median spread over those cells is at least
    :data:`SPREAD_THRESHOLD`. Needs at least two seeds (``measured`` is False otherwise)."""
    part = summary[summary["estimator"] == estimator]
    cells = part.groupby([*GROUP, "layer"]).agg(
        some=("compresses", "any"), seeds=("seed", "nunique"),
        spread=("relative_compression", lambda v: float(v.max() - v.min()))).reset_index()
    compressing = cells[cells["some"]]
    measured = bool(len(cells)) and int(cells["seeds"].min()) >= 2 and len(compressing) > 0
    median = float(compressing["spread"].median()) if len(compressing) else float("nan")
    return {"measured": measured, "holds": measured and median >= SPREAD_THRESHOLD, "median_spread": median,
            "cells": len(compressing), "of": len(cells), "max_spread": float(cells["spread"].max()),
            "table": cells}


def compression_generalisation(summary: pd.DataFrame, estimator: str = "adaptive_binning",
                               target: str = "test_acc", within_groups: bool = True) -> pd.DataFrame:
    """Spearman rank correlation across runs between each layer's relative compression (under ``estimator``)
    and the run's final ``target`` (``test_acc`` or ``gap``): columns ``layer, rho, p, runs``.

    ``within_groups`` (default): both are first ranked within each (activation, l2) group (as fractions), so
    that differences between activations or L2 (tanh compresses less and generalises better, say) do not
    make a correlation on their own; the p-value is then that of the pooled ranks. ``False``: plain ranks
    over all runs."""
    part = summary[summary["estimator"] == estimator].copy()
    if within_groups:
        for column in ("relative_compression", target):
            part[column] = part.groupby([*GROUP, "layer"])[column].rank(pct=True)
    rows = []
    for layer, g in part.groupby("layer"):
        rho, p = spearman(g["relative_compression"], g[target])
        rows.append({"layer": int(layer), "rho": float(rho), "p": float(p), "runs": len(g)})
    return pd.DataFrame(rows)


def claim_last_layer_generalisation(summary: pd.DataFrame, estimator: str = "adaptive_binning") -> dict:
    """(f) Chelombiev et al.: only last-layer compression correlates with generalisation. With the Spearman
    correlations of :func:`compression_generalisation` (relative compression against final test accuracy,
    ranked within each activation and L2), holds when the last hidden layer's is positive with p <
    :data:`ALPHA` and no other layer's has p < :data:`ALPHA` (an absence of evidence for the other layers, at
    this number of runs, not evidence of absence). ``measured`` is False when the last layer's correlation is
    undefined (constant compression or accuracy)."""
    corr = compression_generalisation(summary, estimator)
    last = corr[corr["layer"] == corr["layer"].max()].iloc[0]
    others = corr[corr["layer"] != corr["layer"].max()]
    last_ok = bool(last["rho"] > 0 and last["p"] < ALPHA)
    others_sig = others[others["p"] < ALPHA]["layer"].tolist()
    return {"measured": not math.isnan(last["rho"]), "holds": last_ok and not others_sig, "last_holds": last_ok,
            "last": last.to_dict(), "others_significant": others_sig, "table": corr,
            "gap": compression_generalisation(summary, estimator, "gap"),
            "pooled": compression_generalisation(summary, estimator, within_groups=False)}


# ----------------------------------------------------------------------------------------------------
# the chapter's sentences


def _counts_text(counts: dict[str, tuple[int, int]]) -> str:
    return "; ".join(f"`{e}`: {n} of {total} layers compress" for e, (n, total) in counts.items())


def _correlations(table: pd.DataFrame) -> str:
    return ", ".join(f"layer {int(r.layer)}: " + ("undefined (constant)" if math.isnan(r.rho) else
                                                  f"rho = {r.rho:.2f} ({p_value_text(r.p)})")
                     for r in table.itertuples())


def _layer_list(layers: list[int]) -> str:
    return ", ".join(str(v) for v in layers) or "none"


def describe_claims(summary: pd.DataFrame) -> dict[str, str]:
    """One Markdown paragraph per claim (keys ``a`` to ``f``): the criterion's verdict as measured on the
    :func:`curve_summary` ``summary``, with the counts and numbers behind it; "not measured" where the runs lack
    what the claim needs (an activation, an estimator, L2, seeds)."""
    verdicts = layer_verdicts(summary)
    have = set(zip(verdicts["activation"], verdicts["estimator"], verdicts["l2"]))
    estimators = set(verdicts["estimator"])

    def lacking(activation: str, names: tuple[str, ...]) -> str | None:
        absent = [e for e in names if (activation, e, 0.0) not in have]
        return f"these runs have no {activation} curves without L2 under {', '.join(absent)}" if absent else None

    def not_measured(key: str, why: str) -> str:
        return f"**({key}) not measured**: {why}."

    text = {}
    why = lacking("tanh", ("binning_sz",))
    if why:
        text["a"] = not_measured("a", why)
    else:
        a = claim_fitting_then_compression(verdicts)
        text["a"] = (f"**(a) {verdict_word(a['holds'])}**: {a['layers']} of the {a['of']} tanh layers not pinned "
                     f"at log N fit first and compress under Shwartz-Ziv & Tishby's binning (layers "
                     f"{_layer_list(a['which'])}; pinned: {_layer_list(a['pinned'])}).")
    for key, claim, names in (("b", claim_no_compression, ("binning", "kde_upper")),
                              ("c", claim_adaptive_compression, ("adaptive_binning", "adaptive_kde"))):
        why = lacking("relu", names)
        if why:
            text[key] = not_measured(key, why)
        else:
            result = claim(verdicts)
            text[key] = (f"**({key}) {verdict_word(result['holds'])}**: ReLU without L2, "
                         f"{_counts_text(result['counts'])} (of the layers not pinned at log N).")
    adaptive = tuple(e for e in ("adaptive_binning", "adaptive_kde") if e in estimators)
    if not adaptive or not (verdicts["l2"] == 0).any() or not (verdicts["l2"] > 0).any():
        text["d"] = not_measured("d", "these runs need L2 = 0 and L2 > 0, and an adaptive estimator")
    else:
        d = claim_l2_increases(verdicts, adaptive)
        text["d"] = (f"**(d) {verdict_word(d['holds'])}**: with L2 = {d['l2']:g} the median relative compression "
                     f"is larger in {d['larger']} of {d['of']} (activation, adaptive estimator, layer) cells, "
                     f"smaller in {d['of'] - d['larger']}"
                     + (f"; {d['ties']} cells are ties (equal, typically both 0)." if d["ties"] else "; no ties."))
    if "adaptive_binning" not in estimators:
        text["e"] = not_measured("e", "these runs have no adaptive binning")
        text["f"] = not_measured("f", "these runs have no adaptive binning")
        return text
    e = claim_varies_with_initialisation(summary)
    if not e["measured"]:
        text["e"] = not_measured("e", "it needs at least two seeds and a layer that compresses in some seed")
    else:
        text["e"] = (f"**(e) {verdict_word(e['holds'])}**: under adaptive binning, over the {e['cells']} "
                     f"(activation, L2, layer) cells where some seed compresses, the median range of relative "
                     f"compression over seeds is {e['median_spread']:.2f} (largest {e['max_spread']:.2f}).")
    f = claim_last_layer_generalisation(summary)
    runs = int(f["table"].runs.max())
    if not f["measured"]:
        text["f"] = not_measured("f", "the last layer's compression or the test accuracy is the same in every run")
    else:
        text["f"] = (f"**(f) {verdict_word(f['holds'])}**: Spearman correlation across {runs} runs between relative "
                     f"compression (adaptive binning) and final test accuracy, both ranked within each activation "
                     f"and L2: {_correlations(f['table'])}. Against the generalisation gap (train - test "
                     f"accuracy; a negative rho means less gap with more compression): {_correlations(f['gap'])}. "
                     f"Plain ranks over all runs, against test accuracy: {_correlations(f['pooled'])}.")
    return text


def describe_compute(info: dict) -> str:
    """One Markdown line on the computation of the ``planes`` table from its ``meta.json`` entry ``info``
    (keys wall_time_s, device, computed_utc and the parameters seeds, activations, l2_penalties, epochs)."""
    p = info["parameters"]
    runs = len(p["seeds"]) * len(p["activations"]) * len(p["l2_penalties"])
    return (f"Measured in this run: computing the table took {info['wall_time_s'] / 60:.1f} minutes of wall time "
            f"({runs} runs of {p['epochs']:,} epochs, MI of every hidden layer by {len(p['estimators'])} estimators "
            f"at about {p['n_evals']} epochs and at initialisation) on {info['device']}, as recorded in "
            f"`meta.json` on {info['computed_utc'][:10]}.")
