"""The claims the book tests, each with its criterion and the verdict measured on the committed results.

Rows in four groups (:data:`GROUPS`): the paper's claims (Figure 1 under our recipe and, when stored, the first
author's; Figures 2 and 3; local rank and information moving together on the same runs), other papers' claims
(the information-plane studies, Goldfeld et al.'s clustering), checks of the estimators against ground truths, and
our own statements (the theory chapter). Each row names its conditions (optimiser, weight decay, tolerance, data).
Every verdict is computed from the tables the chapters save (``results/<preset>/<notebook>/*.csv``) with the
chapters' own analysis functions and the parameters the tables were computed with (their ``meta.json``), so the
table cannot disagree with the chapters. The book's introduction includes the summary and the tables as
``book/claims_summary.md`` and ``book/claims_table.md``, written by::

    python -m lrc_utils.book.claims

**One rule for every verdict** (:func:`verdict_word`): each row counts its cases (layers, data sets, cells...;
said in the verdict) and is **reproduced** (for a check or our own statement: **verified**) when the criterion
holds in every case, **partly** when it holds in more than half, **not reproduced** (not verified) otherwise. The
VIB figures are decided under the absolute tolerance, the paper's definition of local rank; the relative
tolerance's outcome is given beside. A count pooled over seeds says so, with the per-seed count beside it.
Every function here is pure: tables in, a row (a dict) or a string out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from . import readings
from .chapters.information_planes import readings as compression
from .chapters.mechanism import readings as mechanism_readings
from .chapters.mechanism import study as mechanism_study
from .chapters.mi_estimators import readings as mi_estimators
from .chapters.noisy_networks import readings as clustering
from .chapters.rank_and_information import readings as rank_information
from .chapters.theory import readings as statements
from .chapters.vib import readings as vib
from .paths import REPO_ROOT, RESULTS_DIR
from .store import atomic_write_text, display_path, read_stored_table
from .summary import FIGURE as SUMMARY_FIGURE
from .summary import write_summary_figure

#: The columns of :func:`claims_table`: ``group`` is a key of :data:`GROUPS`; ``n_hold`` of ``n_cases`` is the
#: count the verdict is decided on (:func:`verdict`).
COLUMNS = ("group", "claim", "chapter", "conditions", "criterion", "verdict", "measured", "n_hold", "n_cases")
#: The groups of rows, in the table's order, with their headings.
GROUPS = {"paper": "The paper's claims", "others": "Other papers' claims", "check": "Checks of the estimators",
          "ours": "Our own statements"}
#: Each group's verdict words (every case holds / more than half hold / otherwise): the book's one rule.
WORDS = readings.RULE_WORDS
#: Link text of each chapter in the Markdown table (the link goes to ``/executed/<notebook>``).
CHAPTER_LABELS = {"figure1": "Figure 1", "mechanism": "What drives the fall", "figure2": "Figure 2",
                  "figure3": "Figure 3",
                  "mi_estimators": "MI estimators", "information_planes": "Information planes",
                  "noisy_networks": "Noisy networks", "theory": "Theory",
                  "rank_and_information": "Rank and information"}
#: Names of panels and data sets as the chapters write them.
#: The two tolerance conventions of the VIB sweep tables: column -> name. The first is the paper's definition
#: (singular values above an absolute threshold), the one the VIB verdicts are decided on.
CONVENTIONS = {"local_rank_abs": "absolute", "local_rank_rel": "relative"}

#: Where the book's table is written, and the command that writes it.
PAGE = REPO_ROOT / "book" / "claims_table.md"
#: Where the summary of the paper's own claims is written (the introduction's first screen), by the same command.
SUMMARY_PAGE = REPO_ROOT / "book" / "claims_summary.md"
REGENERATE = "python -m lrc_utils.book.claims"


# ----------------------------------------------------------------------------------------------------
# the one rule, and helpers


#: The rule every row of the table follows (:func:`lrc_utils.book.readings.rule_verdict`).
verdict_word = readings.rule_verdict


def count_verdict(n_hold: int, n_cases: int) -> str:
    """:func:`verdict_word` for a claim (reproduced, partly, not reproduced)."""
    return verdict_word(n_hold, n_cases, "paper")


def verdict(n_hold: int, n_cases: int, unit: str, group: str, note: str = "") -> str:
    """The verdict text of a row: :func:`verdict_word`, the count it was decided on and ``unit`` (what a case
    is), then ``note`` (what fails, or how the count was pooled), e.g. "partly: 20 of 24 cases"."""
    return f"{verdict_word(n_hold, n_cases, group)}: {n_hold} of {n_cases} {unit}" + (f"; {note}" if note else "")


def _check_columns(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """A clear error before any work when ``table`` is not a non-empty DataFrame with ``columns``."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lacks the columns {missing}; expected at least {list(columns)}, "
                         f"got {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{what} is empty; expected at least one row")


_label = readings.dataset_label


def _one_dataset(sweep: pd.DataFrame, what: str) -> None:
    datasets = sweep.dataset.unique().tolist()
    if len(datasets) != 1:
        raise ValueError(f"{what} must hold one dataset, got {datasets}")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _beta(value: float) -> str:
    return f"{value:.2g}"


def _no_rise(mean: pd.Series) -> str:
    return "the rank falls" if mean.iloc[-1] < mean.iloc[0] else "the rank does not change"


def _row(group: str, claim: str, chapter: str, conditions: str, criterion: str, n_hold: int, n_cases: int,
         unit: str, measured: str, note: str = "") -> dict:
    return dict(zip(COLUMNS, (group, claim, chapter, conditions, criterion,
                              verdict(n_hold, n_cases, unit, group, note), measured, n_hold, n_cases)))


def _power(value: float) -> str:
    return readings.power_text(value) if value != 0 else "0"


def mnist_split_text(split: str) -> str:
    """How a claims row names the MNIST split its runs trained on (``mnist_split``)."""
    return "MNIST trained on its training split" if split == "train" else "MNIST images from its test split only"


