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

from ...readings import p_value_text, rule_verdict, spearman

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
    """(a) Shwartz-Ziv & Tishby: tanh under their binning shows fitting, then compression. The cases are the hidden
    layers not pinned at log N (``n_cases``); one holds when it fits first and compresses (``n_hold``), and the
    verdict is the book's rule on that count (:func:`rule_text`). ``holds`` is this chapter's earlier criterion (at
    least half), kept for comparison; no verdict uses it."""
    part = _layers(verdicts, activation, estimator, l2)
    resolved = part[~part["pinned"]]
    both = resolved[resolved["compresses"] & resolved["fits_first"]]
    n, total = len(both), len(resolved)
    return {"holds": total > 0 and 2 * n >= total, "layers": n, "of": total, "n_hold": n, "n_cases": total,
            "pinned": sorted(part[part["pinned"]]["layer"].tolist()), "which": sorted(both["layer"].tolist())}


def _compressing(verdicts: pd.DataFrame, activation: str, estimator: str, l2: float) -> tuple[int, int]:
    """(layers that compress, layers not pinned) for one activation, estimator and l2."""
    part = _layers(verdicts, activation, estimator, l2)
    resolved = part[~part["pinned"]]
    return int(resolved["compresses"].sum()), len(resolved)


def claim_no_compression(verdicts: pd.DataFrame, activation: str = "relu",
                         estimators: tuple[str, ...] = ("binning", "kde_upper"), l2: float = 0.0) -> dict:
    """(b) Saxe et al.: ReLU under fixed-width binning and the KDE bound shows no compression. The cases are the
    (estimator, layer not pinned) pairs; one holds when the layer does not compress. ``holds``: no layer
    compresses under either estimator."""
    counts = {e: _compressing(verdicts, activation, e, l2) for e in estimators}
    n_cases = sum(total for _, total in counts.values())
    return {"holds": all(n == 0 for n, _ in counts.values()), "counts": counts, "n_cases": n_cases,
            "n_hold": n_cases - sum(n for n, _ in counts.values())}


