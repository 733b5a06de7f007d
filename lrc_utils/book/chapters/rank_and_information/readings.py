"""Readings of the rank-and-information table (:mod:`lrc_utils.book.chapters.rank_and_information.study`): the terminal
phase of each run, and the rank correlation between local rank and I(X;T) there, per layer and estimator.

Pure functions: the table (columns ``run, network, activation, l2, seed, step, layer, local_rank, estimator,
ixt, train_acc``) in, tables or Markdown out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...readings import spearman

#: A configuration: the runs that differ only by their seed.
CONFIG = ["network", "activation", "l2"]


#: How figures and prose name the table's networks.
NETWORK_NAMES = {"12bit": "12-bit", "noisy": "noisy", "mnist": "MNIST"}


def config_label(network: str, activation: str, l2: float) -> str:
    """A short name of a configuration, e.g. ``12-bit tanh, L2 0.015``, ``noisy tanh``, ``MNIST ReLU``."""
    if network == "12bit":
        return f"{NETWORK_NAMES[network]} {activation}, L2 {l2:g}"
    return {"noisy": f"{NETWORK_NAMES[network]} {activation}", "mnist": f"{NETWORK_NAMES[network]} ReLU"}.get(
        network, network)


def terminal_phase(table: pd.DataFrame, gap: float) -> pd.Series:
    """Per row: is its step in its run's terminal phase, i.e. at or after the run's first recorded step with
    training accuracy at least (final training accuracy - ``gap``)?"""
    acc = table.groupby(["run", "step"]).train_acc.first().reset_index()
    final = acc.groupby("run").train_acc.transform("last")
    start = acc[acc.train_acc >= final - gap].groupby("run").step.min()
    return table.step >= table.run.map(start)


def terminal_correlations(table: pd.DataFrame, gap: float, alpha: float) -> pd.DataFrame:
    """Per configuration, layer and estimator: Spearman's rho between local rank and I(X;T) over the terminal
    phase of each seed's run (:func:`terminal_phase`), and over all seeds' terminal points pooled.

    Columns: the configuration (``network, activation, l2``), ``layer, estimator, seeds, points`` (pooled),
    ``median rho`` over seeds, ``seeds +`` / ``seeds -`` (seeds with rho > 0 / < 0 and p < ``alpha``),
    ``seeds undefined`` (a constant series in the seed's terminal phase), ``pooled rho``, ``pooled p``, and
    ``together``: "yes" (pooled rho > 0, p < alpha), "opposite" (pooled rho < 0, p < alpha), "no" (not
    significant) or "constant" (rank or information does not change in the terminal phase)."""
    late = table[terminal_phase(table, gap)]
    rows = []
    for (network, activation, l2, layer, estimator), part in late.groupby([*CONFIG, "layer", "estimator"], sort=False):
        per_seed = [spearman(s.local_rank, s.ixt) for _, s in part.groupby("seed")]
        rhos = pd.Series([r for r, _ in per_seed])
        pooled_rho, pooled_p = spearman(part.local_rank, part.ixt)
        if pd.isna(pooled_rho):
            together = "constant"
        elif pooled_p < alpha:
            together = "yes" if pooled_rho > 0 else "opposite"
        else:
            together = "no"
        rows.append({"network": network, "activation": activation, "l2": l2, "layer": layer, "estimator": estimator,
                     "seeds": len(per_seed), "points": len(part), "median rho": rhos.median(),
                     "seeds +": sum(1 for r, p in per_seed if r > 0 and p < alpha),
                     "seeds -": sum(1 for r, p in per_seed if r < 0 and p < alpha),
                     "seeds undefined": int(rhos.isna().sum()), "pooled rho": pooled_rho, "pooled p": pooled_p,
                     "together": together})
    return pd.DataFrame(rows)


def together_counts(correlations: pd.DataFrame) -> pd.DataFrame:
    """How many (layer, estimator) cases of each configuration fall in each ``together`` class."""
    counts = correlations.groupby([*CONFIG, "together"]).size().unstack("together", fill_value=0)
    return counts.reindex(columns=["yes", "opposite", "no", "constant"], fill_value=0).reset_index()


def describe_correlations(correlations: pd.DataFrame, alpha: float) -> str:
    """Markdown bullets, one per configuration: the counts of :func:`together_counts` and the cases that move
    together."""
    lines = []
    for _, r in together_counts(correlations).iterrows():
        part = correlations[(correlations.network == r.network) & (correlations.activation == r.activation)
                            & (correlations.l2 == r.l2)]
        yes = part[part.together == "yes"]
        cases = ", ".join(f"layer {c.layer} {c.estimator} (rho {c['pooled rho']:.2f})" for _, c in yes.iterrows())
        lines.append(f"* **{config_label(r.network, r.activation, r.l2)}**: of {len(part)} (layer, estimator) cases, "
                     f"{r.yes} move together (pooled rho > 0, p < {alpha:g}), {r.opposite} in opposite directions, "
                     f"{r.no} without a significant relation, {r.constant} with rank or information constant"
                     + (f"; together: {cases}." if cases else "."))
    return "\n".join(lines)


def describe_compute(info: dict) -> str:
    """One Markdown line on the computation of the table from its ``meta.json`` entry ``info``."""
    p = info["parameters"]
    n_runs = (len(p["seeds"]) * len(p["activations"]) * len(p["l2_penalties"]) + len(p["noisy_seeds"])
              + len(p["mnist_seeds"]))
    return (f"Measured in this run: computing the table took {info['wall_time_s'] / 60:.1f} minutes of wall time "
            f"({n_runs} runs, one torch thread) on {info['device']}, as recorded in `meta.json` on "
            f"{info['computed_utc'][:10]}.")


#: Input dimension of the 12-bit networks (the noisy network is one of them).
INPUT_BITS = 12


def largest_fall(values: pd.Series) -> float:
    """The largest fall of a series (in its order): max over positions of (running maximum - value)."""
    return float((values.cummax() - values).max()) if len(values) else float("nan")


def prose_numbers(table: pd.DataFrame, p) -> dict[str, float | int | str]:
    """The numbers the chapter's prose quotes, from the table and the notebook's parameters ``p``
    (``terminal_gap``, ``alpha``, ``widths``, ``mnist_n_measure``). Keys (``rank_info_`` prefix):

    * ``log_n_md``: ``log N = ...`` for N = ``mnist_n_measure`` (nats), as text.
    * ``mnist_peak_min``, ``mnist_peak_max``: over the MNIST runs and their layers after the first, the smallest
      and largest highest local rank; ``mnist_last_min``, ``mnist_last_max``: the same for the local rank at the
      last recorded step.
    * ``mnist_fall_max``: the largest fall of an MNIST estimate of I(X;T) over training (nats; any run, layer and
      estimator; :func:`largest_fall` in the order of the steps).
    * ``noisy_first_md``: a phrase on the noisy network's first layer: whether its local rank stays at its full
      rank min(12, ``widths[0]``) at every recorded step, else its range.
    * ``relu_cases``, ``relu_together``, ``relu_opposite``, ``relu_no``, ``relu_constant``: of the (layer,
      estimator) cases of the 12-bit ReLU network without L2, how many fall in each class of
      :func:`terminal_correlations` (``together``: yes, opposite, no, constant).
    """
    mnist = table[table.network == "mnist"].sort_values("step")
    deep = mnist[mnist.layer > 1].groupby(["run", "layer"]).local_rank
    peak, last = deep.max(), deep.last()
    falls = mnist.groupby(["run", "layer", "estimator"]).ixt.apply(largest_fall)
    first = table[(table.network == "noisy") & (table.layer == 1)].local_rank
    full = min(INPUT_BITS, p.widths[0])
    if len(first) and first.min() == first.max() == full:
        noisy_first = f"the first layer keeps its full rank, {full}"
    else:
        noisy_first = f"the first layer's rank stays between {first.min():.1f} and {first.max():.1f}"
    correlations = terminal_correlations(table, p.terminal_gap, p.alpha)
    relu = correlations[(correlations.network == "12bit") & (correlations.activation == "relu")
                        & (correlations.l2 == 0)].together
    return {"rank_info_log_n_md": f"log {p.mnist_n_measure} = {np.log(p.mnist_n_measure):.2f}",
            "rank_info_mnist_peak_min": float(peak.min()), "rank_info_mnist_peak_max": float(peak.max()),
            "rank_info_mnist_last_min": float(last.min()), "rank_info_mnist_last_max": float(last.max()),
            "rank_info_mnist_fall_max": float(falls.max()),
            "rank_info_noisy_first_md": noisy_first,
            "rank_info_relu_cases": len(relu),
            **{f"rank_info_relu_{name}": int((relu == kind).sum())
               for name, kind in [("together", "yes"), ("opposite", "opposite"), ("no", "no"),
                                  ("constant", "constant")]}}
