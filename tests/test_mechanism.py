"""The mechanism study (book/mechanism_design.md): its arms, and its 'ours' arm against Figure 1's own runs."""

import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.figure1 import study as figure1
from lrc_utils.book.chapters.mechanism import readings as mechanism_readings
from lrc_utils.book.chapters.mechanism import study as mechanism

TINY = yaml.safe_load((Path(__file__).parents[1] / "notebooks" / "figure1.smoke.yaml").read_text())


def test_the_ours_arm_is_figure1_and_every_arm_records_every_measure():
    """Arm 'ours' (AdamW, weight decay 0.1, cross-entropy) trains the very runs of Figure 1 at the same parameters:
    the same training losses, and its atol rank equals Figure 1's local rank (singular values counted rather
    than the kernel's Gram matrices: equal up to rounding at the threshold). Every arm gives every measure; the
    rank on the data's subspace is at most its dimension, and NaN on MNIST (no subspace)."""
    tiny = {**TINY, "gauss_weight_decay": 0.1, "mnist_weight_decay": 0.1, "mnist_split": "train"}
    ours = mechanism.compute(mechanism.Params(**tiny, arms=["ours", "sgd", "softmax-loss"]),
                             StudyContext(checkpoint_dir=Path(tempfile.mkdtemp())))["measures"]
    reference = figure1.compute(figure1.Params(**tiny), StudyContext(checkpoint_dir=Path(tempfile.mkdtemp())))
    reference = reference["local_rank"].set_index(["panel", "seed", "step", "layer"]).sort_index()
    arm = ours[ours.arm == "ours"].set_index(["panel", "seed", "step", "layer"]).sort_index()
    assert arm.train_loss.tolist() == reference.train_loss.tolist()
    assert arm.rank_atol.tolist() == pytest.approx(reference.local_rank.tolist(), abs=1e-9)
    assert set(ours.arm) == {"ours", "sgd", "softmax-loss"}
    assert not ours.drop(columns="rank_subspace").isna().any().any()
    gauss, mnist = ours[ours.panel == "gaussian"], ours[ours.panel == "mnist"]
    assert (gauss.rank_subspace <= tiny["gauss_intrinsic_dim"]).all() and mnist.rank_subspace.map(math.isnan).all()
    assert (ours.active_units <= max(tiny["gauss_widths"] + tiny["mnist_widths"])).all()
    assert ours[ours.arm == "sgd"].train_loss.tolist() != ours[ours.arm == "softmax-loss"].train_loss.tolist()


def test_arms_are_checked_and_configured_as_the_design_says():
    p = mechanism.Params(**TINY)
    config, loss = mechanism.arm_config(p, "sgd", "mnist", 2)
    assert (config.optimizer, config.lr, config.weight_decay, config.momentum, loss) == ("sgd", 0.05, 0.0, 0.9,
                                                                                         "cross_entropy")
    config, loss = mechanism.arm_config(p, "softmax-loss", "gaussian", 0)
    assert (config.optimizer, config.weight_decay, loss) == ("adamw", 0.0, "softmax_cross_entropy")
    with pytest.raises(ValueError, match="arms must be distinct names among"):
        mechanism.Params(**TINY, arms=["ours", "adam"])
    with pytest.raises(ValueError, match="the arms set the loss"):
        mechanism.Params(**TINY, loss="softmax_cross_entropy")
    with pytest.raises(ValueError, match="the arms set the weight decay; leave mnist_weight_decay at their defaults"):
        mechanism.Params(**TINY, mnist_weight_decay=0.5)


def _runs(rank_by_layer: dict[int, list[float]], losses: list[float], arm: str, panel: str = "gaussian"):
    """A measures table of one seed at steps 1, 2, 4, ..., 32, fit (100% training accuracy) from step 4 on."""
    steps, acc = [1, 2, 4, 8, 16, 32], [0.5, 0.9, 1.0, 1.0, 1.0, 1.0]
    return pd.DataFrame([{"arm": arm, "panel": panel, "seed": 0, "step": s, "layer": layer, "rank_atol": r,
                          "effective_rank": r, "train_loss": loss, "train_acc": a}
                         for layer, ranks in rank_by_layer.items()
                         for s, r, loss, a in zip(steps, ranks, losses, acc)])