def figure1_conditions(p: dict, optimiser: str | None = None) -> str:
    """The training and tolerance of a Figure 1 table, from its parameters ``p``: optimiser, learning rate,
    weight decay, loss, steps per panel, tolerance and MNIST split. ``optimiser`` replaces the AdamW text built
    from ``p`` (another optimiser's name and settings)."""
    loss = {"cross_entropy": "cross-entropy", "softmax_cross_entropy": "softmax before the cross-entropy"}
    same = p["gauss_lr"] == p["mnist_lr"] and p["gauss_weight_decay"] == p["mnist_weight_decay"]
    rates = (f"lr {_power(p['mnist_lr'])}, weight decay {p['mnist_weight_decay']:g}" if same else
             f"lr {_power(p['gauss_lr'])} / {_power(p['mnist_lr'])}, weight decay "
             f"{p['gauss_weight_decay']:g} / {p['mnist_weight_decay']:g} (Gaussian / MNIST)")
    optimiser = optimiser or f"AdamW, {rates} on weight matrices"
    return (f"{optimiser}, {loss[p.get('loss', 'cross_entropy')]}, "
            f"{_power(p['gauss_steps'])} / {_power(p['mnist_steps'])} steps (Gaussian / MNIST); atol "
            f"{p['atol']:g}; {mnist_split_text(p['mnist_split'])}")


def vib_conditions(p: dict) -> str:
    """The training and tolerances of a Deep VIB sweep, from its parameters ``p``."""
    return (f"Adam lr {_power(p['lr'])}, beta1 {p['adam_beta1']:g}, no weight decay, {_power(p['steps'])} steps; "
            f"decided at the absolute tolerance atol {p['atol']:g}, the paper's definition; the relative tolerance "
            f"rtol {p['rtol']:g} reported beside it")


# ----------------------------------------------------------------------------------------------------
# the paper's claims


def figure1_claim(local_rank: pd.DataFrame, drop: float = 0.10, threshold: float = 0.99, conditions: str = "",
                  recipe: str = "", chapter: str = "figure1") -> dict:
    """Figure 1, local rank falls in the terminal phase in every layer: :func:`readings.terminal_phase_falls`
    per panel and hidden layer of the chapter's ``local_rank`` table (columns panel, seed, step, layer,
    local_rank, train_acc), on seed means; the cases are the layers, and the same criterion on every seed's own
    curve is counted beside them. ``recipe`` names the training recipe in the claim (e.g. "the first author's
    recipe"); ``chapter`` the notebook whose table it is."""
    _check_columns(local_rank, ("panel", "seed", "step", "layer", "local_rank", "train_acc"), "local_rank")
    falls = readings.terminal_phase_falls(local_rank, drop=drop, threshold=threshold)
    ok = falls["falls in terminal phase"]
    failing = falls[~ok]
    per_seed = readings.terminal_phase_falls_per_seed(local_rank, drop, threshold)
    note = ""
    if len(failing):
        groups = [f"{_label(panel)} layer{'s' if len(rows) > 1 else ''} {_and([str(x) for x in rows.layer])}"
                  for panel, rows in failing.groupby("panel", sort=False)]
        note = f"{_and(groups)} {'does' if len(failing) == 1 else 'do'} not fall"
    measured = f"seed means: {int(ok.sum())} of {len(falls)} layers fall"
    if ok.any():
        lo, hi = falls[ok]["fall from max (%)"].min(), falls[ok]["fall from max (%)"].max()
        measured += f", by {lo:.0f}% to {hi:.0f}%"
    measured += f"; per seed: {int(per_seed['falls in terminal phase'].sum())} of {len(per_seed)} (seed, layer) curves"
    measured += "".join(f"; {_label(r.panel)} layer {r.layer}: maximum {r['max']:.1f}, last {r['last']:.1f}"
                        for _, r in failing.iterrows())
    claim = "Local rank falls in the terminal phase of training, in every layer"
    return _row("paper", claim + (f" ({recipe})" if recipe else ""), chapter, conditions,
                f"per panel and layer: seed-mean rank at the last step at least {drop:.0%} below both its maximum "
                f"and its maximum after the fit ({threshold:.0%} training accuracy)",
                int(ok.sum()), len(falls), "layers", measured, note)


def _vib_relative_path(sweep: pd.DataFrame) -> str:
    """The relative-tolerance rank's path over beta (seed means): first value, lowest value before the encoder
    collapses (:func:`vib.collapse_beta`) and at which beta, last value."""
    mean = vib.seed_mean_over_beta(sweep, "local_rank_rel")
    before = mean[mean.index < vib.collapse_beta(sweep)]
    low = (f", lowest {before.min():.2f} at $\\beta$ {_beta(before.idxmin())} before the encoder collapses"
           if len(before) and before.min() < mean.iloc[0] else "")
    return f"{mean.iloc[0]:.2f}{low}, {mean.iloc[-1]:.2f} at the largest $\\beta$"


def _beside_note(sweep: pd.DataFrame, title: str = "") -> str:
    """``; <title>: <measure> a → b (direction), ...`` for the measures a VIB sweep table (one data set) records
    beside the two conventions (:func:`vib.beside_measures`): seed means at the smallest and largest beta, reported,
    not judged; empty without them."""
    parts = []
    for column, name in vib.beside_measures(sweep).items():
        mean = vib.seed_mean_over_beta(sweep, column)
        parts.append(f"{name} {mean.iloc[0]:.2f} → {mean.iloc[-1]:.2f} ({vib.direction(mean.iloc[0], mean.iloc[-1])})")
    return f"; reported beside them{' for ' + title if title else ''}: {', '.join(parts)}" if parts else ""


