"""Beyond MLPs: readings of the ``local_rank`` table by the criterion fixed before the runs
(``book/beyond_mlps_design.md``), which is Figure 1's. Pure functions: tables in, tables or text out."""

from __future__ import annotations

import pandas as pd

from ...readings import rule_verdict, terminal_phase_falls, terminal_phase_falls_per_seed

#: How the chapter's prose names the networks and data sets.
NAMES = {"cnn": "CNN", "resnet": "ResNet", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def as_panels(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``panel`` column naming each (network, data set), as Figure 1's readings read it."""
    return table.assign(panel=table.network + ", " + table.dataset)


def falls(table: pd.DataFrame, drop: float = 0.1, threshold: float = 0.99) -> pd.DataFrame:
    """Per (network, data set, measured layer): Figure 1's criterion on the seed means
    (:func:`lrc_utils.book.readings.terminal_phase_falls`): the last value at least ``drop`` below
    both the maximum over training and the maximum from the first step with ``threshold`` training accuracy on."""
    judged = terminal_phase_falls(as_panels(table), drop, threshold)
    network_dataset = judged.panel.str.split(", ", expand=True)
    return judged.assign(network=network_dataset[0], dataset=network_dataset[1]).drop(columns="panel")[
        ["network", "dataset", "layer"] + [c for c in judged.columns if c not in ("panel", "layer")]]


def answer(fall_table: pd.DataFrame) -> tuple[str, int, int]:
    """The design's answer to "does every layer fall in the terminal phase?": the book's one rule over the
    (network, data set, layer) cases of :func:`falls` (every case: yes; more than half: partly; otherwise: no),
    with the count."""
    n_hold, n_cases = int(fall_table["falls in terminal phase"].sum()), len(fall_table)
    return rule_verdict(n_hold, n_cases, "answer"), n_hold, n_cases


def answer_markdown(fall_table: pd.DataFrame) -> str:
    """The answer as the box at the top of the chapter says it, with the layers that fall."""
    word, n_hold, n_cases = answer(fall_table)
    falling = fall_table[fall_table["falls in terminal phase"]]
    which = "; ".join(f"{NAMES.get(n, n)}, {NAMES.get(d, d)}: {', '.join(rows.layer)}"
                      for (n, d), rows in falling.groupby(["network", "dataset"], sort=False))
    return (f"* Does the local rank of every measured layer fall in the terminal phase? **{word}**: "
            f"{n_hold} of {n_cases} (network, data set, layer) cases fall by Figure 1's criterion"
            + (f" ({which})" if which else "") + ".\n")


def last_step_markdown(table: pd.DataFrame, fall_table: pd.DataFrame) -> str:
    """Markdown bullets, one per (network, data set) of ``table`` (the study's ``local_rank`` table), for the prose
    under the falls table: the training and test accuracy at the last step (seed means, %), and the layer whose
    seed-mean local rank ends furthest below its maximum (``fall_table``, from :func:`falls`), with that fall per
    seed (each seed's own last value against its own maximum over training, %) and the verdict; where no layer
    ends 0.05% or more below its maximum, it says so."""
    panels = as_panels(table)
    per_seed = terminal_phase_falls_per_seed(panels).set_index(["panel", "layer", "seed"])
    lines = []
    for (network, dataset), rows in panels.groupby(["network", "dataset"], sort=False):
        last = rows[rows.step == rows.step.max()]
        judged = fall_table[(fall_table.network == network) & (fall_table.dataset == dataset)]
        top = judged.loc[judged["fall from max (%)"].idxmax()]
        falls_of_seeds = per_seed.xs((rows.panel.iloc[0], top.layer), level=["panel", "layer"])
        seeds = ", ".join(f"{fall:.1f}%" for fall in falls_of_seeds["fall from max (%)"].sort_index())
        verdict = "falls by the criterion" if top["falls in terminal phase"] else "does not fall by it"
        fall = (f"the largest fall is {top.layer}'s, {top['fall from max (%)']:.1f}% below its maximum (per seed: "
                f"{seeds}), which {verdict}" if top["fall from max (%)"] >= 0.05
                else "no layer ends 0.05% or more below its maximum")
        lines.append(f"* {NAMES.get(network, network)}, {NAMES.get(dataset, dataset)}: training accuracy "
                     f"{100 * last.train_acc.mean():.1f}%, test accuracy {100 * last.test_acc.mean():.1f}% at step "
                     f"{int(rows.step.max()):,}; {fall}.")
    return "\n".join(lines) + "\n"