def test_the_readings_count_falls_answers_and_spikes_as_the_design_says():
    """Hand-counted: layer 2 rises to 8 by the fit (step 4), then lies 10% below that at step 16 and ends at 3:
    it falls, starting at step 16; layer 1 stays at 10. In arm no-decay the loss jumps 100-fold at step 16 (a
    spike, at the fall's start); in arm sgd it only falls. Questions 1 and 2 each see 1 falling curve of 2
    ("no" by the rule: not more than half); question 3 finds a falling curve without a spike in its run."""
    falling, flat = [5, 6, 8, 8, 4, 3], [10] * 6
    table = pd.concat([_runs({1: flat, 2: falling}, [1, 0.5, 0.1, 1e-3, 1e-1, 1e-3], "no-decay"),
                       _runs({1: flat, 2: falling}, [1, 0.5, 0.1, 1e-3, 1e-4, 1e-5], "sgd")])
    falls = mechanism_readings.falls(table)
    assert falls.groupby(["arm", "layer"]).falls.all().to_dict() == {
        ("no-decay", 1): False, ("no-decay", 2): True, ("sgd", 1): False, ("sgd", 2): True}
    answers = mechanism_readings.answers(falls).set_index(["question", "measure"])
    assert set(answers["curves that fall"]) == {"1 of 2"} and set(answers.answer) == {"no"}
    assert answers["which (arm layer)"].str.contains("layer").sum() == 0
    spikes = mechanism_readings.loss_spikes(table).set_index("arm")
    assert spikes.loc["no-decay", "spikes"] == [16] and spikes.loc["sgd", "spikes"] == []
    assert spikes.loc["no-decay", "resolved spikes"] == [16] and spikes["fit reached"].all()  # 0.1 nats >= 1e-6
    quantised = mechanism_readings.loss_spikes(table.assign(train_loss=table.train_loss * 1e-6)).set_index("arm")
    assert quantised.loc["no-decay", "spikes"] == [16] and quantised.loc["no-decay", "resolved spikes"] == []
    cases = mechanism_readings.spike_falls(table).set_index("arm")
    assert cases["fall starts"].to_dict() == {"no-decay": 16, "sgd": 16}
    assert cases.relation.to_dict() == {"no-decay": "with a spike", "sgd": "no spike in its run"}
    assert cases["with a resolved spike"].to_dict() == {"no-decay": True, "sgd": False}
    # losses 1e-3, 1e-1, 1e-3 at steps 8, 16, 32 around the start (16): jumps 100 and 0.01 (no-decay); 0.1, 0.1 (sgd)
    assert cases["largest jump near the start"].to_dict() == {"no-decay": pytest.approx(100),
                                                              "sgd": pytest.approx(0.1)}
    assert mechanism_readings.spike_numbers(cases) == {"falling_deeper": 2, "with_spike": 1, "with_resolved_spike": 1}
    verdict, counts = mechanism_readings.spike_answer(cases.reset_index())
    assert verdict == "does not need the spikes" and counts["with a spike"] == 1
    assert mechanism_readings.spike_answer(cases.reset_index().iloc[:1])[0] == "needs the spikes"
    box = mechanism_readings.answer_markdown(mechanism_readings.answers(falls), verdict, counts)
    assert box.splitlines() == [
        "* **Falls without explicit weight decay?** (arms `no-decay`; curves that fall, of the arms' hidden layers): "
        "Gaussian: **no** at atol (1 of 2), effective rank no (1 of 2).",
        "* **Falls with SGD?** (arms `sgd`; curves that fall, of the arms' hidden layers): "
        "Gaussian: **no** at atol (1 of 2), effective rank no (1 of 2).",
        "* **Does the fall need the loss spikes?** Does not need the spikes (of 2 falling deeper-layer curves at "
        "atol, one per seed: 1 with a spike, 0 spike elsewhere in its run, 1 no spike in its run)."]


def test_the_decay_control_predicts_from_the_fit_and_the_product_of_rates():
    """ln(1/0.01)/1e-4 = 46,051.7 steps after the fit at step 4: 46,055; layer 1 here never falls (NaN)."""
    table = _runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "ours")
    control = mechanism_readings.decay_control(table, {"ours": {"gaussian": 1e-4}}, atol=0.01)
    assert control["decay bound (s ≤ 1)"].tolist() == [46055]
    assert control["observed fall start"].isna().all()