def figure2_claim(sweep: pd.DataFrame, jump_min_change: float, accuracy_min_drop: float, conditions: str = ""
                  ) -> dict:
    """Figure 2, Deep VIB on Gaussian data: local rank increases with beta through distinct phase transitions.

    ``sweep`` is the chapter's ``vib_sweep`` table (one dataset; columns beta, seed, test_acc, local_rank_abs,
    local_rank_rel). The phase transitions are the steps of the seed-mean test accuracy between neighbouring
    betas that drop by at least ``accuracy_min_drop`` (:func:`vib.sharp_steps`). Under a tolerance
    convention the claim holds when the seed-mean rank is higher at the largest beta than at the smallest and
    at least one of its sharp steps (a change of at least ``jump_min_change`` rank units) falls on a
    transition. The verdict is decided under the absolute tolerance (the paper's definition; one case, the
    data set); the relative tolerance's outcome is the note, with the measures recorded beside the two conventions
    (:func:`vib.beside_measures`: their seed means at the ends of the grid, reported, not judged)."""
    _check_columns(sweep, ("dataset", "seed", "beta", "test_acc", *CONVENTIONS), "vib_sweep")
    _one_dataset(sweep, "vib_sweep")
    drops = vib.sharp_steps(sweep, "test_acc", accuracy_min_drop)
    drops = drops[drops.change < 0]
    transitions = set(zip(drops.beta_from, drops.beta_to))
    failures, parts = {}, []
    for column, name in CONVENTIONS.items():
        mean = vib.seed_mean_over_beta(sweep, column)
        steps = vib.sharp_steps(sweep, column, jump_min_change)
        at_drop = sum((a, b) in transitions for a, b in zip(steps.beta_from, steps.beta_to))
        rises = bool(mean.iloc[-1] > mean.iloc[0])
        failures[name] = (_no_rise(mean) if not rises else
                          "no sharp step of the rank at a transition" if not at_drop else "")
        where = f" ($\\beta$ {_beta(steps.beta_from.min())}–{_beta(steps.beta_to.max())})" if len(steps) else ""
        plural = "s" * (len(steps) != 1)
        path = f"{mean.iloc[0]:.2f} → {mean.iloc[-1]:.2f}" if name == "absolute" else _vib_relative_path(sweep)
        parts.append(f"{name} {path}, {len(steps)} step{plural}{where}, {at_drop} at drops")
    where = ", ".join(f"{_beta(a)}–{_beta(b)}" for a, b in sorted(transitions))
    measured = (f"accuracy drops at $\\beta$ {where}; " if transitions else "no accuracy drop; ") + "; ".join(parts)
    absolute, relative = failures["absolute"], failures["relative"]
    note = (f"absolute tolerance: {absolute}; " if absolute else "") + (
        "relative tolerance: holds" if not relative else f"relative tolerance: {relative}") + _beside_note(sweep)
    return _row("paper", "Deep VIB on Gaussian data: local rank increases with $\\beta$, through distinct phase "
                "transitions", "figure2", conditions,
                "seed-mean rank higher at the largest $\\beta$ than at the smallest, with a step of at least "
                f"{jump_min_change:g} between neighbouring $\\beta$ where the test accuracy drops by at least "
                f"{accuracy_min_drop:g}; absolute tolerance",
                int(not absolute), 1, "data set", measured, note)


def figure3_claim(sweep: pd.DataFrame, conditions: str = "") -> dict:
    """Figure 3, Deep VIB on MNIST and Fashion-MNIST: "as beta increases, local rank increases and accuracy
    decreases". Per dataset of the chapter's ``vib_sweep`` table and tolerance convention, the claim holds
    when the seed-mean rank at the largest beta is above the one at the smallest and the seed-mean test
    accuracy is below (``accuracy falls`` of :func:`vib.vib_sweep_summary`). The cases are the data sets under
    the absolute tolerance (the paper's definition); the relative tolerance's count is the note, with the
    measures recorded beside the two conventions per data set (reported, not judged)."""
    _check_columns(sweep, ("dataset", "seed", "beta", "kl", "test_acc", *CONVENTIONS), "vib_sweep")
    datasets = list(dict.fromkeys(sweep.dataset))
    summary = vib.vib_sweep_summary(sweep, dict.fromkeys(datasets, 10)).set_index("dataset")
    failures = {name: {} for name in CONVENTIONS.values()}
    parts = []
    for dataset in datasets:
        part, s = sweep[sweep.dataset == dataset], summary.loc[dataset]
        ranks = []
        for column, name in CONVENTIONS.items():
            mean = vib.seed_mean_over_beta(part, column)
            rises = bool(mean.iloc[-1] > mean.iloc[0])
            failures[name][_label(dataset)] = (_no_rise(mean) if not rises else
                                               "the accuracy does not fall" if not s["accuracy falls"] else "")
            ranks.append(f"{name} {mean.iloc[0]:.1f} → {mean.iloc[-1]:.1f}")
        parts.append(f"{_label(dataset)}: accuracy {s['test acc at min beta']:.2f} → {s['test acc at max beta']:.2f}, "
                     f"rank {', '.join(ranks)}")
    measured = f"$\\beta$ {_beta(sweep.beta.min())} → {_beta(sweep.beta.max())}: " + "; ".join(parts)

    def outcome(name: str) -> str:
        fails = {d: why for d, why in failures[name].items() if why}
        held = len(datasets) - len(fails)
        return (f"{name} tolerance: holds in {held} of {len(datasets)}"
                + (f" ({'; '.join(f'{d}: {why}' for d, why in fails.items())})" if fails else ""))

    absolute = failures["absolute"]
    return _row("paper", "Deep VIB on MNIST and Fashion-MNIST: as $\\beta$ increases, local rank increases and "
                "accuracy decreases", "figure3", conditions,
                "per data set: seed-mean rank higher, and test accuracy lower, at the largest $\\beta$ than at the "
                "smallest; absolute tolerance",
                sum(not why for why in absolute.values()), len(absolute), "data sets", measured,
                outcome("absolute") + "; " + outcome("relative")
                + "".join(_beside_note(sweep[sweep.dataset == d], _label(d)) for d in datasets))


# ----------------------------------------------------------------------------------------------------
# the estimators' ground truths


def binning_claim(binning: pd.DataFrame, rel_tol: float = 0.01) -> dict:
    """Binning an injective layer gives ``I(X;T) = log N`` with fine bins: per (estimator, N, d) of the
    chapter's ``binning`` table, the estimate at its largest bin count lies within ``rel_tol`` (a fraction)
    of the truth ``log N`` (column truth)."""
    _check_columns(binning, ("estimator", "n", "d", "n_bins", "ixt", "truth"), "binning")
    finest = binning.loc[binning.groupby(["estimator", "n", "d"], sort=False).n_bins.idxmax()]
    ok = finest.ixt >= (1 - rel_tol) * finest.truth
    failing = finest[~ok]
    measured = f"{int(ok.sum())} of {len(finest)} cases"
    if len(failing):
        measured = "short of $\\log N$: " + "; ".join(
            f"{est.replace('_', ' ')} at $d$ = {d}, $N$ = {', '.join(str(n) for n in rows.n)} (by "
            f"{', '.join(f'{g:.2f}' for g in rows.truth - rows.ixt)} nats)"
            for (est, d), rows in failing.groupby(["estimator", "d"], sort=False))
    bins = sorted(finest.n_bins.unique())
    return _row("check", "Binning an injective layer gives $\\log N$ with fine bins", "mi_estimators",
                "injective data, N inputs in d dimensions", f"binning and adaptive binning at the finest bins "
                f"({_and([str(b) for b in bins])} per dimension) within {rel_tol:.0%} of $\\log N$",
                int(ok.sum()), len(finest), "cases", measured)


