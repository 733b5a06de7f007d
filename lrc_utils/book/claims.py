"""The claims the book tests, each with its criterion and the verdict measured on the committed results.

One row per claim: the paper's three figures (terminal-phase fall of local rank, Deep VIB phase transitions on
Gaussian data, Deep VIB on MNIST and Fashion-MNIST), the ground truths of the mutual-information estimators, the
compression claims of the information-plane studies, Goldfeld et al.'s link between compression and
clustering in noisy networks, and the bridge between local rank and information (the theory chapter's
statements and the rank-and-information runs).
Every verdict is computed from the tables the chapters save (``results/<preset>/<notebook>/*.csv``) with the
chapters' own analysis functions (:mod:`lrc_utils.book.readings`) and the parameters the tables were computed with
(their ``meta.json``), so the table cannot disagree with the chapters. The book's introduction includes the
table as ``book/claims_table.md``, written by::

    python -m lrc_utils.book.claims

Verdicts: **reproduced** when the criterion holds in every case; **partly** when it holds in most cases (more
than half; for the VIB figures: under some but not all tolerance conventions), naming what fails; **not
reproduced** otherwise. Every function here is pure: tables in, a row (a dict) or a string out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from . import readings
from .chapters.figure1 import readings as figure1
from .chapters.information_planes import readings as compression
from .chapters.mi_estimators import readings as mi_estimators
from .chapters.noisy_networks import readings as clustering
from .chapters.rank_and_information import readings as rank_information
from .chapters.theory import readings as statements
from .chapters.vib import readings as vib
from .paths import REPO_ROOT, RESULTS_DIR
from .store import atomic_write_text, display_path, read_stored_table

#: The columns of :func:`claims_table`.
COLUMNS = ("claim", "chapter", "criterion", "verdict", "measured")
#: Link text of each chapter in the Markdown table (the link goes to ``/executed/<notebook>``).
CHAPTER_LABELS = {"figure1": "Figure 1", "figure2": "Figure 2", "figure3": "Figure 3",
                  "mi_estimators": "MI estimators", "information_planes": "Information planes",
                  "noisy_networks": "Noisy networks", "theory": "Theory",
                  "rank_and_information": "Rank and information"}
#: Names of panels and data sets as the chapters write them.
LABELS = {"gaussian": "Gaussian", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
#: The two tolerance conventions of the VIB sweep tables: column -> name.
CONVENTIONS = {"local_rank_abs": "absolute", "local_rank_rel": "relative"}
#: Where the book's table is written, and the command that writes it.
PAGE = REPO_ROOT / "book" / "claims_table.md"
REGENERATE = "python -m lrc_utils.book.claims"


# ----------------------------------------------------------------------------------------------------
# helpers


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


def _one_dataset(sweep: pd.DataFrame, what: str) -> None:
    datasets = sweep.dataset.unique().tolist()
    if len(datasets) != 1:
        raise ValueError(f"{what} must hold one dataset, got {datasets}")


def count_verdict(n_hold: int, n_cases: int) -> str:
    """``"reproduced"`` when all ``n_cases`` hold, ``"partly"`` when more than half do, else
    ``"not reproduced"``."""
    if n_cases < 1 or not 0 <= n_hold <= n_cases:
        raise ValueError(f"need 0 <= n_hold <= n_cases and n_cases >= 1, got n_hold={n_hold}, n_cases={n_cases}")
    return "reproduced" if n_hold == n_cases else "partly" if 2 * n_hold > n_cases else "not reproduced"


def _counted(n_hold: int, n_cases: int) -> str:
    """:func:`count_verdict` with the count after it unless every case holds, e.g. "partly: 20 of 24 cases"."""
    verdict = count_verdict(n_hold, n_cases)
    return verdict if n_hold == n_cases else f"{verdict}: {n_hold} of {n_cases} cases"


def _label(name: str) -> str:
    return LABELS.get(name, name)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _beta(value: float) -> str:
    return f"{value:.2g}"


def _no_rise(mean: pd.Series) -> str:
    return "the rank falls" if mean.iloc[-1] < mean.iloc[0] else "the rank does not change"


def _row(claim: str, chapter: str, criterion: str, verdict: str, measured: str) -> dict:
    return dict(zip(COLUMNS, (claim, chapter, criterion, verdict, measured)))


# ----------------------------------------------------------------------------------------------------
# the paper's figures


def figure1_claim(local_rank: pd.DataFrame, drop: float = 0.10, threshold: float = 0.99) -> dict:
    """Figure 1, local rank falls in the terminal phase in every layer: :func:`figure1.terminal_phase_falls`
    per panel and hidden layer of the chapter's ``local_rank`` table (columns panel, seed, step, layer,
    local_rank, train_acc). The verdict names the layers that do not fall."""
    _check_columns(local_rank, ("panel", "seed", "step", "layer", "local_rank", "train_acc"), "local_rank")
    falls = figure1.terminal_phase_falls(local_rank, drop=drop, threshold=threshold)
    ok = falls["falls in terminal phase"]
    failing = falls[~ok]
    verdict = count_verdict(int(ok.sum()), len(falls))
    if len(failing):
        groups = [f"{_label(panel)} layer{'s' if len(rows) > 1 else ''} {_and([str(x) for x in rows.layer])}"
                  for panel, rows in failing.groupby("panel", sort=False)]
        verdict += f": {_and(groups)} {'does' if len(failing) == 1 else 'do'} not fall"
    measured = f"{int(ok.sum())} of {len(falls)} layers fall"
    if ok.any():
        lo, hi = falls[ok]["fall from max (%)"].min(), falls[ok]["fall from max (%)"].max()
        measured += f", by {lo:.0f}% to {hi:.0f}%"
    measured += "".join(f"; {_label(r.panel)} layer {r.layer}: maximum {r['max']:.1f}, last {r['last']:.1f}"
                        for _, r in failing.iterrows())
    return _row("Local rank falls in the terminal phase of training, in every layer", "figure1",
                f"per panel and layer: seed-mean rank at the last step at least {drop:.0%} below both its maximum "
                f"and its maximum after the fit ({threshold:.0%} training accuracy)",
                verdict, measured)


def convention_verdict(failures: dict[tuple[str, str], str]) -> str:
    """The verdict over the cases of a VIB figure, keyed by (dataset label, or "" for one dataset; convention
    name) with the reason the claim fails there ("" where it holds): all hold, none, or some, named: "with the
    relative tolerance only" when the passing cases are exactly every dataset under some conventions."""
    if not failures:
        raise ValueError("need at least one (dataset, convention) case")
    if not any(failures.values()):
        return "reproduced"
    if all(failures.values()):
        return "not reproduced"
    conventions = list(dict.fromkeys(c for _, c in failures))
    whole = [c for c in conventions if not any(why for (_, c2), why in failures.items() if c2 == c)]
    if whole and all(why for (_, c), why in failures.items() if c not in whole):
        why = "; ".join(f"with the {c} tolerance {_and(sorted({w for (_, c2), w in failures.items() if c2 == c}))}"
                        for c in conventions if c not in whole)
        return f"partly: with the {_and(whole)} tolerance only ({why})"
    passing = [f"{d} ({c})" if d else c for (d, c), why in failures.items() if not why]
    return f"partly: only for {_and(passing)}"