def test_decay_rates_wide_falls_and_last_step_are_read_by_hand():
    """lr·λ: 1e-3 x 0.1 = 1e-4 for 'ours', 1e-3 x 0.01 = 1e-5 for 'author-decay'; 'sgd' has no decay. The wide
    table puts each measure's max, last and verdict in one row per layer; the last step is each seed's last row
    (step 32), averaged over the two seeds (3 and 5: 4)."""
    rates = mechanism_readings.decay_rates(["ours", "sgd", "author-decay"], {"gaussian": 1e-3})
    assert rates == {"ours": {"gaussian": pytest.approx(1e-4)}, "author-decay": {"gaussian": pytest.approx(1e-5)}}
    table = pd.concat([_runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "sgd"),
                       _runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "ours")])
    wide = mechanism_readings.falls_wide(mechanism_readings.falls(table))
    assert wide.arm.tolist() == ["ours", "ours", "sgd", "sgd"]  # the design's order, not the table's
    assert wide.columns.tolist()[3:] == [f"{m}: {w}" for m in ("rank (atol)", "effective rank")
                                         for w in ("max", "last", "falls")]
    assert wide["rank (atol): falls"].tolist() == [False, True, False, True]
    assert wide["rank (atol): last"].tolist() == [10, 3, 10, 3]
    two_seeds = pd.concat([_runs({2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "ours"),
                           _runs({2: [5, 6, 8, 8, 4, 5]}, [1] * 6, "ours").assign(seed=1)])
    two_seeds = two_seeds.assign(rank_rtol=1.0, active_units=2.0, rank_subspace=float("nan"))
    last = mechanism_readings.last_step(two_seeds)
    assert last[["rank (atol)", "rank (rtol)", "active units"]].values.tolist() == [[4, 1, 2]]


def test_the_active_unit_bound_reads_layer_one_units_beside_deeper_ranks():
    """At the last step (32), layer 1 has 3 active units and layer 2 rank 3: the table puts them side by side."""
    table = _runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "no-decay")
    table = table.assign(rank_rtol=1.0, active_units=table.layer.map({1: 3.0, 2: 7.0}), rank_subspace=float("nan"))
    bound = mechanism_readings.active_bound(table)
    assert bound.columns.tolist() == ["panel", "arm", "layer 1 active units", "layer 2 rank (atol)"]
    assert bound.iloc[0, 2:].tolist() == [3.0, 3.0]


def test_prose_numbers_are_the_tables_numbers():
    """Arm sgd on the hand-counted runs: layer 2 falls (1 of 2 layers), layer 1 stays at 10; layer 1 has 3
    active units at the last step; the deeper layer ends at 3; no decay control row."""
    table = _runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "sgd")
    table = table.assign(rank_rtol=1.0, active_units=3.0, rank_subspace=float("nan"))
    numbers = mechanism_readings.prose_numbers(mechanism_readings.falls(table), table,
                                               mechanism_readings.decay_control(table, {}, atol=0.01))
    assert {k: numbers[f"gaussian_sgd_{k}"] for k in ("atol_falls", "layers", "l1_max", "l1_last", "l1_units",
                                                      "deep_min", "deep_max")} == {
        "atol_falls": 1, "layers": 2, "l1_max": 10, "l1_last": 10, "l1_units": 3, "deep_min": 3, "deep_max": 3}


def test_an_arm_that_never_fits_is_named_in_the_answers():
    """Arm softmax-loss reaches 0.9 training accuracy at most: never the 99% fit; it is named, and counted."""
    fits = _runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "no-decay")
    unfit = _runs({1: [10] * 6, 2: [5, 6, 8, 8, 4, 3]}, [1] * 6, "softmax-loss").assign(train_acc=0.9)
    table = pd.concat([fits, unfit])
    assert mechanism_readings.unfitted_arms(table) == {("softmax-loss", "gaussian")}
    answers = mechanism_readings.answers(mechanism_readings.falls(table), mechanism_readings.unfitted_arms(table))
    first = answers[answers.question.str.startswith("1.")].iloc[0]
    assert (first["never fit"], first["curves that fall"]) == ("softmax-loss", "1 of 4")
    box = mechanism_readings.answer_markdown(answers, "needs the spikes", {"with a spike": 1})
    assert "`softmax-loss` never reaching 99% training accuracy there" in box.splitlines()[0]
    cases = mechanism_readings.spike_falls(table)
    assert mechanism_readings.spike_markdown(cases) == (
        "The rule answers *does not need the spikes* because 1 falling curve falls in a run without any spike: "
        "`no-decay` on the Gaussian panel, seed 0, layer 2 (its loss's largest jump within one recorded step of the "
        "fall's start: 1.0-fold); the answer rests on that case alone.")
