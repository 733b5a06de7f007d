"""Readings of the local-rank chapter's tables (:mod:`lrc_utils.book.chapters.local_rank.study`): the numbers its
prose quotes about the spectra of the trained MNIST network's input Jacobians.

* ``spectrum``: columns ``layer, index, median`` (and mean, q10, q90): per hidden layer and index i (1 = largest),
  the median over the evaluation images of the i-th singular value of J_l(x);
* ``tolerance``: columns ``layer, convention, tolerance, local_rank``: the mean rank over the evaluation images at
  each absolute or relative tolerance.

Nothing here is imported by a study: these are readings of stored tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...readings import power_text

#: A layer's median spectrum has a *cliff* when two consecutive singular values differ by more than this factor
#: (float32 rounding of exact zeros, far below the smooth decay of the nonzero ones).
CLIFF_FACTOR = 1e3
#: The count at a relative tolerance *moves* when it exceeds the count at the next larger tolerance by more than
#: this (rank units, a mean over the images).
COUNT_STEP = 0.5


def cliffs(spectrum: pd.DataFrame) -> pd.DataFrame:
    """Per layer whose median spectrum has a cliff (a fall by more than :data:`CLIFF_FACTOR` between consecutive
    singular values; the largest such fall): ``layer``, ``index`` (the last singular value above the cliff),
    ``above`` and ``below`` (the median singular values just above and just below it, as fractions of the
    largest)."""
    rows = []
    for layer, part in spectrum.sort_values("index").groupby("layer", sort=True):
        relative = part["median"].to_numpy() / part["median"].iloc[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            fall = relative[:-1] / relative[1:]
        if len(fall) and np.nanmax(fall) > CLIFF_FACTOR:
            i = int(np.nanargmax(fall))
            rows.append({"layer": int(layer), "index": int(part["index"].iloc[i]), "above": float(relative[i]),
                         "below": float(relative[i + 1])})
    return pd.DataFrame(rows, columns=["layer", "index", "above", "below"])


def prose_numbers(tolerance: pd.DataFrame, spectrum: pd.DataFrame) -> dict[str, float | str]:
    """The numbers the chapter's prose quotes, from the ``tolerance`` and ``spectrum`` tables. Keys:

    * ``local_rank_cliff``: the median over the layers with a cliff (:func:`cliffs`) of the median singular value
      just below it, as a fraction of the largest; ``local_rank_cliff_md`` the same as text (one digit);
    * ``local_rank_noise_tol``: the largest relative tolerance, below every cliff's upper edge, at which some
      layer's mean count exceeds its count at the next larger tolerance by more than :data:`COUNT_STEP` (below
      it the count picks up rounding noise); ``local_rank_noise_tol_md`` as text;
    * ``local_rank_active_units``: layer 2's mean count at the next larger tolerance (the exact rank of
      J_2 = W_2 D_1 W_1, the number of active units of layer 1), and ``local_rank_inactive_percent``, the
      inactive share of layer 1's units (per cent; its width is layer 1's count there).

    NaN (and "n/a") where no layer has a cliff or the counts never move below it."""
    nan = float("nan")
    found = cliffs(spectrum)
    out: dict[str, float | str] = {"local_rank_cliff": float(found["below"].median()) if len(found) else nan}
    relative = tolerance[tolerance["convention"] == "relative"].pivot(index="tolerance", columns="layer",
                                                                      values="local_rank").sort_index()
    noise, active, inactive = nan, nan, nan
    if len(found):
        below_cliffs = relative[relative.index < found["above"].min()]
        moves = (below_cliffs.diff(-1) > COUNT_STEP).any(axis=1)  # count here minus count at the next larger
        if moves.any():
            noise = float(moves[moves].index.max())
            stable = below_cliffs[below_cliffs.index > noise]
            if len(stable) and 1 in relative.columns and 2 in relative.columns:
                active = float(stable[2].iloc[0])
                inactive = 100 * (1 - active / float(stable[1].iloc[0]))
    out.update(local_rank_noise_tol=noise, local_rank_active_units=active, local_rank_inactive_percent=inactive)
    out["local_rank_cliff_md"] = power_text(out["local_rank_cliff"], 1)
    out["local_rank_noise_tol_md"] = power_text(noise, 1)
    return out


def answer_markdown(known_answer: pd.DataFrame, tolerance: pd.DataFrame, speed: pd.DataFrame, atol: float) -> str:
    """The chapter's answer, for the box at the top of its page (Markdown bullets): how often the kernel's rank
    equals the closed-form rank on the known-answer network (both layers, every input); the range over hidden
    layers of the trained network's mean rank at ``atol`` and at the smallest absolute tolerance of the grid;
    and at the largest input count of the ``speed`` table, how many times faster the kernel is than each
    reference, and whether every method gave the same ranks."""
    exact = ((known_answer.local_rank_layer1 == known_answer.predicted_rank_layer1)
             & (known_answer.local_rank_layer2 == known_answer.predicted_rank_layer2))
    absolute = tolerance[tolerance.convention == "absolute"]
    at = absolute.loc[(absolute.tolerance - atol).abs().groupby(absolute.layer).idxmin()]
    smallest = absolute[absolute.tolerance == absolute.tolerance.min()]
    n = int(speed.n_inputs.max())
    largest = speed[speed.n_inputs == n].set_index("method").seconds
    ratios = ", ".join(f"{largest[m] / largest['local_rank']:.0f} times faster than the {name}"
                       for m, name in (("recipe", "first author's recipe (vmap(jacfwd) and matrix_rank)"),
                                       ("loop", "autograd loop with an SVD")) if m in largest)
    same = "identical ranks" if speed.ranks_identical.all() else "**ranks that differ** between the methods"
    return "\n".join([
        f"* **Exact where the answer is known**: the kernel's rank equals the closed form at {exact.sum()} of "
        f"{len(exact)} inputs (both layers).",
        f"* **The count depends on the tolerance**: in the trained MNIST network the hidden layers' mean rank is "
        f"{at.local_rank.min():.1f} to {at.local_rank.max():.1f} at atol {atol:g}, and "
        f"{smallest.local_rank.min():.1f} to {smallest.local_rank.max():.1f} at {smallest.tolerance.iloc[0]:.0e}.",
        f"* **Fast**: on {n} inputs, {ratios}, with {same}."]) + "\n"
