"""Figures 2 and 3 (Deep VIB): readings of the study's tables (pure functions: tables in, tables or text out)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...readings import power_text

#: The bottleneck's measures reported beside the two tolerance conventions, and their names (the book's one place
#: for them: figures and claims read it): the rank against the encoder's own noise, whose threshold the encoder's
#: scale sets per unit of the standardised input (:func:`lrc_utils.vib.noise_resolved_rank`), and the effective
#: rank, which has none (:func:`lrc_utils.local_rank.effective_rank`).
MEASURES_BESIDE = {"local_rank_noise": "rank against the encoder's noise", "effective_rank": "effective rank"}


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
    way = direction(first, last)
    steps = ", ".join(f"{r.beta_from:.3g} to {r.beta_to:.3g} ({r.change:+.2f})"
                      for r in sharp_steps(sweep, column, min_change).itertuples())
    return (f"**{label}**: {first:.2f} at beta = {mean.index[0]:.3g}, {last:.2f} at beta = {mean.index[-1]:.3g}: "
            f"the rank **{way}** with beta; sharp steps (|change| >= {min_change:g}) between beta = "
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


def collapse_beta(sweep: pd.DataFrame, margin: float = 0.01) -> float:
    """The smallest beta of a VIB sweep table (one dataset) from which on the seed-mean test accuracy stays
    within ``margin`` of its value at the largest beta: where the encoder has collapsed."""
    acc = seed_mean_over_beta(sweep, "test_acc")
    off = acc[(acc - acc.iloc[-1]).abs() > margin]
    return float(acc.index[-1] if off.empty else acc.index[acc.index > off.index.max()].min())


def accuracy_plateaus(sweep: pd.DataFrame, min_drop: float) -> list[float]:
    """The seed-mean test accuracy of a VIB sweep table (one dataset) averaged over each stretch of the beta
    grid between its sharp drops (falls of at least ``min_drop`` between neighbouring betas), smallest beta
    first."""
    acc = seed_mean_over_beta(sweep, "test_acc")
    drops = sharp_steps(sweep, "test_acc", min_drop).query("change < 0")
    edges = [acc.index.min(), *drops.beta_to, float("inf")]
    return [float(acc[(acc.index >= lo) & (acc.index < hi)].mean()) for lo, hi in zip(edges, edges[1:])]


def tolerance_curve(tolerance: pd.DataFrame, dataset: str, convention: str, tol: float) -> pd.Series:
    """The seed-mean local rank per beta (ascending) of the ``tolerance`` table at one dataset, convention
    (``absolute``/``relative``) and tolerance."""
    rows = tolerance[(tolerance.dataset == dataset) & (tolerance.convention == convention)
                     & np.isclose(tolerance.tolerance, tol)]
    return rows.groupby("beta").local_rank.mean().sort_index()


def count_phrase(count: float, latent_dim: int) -> str:
    """A seed-mean count of directions as words: ``all 8 directions`` when it is ``latent_dim``, else
    ``7.98 or more of the 8 directions`` (for a minimum)."""
    if count >= latent_dim:
        return f"all {latent_dim} directions"
    return f"{count:.2f} or more of the {latent_dim} directions"


def fast_rise_md(sweep: pd.DataFrame, column: str) -> str:
    """Where the seed-mean ``column`` of a VIB sweep table (one dataset) rises faster than its average step from
    the smallest to the largest beta: ``1.6 to 6.7 per grid point between β ≈ 0.1 and 1``
    (the smallest and largest of those steps, from the first one's beta to the last one's)."""
    mean = seed_mean_over_beta(sweep, column)
    average = (mean.iloc[-1] - mean.iloc[0]) / (len(mean) - 1)
    steps = sharp_steps(sweep, column, abs(average)).query("change > 0")
    if steps.empty:
        return "no faster steps"
    return (f"{steps.change.min():.1f} to {steps.change.max():.1f} per grid point between "
            f"\u03b2 \u2248 {steps.beta_from.iloc[0]:.2g} and {steps.beta_to.iloc[-1]:.2g}")


def steps_md(steps: pd.DataFrame) -> str:
    """The rows of :func:`sharp_steps` as text: ``β = 0.42 to 0.56 (-0.62), ...``."""
    return ", ".join(f"\u03b2 = {r.beta_from:.2g} to {r.beta_to:.2g} ({r.change:+.2f})"
                     for r in steps.itertuples()) or "none"


def _at(series: pd.Series, position: int) -> float:
    """``series.iloc[position]`` as a float, NaN where the series is empty (a tolerance or beta a short preset did
    not compute): the prose then reads "nan" instead of the notebook failing."""
    return float(series.iloc[position]) if len(series) else float("nan")


def figure2_prose_numbers(tables: dict[str, pd.DataFrame], p, small_atols: tuple[float, float] = (1e-3, 1e-2),
                          max_small_rtol: float = 1e-2, margin: float = 0.01) -> dict[str, float | int | str]:
    """The numbers Figure 2's prose quotes, from the study's ``tables`` (``vib_sweep``, ``spectrum``,
    ``tolerance``; one dataset) and the notebook's parameters ``p`` (``jump_min_change``, ``accuracy_min_drop``,
    ``latent_dim``, ``lr``, ``lr_final_ratio``, ``separations``). Ranks are seed means (directions of the
    bottleneck), betas grid values. Keys (``fig2_`` prefix):

    * ``abs_first``, ``abs_last``: the rank at ``atol`` at the smallest and the largest beta;
      ``abs_steps_from``, ``abs_steps_to``: the beta before the first and after the last of its sharp steps
      (:func:`sharp_steps` with ``jump_min_change``); ``abs_step_min``, ``abs_step_max``: the smallest and
      largest size of those steps (rank units per grid point).
    * ``acc_plateau``, ``acc_plateau_2``: the mean test accuracy over the first and second stretch of the grid
      between sharp drops of at least ``accuracy_min_drop`` (:func:`accuracy_plateaus`).
    * ``collapse_beta``: the beta from which on the accuracy stays within ``margin`` of its final, chance value
      (:func:`collapse_beta`); ``s1_collapsed``: the mean largest singular value of the bottleneck Jacobian
      over those betas.
    * ``rel_first``, ``rel_last``: the rank at ``rtol`` at the smallest and the largest beta; ``rel_min``,
      ``rel_min_beta``: its minimum and where; ``rel_jump_from``, ``rel_jump_to``: the betas at the ends of
      the run of consecutive sharp rises around its largest rise; ``rel_jump_steps``: the grid steps of that run;
      ``rel_jump_value``: the rank at its end; ``rel_sharp_md``: all its sharp steps (Markdown);
      ``rel_sharp_count``: how many.
    * ``atol_small_md``: the smallest rank at the first of ``small_atols`` over all betas, as words
      (:func:`count_phrase`); ``atol_mid_collapsed``: the mean rank at the second over the collapsed betas;
      ``rtol_small_md``: the smallest rank at any relative tolerance <= ``max_small_rtol``, as words.
    * ``lr_final_md``: the final learning rate ``lr`` x ``lr_final_ratio`` (text); ``separation_error_<i>``
      (i = 1, 2, ...): the Bayes error of the i-th binary distinction, Phi(-s_i / 2) for separation s_i and
      unit noise (a fraction).
    """
    sweep, spectrum, tolerance = tables["vib_sweep"], tables["spectrum"], tables["tolerance"]
    dataset = sweep.dataset.iloc[0]
    absolute, relative = seed_mean_over_beta(sweep, "local_rank_abs"), seed_mean_over_beta(sweep, "local_rank_rel")
    abs_steps = sharp_steps(sweep, "local_rank_abs", p.jump_min_change)
    rel_steps = sharp_steps(sweep, "local_rank_rel", p.jump_min_change)
    plateaus = accuracy_plateaus(sweep, p.accuracy_min_drop)
    collapsed = collapse_beta(sweep, margin)
    s1 = spectrum[spectrum["index"] == 1].groupby("beta").singular_value.mean()
    changes = relative.diff()
    top = int(np.argmax(changes.fillna(-np.inf).to_numpy()))  # the end of the largest rise
    start, end = top, top
    while start - 1 >= 1 and changes.iloc[start - 1] >= p.jump_min_change:
        start -= 1
    while end + 1 < len(changes) and changes.iloc[end + 1] >= p.jump_min_change:
        end += 1
    first_small, second_small = small_atols
    rtol_small = [t for t in tolerance[tolerance.convention == "relative"].tolerance.unique() if t <= max_small_rtol]
    rtol_small_min = min(tolerance_curve(tolerance, dataset, "relative", t).min() for t in rtol_small)
    mid = tolerance_curve(tolerance, dataset, "absolute", second_small)
    numbers = {
        "fig2_abs_first": _at(absolute, 0), "fig2_abs_last": _at(absolute, -1),
        "fig2_abs_steps_from": _at(abs_steps.beta_from, 0) if len(abs_steps) else float("nan"),
        "fig2_abs_steps_to": _at(abs_steps.beta_to, -1) if len(abs_steps) else float("nan"),
        "fig2_abs_step_min": float(abs_steps.change.abs().min()) if len(abs_steps) else float("nan"),
        "fig2_abs_step_max": float(abs_steps.change.abs().max()) if len(abs_steps) else float("nan"),
        "fig2_acc_plateau": plateaus[0],
        "fig2_acc_plateau_2": plateaus[1] if len(plateaus) > 1 else float("nan"),
        "fig2_collapse_beta": collapsed,
        "fig2_s1_collapsed": float(s1[s1.index >= collapsed].mean()),
        "fig2_rel_first": _at(relative, 0), "fig2_rel_last": _at(relative, -1),
        "fig2_rel_min": float(relative.min()),
        "fig2_rel_min_beta": float(relative.idxmin()) if len(relative) else float("nan"),
        "fig2_rel_jump_from": float(relative.index[start - 1]), "fig2_rel_jump_to": float(relative.index[end]),
        "fig2_rel_jump_steps": int(end - start + 1), "fig2_rel_jump_value": _at(relative, end),
        "fig2_rel_sharp_md": steps_md(rel_steps), "fig2_rel_sharp_count": int(len(rel_steps)),
        "fig2_atol_small_md": count_phrase(float(tolerance_curve(tolerance, dataset, "absolute", first_small).min()),
                                           int(p.latent_dim)),
        "fig2_atol_mid_collapsed": float(mid[mid.index >= collapsed].mean()),
        "fig2_rtol_small_md": count_phrase(float(rtol_small_min), int(p.latent_dim)),
        "fig2_lr_final_md": power_text(p.lr * p.lr_final_ratio),
    }
    for i, separation in enumerate(p.separations, start=1):
        numbers[f"fig2_separation_error_{i}"] = 0.5 * math.erfc(separation / 2 / math.sqrt(2))
    return numbers


def figure3_prose_numbers(tables: dict[str, pd.DataFrame], p, accuracy_min_drop: float = 0.1,
                          small_atols: tuple[float, float] = (1e-3, 1e-2), max_small_rtol: float = 1e-2,
                          high_rtol: float = 0.3, margin: float = 0.01) -> dict[str, float | int | str]:
    """The numbers Figure 3's prose quotes, from the study's ``tables`` (``vib_sweep``, ``spectrum``,
    ``tolerance``; datasets ``mnist`` and ``fashion_mnist``) and the notebook's parameters ``p``
    (``latent_dim``, ``steps``, ``batch_size``, ``n_train``, ``lr``, ``lr_final_ratio``). Ranks are seed means
    (directions of the bottleneck), betas grid values. Keys (``fig3_`` prefix; ``<d>`` is the dataset):

    * ``<d>_abs_first``: the rank at ``atol`` at the smallest beta; ``<d>_collapse_beta``: the beta from which
      on the accuracy stays within ``margin`` of its final, chance value (:func:`collapse_beta`);
      ``<d>_abs_collapsed``: the mean rank at ``atol`` over those betas.
    * ``<d>_abs_largest_step``: the size of the largest fall of that rank between neighbouring betas;
      ``<d>_abs_mean_step``: its mean fall per grid point from the smallest beta to the start of that largest
      fall; ``abs_largest_md``: the betas of the largest fall, for both datasets (text).
    * ``<d>_acc_plateau``: the mean test accuracy over the betas before its first sharp drop (at least
      ``accuracy_min_drop``, :func:`accuracy_plateaus`).
    * ``<d>_s1_collapsed``: the mean largest singular value of the bottleneck Jacobian over the collapsed betas;
      ``collapsed_sv_min``, ``collapsed_sv_max``: the smallest and largest mean singular value (any index,
      both datasets) there.
    * ``<d>_rel_first``: the rank at ``rtol`` at the smallest beta; ``<d>_rel_last_md``: at the largest, as
      Markdown (``32 (all of $K$)`` when it is ``latent_dim``); ``<d>_rel_fast_md``: where it rises faster than
      its average step (:func:`fast_rise_md`).
    * ``atol_small_md``: the smallest rank at either of ``small_atols`` over all betas and datasets, as words
      (:func:`count_phrase`); ``rtol_small_md``: the same at relative tolerances <= ``max_small_rtol``.
    * ``<d>_rtol_high_first``, ``<d>_rtol_high_min``, ``<d>_rtol_high_last``: the rank at relative tolerance
      ``high_rtol`` at the smallest beta, at its minimum and at the largest beta.
    * ``epochs``: ``steps`` x ``batch_size`` / ``n_train``; ``lr_final_md``: ``lr`` x ``lr_final_ratio`` (text).
    """
    sweep, spectrum, tolerance = tables["vib_sweep"], tables["spectrum"], tables["tolerance"]
    k = int(p.latent_dim)
    numbers: dict[str, float | int | str] = {}
    largest, collapsed_values, small_counts, rtol_counts = [], [], [], []
    for dataset, part in sweep.groupby("dataset", sort=False):
        key = f"fig3_{dataset}_"
        absolute, relative = (seed_mean_over_beta(part, "local_rank_abs"),
                              seed_mean_over_beta(part, "local_rank_rel"))
        collapsed = collapse_beta(part, margin)
        fall = absolute.diff()
        end = int(np.argmin(fall.fillna(np.inf).to_numpy()))
        largest.append((dataset, absolute.index[end - 1], absolute.index[end]))
        sv = spectrum[(spectrum.dataset == dataset) & (spectrum.beta >= collapsed)]
        sv = sv.groupby(["beta", "index"]).singular_value.mean()
        collapsed_values.append(sv)
        small_counts += [tolerance_curve(tolerance, dataset, "absolute", t).min() for t in small_atols]
        small_rtols = [t for t in tolerance[tolerance.convention == "relative"].tolerance.unique()
                       if t <= max_small_rtol]
        rtol_counts += [tolerance_curve(tolerance, dataset, "relative", t).min() for t in small_rtols]
        high = tolerance_curve(tolerance, dataset, "relative", high_rtol)
        last = _at(relative, -1)
        numbers.update({
            key + "abs_first": _at(absolute, 0), key + "collapse_beta": collapsed,
            key + "abs_collapsed": float(absolute[absolute.index >= collapsed].mean()),
            key + "abs_largest_step": float(-fall.iloc[end]),
            key + "abs_mean_step": float((absolute.iloc[0] - absolute.iloc[end - 1]) / max(end - 1, 1)),
            key + "acc_plateau": accuracy_plateaus(part, accuracy_min_drop)[0],
            key + "s1_collapsed": float(sv.xs(1, level="index").mean()),
            key + "rel_first": _at(relative, 0),
            key + "rel_last_md": f"{k} (all of *K*)" if last >= k else f"{last:.1f} (of *K* = {k})",
            key + "rel_fast_md": fast_rise_md(part, "local_rank_rel"),
            key + "rtol_high_first": _at(high, 0), key + "rtol_high_min": float(high.min()),
            key + "rtol_high_last": _at(high, -1),
        })
    ranges = {(lo, hi) for _, lo, hi in largest}
    numbers["fig3_abs_largest_md"] = (
        "\u03b2 = {:.2g} and {:.2g}".format(*ranges.pop()) if len(ranges) == 1 else
        " and ".join(f"\u03b2 = {lo:.2g} and {hi:.2g} ({d})" for d, lo, hi in largest))
    values = pd.concat(collapsed_values)
    numbers.update({
        "fig3_collapsed_sv_min": float(values.min()), "fig3_collapsed_sv_max": float(values.max()),
        "fig3_atol_small_md": count_phrase(float(min(small_counts)), k),
        "fig3_rtol_small_md": count_phrase(float(min(rtol_counts)), k),
        "fig3_epochs": float(p.steps * p.batch_size / p.n_train),
        "fig3_lr_final_md": power_text(p.lr * p.lr_final_ratio),
    })
    return numbers



def direction(first: float, last: float) -> str:
    """"rises", "falls" or "stays": how a quantity goes from ``first`` to ``last``."""
    return "rises" if last > first else "falls" if last < first else "stays"


def beside_measures(sweep: pd.DataFrame) -> dict[str, str]:
    """The measures of :data:`MEASURES_BESIDE` that a VIB sweep table records (a column with a value in every
    row), with their names."""
    return {c: name for c, name in MEASURES_BESIDE.items() if c in sweep and sweep[c].notna().all()}


def beside_markdown(sweep: pd.DataFrame, titles: dict[str, str] | None = None) -> str:
    """Markdown bullets, one per data set of a VIB sweep table: the seed means of each measure of
    :func:`beside_measures` at the smallest and largest beta and at its highest and lowest where they lie in
    between (in beta order), and whether it moves with beta as the rank at the absolute tolerance
    (``local_rank_abs``) or as the one at the relative tolerance (``local_rank_rel``) does. A table without these
    measures gets a sentence saying so."""
    measures = beside_measures(sweep)
    if not measures:
        return ("*This table records neither measure: it was computed before they were recorded; recompute it "
                "(`--recompute`) to see them.*")
    lines = []
    for dataset, part in sweep.groupby("dataset", sort=False):
        directions = {}
        for column, convention in (("local_rank_abs", "absolute"), ("local_rank_rel", "relative")):
            mean = seed_mean_over_beta(part, column)
            directions[convention] = direction(mean.iloc[0], mean.iloc[-1])
        parts = []
        for column, name in measures.items():
            mean = seed_mean_over_beta(part, column)
            way = direction(mean.iloc[0], mean.iloc[-1])
            like = [f"the {c} tolerance's" for c, d in directions.items() if d == way]
            ends = (mean.index[0], mean.index[-1])
            inner = sorted({(at, word) for word, at in (("highest", mean.idxmax()), ("lowest", mean.idxmin()))
                            if at not in ends})
            between = "".join(f", {word} {mean[at]:.2f} at β = {at:.2g}" for at, word in inner)
            parts.append(f"{name} {mean.iloc[0]:.2f} at β = {mean.index[0]:.2g}{between}, "
                         f"{mean.iloc[-1]:.2f} at β = {mean.index[-1]:.2g}: it **{way}**"
                         + (f" ({' and '.join(like)} direction)" if like else ""))
        lines.append(f"* **{(titles or {}).get(dataset, dataset)}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)