def claim_adaptive_compression(verdicts: pd.DataFrame, activation: str = "relu",
                               estimators: tuple[str, ...] = ("adaptive_binning", "adaptive_kde"),
                               l2: float = 0.0) -> dict:
    """(c) Chelombiev et al.: ReLU under the adaptive estimators does compress. The cases are the (adaptive
    estimator, layer not pinned) pairs; one holds when the layer compresses. ``holds`` is the chapter's earlier
    criterion (at least half under each estimator), kept for comparison; no verdict uses it."""
    counts = {e: _compressing(verdicts, activation, e, l2) for e in estimators}
    return {"holds": all(total > 0 and 2 * n >= total for n, total in counts.values()), "counts": counts,
            "n_hold": sum(n for n, _ in counts.values()), "n_cases": sum(total for _, total in counts.values())}


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
    return {"holds": untied > 0 and larger >= share * untied, "larger": larger, "of": untied, "n_hold": larger,
            "n_cases": untied,
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
            "n_hold": int((compressing["spread"] >= SPREAD_THRESHOLD).sum()), "n_cases": len(compressing),
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
            "n_hold": int(last_ok) + int(not others_sig), "n_cases": 2,
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


def rule_text(result: dict, unit: str) -> str:
    """The book's one rule (:func:`lrc_utils.book.readings.rule_verdict`) on a claim's ``n_hold`` of ``n_cases``,
    with the count, e.g. "partly: 35 of 40 cells"; "not measured" when there is no case."""
    if not result["n_cases"]:
        return "not measured: no case"
    n_hold, n_cases = result["n_hold"], result["n_cases"]
    return f"{rule_verdict(n_hold, n_cases, 'others')}: {n_hold} of {n_cases} {unit}"


def describe_claims(summary: pd.DataFrame) -> dict[str, str]:
    """One Markdown paragraph per claim (keys ``a`` to ``f``): the verdict by the book's one rule (:func:`rule_text`:
    every case, more than half, otherwise; the same words and counts as the claims table) as measured on the
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
        text["a"] = (f"**(a) {rule_text(a, 'layers')}**: {a['layers']} of the {a['of']} tanh layers not pinned "
                     f"at log N fit first and compress under Shwartz-Ziv & Tishby's binning (layers "
                     f"{_layer_list(a['which'])}; pinned: {_layer_list(a['pinned'])}).")
    for key, claim, names in (("b", claim_no_compression, ("binning", "kde_upper")),
                              ("c", claim_adaptive_compression, ("adaptive_binning", "adaptive_kde"))):
        why = lacking("relu", names)
        if why:
            text[key] = not_measured(key, why)
        else:
            result = claim(verdicts)
            text[key] = (f"**({key}) {rule_text(result, '(estimator, layer) pairs')}**: ReLU without L2, "
                         f"{_counts_text(result['counts'])} (of the layers not pinned at log N).")
    adaptive = tuple(e for e in ("adaptive_binning", "adaptive_kde") if e in estimators)
    if not adaptive or not (verdicts["l2"] == 0).any() or not (verdicts["l2"] > 0).any():
        text["d"] = not_measured("d", "these runs need L2 = 0 and L2 > 0, and an adaptive estimator")
    else:
        d = claim_l2_increases(verdicts, adaptive)
        text["d"] = (f"**(d) {rule_text(d, 'cells')}**: with L2 = {d['l2']:g} the median relative compression "
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
        text["e"] = (f"**(e) {rule_text(e, 'cells')}**: under adaptive binning, over the {e['cells']} "
                     f"(activation, L2, layer) cells where some seed compresses, the range of relative compression "
                     f"over seeds is at least {SPREAD_THRESHOLD:g} in {e['n_hold']}; its median is "
                     f"{e['median_spread']:.2f} (largest {e['max_spread']:.2f}).")
    f = claim_last_layer_generalisation(summary)
    runs = int(f["table"].runs.max())
    if not f["measured"]:
        text["f"] = not_measured("f", "the last layer's compression or the test accuracy is the same in every run")
    else:
        text["f"] = (f"**(f) {rule_text(f, 'parts')}**: Spearman correlation across {runs} runs between relative "
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


# ----------------------------------------------------------------------------------------------------
# the numbers quoted in the chapter's prose

_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def _and_list(values: list[int]) -> str:
    """'5', '1 and 2', '1, 2 and 4'."""
    text = [str(v) for v in values]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


def _layers_text(layers: list[int]) -> str:
    return "no layer" if not layers else ("layer " if len(layers) == 1 else "layers ") + _and_list(layers)


def _last_layers(per_estimator: list[list[int]], all_layers: list[int]) -> str:
    """'the last one or two layers' when each list is the last k of ``all_layers``, else the layers named."""
    counts = sorted({len(layers) for layers in per_estimator})
    if 0 not in counts and all(layers == all_layers[-len(layers):] for layers in per_estimator):
        if counts == [1]:
            return "the last layer"
        return "the last " + " or ".join(_WORDS.get(k, str(k)) for k in counts) + " layers"
    return " and ".join(_layers_text(layers) for layers in per_estimator)


def prose_numbers(planes: pd.DataFrame, p, wall_time_s: float, n_patterns: int = 4096) -> dict[str, float | int | str]:
    """The numbers the chapter's prose quotes, from the ``planes`` table, the parameters ``p`` it was computed
    with (the study's ``Params``, or any object with ``mi_inputs``: X is uniform over that many patterns,
    ``train_fraction`` of the ``n_patterns`` patterns trained on, in minibatches of ``batch_size``) and the
    table's recorded computing time ``wall_time_s`` (seconds, from ``meta.json``). Keys (numbers, and phrases as
    Markdown strings; NaN or "not measured" where the runs lack what a key needs):

    * ``planes_log_n``: log ``mi_inputs`` (nats), the ceiling of every I(X;T) estimate;
    * ``planes_hidden_layers``: hidden layers; ``planes_runs``: training runs; ``planes_eval_epochs``: distinct
      evaluation epochs after initialisation; ``planes_steps_per_epoch``: ceil(n_train / batch_size);
    * ``planes_wall_minutes``: wall time of the table (minutes);
    * claim (a), tanh without L2 under ``binning_sz``: ``planes_a_pinned`` (phrase, e.g. "layers 1 and 2 are
      pinned"), ``planes_a_where`` (phrase: the layers that fit first and compress, "the deepest layer" when it is
      only the last), ``planes_a_layers`` of ``planes_a_resolved`` (counts of those and of the layers not pinned);
    * claim (b): ``planes_b_counts`` (phrase: ReLU layers compressing of those not pinned, per estimator);
    * claim (c): ``planes_c_where`` (phrase, e.g. "the last one or two layers") and ``planes_c_counts``;
    * claim (d): ``planes_d_larger`` of ``planes_d_cells`` (untied cells where L2 compresses more);
    * claim (e): ``planes_e_median_spread``, ``planes_e_max_spread`` (ranges of relative compression over seeds,
      fractions) and ``planes_e_low_percent``, ``planes_e_high_percent`` (the smallest and largest seed's relative
      compression, per cent, in the cell of the largest range);
    * claim (f): ``planes_f_rho``, ``planes_f_p`` (last layer's within-group Spearman correlation and p-value);
    * ``planes_<a..f>_rule_md``: each claim's verdict by the book's one rule, with its count (:func:`rule_text`);
    * ``planes_train_acc_<activation>_none`` / ``_l2``: seed-mean final training accuracy without L2 and with
      the largest L2.
    """
    summary = curve_summary(planes, p.mi_inputs)
    verdicts = layer_verdicts(summary)
    have = set(zip(verdicts["activation"], verdicts["estimator"], verdicts["l2"]))
    layers = sorted(int(v) for v in planes["layer"].unique())
    nan, absent = float("nan"), "not measured"
    out: dict[str, float | int | str] = {
        "planes_log_n": math.log(p.mi_inputs), "planes_hidden_layers": len(layers),
        "planes_runs": int(planes["run"].nunique()),
        "planes_eval_epochs": int(planes.loc[planes["epoch"] >= 1, "epoch"].nunique()),
        "planes_steps_per_epoch": math.ceil(round(p.train_fraction * n_patterns) / p.batch_size),
        "planes_wall_minutes": wall_time_s / 60}
    if ("tanh", "binning_sz", 0.0) in have:
        a = claim_fitting_then_compression(verdicts)
        pinned = a["pinned"]
        out["planes_a_pinned"] = (_layers_text(pinned) + (" is" if len(pinned) == 1 else " are") + " pinned"
                                  if pinned else "no layer is pinned")
        out["planes_a_where"] = "the deepest layer" if a["which"] == layers[-1:] else _layers_text(a["which"])
        out["planes_a_layers"], out["planes_a_resolved"] = a["layers"], a["of"]
        out["planes_a_rule_md"] = rule_text(a, "layers")
    else:
        out.update(planes_a_pinned=absent, planes_a_where=absent, planes_a_layers=nan, planes_a_resolved=nan,
                   planes_a_rule_md=absent)
    for key, names in (("b", ("binning", "kde_upper")), ("c", ("adaptive_binning", "adaptive_kde"))):
        present = [e for e in names if ("relu", e, 0.0) in have]
        counts = {e: _compressing(verdicts, "relu", e, 0.0) for e in present}
        out[f"planes_{key}_counts"] = ("; ".join(f"{n} of {total} under `{e}`" for e, (n, total) in counts.items())
                                       or absent)
        claim = claim_no_compression if key == "b" else claim_adaptive_compression
        out[f"planes_{key}_rule_md"] = (rule_text(claim(verdicts), "(estimator, layer) pairs")
                                        if len(present) == len(names) else absent)
    relu = verdicts[(verdicts["activation"] == "relu") & (verdicts["l2"] == 0) & ~verdicts["pinned"]]
    compressing = [sorted(int(v) for v in relu[(relu["estimator"] == e) & relu["compresses"]]["layer"])
                   for e in ("adaptive_binning", "adaptive_kde") if ("relu", e, 0.0) in have]
    out["planes_c_where"] = _last_layers(compressing, layers) if compressing else absent
    adaptive = tuple(e for e in ("adaptive_binning", "adaptive_kde") if e in set(verdicts["estimator"]))
    if adaptive and (verdicts["l2"] == 0).any() and (verdicts["l2"] > 0).any():
        d = claim_l2_increases(verdicts, adaptive)
        out["planes_d_larger"], out["planes_d_cells"] = d["larger"], d["of"]
        out["planes_d_rule_md"] = rule_text(d, "cells")
    else:
        out.update(planes_d_larger=nan, planes_d_cells=nan, planes_d_rule_md=absent)
    e_keys = ("planes_e_median_spread", "planes_e_max_spread", "planes_e_low_percent", "planes_e_high_percent")
    f_keys = ("planes_f_rho", "planes_f_p")
    if "adaptive_binning" in set(verdicts["estimator"]):
        e = claim_varies_with_initialisation(summary)
        cells = e["table"]
        top = cells.loc[cells["spread"].idxmax()]
        part = summary[(summary["estimator"] == "adaptive_binning") & (summary["activation"] == top["activation"])
                       & (summary["l2"] == top["l2"]) & (summary["layer"] == top["layer"])]["relative_compression"]
        out.update(zip(e_keys, (e["median_spread"], e["max_spread"], 100 * float(part.min()),
                                100 * float(part.max()))))
        last = compression_generalisation(summary, "adaptive_binning").iloc[-1]
        out.update(zip(f_keys, (float(last["rho"]), float(last["p"]))))
        out["planes_e_rule_md"] = rule_text(e, "cells") if e["measured"] else absent
        out["planes_f_rule_md"] = rule_text(claim_last_layer_generalisation(summary), "parts")
    else:
        out.update(dict.fromkeys((*e_keys, *f_keys), nan), planes_e_rule_md=absent, planes_f_rule_md=absent)
    l2_max = float(summary["l2"].max())
    for (activation, l2), acc in summary.groupby(GROUP)["train_acc"]:
        if l2 == 0 or l2 == l2_max:
            # every curve of a run carries the run's accuracy: the mean over runs
            runs = summary.loc[acc.index].drop_duplicates("run")["train_acc"]
            out[f"planes_train_acc_{activation}_{'l2' if l2 > 0 else 'none'}"] = float(runs.mean())
    return out