def figure2_claim(sweep: pd.DataFrame, jump_min_change: float, accuracy_min_drop: float) -> dict:
    """Figure 2, Deep VIB on Gaussian data: local rank increases with beta through distinct phase transitions.

    ``sweep`` is the chapter's ``vib_sweep`` table (one dataset; columns beta, seed, test_acc, local_rank_abs,
    local_rank_rel). The phase transitions are the steps of the seed-mean test accuracy between neighbouring
    betas that drop by at least ``accuracy_min_drop`` (:func:`vib.sharp_steps`). Under a tolerance
    convention the claim holds when the seed-mean rank is higher at the largest beta than at the smallest and
    at least one of its sharp steps (a change of at least ``jump_min_change`` rank units) falls on a
    transition."""
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
        failures[("", name)] = (_no_rise(mean) if not rises else
                                "no sharp step of the rank at a transition" if not at_drop else "")
        where = f" ($\\beta$ {_beta(steps.beta_from.min())}–{_beta(steps.beta_to.max())})" if len(steps) else ""
        plural = "s" * (len(steps) != 1)
        parts.append(f"{name} {mean.iloc[0]:.2f} → {mean.iloc[-1]:.2f}, {len(steps)} step{plural}{where}, "
                     f"{at_drop} at drops")
    where = ", ".join(f"{_beta(a)}–{_beta(b)}" for a, b in sorted(transitions))
    measured = (f"accuracy drops at $\\beta$ {where}; " if transitions else "no accuracy drop; ") + "; ".join(parts)
    return _row("Deep VIB on Gaussian data: local rank increases with $\\beta$, through distinct phase transitions",
                "figure2",
f"per tolerance convention: seed-mean rank higher at the largest $\\beta$ than at the smallest, with "
                f"a step of at least {jump_min_change:g} between neighbouring $\\beta$ where the test accuracy "
                f"drops by at least {accuracy_min_drop:g}",
                convention_verdict(failures), measured)