def channel_claim(channel: pd.DataFrame) -> dict:
    """The KDE bounds bracket the Gaussian channel's closed form where it lies below (1/2) log N: per
    (N, d, noise variance) of the chapter's ``gaussian_channel`` table with truth < log_n / 2, the rows
    ``kde lower`` and ``kde upper`` satisfy lower <= truth <= upper."""
    _check_columns(channel, ("estimator", "n", "d", "noise_var", "ixt", "truth", "log_n"), "gaussian_channel")
    keys = ["n", "d", "noise_var"]
    wide = channel.pivot_table(index=keys, columns="estimator", values="ixt")
    missing = [e for e in ("kde lower", "kde upper") if e not in wide.columns]
    if missing:
        raise ValueError(f"gaussian_channel lacks the estimator rows {missing}; expected 'kde lower' and 'kde upper'")
    truth = channel.groupby(keys).truth.first()
    below = truth < channel.groupby(keys).log_n.first() / 2
    if not below.any():
        raise ValueError("gaussian_channel has no case with its closed form below (1/2) log N: nothing to check")
    inside = (wide["kde lower"] <= truth) & (truth <= wide["kde upper"])
    n_hold, n_cases = int(inside[below].sum()), int(below.sum())
    return _row("check", "The KDE bounds bracket the Gaussian channel's $I(X;T)$ where it is below "
                "$\\tfrac12 \\log N$", "mi_estimators", "linear Gaussian channels, N samples",
                "KDE lower bound $\\le$ closed form $\\le$ upper bound", n_hold, n_cases, "cases",
                f"{n_hold} of {n_cases} cases below $\\tfrac12 \\log N$ ({len(truth)} in all)")


def mixture_claim(mixture: pd.DataFrame, n_stderr: float = 4.0) -> dict:
    """Monte Carlo mixture entropy lies between the KDE bounds: :func:`mi_estimators.monte_carlo_within_bounds` on
    every row of the chapter's ``mixture_entropy`` table."""
    _check_columns(mixture, ("kde_lower", "monte_carlo", "stderr", "kde_upper"), "mixture_entropy")
    inside = mi_estimators.monte_carlo_within_bounds(mixture, n_stderr=n_stderr)
    n_hold = int(inside.sum())
    return _row("check", "The Monte Carlo entropy of a Gaussian mixture lies between the KDE bounds", "mi_estimators",
                "Gaussian mixtures of N components", f"within {n_stderr:g} standard errors", n_hold, len(inside),
                "cases", f"{n_hold} of {len(inside)} cases")


def noisy_claim(noisy: pd.DataFrame, n_stderr: float = 4.0) -> dict:
    """Sample propagation's layer-1 conditional entropy h(T|X) of a noisy network equals the closed form: per
    row of layer 1 of the chapter's ``noisy_network`` table, ``|h_t_given_x - exact_h_t_given_x| <= n_stderr *
    stderr``. The table's ``stderr`` is that of the I(X;T) estimate, which includes h(T|X)'s."""
    _check_columns(noisy, ("n_samples", "layer", "stderr", "h_t_given_x", "exact_h_t_given_x"), "noisy_network")
    first = noisy[noisy.layer == 1]
    if first.empty or first.exact_h_t_given_x.isna().any():
        raise ValueError("noisy_network needs layer-1 rows with exact_h_t_given_x; got none or missing values")
    gap = (first.h_t_given_x - first.exact_h_t_given_x).abs()
    ok = gap <= n_stderr * first.stderr
    n_hold = int(ok.sum())
    return _row("check", "Sample propagation's layer-1 $h(T \\mid X)$ in a noisy network equals the closed form",
                "mi_estimators", "a random noisy tanh network", f"within {n_stderr:g} standard errors (those of the "
                "$I(X;T)$ estimate), for every number of samples per input", n_hold, len(first), "sample counts",
                f"{n_hold} of {len(first)} sample counts ({_and([str(n) for n in first.n_samples])}); largest gap "
                f"{gap.max():.4f} nats ({(gap / first.stderr).max():.2f} standard errors)")


# ----------------------------------------------------------------------------------------------------
# the information-plane studies (criteria and definitions in lrc_utils.book.chapters.information_planes.readings)

PLANE_COLUMNS = ("run", "seed", "activation", "l2", "epoch", "layer", "estimator", "ixt", "ity", "train_acc",
                 "test_acc")


def _compresses(counts: dict[str, tuple[int, int]]) -> str:
    return "; ".join(f"{e}: {n} of {total} layers compress" for e, (n, total) in counts.items())


