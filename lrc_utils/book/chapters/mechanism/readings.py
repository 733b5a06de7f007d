"""What drives the fall: readings of the ``measures`` table by the criteria fixed before the runs
(``book/mechanism_design.md``). Pure functions: tables in, tables or text out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...readings import (
    dataset_label,
    fall_start,
    first_step_at_accuracy,
    power_text,
    reaches_accuracy,
    rule_verdict,
    terminal_phase_falls,
)
from .study import ARMS

#: The measures judged by the fall criterion, and their names in the tables.
JUDGED = {"rank_atol": "rank (atol)", "effective_rank": "effective rank"}

#: How the prose names the panels.

#: The design's questions: the arms that answer each (book/mechanism_design.md).
QUESTIONS = {"1. falls without explicit weight decay?": ("no-decay", "softmax-loss"),
             "2. falls with SGD?": ("sgd",)}


def _as_local_rank(rows: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The rows with ``measure`` as the ``local_rank`` column that Figure 1's readings read."""
    return rows.drop(columns="local_rank", errors="ignore").rename(columns={measure: "local_rank"})


def falls(table: pd.DataFrame, drop: float = 0.1, threshold: float = 0.99) -> pd.DataFrame:
    """Per (measure of :data:`JUDGED`, arm, panel, hidden layer): Figure 1's criterion on the seed means
    (:func:`lrc_utils.book.chapters.figure1.readings.terminal_phase_falls`: the last value at least ``drop``
    below the maximum over training and below the maximum from the first step with ``threshold`` training
    accuracy on). Columns measure, arm, panel, layer, max, last, falls."""
    out = []
    order = [arm for arm in ARMS if arm in set(table.arm)]  # the design's order
    for measure, name in JUDGED.items():
        for arm in order:
            rows = table[table.arm == arm]
            judged = terminal_phase_falls(_as_local_rank(rows, measure), drop, threshold)
            out.append(pd.DataFrame({"measure": name, "arm": arm, "panel": judged.panel, "layer": judged.layer,
                                     "max": judged["max"], "last": judged["last"],
                                     "falls": judged["falls in terminal phase"]}))
    return pd.concat(out, ignore_index=True)


def unfitted_arms(table: pd.DataFrame, threshold: float = 0.99) -> set[tuple[str, str]]:
    """The (arm, panel) pairs whose seed-mean training accuracy never reaches ``threshold``: no terminal phase,
    so Figure 1's criterion (a fall after the fit) cannot hold there and their layers count as not falling."""
    return {(arm, panel) for (arm, panel), rows in table.groupby(["arm", "panel"], sort=False)
            if rows.groupby("step").train_acc.mean().max() < threshold}