def figure3_claim(sweep: pd.DataFrame) -> dict:
    """Figure 3, Deep VIB on MNIST and Fashion-MNIST: "as beta increases, local rank increases and accuracy
    decreases". Per dataset of the chapter's ``vib_sweep`` table and tolerance convention, the claim holds
    when the seed-mean rank at the largest beta is above the one at the smallest and the seed-mean test
    accuracy is below (``accuracy falls`` of :func:`vib.vib_sweep_summary`)."""
    _check_columns(sweep, ("dataset", "seed", "beta", "kl", "test_acc", *CONVENTIONS), "vib_sweep")
    datasets = list(dict.fromkeys(sweep.dataset))
    summary = vib.vib_sweep_summary(sweep, dict.fromkeys(datasets, 10)).set_index("dataset")
    failures, parts = {}, []
    for dataset in datasets:
        part, s = sweep[sweep.dataset == dataset], summary.loc[dataset]
        ranks = []
        for column, name in CONVENTIONS.items():
            mean = vib.seed_mean_over_beta(part, column)
            rises = bool(mean.iloc[-1] > mean.iloc[0])
            failures[(_label(dataset), name)] = (_no_rise(mean) if not rises else
                                                 "the accuracy does not fall" if not s["accuracy falls"] else "")
            ranks.append(f"{name} {mean.iloc[0]:.1f} → {mean.iloc[-1]:.1f}")
        parts.append(f"{_label(dataset)}: accuracy {s['test acc at min beta']:.2f} → {s['test acc at max beta']:.2f}, "
                     f"rank {', '.join(ranks)}")
    measured = f"$\\beta$ {_beta(sweep.beta.min())} → {_beta(sweep.beta.max())}: " + "; ".join(parts)
    return _row("Deep VIB on MNIST and Fashion-MNIST: as $\\beta$ increases, local rank increases and accuracy "
                "decreases", "figure3",
                "per data set and tolerance convention: seed-mean rank higher, and test accuracy lower, at the "
                "largest $\\beta$ than at the smallest",
                convention_verdict(failures), measured)


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
    return _row("Binning an injective layer gives $\\log N$ with fine bins", "mi_estimators",
                f"binning and adaptive binning at the finest bins ({_and([str(b) for b in bins])} per dimension) "
                f"within {rel_tol:.0%} of $\\log N$, for every $N$ and $d$",
                _counted(int(ok.sum()), len(finest)), measured)


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
    return _row("The KDE bounds bracket the Gaussian channel's $I(X;T)$ where it is below $\\tfrac12 \\log N$",
                "mi_estimators", "KDE lower bound $\\le$ closed form $\\le$ upper bound, in every such case",
                _counted(n_hold, n_cases),
                f"{n_hold} of {n_cases} cases below $\\tfrac12 \\log N$ ({len(truth)} in all)")