def information_plane_claims(planes: pd.DataFrame, n_inputs: int, p: dict | None = None) -> list[dict]:
    """Claims (a)-(f) of the information-plane chapter, each by its function in
    :mod:`lrc_utils.book.chapters.information_planes.readings` on the chapter's ``planes`` table (X uniform
    over ``n_inputs`` patterns; ``p`` its parameters, for the conditions). The cases each verdict counts:
    (a) the layers not pinned at log N; (b) and (c) the (estimator, layer) pairs not pinned; (d) the untied
    (activation, adaptive estimator, layer) cells; (e) the cells where some seed compresses; (f) its two parts,
    the last layer's correlation and the other layers' absence of one."""
    _check_columns(planes, PLANE_COLUMNS, "planes")
    summary = compression.curve_summary(planes, n_inputs)
    verdicts = compression.layer_verdicts(summary)
    threshold = f"{compression.COMPRESSION_THRESHOLD:.0%}"
    chapter = "information_planes"
    p = p or {}
    seeds = f"{len(p['seeds'])} seeds, " if "seeds" in p else ""
    base = (f"12-bit task, network {'-'.join(str(w) for w in [12, *p['widths'], 2])}, Adam lr {_power(p['lr'])}, "
            f"{p['epochs']} epochs, {seeds}" if {"widths", "lr", "epochs"} <= set(p) else "12-bit task, ")
    rows = []
    a = compression.claim_fitting_then_compression(verdicts)
    rows.append(_row("others", "(a) Tanh layers under binning fit, then compress {cite:p}`shwartzziv2017opening`",
                     chapter, base + "tanh, no L2; their binning",
                     f"per layer not pinned at $\\log N$: ends {threshold} below its maximum $I(X;T)$ (median over "
                     "seeds), $I(T;Y)$ not falling before it", a["n_hold"], a["n_cases"], "layers",
                     f"{a['layers']} of {a['of']} layers (pinned at $\\log N$, not counted: {len(a['pinned'])})"))
    b = compression.claim_no_compression(verdicts)
    rows.append(_row("others", "(b) ReLU layers do not compress under fixed binning or the KDE bound "
                     "{cite:p}`saxe2018information`", chapter, base + "ReLU, no L2; their bin width and noise variance",
                     f"per (estimator, layer): does not end {threshold} below its maximum", b["n_hold"], b["n_cases"],
                     "(estimator, layer) pairs", _compresses(b["counts"])))
    c = compression.claim_adaptive_compression(verdicts)
    rows.append(_row("others", "(c) ReLU layers compress under adaptive estimators {cite:p}`chelombiev2019adaptive`",
                     chapter, base + "ReLU, no L2; adaptive binning and adaptive KDE",
                     f"per (adaptive estimator, layer not pinned): ends {threshold} below its maximum",
                     c["n_hold"], c["n_cases"], "(estimator, layer) pairs", _compresses(c["counts"])))
    d = compression.claim_l2_increases(verdicts)
    rows.append(_row("others", "(d) L2 regularisation increases compression {cite:p}`chelombiev2019adaptive`",
                     chapter, base + f"L2 {d['l2']:g} against none; adaptive estimators",
                     "per (activation, adaptive estimator, layer) cell: larger median relative compression with L2 "
                     "(ties left out)", d["n_hold"], d["n_cases"], "cells",
                     f"larger in {d['larger']} of {d['of']} cells, {d['ties']} ties"))
    e = compression.claim_varies_with_initialisation(summary)
    rows.append(_row("others", "(e) Compression varies across initialisations {cite:p}`chelombiev2019adaptive`",
                     chapter, base + "adaptive binning",
                     f"per cell where some seed compresses: range over seeds of relative compression at least "
                     f"{compression.SPREAD_THRESHOLD:g}", e["n_hold"], e["n_cases"], "cells",
                     f"median range {e['median_spread']:.2f} over {e['cells']} cells (largest {e['max_spread']:.2f})"))
    f = compression.claim_last_layer_generalisation(summary)
    rows.append(_row("others", "(f) Only last-layer compression correlates with generalisation "
                     "{cite:p}`chelombiev2019adaptive`", chapter, base + "adaptive binning; ranked within activation "
                     "and L2", "two parts: the last layer's Spearman correlation of relative compression with test "
                     f"accuracy across runs positive with p < {compression.ALPHA:g}; no other layer's with "
                     f"p < {compression.ALPHA:g}", f["n_hold"], f["n_cases"], "parts",
                     ", ".join(f"layer {int(r.layer)}: {r.rho:.2f} ({readings.p_value_text(r.p)})"
                               for r in f["table"].itertuples())))
    return rows


# ----------------------------------------------------------------------------------------------------
# noisy networks


def goldfeld_clustering_claim(table: pd.DataFrame, alpha: float = 0.05, p: dict | None = None) -> dict:
    """Goldfeld et al. (2019): compression of I(X;T_l) in a noisy network goes with clustering of its
    representations. Their claim is about the compression phase, so the criterion reads it there: on the
    chapter's ``noisy`` table (columns seed, step, layer, ixt, clustering), per hidden layer, Spearman's rank
    correlation between ``ixt`` and ``clustering`` over the steps from each seed's I(X;T_l) peak on is
    positive with p < ``alpha`` in every seed (:func:`clustering.clustering_by_layer`, ``phase="after_peak"``);
    the cases are the layers with a compression phase (a defined correlation there in some seed); where no layer
    has one, every layer is a case that does not hold (compression is not seen at all). The same
    correlation over every step (fitting phase included, not their claim) is reported beside it."""
    _check_columns(table, ("seed", "step", "layer", "ixt", "clustering"), "noisy")
    correlations = clustering.clustering_correlations(table)
    whole = clustering.clustering_by_layer(correlations, alpha, "all")
    after = clustering.clustering_by_layer(correlations, alpha, "after_peak")
    judged_layers = set(correlations.loc[correlations.rho_after_peak.notna(), "layer"])
    judged = after[after.layer.isin(judged_layers)]
    none_compress = judged.empty  # their claim is about compression: where no layer compresses it is not seen
    if none_compress:
        judged = after.assign(holds=False)
    seeds = int(after.seeds.max())
    rho = clustering.rho_text
    unjudged = [] if none_compress else [str(x) for x in after.layer if x not in judged_layers]
    measured = (f"from each seed's $I(X;T_l)$ peak on: median $\\rho$ per layer "
                f"{', '.join(rho(r) for r in after.median_rho)} ({seeds} seed{'s' * (seeds != 1)})"
                + (f"; not judged (no compression phase in any seed): layer{'s' * (len(unjudged) > 1)} "
                   f"{_and(unjudged)}" if unjudged else "")
                + f"; over every step, fitting included (not their claim): {int(whole.holds.sum())} of {len(whole)} "
                f"layers, median $\\rho$ {', '.join(rho(r) for r in whole.median_rho)}")
    p = p or {}
    conditions = (f"12-bit task, tanh network with noise {p['noise_std']:g} per unit, Adam lr "
                  f"{_power(p['lr'])}, weight decay {p['weight_decay']:g}, {_power(p['steps'])} steps"
                  if {"noise_std", "lr", "weight_decay", "steps"} <= set(p) else "")
    return _row("others", "Noisy networks: compression of $I(X;T_l)$ goes with clustering of the representations "
                "{cite:p}`goldfeld2019estimating`", "noisy_networks", conditions,
                f"per hidden layer, in the compression phase (from each seed's $I(X;T_l)$ peak on): Spearman $\\rho$ "
                f"between $I(X;T_l)$ and the clustering ratio (within- over between-class distance) positive with "
                f"$p < {alpha:g}$ in every seed (a seed without a compression phase counts against its layer); "
                "layers with no compression phase in any seed are not judged",
                int(judged.holds.sum()), len(judged), "layers", measured,
                "no layer has a compression phase in any seed" if none_compress else "")


# ----------------------------------------------------------------------------------------------------
# local rank and information


