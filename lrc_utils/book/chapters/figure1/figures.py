"""Figure 1: the figures, drawn from the tables of the study (they compute nothing new)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...readings import first_step_at_accuracy
from ...style import legend_below, seeds


def figure1(table: pd.DataFrame, atol: float, titles: dict[str, str], marks: dict[str, tuple[int, str]] | None = None,
            loss_label: str = "train loss (nats)"):
    """Top: local rank per hidden layer against the training step (mean over seeds, band: one standard
    deviation); bottom: training loss (the table's ``train_loss``: the cross-entropy of the logits, named
    ``loss_label``) and accuracies. One column per panel; dotted: 99% training accuracy; dash-dotted:
    ``marks[panel] = (step, label)``, a step to point out (drawn only within the recorded steps)."""
    panels = list(dict.fromkeys(table.panel))
    fig, axes = plt.subplots(2, len(panels), figsize=(7.5, 5.6), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    for col, panel in enumerate(panels):
        rows = table[table.panel == panel]
        top, bottom = axes[0, col], axes[1, col]
        sns.lineplot(data=rows, x="step", y="local_rank", hue="layer", palette="viridis", errorbar="sd", ax=top,
                     legend="full")
        curves = rows[rows.layer == rows.layer.min()].groupby("step")[["train_loss", "train_acc", "test_acc"]].mean()
        bottom.plot(curves.index, curves.train_loss, color="0.3", label="train loss")
        bottom.set(yscale="log", ylabel=loss_label, xlabel="training step")
        acc_axis = bottom.twinx()
        acc_axis.plot(curves.index, curves.train_acc, color="tab:green", label="train acc.")
        acc_axis.plot(curves.index, curves.test_acc, color="tab:purple", label="test acc.")
        acc_axis.set(ylim=(0, 1.02), ylabel="accuracy")
        step99 = first_step_at_accuracy(rows, 0.99)
        top.axvline(step99, color="k", ls=":", lw=1)
        bottom.axvline(step99, color="k", ls=":", lw=1, label="99% train acc.")
        if marks and panel in marks and marks[panel][0] <= rows.step.max():
            mark, label = marks[panel]  # named in the legend below, not written over the curves
            top.axvline(mark, color="tab:red", ls="-.", lw=1)
            bottom.axvline(mark, color="tab:red", ls="-.", lw=1, label=label)
        top.set(xscale="log", ylabel=f"local rank (atol = {atol:g})", xlabel="",
                title=f"{titles[panel]}\n{seeds(rows.seed.nunique())}", ylim=(0, None))
        top.legend(title="layer", loc="lower left", fontsize=8, title_fontsize=8, ncol=2, frameon=True)
        handles = bottom.get_legend_handles_labels()[0] + acc_axis.get_legend_handles_labels()[0]
        legend_below(bottom, handles, [h.get_label() for h in handles], ncol=3, offset=-0.45, fontsize=8)
    return fig


def author_recipe(table: pd.DataFrame, info: dict):
    """:func:`figure1` of the ``author`` preset's stored table and its ``meta.json`` entry ``info`` (its tolerance
    and split from there): the first author's recipe. Its training loss applies a softmax before the
    cross-entropy; the lower panels show the cross-entropy of the logits, which the table records for every
    recipe."""
    split, atol = info["parameters"]["mnist_split"], info["parameters"]["atol"]
    mnist = "MNIST (trained on its training split)" if split == "train" else "MNIST (test split subsets)"
    titles = {"gaussian": "Gaussian data, the author's recipe", "mnist": f"{mnist}, the author's recipe"}
    return figure1(table, atol, titles, loss_label="cross-entropy of logits (nats)")