def mixture_claim(mixture: pd.DataFrame, n_stderr: float = 4.0) -> dict:
    """Monte Carlo mixture entropy lies between the KDE bounds: :func:`mi_estimators.monte_carlo_within_bounds` on
    every row of the chapter's ``mixture_entropy`` table."""
    _check_columns(mixture, ("kde_lower", "monte_carlo", "stderr", "kde_upper"), "mixture_entropy")
    inside = mi_estimators.monte_carlo_within_bounds(mixture, n_stderr=n_stderr)
    n_hold = int(inside.sum())
    return _row("The Monte Carlo entropy of a Gaussian mixture lies between the KDE bounds", "mi_estimators",
                f"within {n_stderr:g} standard errors, in every case",
                _counted(n_hold, len(inside)), f"{n_hold} of {len(inside)} cases")


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
    return _row("Sample propagation's layer-1 $h(T \\mid X)$ in a noisy network equals the closed form",
                "mi_estimators", f"within {n_stderr:g} standard errors (those of the $I(X;T)$ estimate), for every "
                                 "number of samples per input",
                _counted(n_hold, len(first)),
                f"{n_hold} of {len(first)} sample counts ({_and([str(n) for n in first.n_samples])}); largest gap "
                f"{gap.max():.4f} nats ({(gap / first.stderr).max():.2f} standard errors)")


# ----------------------------------------------------------------------------------------------------
# the information-plane studies (criteria and definitions in lrc_utils.book.chapters.information_planes.readings)

PLANE_COLUMNS = ("run", "seed", "activation", "l2", "epoch", "layer", "estimator", "ixt", "ity", "train_acc",
                 "test_acc")


def _compresses(counts: dict[str, tuple[int, int]]) -> str:
    return "; ".join(f"{e}: {n} of {total} layers compress" for e, (n, total) in counts.items())