def information_bridge_claim(channel: pd.DataFrame, slope: pd.DataFrame, p: dict) -> dict:
    """The theory chapter's bridge: with noise sigma added to a layer, I(X;T) grows like (local rank) x
    log(1/sigma). Cases: each linear channel (closed form inside the KDE bounds where trusted,
    :func:`statements.channel_check`) and each random ReLU network (slope within ``slope_tolerance`` of the local
    rank, :func:`statements.slope_check`), with the chapter's parameters ``p``."""
    _check_columns(slope, ("bottleneck", "network_seed", "local_rank", "sigma", "kde_upper", "log_n"), "slope")
    chan = statements.channel_check(channel, p["info_margin"])
    slopes = statements.slope_check(slope, p["info_margin"], p["slope_tolerance"], p["slope_max_sigma"])
    n_hold, n_cases = int(chan.holds.sum() + slopes.holds.sum()), len(chan) + len(slopes)
    measured = (f"{int(chan.holds.sum())} of {len(chan)} linear channels inside the bounds; slopes against local "
                "ranks " + ", ".join(f"{r.slope:.2f} vs {r['local rank']:.2f}" for _, r in slopes.iterrows()))
    return _row("ours", "Lower local rank means compressed information: $I(X; p(X) + \\sigma Z)$ grows like the "
                "local rank times $\\log(1/\\sigma)$ (our statement of the paper's bridge)", "theory",
                f"untrained random networks; $\\sigma$ up to {p['slope_max_sigma']:g}",
                f"linear channels: closed form between the KDE bounds where the estimate is {p['info_margin']:g} nats "
                f"below log N; random ReLU bottleneck networks: fitted slope within {p['slope_tolerance']:.0%} of the "
                "local rank", n_hold, n_cases, "cases", measured)


def weight_decay_claim(spectrum: pd.DataFrame, p: dict) -> dict:
    """The theory chapter's weight-decay statement on its two trained networks: per panel and layer, at most 5%
    of the singular values that cross the tolerance do so earlier than predicted by weight decay alone
    (:func:`statements.decay_checks`). The criterion is one-sided (a direction still fed by the gradient may
    cross later): the measured text gives, beside it, the share of crossings within the tolerance on both
    sides."""
    _check_columns(spectrum, ("panel", "step", "layer", "index", "singular_value", "train_acc"), "spectrum")
    checks = statements.decay_checks(spectrum, SimpleNamespace(**p))
    crossing = checks[checks["crossing tol"] > 0]
    measured = "; ".join(f"{_label(r.panel)} layer {r.layer}: {r['crossing tol']} crossings, median observed / "
                         f"predicted {r['median observed / predicted']:.2f}, within $\\pm${p['decay_tolerance']:.0%} "
                         f"{r['within tol']:.2f}" for _, r in crossing.iterrows())
    return _row("ours", "Weight decay lowers rank late in training: a direction the gradient no longer feeds shrinks "
                "by $1 - \\eta\\lambda$ per step (our statement)", "theory", figure1_conditions(p),
                f"one-sided, per trained network and layer: at most 5% of the singular values crossing atol after "
                f"the fit take less than {1 - p['decay_tolerance']:.2f} x the steps weight decay alone predicts",
                int(checks.holds.sum()), len(checks), "layers", measured or "no singular value crossed atol")


def rank_information_claim(table: pd.DataFrame, terminal_gap: float, alpha: float, p: dict | None = None) -> dict:
    """The paper's thesis on the same runs: local rank and I(X;T) move together in the terminal phase. Cases:
    every (configuration, layer, estimator) whose rank and estimate both change in the terminal phase; a case
    holds when the Spearman rho pooled over the terminal-phase steps of all seeds is positive with p < ``alpha``
    (:func:`rank_information.terminal_correlations`). Beside it, per seed: the (case, seed) pairs whose own
    correlation is positive with p < ``alpha``."""
    _check_columns(table, ("run", "network", "seed", "step", "layer", "local_rank", "estimator", "ixt",
                           "train_acc"), "rank_information")
    corr = rank_information.terminal_correlations(table, terminal_gap, alpha)
    cases = corr[corr.together != "constant"]
    if cases.empty:
        raise ValueError("rank_information has no case where both the rank and the estimate change in the terminal "
                         "phase: nothing to judge")
    counts = corr.together.value_counts()
    measured = (f"pooled over seeds, of {len(corr)} cases: {counts.get('yes', 0)} together, "
                f"{counts.get('opposite', 0)} opposite, {counts.get('no', 0)} not significant, "
                f"{counts.get('constant', 0)} constant (rank or estimate unchanged in the terminal phase, not counted)")
    note = f"pooled over seeds; per seed: {int(cases['seeds +'].sum())} of {int(cases.seeds.sum())} (case, seed) pairs"
    p = p or {}
    conditions = ("12-bit networks (Adam, L2 0 or 0.015), noisy networks and Figure 1's MNIST network (AdamW lr "
                  f"{_power(p['mnist_lr'])}, weight decay {p['mnist_weight_decay']:g}); atol {p['atol']:g}; "
                  f"{mnist_split_text(p['mnist_split'])}"
                  if {"mnist_lr", "mnist_weight_decay", "atol", "mnist_split"} <= set(p) else "")
    return _row("paper", "Networks that lower local rank also compress $I(X;T_l)$: the two move together in the "
                "terminal phase (the paper's thesis, measured on the same runs)", "rank_and_information", conditions,
                f"per configuration, layer and estimator where both change: Spearman $\\rho$ over the terminal-phase "
                f"steps of all seeds, pooled, positive with $p < {alpha:g}$",
                int((cases.together == "yes").sum()), len(cases), "cases", measured, note)


# ----------------------------------------------------------------------------------------------------
# the table and its page


def _read(results_dir: Path, notebook: str, table: str) -> tuple[pd.DataFrame, dict]:
    """A committed table and the parameters it was computed with (its entry in ``meta.json``)."""
    frame, info = read_stored_table(results_dir / notebook, table)
    if "parameters" not in info:
        raise ValueError(f"{display_path(results_dir / notebook / 'meta.json')} records no parameters for table "
                         f"{table}")
    return frame, info["parameters"]


def _planes(results_dir: Path) -> tuple[pd.DataFrame, int, dict]:
    planes, parameters = _read(results_dir, "information_planes", "planes")
    return planes, int(parameters["mi_inputs"]), parameters


#: Notebook and preset of the first author's recipe, whose Figure 1 row is added when its results are stored
#: beside the preset's (``<results root>/author/figure1``).
AUTHOR_PRESET = "author"