def answers(fall_table: pd.DataFrame, unfit: set[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """Questions 1 and 2 of the design, per panel and judged measure: of the (arm, layer) curves of the
    question's arms (:data:`QUESTIONS`), how many fall (:func:`falls`), and the answer by the book's one rule
    (every curve: yes; more than half: partly; otherwise: no). Arms not in the table are left out; a question
    none of whose arms ran is not answered. Column ``never fit`` names the question's arms that never reach the
    fit on the panel (``unfit``, :func:`unfitted_arms`): their curves are counted, as not falling."""
    out = []
    for question, arms in QUESTIONS.items():
        for (measure, panel), rows in fall_table.groupby(["measure", "panel"], sort=False):
            judged = rows[rows.arm.isin(arms)]
            if judged.empty:
                continue
            n_hold, n_cases = int(judged.falls.sum()), len(judged)
            falling = [f"{a} {layer}" for a, layer in zip(judged.arm[judged.falls], judged.layer[judged.falls])]
            ran = [a for a in arms if a in set(judged.arm)]
            out.append({"question": question, "panel": panel, "measure": measure, "arms": ", ".join(ran),
                        "curves that fall": f"{n_hold} of {n_cases}",
                        "which (arm layer)": ", ".join(falling) or "none",
                        "never fit": ", ".join(a for a in ran if (a, panel) in unfit) or "none",
                        "answer": rule_verdict(n_hold, n_cases, "answer")})
    return pd.DataFrame(out)


#: Added after the runs, not a criterion of the design: a spike whose loss after the jump stays below this (nats)
#: is read as unresolved. The recorded loss is a float32 mean over the training set, whose per-point values
#: vanish exactly once a margin exceeds about 17 and otherwise come in steps near 1.2e-7 / N; between such
#: values a ten-fold jump (from 0: an infinite one) says nothing about the optimiser.
RESOLVED_SPIKE_LOSS = 1e-6


def loss_spikes(table: pd.DataFrame, threshold: float = 0.99, factor: float = 10.0,
                resolved: float = RESOLVED_SPIKE_LOSS) -> pd.DataFrame:
    """The loss spikes of every run (arm, panel, seed): recorded steps after the run's fit (the first step with
    ``threshold`` training accuracy, the seed's own) at which the full training loss is at least ``factor``
    times its value at the previous recorded step (the design's definition; from a loss of exactly 0 any rise
    counts). Columns arm, panel, seed, fit_step, fit reached (whether the seed reached ``threshold`` at all: if
    not, ``fit_step`` is its last step and it has no spikes), spikes (a list of steps), n_spikes, and, read after
    the runs, the spikes whose loss after the jump is at least ``resolved`` (``resolved spikes``,
    ``n_resolved``)."""
    out = []
    for (arm, panel, seed), rows in table.groupby(["arm", "panel", "seed"], sort=False):
        curve = rows.groupby("step")[["train_loss", "train_acc"]].first().sort_index()
        fit = first_step_at_accuracy(curve.reset_index(), threshold)
        ratio = curve.train_loss / curve.train_loss.shift(1)
        spiking = (ratio >= factor) & (curve.index > fit)
        spikes = [int(s) for s in curve.index[spiking]]
        resolved_spikes = [int(s) for s in curve.index[spiking & (curve.train_loss >= resolved)]]
        out.append({"arm": arm, "panel": panel, "seed": seed, "fit_step": fit,
                    "fit reached": bool(reaches_accuracy(curve.train_acc, threshold).any()), "spikes": spikes,
                    "n_spikes": len(spikes), "resolved spikes": resolved_spikes, "n_resolved": len(resolved_spikes)})
    return pd.DataFrame(out)


def _near(start: int | None, spikes: list[int], steps: list[int]) -> bool:
    """Whether one of ``spikes`` lies within one recorded step (of ``steps``) of ``start``, either way."""
    return start is not None and any(abs(steps.index(start) - steps.index(s)) <= 1 for s in spikes)


def spike_falls(table: pd.DataFrame, drop: float = 0.1, threshold: float = 0.99,
                factor: float = 10.0) -> pd.DataFrame:
    """Question 3's cases: every (arm, panel, seed, deeper layer) curve of the atol rank that falls by Figure 1's
    criterion on its own seed, with the first recorded step at which it lies ``drop`` below its maximum after the
    fit (:func:`fall_start`: the first such step after that maximum) and how it relates to its run's spikes
    (:func:`loss_spikes`): ``with a spike`` (a spike at the same recorded step or at the one before or after it:
    ``within one recorded step``, both ways), ``spike elsewhere in its run`` or ``no spike in its run``. Column
    ``with a resolved spike`` applies the same window to the resolved spikes only (read after the runs); column
    ``largest jump near the start``, the largest ratio of the training loss to its value at the previous recorded
    step within that window (a spike is one of at least ``factor``)."""
    spikes = loss_spikes(table, threshold, factor).set_index(["arm", "panel", "seed"])
    out = []
    for (arm, panel, seed), rows in table.groupby(["arm", "panel", "seed"], sort=False):
        rows = _as_local_rank(rows, "rank_atol")
        steps = sorted(rows.step.unique())
        loss = rows.groupby("step").train_loss.first().sort_index()
        jumps = (loss / loss.shift(1)).to_numpy()
        run = spikes.loc[(arm, panel, seed)]
        judged = terminal_phase_falls(rows, drop, threshold)
        for layer in judged.layer[judged["falls in terminal phase"] & (judged.layer >= 2)]:
            start = fall_start(rows[rows.layer == layer], run.fit_step, drop)
            relation = ("with a spike" if _near(start, run.spikes, steps) else "spike elsewhere in its run"
                        if run.n_spikes else "no spike in its run")
            out.append({"arm": arm, "panel": panel, "seed": seed, "layer": layer, "fall starts": start,
                        "spikes after the fit": run.n_spikes, "relation": relation,
                        "with a resolved spike": _near(start, run["resolved spikes"], steps),
                        "largest jump near the start": (np.nan if start is None else float(np.nanmax(
                            jumps[max(steps.index(start) - 1, 1):steps.index(start) + 2])))})
    return pd.DataFrame(out, columns=["arm", "panel", "seed", "layer", "fall starts", "spikes after the fit",
                                      "relation", "with a resolved spike", "largest jump near the start"])


def spike_answer(cases: pd.DataFrame) -> tuple[str, dict[str, int]]:
    """Question 3's answer from :func:`spike_falls`: "needs the spikes" when every falling curve falls with a
    spike, "does not need the spikes" when at least one falling curve has no spike in its run, otherwise (some
    curves fall away from their run's spikes, none in a run without one) "not decided by the criterion", an
    outcome the design did not name; with the count of each relation. No falling curve: "no deeper-layer curve
    falls"."""
    counts = {k: int((cases.relation == k).sum())
              for k in ("with a spike", "spike elsewhere in its run", "no spike in its run")}
    if cases.empty:
        return "no deeper-layer curve falls", counts
    if counts["no spike in its run"]:
        return "does not need the spikes", counts
    if counts["with a spike"] == len(cases):
        return "needs the spikes", counts
    return "not decided by the criterion", counts


def decay_control(table: pd.DataFrame, lrs: dict[str, dict[str, float]], atol: float, drop: float = 0.1,
                  threshold: float = 0.99) -> pd.DataFrame:
    """The positive control of the weight-decay arms: for each arm with weight decay and each panel, the first
    layer's observed fall start after the fit (seed means, :func:`fall_start`; NaN: it does not fall) beside pure
    decay's clock ``fit + ln(1/atol)/(lr·λ)`` (``lrs[arm][panel]`` is lr·λ): the step by which pure decay takes any
    singular value of at most 1 at the fit below ``atol``. The first layer's Jacobian is ``W1`` at every input, so
    its rank can fall only through ``W1``'s singular values; the table records no spectrum, so the clock is a
    bound for ``s <= 1`` (a fall that starts before it is within pure decay's reach), not a prediction of the
    step at which the first tenth of the directions cross."""
    out = []
    for arm, rows in table[table.arm.isin(list(lrs))].groupby("arm", sort=False):
        for panel, panel_rows in rows.groupby("panel", sort=False):
            fit = first_step_at_accuracy(panel_rows, threshold)
            first = _as_local_rank(panel_rows[panel_rows.layer == 1], "rank_atol")
            start = fall_start(first, fit, drop)
            eta_lambda = lrs[arm][panel]
            out.append({"arm": arm, "panel": panel, "lr·λ": power_text(eta_lambda), "fit step": fit,
                        "decay bound (s ≤ 1)": int(fit + np.log(1 / atol) / eta_lambda),
                        "observed fall start": np.nan if start is None else start,
                        "last step": int(panel_rows.step.max())})
    return pd.DataFrame(out)


def decay_rates(arms: list[str], panel_lrs: dict[str, float]) -> dict[str, dict[str, float]]:
    """lr·λ per (arm with weight decay, panel) for :func:`decay_control`: the panel's learning rate
    (``panel_lrs``) times the arm's weight decay (:data:`ARMS`); arms without weight decay are left out (SGD's own
    learning rate never meets a decay)."""
    return {arm: {panel: lr * ARMS[arm][2] for panel, lr in panel_lrs.items()} for arm in arms if ARMS[arm][2] > 0}


def falls_wide(fall_table: pd.DataFrame) -> pd.DataFrame:
    """:func:`falls` with one row per (panel, arm, layer) and, per judged measure, its maximum, last value and
    whether it falls side by side, in the design's arm order."""
    wide = fall_table.pivot_table(index=["panel", "arm", "layer"], columns="measure",
                                  values=["max", "last", "falls"], aggfunc="first", sort=False)
    wide.columns = [f"{measure}: {what}" for what, measure in wide.columns]
    order = [f"{name}: {what}" for name in JUDGED.values() for what in ("max", "last", "falls")]
    return _in_design_order(wide[[c for c in order if c in wide.columns]].reset_index())


def _in_design_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (columns panel, arm, layer) sorted by panel, then arm in the design's order (:data:`ARMS`), then
    layer, with a fresh index."""
    rank = {arm: i for i, arm in enumerate(ARMS)}
    return frame.sort_values(["panel", "arm", "layer"], key=lambda c: c.map(rank) if c.name == "arm" else c,
                             kind="stable").reset_index(drop=True)


#: The measures no fall criterion judges, shown at the last step (the design's other measures).
OTHER_MEASURES = {"rank_rtol": "rank (rtol)", "active_units": "active units", "rank_subspace": "rank on subspace"}


def last_step(table: pd.DataFrame) -> pd.DataFrame:
    """Seed means at each run's last recorded step, per (panel, arm, hidden layer), of every measure: the judged
    ones and :data:`OTHER_MEASURES`, with the training loss (a mean over seeds of each seed's last value)."""
    names = {**JUDGED, **OTHER_MEASURES, "train_loss": "train loss"}
    last = table[table.step == table.groupby(["arm", "panel", "seed"]).step.transform("max")]
    means = last.groupby(["panel", "arm", "layer"], sort=False)[list(names)].mean().reset_index()
    return _in_design_order(means).rename(columns=names)


def answer_markdown(answer_table: pd.DataFrame, spike_verdict: str, spike_counts: dict[str, int]) -> str:
    """The chapter's answer, for the box at the top of its page: per question of :data:`QUESTIONS` one bullet
    with, per panel, the answer for the rank at atol (:func:`answers`; it decides) and for the effective rank,
    each with its count of falling curves; then question 3's verdict (:func:`spike_answer`) with its counts.
    Markdown."""
    lines = []
    for question, rows in answer_table.groupby("question", sort=False):
        parts = []
        for panel, by_panel in rows.groupby("panel", sort=False):
            got = {r["measure"]: (r["answer"], r["curves that fall"]) for _, r in by_panel.iterrows()}
            atol = got.get(JUDGED["rank_atol"])
            effective = got.get(JUDGED["effective_rank"])
            words = [f"**{atol[0]}** at atol ({atol[1]})" if atol else "not judged at atol"]
            if effective:
                words.append(f"effective rank {effective[0]} ({effective[1]})")
            unfit = by_panel["never fit"].iloc[0] if "never fit" in by_panel else "none"
            if unfit != "none":
                words.append(f"`{unfit}` never reaching 99% training accuracy there (no terminal phase: counted as "
                             "not falling)")
            parts.append(f"{dataset_label(panel)}: {', '.join(words)}")
        arms = ", ".join(f"`{a}`" for a in rows.arms.iloc[0].split(", "))
        asked = question.split(" ", 1)[1]
        lines.append(f"* **{asked[0].upper() + asked[1:]}** (arms {arms}; curves that fall, of the arms' "
                     f"hidden layers): {'; '.join(parts)}.")
    counts = ", ".join(f"{n} {k}" for k, n in spike_counts.items())
    lines.append(f"* **Does the fall need the loss spikes?** {spike_verdict[0].upper() + spike_verdict[1:]} (of "
                 f"{sum(spike_counts.values())} falling deeper-layer curves at atol, one per seed: {counts}).")
    return "\n".join(lines) + "\n"


def active_bound(table: pd.DataFrame) -> pd.DataFrame:
    """The bound the first layer's active units put on the deeper layers: a deeper pre-activation's Jacobian is
    ``W_l D_{l-1} W_{l-1} ... D_1 W_1``, whose rank is at most the number of active units of layer 1 (the nonzero
    entries of ``D_1``). Per (panel, arm), seed means at the last step (:func:`last_step`): layer 1's active units
    and the rank at atol of each deeper layer. Columns panel, arm, ``layer 1 active units``, then
    ``layer l rank (atol)`` for l = 2, 3, ... (NaN where a panel has fewer layers)."""
    last = last_step(table)
    rows = []
    for (panel, arm), part in last.groupby(["panel", "arm"], sort=False):
        row = {"panel": panel, "arm": arm,
               "layer 1 active units": float(part.loc[part.layer == 1, OTHER_MEASURES["active_units"]].iloc[0])}
        row.update({f"layer {layer} rank (atol)": float(rank)
                    for layer, rank in zip(part.layer, part[JUDGED["rank_atol"]]) if layer >= 2})
        rows.append(row)
    return pd.DataFrame(rows)


def prose_numbers(fall_table: pd.DataFrame, table: pd.DataFrame, control: pd.DataFrame) -> dict[str, float]:
    """The numbers the chapter's prose quotes, by name (``<panel>_<arm>_...``, the arm's hyphens as underscores):
    ``atol_falls``, ``eff_falls`` and ``layers`` (falling curves of each judged measure, of the arm's hidden
    layers, :func:`falls`), ``l1_max`` and ``l1_last`` (layer 1's rank at atol, seed means),
    ``l1_units`` (layer 1's active units at the last step), ``deep_min`` and ``deep_max`` (the lowest and highest
    last rank at atol of the deeper layers), ``subspace_min``, ``subspace_max`` and ``l1_subspace`` (the Gaussian
    panel's rank on the data subspace at the last step, over layers and of layer 1; NaN on MNIST); and per arm
    of the decay control ``<panel>_<arm>_bound`` and ``<panel>_<arm>_observed`` (NaN: no fall)."""
    numbers: dict[str, float] = {}
    last = last_step(table)
    for (measure, arm, panel), rows in fall_table.groupby(["measure", "arm", "panel"], sort=False):
        key = f"{panel}_{arm.replace('-', '_')}_"
        numbers[key + ("atol_falls" if measure == JUDGED["rank_atol"] else "eff_falls")] = int(rows.falls.sum())
        numbers[key + "layers"] = len(rows)
        if measure == JUDGED["rank_atol"]:
            first = rows[rows.layer == 1].iloc[0]
            numbers[key + "l1_max"], numbers[key + "l1_last"] = float(first["max"]), float(first["last"])
    for (panel, arm), rows in last.groupby(["panel", "arm"], sort=False):
        key = f"{panel}_{arm.replace('-', '_')}_"
        deep = rows[rows.layer >= 2][JUDGED["rank_atol"]]
        numbers[key + "l1_units"] = float(rows.loc[rows.layer == 1, OTHER_MEASURES["active_units"]].iloc[0])
        numbers[key + "deep_min"], numbers[key + "deep_max"] = float(deep.min()), float(deep.max())
        subspace = rows[OTHER_MEASURES["rank_subspace"]]
        numbers[key + "subspace_min"], numbers[key + "subspace_max"] = float(subspace.min()), float(subspace.max())
        numbers[key + "l1_subspace"] = float(subspace[rows.layer == 1].iloc[0])
    for r in control.itertuples(index=False):
        key = f"{r.panel}_{r.arm.replace('-', '_')}_"
        numbers[key + "bound"] = float(r[control.columns.get_loc("decay bound (s ≤ 1)")])
        numbers[key + "observed"] = float(r[control.columns.get_loc("observed fall start")])
    return numbers


def spike_numbers(cases: pd.DataFrame) -> dict[str, int]:
    """Counts of question 3's table (:func:`spike_falls`) for the prose: ``falling_deeper`` (falling deeper-layer
    curves), ``with_spike`` (of them, with a spike by the design's definition) and ``with_resolved_spike`` (with a
    resolved spike, the reading added after the runs)."""
    return {"falling_deeper": len(cases), "with_spike": int((cases.relation == "with a spike").sum()),
            "with_resolved_spike": int(cases["with a resolved spike"].sum())}


def spike_markdown(cases: pd.DataFrame) -> str:
    """What decides question 3's answer (:func:`spike_answer`) on question 3's table (:func:`spike_falls`), as a
    Markdown sentence: the falling curves in runs without a spike, named (arm, panel, seed, layer), when there are
    any; else how many fall away from their run's spikes."""
    verdict, counts = spike_answer(cases)
    rows = cases[cases.relation == "no spike in its run"]
    if len(rows):
        named = "; ".join(f"`{r.arm}` on the {dataset_label(r.panel)} panel, seed {r.seed}, layer {r.layer}"
                          f" (its loss's largest jump within one recorded step of the fall's start: "
                          f"{r[rows.columns.get_loc('largest jump near the start')]:.1f}-fold)"
                          for r in rows.itertuples(index=False))
        return (f"The rule answers *{verdict}* because {len(rows)} falling "
                f"{'curve falls' if len(rows) == 1 else 'curves fall'} in a run without any spike: {named}; the "
                "answer rests on " + ("that case alone." if len(rows) == 1 else "these cases alone."))
    return (f"The rule answers *{verdict}*: no falling curve is in a run without a spike, and "
            f"{counts['spike elsewhere in its run']} fall away from their run's spikes.")