def information_plane_claims(planes: pd.DataFrame, n_inputs: int) -> list[dict]:
    """Claims (a)-(f) of the information-plane chapter, each by its function in
    :mod:`lrc_utils.book.chapters.information_planes.readings`
    on the chapter's ``planes`` table (X uniform over ``n_inputs`` patterns)."""
    _check_columns(planes, PLANE_COLUMNS, "planes")
    summary = compression.curve_summary(planes, n_inputs)
    verdicts = compression.layer_verdicts(summary)
    threshold = f"{compression.COMPRESSION_THRESHOLD:.0%}"
    chapter = "information_planes"
    rows = []
    a = compression.claim_fitting_then_compression(verdicts)
    rows.append(_row("(a) Tanh layers under binning fit, then compress {cite:p}`shwartzziv2017opening`", chapter,
                     f"at least half of the layers not pinned at $\\log N$ end {threshold} below their maximum "
                     "$I(X;T)$ (median over seeds), $I(T;Y)$ not falling before it; their binning",
                     "reproduced" if a["holds"] else "partly" if a["layers"] else "not reproduced",
                     f"{a['layers']} of {a['of']} layers (pinned: {len(a['pinned'])})"))
    b = compression.claim_no_compression(verdicts)
    rows.append(_row("(b) ReLU layers do not compress under fixed binning or the KDE bound "
                     "{cite:p}`saxe2018information`", chapter,
                     f"no layer ends {threshold} below its maximum; their bin width and noise variance",
                     "reproduced" if b["holds"] else "not reproduced", _compresses(b["counts"])))
    c = compression.claim_adaptive_compression(verdicts)
    rows.append(_row("(c) ReLU layers compress under adaptive estimators {cite:p}`chelombiev2019adaptive`", chapter,
                     f"at least half of the layers not pinned end {threshold} below their maximum, under each "
                     "adaptive estimator",
                     "reproduced" if c["holds"] else "partly" if any(n for n, _ in c["counts"].values())
                     else "not reproduced", _compresses(c["counts"])))
    d = compression.claim_l2_increases(verdicts)
    rows.append(_row("(d) L2 regularisation increases compression {cite:p}`chelombiev2019adaptive`", chapter,
                     "larger median relative compression with L2 in at least 75% of the untied (activation, "
                     "adaptive estimator, layer) cells",
                     "reproduced" if d["holds"] else _counted(d["larger"], d["of"]),
                     f"larger in {d['larger']} of {d['of']} cells, {d['ties']} ties (L2 = {d['l2']:g})"))
    e = compression.claim_varies_with_initialisation(summary)
    rows.append(_row("(e) Compression varies across initialisations {cite:p}`chelombiev2019adaptive`", chapter,
                     f"median range over seeds of relative compression at least {compression.SPREAD_THRESHOLD:g}, "
                     "over the cells where some seed compresses; adaptive binning",
                     "reproduced" if e["holds"] else "not reproduced",
                     f"median range {e['median_spread']:.2f} over {e['cells']} cells (largest {e['max_spread']:.2f})"))
    f = compression.claim_last_layer_generalisation(summary)
    rows.append(_row("(f) Only last-layer compression correlates with generalisation "
                     "{cite:p}`chelombiev2019adaptive`", chapter,
                     "Spearman correlation across runs of relative compression (adaptive binning) with test accuracy, "
                     f"ranked within activation and L2: last layer positive with p < {compression.ALPHA:g}, no "
                     f"other layer p < {compression.ALPHA:g}",
                     "reproduced" if f["holds"] else "partly" if f["last_holds"] else "not reproduced",
                     ", ".join(f"layer {int(r.layer)}: {r.rho:.2f} ({readings.p_value_text(r.p)})"
                               for r in f["table"].itertuples())))
    return rows
# noisy networks