def _figure1_rows(results_dir: Path) -> list[dict]:
    figure1_table, p1 = _read(results_dir, "figure1", "local_rank")
    author_dir = results_dir.parent / AUTHOR_PRESET
    with_author = results_dir.name != AUTHOR_PRESET and (author_dir / "figure1" / "meta.json").exists()
    rows = [figure1_claim(figure1_table, drop=0.10, threshold=0.99, conditions=figure1_conditions(p1),
                          recipe="our recipe" if with_author else "")]
    if with_author:
        author, pa = _read(author_dir, "figure1", "local_rank")
        rows.append(figure1_claim(author, drop=0.10, threshold=0.99, conditions=figure1_conditions(pa),
                                  recipe="the first author's recipe"))
    return rows


#: The mechanism chapter's arms without explicit weight decay, each a Figure 1 row of its own when
#: ``<results root>/mechanism`` is stored: the arm and the recipe its row names.
MECHANISM_ARMS = {"no-decay": "AdamW without weight decay", "sgd": "SGD with momentum, no weight decay",
                  "softmax-loss": "the first author's loss, AdamW without weight decay"}


def mechanism_conditions(p: dict, arm: str) -> str:
    """The training and tolerance of one arm of the mechanism chapter's table (parameters ``p``)."""
    optimiser, lr_name, weight_decay, loss = mechanism_study.ARMS[arm]
    arm_p = {**p, "gauss_weight_decay": weight_decay, "mnist_weight_decay": weight_decay, "loss": loss}
    if optimiser == "sgd":
        return figure1_conditions(arm_p, f"SGD, momentum {p['momentum']:g}, lr {_power(p[lr_name])}, "
                                         f"weight decay {weight_decay:g}")
    return figure1_conditions(arm_p)


def _mechanism_rows(results_dir: Path) -> list[dict]:
    """Figure 1's claim under each arm of :data:`MECHANISM_ARMS` that the stored mechanism table holds, judged as
    Figure 1's row (:func:`figure1_claim`) on the arm's rank at atol; none without stored results."""
    if not (results_dir / "mechanism" / "meta.json").exists():
        return []
    measures, p = _read(results_dir, "mechanism", "measures")
    unfit = mechanism_readings.unfitted_arms(measures, 0.99)
    rows = []
    for arm, recipe in MECHANISM_ARMS.items():
        if arm not in set(measures.arm):
            continue
        row = figure1_claim(measures[measures.arm == arm].rename(columns={"rank_atol": "local_rank"}), drop=0.10,
                            threshold=0.99, conditions=mechanism_conditions(p, arm), recipe=recipe,
                            chapter="mechanism")
        never = [_label(panel) for a, panel in sorted(unfit) if a == arm]
        if never:  # its layers there count as not falling: there is no terminal phase to fall in
            row["verdict"] += (f"; {_and(never)}: training accuracy never reaches 99% (no terminal phase; counted as "
                               "not falling)")
        rows.append(row)
    return rows


def _figure2_rows(results_dir: Path) -> list[dict]:
    figure2, p2 = _read(results_dir, "figure2", "vib_sweep")
    return [figure2_claim(figure2, p2["jump_min_change"], p2["accuracy_min_drop"], vib_conditions(p2))]


def _figure3_rows(results_dir: Path) -> list[dict]:
    figure3, p3 = _read(results_dir, "figure3", "vib_sweep")
    return [figure3_claim(figure3, vib_conditions(p3))]


def _rank_information_rows(results_dir: Path) -> list[dict]:
    ri, ri_p = _read(results_dir, "rank_and_information", "rank_information")
    return [rank_information_claim(ri, ri_p["terminal_gap"], ri_p["alpha"], ri_p)]


def _noisy_rows(results_dir: Path) -> list[dict]:
    noisy, noisy_p = _read(results_dir, "noisy_networks", "noisy")
    return [goldfeld_clustering_claim(noisy, 0.05, noisy_p)]


def _mi_rows(results_dir: Path) -> list[dict]:
    mi = {name: _read(results_dir, "mi_estimators", name)[0]
          for name in ("binning", "gaussian_channel", "mixture_entropy", "noisy_network")}
    return [binning_claim(mi["binning"]), channel_claim(mi["gaussian_channel"]),
            mixture_claim(mi["mixture_entropy"]), noisy_claim(mi["noisy_network"])]


def _theory_rows(results_dir: Path) -> list[dict]:
    theory_p = _read(results_dir, "theory", "slope")[1]
    return [information_bridge_claim(_read(results_dir, "theory", "channel")[0],
                                     _read(results_dir, "theory", "slope")[0], theory_p),
            weight_decay_claim(_read(results_dir, "theory", "spectrum")[0], theory_p)]


#: Each chapter that decides claims, with the function that reads its rows from a preset's results folder, in the
#: order of the table (within each group of :data:`GROUPS`).
CHAPTER_ROWS = {"figure1": _figure1_rows, "mechanism": _mechanism_rows, "figure2": _figure2_rows,
                "figure3": _figure3_rows,
                "rank_and_information": _rank_information_rows,
                "information_planes": lambda d: information_plane_claims(*_planes(d)),
                "noisy_networks": _noisy_rows, "mi_estimators": _mi_rows, "theory": _theory_rows}


def _results_folder(results_dir: str | Path) -> Path:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"{display_path(results_dir)} is not a folder; expected a preset's results folder "
                                f"such as results/paper")
    return results_dir


def claims_table(results_dir: str | Path = RESULTS_DIR / "paper", chapters: list[str] | None = None
                 ) -> pd.DataFrame:
    """Every claim the book tests, measured on the results of one preset (``results/<preset>``): a DataFrame
    with columns :data:`COLUMNS` (``chapter`` is the notebook's name), one row per claim, grouped as
    :data:`GROUPS` (the paper's claims first), each verdict by :func:`verdict`. Figure 1 under the first
    author's recipe is a row of its own when ``results/author/figure1`` is stored. ``chapters``: only the rows
    of these chapters (of :data:`CHAPTER_ROWS`; default: all), read from their own tables alone."""
    results_dir = _results_folder(results_dir)
    unknown = sorted(set(chapters or ()) - set(CHAPTER_ROWS))
    if unknown:
        raise ValueError(f"no claims are decided in chapters {unknown}; the chapters are {list(CHAPTER_ROWS)}")
    rows = [row for chapter, read in CHAPTER_ROWS.items() if chapters is None or chapter in chapters
            for row in read(results_dir)]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    order = {g: i for i, g in enumerate(GROUPS)}
    return table.sort_values("group", key=lambda g: g.map(order), kind="stable").reset_index(drop=True)


def answer_markdown(chapter: str, results_dir: str | Path) -> str:
    """A chapter's answer, for the box at the top of its page: :func:`answer_box_markdown` of its rows of
    :func:`claims_table` (read from the tables of ``results_dir``)."""
    return answer_box_markdown(claims_table(results_dir, [chapter]))


def answer_box_markdown(rows: pd.DataFrame) -> str:
    """One bullet per claim of ``rows`` (columns ``claim``, ``verdict``, ``conditions``): the claim, its verdict's
    word in bold, what was measured and, in parentheses, its conditions. The conditions' leading comma-separated
    items (a comma inside parentheses separates nothing) that every row shares, where there are two rows or more
    and two such items or more, are said once after the bullets, so that the box stays short."""
    conditions = [_top_level_items(str(c)) for c in rows.conditions]
    shared = 0
    if len(conditions) > 1:
        while all(len(c) > shared + 1 and c[shared] == conditions[0][shared] for c in conditions):
            shared += 1
    shared = shared if shared >= 2 else 0  # one shared item is said in each bullet
    lines = []
    for r, items in zip(rows.itertuples(), conditions):
        word, _, rest = r.verdict.partition(":")
        lines.append(f"* {_cell(r.claim)}: **{word}**{': ' + _cell(rest.strip()) if rest.strip() else ''} "
                     f"({_cell(', '.join(items[shared:]))}).")
    if shared:
        lines += ["", f"All under: {_cell(', '.join(conditions[0][:shared]))}."]
    return "\n".join(lines) + "\n"


def _top_level_items(text: str) -> list[str]:
    """``text`` split at its ", " separators outside parentheses."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(", ", i):
            items.append(text[start:i])
            start = i + 2
    return items + [text[start:]]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(table: pd.DataFrame) -> str:
    """The claims table as MyST Markdown: one table per group of :data:`GROUPS` under its heading in bold; the
    chapter as a ``{doc}`` link, the verdict's words in bold. Every verdict is checked against the rule
    (:func:`verdict_word` of its ``n_hold`` and ``n_cases``) first."""
    _check_columns(table, COLUMNS, "the claims table")
    blocks = []
    for group, rows in table.groupby("group", sort=False):
        if group not in GROUPS:
            raise ValueError(f"group {group!r} is not one of {list(GROUPS)}")
        lines = [f"**{GROUPS[group]}**", "", "| claim | tested in | conditions | criterion | verdict | measured |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for r in rows.itertuples():
            word, sep, rest = r.verdict.partition(":")
            if word != verdict_word(int(r.n_hold), int(r.n_cases), group):
                raise ValueError(f"verdict {r.verdict!r} is not what the rule gives for {r.n_hold} of {r.n_cases} "
                                 f"cases: {verdict_word(int(r.n_hold), int(r.n_cases), group)!r}")
            link = f"{{doc}}`{CHAPTER_LABELS.get(r.chapter, r.chapter)} </executed/{r.chapter}>`"
            cells = [_cell(r.claim), link, _cell(r.conditions), _cell(r.criterion), f"**{word}**{sep}{_cell(rest)}",
                     _cell(r.measured)]
            lines.append("| " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


#: How the summary above the tables names each of the paper's claims (by chapter).
SHORT = {"figure1": "Figure 1, local rank falls in the terminal phase in every layer",
         "mechanism": "Figure 1, local rank falls in the terminal phase in every layer",
         "figure2": "Figure 2, Deep VIB on Gaussian data: rank rises with $\\beta$ through phase transitions",
         "figure3": "Figure 3, Deep VIB on MNIST and Fashion-MNIST: rank rises and accuracy falls with $\\beta$",
         "rank_and_information": "Local rank and $I(X;T_l)$ move together in the terminal phase"}


def summary_markdown(table: pd.DataFrame) -> str:
    """One bullet per row of the paper's own claims: which holds, by the rule, under which conditions."""
    lines = ["**In short**, the paper's claims, each under the conditions we ran it in:", ""]
    for r in table[table.group == "paper"].itertuples():
        named = r.chapter in ("figure1", "mechanism") and r.claim.endswith(")")
        recipe = r.claim[r.claim.rfind("(") + 1:-1] if named else ""
        name = SHORT.get(r.chapter, r.claim) + (f", under {recipe}" if recipe else "")
        word, _, rest = r.verdict.partition(":")
        lines.append(f"* {name}: **{word}**{': ' + rest.strip() if rest.strip() else ''} ({_cell(r.conditions)}).")
    return "\n".join(lines) + "\n"


def _header(results_dir: Path) -> str:
    return (f"% Generated by `{REGENERATE}` from {display_path(Path(results_dir))}: do not edit by hand "
            f"(tests/test_claims.py checks it).\n\n")


def render(results_dir: str | Path = RESULTS_DIR / "paper", table: pd.DataFrame | None = None) -> str:
    """The text of ``book/claims_table.md``: a comment naming its generator, then :func:`claims_markdown` of
    ``table`` (default: :func:`claims_table` on ``results_dir``)."""
    return _header(results_dir) + claims_markdown(claims_table(results_dir) if table is None else table)


def render_summary(results_dir: str | Path = RESULTS_DIR / "paper", table: pd.DataFrame | None = None) -> str:
    """The text of ``book/claims_summary.md``: the generator's comment, then :func:`summary_markdown` of ``table``
    (default: :func:`claims_table` on ``results_dir``)."""
    return _header(results_dir) + summary_markdown(claims_table(results_dir) if table is None else table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.book.claims",
                                     description="Write the book's table of claims from the committed results.")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "paper", help="a preset's results folder")
    parser.add_argument("--out", type=Path, default=PAGE, help="the Markdown file of the tables to write")
    parser.add_argument("--summary-out", type=Path, default=SUMMARY_PAGE,
                        help="the Markdown file of the summary of the paper's claims to write")
    parser.add_argument("--figure-out", type=Path, default=SUMMARY_FIGURE,
                        help="the PNG of the summary figure (the paper's figure claims) to write")
    args = parser.parse_args(argv)
    table = claims_table(args.results)  # read once, written twice
    atomic_write_text(args.out, render(args.results, table))
    atomic_write_text(args.summary_out, render_summary(args.results, table))
    figure = write_summary_figure(args.results, table, args.figure_out)
    print(f"[lrc] wrote {display_path(args.out)}, {display_path(args.summary_out)} and {display_path(figure)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