def goldfeld_clustering_claim(table: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Goldfeld et al. (2019): compression of I(X;T_l) in a noisy network goes with clustering of its
    representations. On the chapter's ``noisy`` table (columns seed, step, layer, ixt, clustering), per hidden
    layer: the claim holds when Spearman's rank correlation over the training steps between ``ixt`` and
    ``clustering`` is positive with p < ``alpha`` in every seed (:func:`clustering.clustering_by_layer`); the
    verdict counts the layers (:func:`count_verdict`). The measured text also gives the same count from each
    seed's I(X;T_l) peak on (the compression phase), which the criterion does not use."""
    _check_columns(table, ("seed", "step", "layer", "ixt", "clustering"), "noisy")
    correlations = clustering.clustering_correlations(table)
    whole = clustering.clustering_by_layer(correlations, alpha, "all")
    after = clustering.clustering_by_layer(correlations, alpha, "after_peak")
    n_hold = int(whole.holds.sum())
    verdict = count_verdict(n_hold, len(whole))
    if 0 < n_hold < len(whole):
        held = [str(x) for x in whole.layer[whole.holds]]
        verdict += f": holds in layer{'s' if len(held) > 1 else ''} {_and(held)} only, of {len(whole)}"
    elif n_hold == 0:
        verdict += f": holds in no layer, of {len(whole)}"
    seeds = int(whole.seeds.max())
    measured = (f"over every step: {n_hold} of {len(whole)} layers ({seeds} seed{'s' * (seeds != 1)}), median "
                f"$\\rho$ per layer {', '.join(f'{r:+.2f}' for r in whole.median_rho)}; from each seed's $I(X;T_l)$ "
                f"peak on (not the criterion): {int(after.holds.sum())} of {len(after)} layers, median $\\rho$ "
                f"{', '.join(f'{r:+.2f}' for r in after.median_rho)}")
    return _row("Noisy networks: compression of $I(X;T_l)$ goes with clustering of the representations "
                "{cite:p}`goldfeld2019estimating`", "noisy_networks",
                f"per hidden layer: Spearman $\\rho$ over training steps between $I(X;T_l)$ and the clustering ratio "
                f"(within- over between-class distance) positive with $p < {alpha:g}$ in every seed",
                verdict, measured)


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
    return _row("Lower local rank means compressed information: $I(X; p(X) + \\sigma Z)$ grows like the local "
                "rank times $\\log(1/\\sigma)$ (our statement of the paper's bridge)", "theory",
                f"linear channels: closed form between the KDE bounds where the estimate is {p['info_margin']:g} nats "
                f"below log N; random ReLU bottleneck networks: fitted slope within {p['slope_tolerance']:.0%} of the "
                "local rank", _counted(n_hold, n_cases), measured)


def weight_decay_claim(spectrum: pd.DataFrame, p: dict) -> dict:
    """The theory chapter's weight-decay statement on its two trained networks: per panel and layer, at most 5%
    of the singular values that cross the tolerance do so earlier than predicted by weight decay alone
    (:func:`statements.decay_checks`)."""
    _check_columns(spectrum, ("panel", "step", "layer", "index", "singular_value", "train_acc"), "spectrum")
    checks = statements.decay_checks(spectrum, SimpleNamespace(**p))
    crossing = checks[checks["crossing tol"] > 0]
    measured = "; ".join(f"{_label(r.panel)} layer {r.layer}: {r['crossing tol']} crossings, median observed / "
                         f"predicted {r['median observed / predicted']:.2f}" for _, r in crossing.iterrows())
    return _row("Weight decay lowers rank late in training: a direction the gradient no longer feeds shrinks by "
                "$1 - \\eta\\lambda$ per step (our statement)", "theory",
                f"per trained network and layer: at most 5% of the singular values crossing atol after the fit take "
                f"less than {1 - p['decay_tolerance']:.2f} x the steps weight decay alone predicts",
                _counted(int(checks.holds.sum()), len(checks)), measured or "no singular value crossed atol")


def rank_information_claim(table: pd.DataFrame, terminal_gap: float, alpha: float) -> dict:
    """The paper's thesis on the same runs: local rank and I(X;T) move together in the terminal phase. Cases:
    every (configuration, layer, estimator) whose rank and estimate both change in the terminal phase; a case
    holds when the pooled Spearman rho is positive with p < ``alpha``
    (:func:`rank_information.terminal_correlations`)."""
    _check_columns(table, ("run", "network", "seed", "step", "layer", "local_rank", "estimator", "ixt",
                           "train_acc"), "rank_information")
    corr = rank_information.terminal_correlations(table, terminal_gap, alpha)
    cases = corr[corr.together != "constant"]
    counts = corr.together.value_counts()
    measured = (f"of {len(corr)} cases: {counts.get('yes', 0)} together, {counts.get('opposite', 0)} opposite, "
                f"{counts.get('no', 0)} not significant, {counts.get('constant', 0)} constant (rank or estimate "
                f"unchanged in the terminal phase, not counted)")
    verdict = _counted(int((cases.together == "yes").sum()), len(cases)) if len(cases) else "not reproduced"
    return _row("Networks that lower local rank also compress $I(X;T_l)$: the two move together in the terminal "
                "phase (the paper's thesis, measured on the same runs)", "rank_and_information",
                f"per configuration, layer and estimator where both change: Spearman $\\rho$ over the terminal-phase "
                f"steps of all seeds positive with $p < {alpha:g}$", verdict, measured)


# ----------------------------------------------------------------------------------------------------
# the table and its page


def _read(results_dir: Path, notebook: str, table: str) -> tuple[pd.DataFrame, dict]:
    """A committed table and the parameters it was computed with (its entry in ``meta.json``)."""
    frame, info = read_stored_table(results_dir / notebook, table)
    if "parameters" not in info:
        raise ValueError(f"{display_path(results_dir / notebook / 'meta.json')} records no parameters for table "
                         f"{table}")
    return frame, info["parameters"]


def _planes(results_dir: Path) -> tuple[pd.DataFrame, int]:
    planes, parameters = _read(results_dir, "information_planes", "planes")
    return planes, int(parameters["mi_inputs"])


def claims_table(results_dir: str | Path = RESULTS_DIR / "paper") -> pd.DataFrame:
    """Every claim the book tests, measured on the results of one preset (``results/<preset>``): a DataFrame
    with columns :data:`COLUMNS` (``chapter`` is the notebook's name), one row per claim, in book order."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"{display_path(results_dir)} is not a folder; expected a preset's results folder "
                                f"such as results/paper")
    figure1, _ = _read(results_dir, "figure1", "local_rank")
    figure2, p2 = _read(results_dir, "figure2", "vib_sweep")
    figure3, _ = _read(results_dir, "figure3", "vib_sweep")
    mi = {name: _read(results_dir, "mi_estimators", name)[0]
          for name in ("binning", "gaussian_channel", "mixture_entropy", "noisy_network")}
    rows = [figure1_claim(figure1, drop=0.10, threshold=0.99),
            figure2_claim(figure2, p2["jump_min_change"], p2["accuracy_min_drop"]),
            figure3_claim(figure3),
            binning_claim(mi["binning"]), channel_claim(mi["gaussian_channel"]),
            mixture_claim(mi["mixture_entropy"]), noisy_claim(mi["noisy_network"]),
            *information_plane_claims(*_planes(results_dir)),
            goldfeld_clustering_claim(_read(results_dir, "noisy_networks", "noisy")[0])]
    theory_p = _read(results_dir, "theory", "slope")[1]
    rows += [information_bridge_claim(_read(results_dir, "theory", "channel")[0],
                                      _read(results_dir, "theory", "slope")[0], theory_p),
             weight_decay_claim(_read(results_dir, "theory", "spectrum")[0], theory_p)]
    ri, ri_p = _read(results_dir, "rank_and_information", "rank_information")
    rows.append(rank_information_claim(ri, ri_p["terminal_gap"], ri_p["alpha"]))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(table: pd.DataFrame) -> str:
    """The claims table as a MyST Markdown table: the chapter as a ``{doc}`` link, the verdict's first words
    (reproduced, partly, not reproduced) in bold."""
    _check_columns(table, COLUMNS, "the claims table")
    lines = ["| claim | tested in | criterion | verdict | measured |", "| --- | --- | --- | --- | --- |"]
    for r in table.itertuples():
        word, sep, rest = r.verdict.partition(":")
        if word not in ("reproduced", "partly", "not reproduced"):
            raise ValueError(f"verdict {r.verdict!r} does not start with reproduced, partly or not reproduced")
        link = f"{{doc}}`{CHAPTER_LABELS.get(r.chapter, r.chapter)} </executed/{r.chapter}>`"
        cells = [_cell(r.claim), link, _cell(r.criterion), f"**{word}**{sep}{_cell(rest)}", _cell(r.measured)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render(results_dir: str | Path = RESULTS_DIR / "paper") -> str:
    """The text of ``book/claims_table.md``: a comment naming its generator, then :func:`claims_markdown` of
    :func:`claims_table` on ``results_dir``."""
    return (f"% Generated by `{REGENERATE}` from {display_path(Path(results_dir))}: do not edit by hand "
            f"(tests/test_claims.py checks it).\n\n" + claims_markdown(claims_table(results_dir)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.book.claims",
                                     description="Write the book's table of claims from the committed results.")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "paper", help="a preset's results folder")
    parser.add_argument("--out", type=Path, default=PAGE, help="the Markdown file to write")
    args = parser.parse_args(argv)
    atomic_write_text(args.out, render(args.results))
    print(f"[lrc] wrote {display_path(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
