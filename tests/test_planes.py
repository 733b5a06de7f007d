"""Information planes (lrc_utils.planes, the study information_planes) and their readings
(lrc_utils.book.chapters.information_planes.readings): each number against a case counted by hand or a closed form."""

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from lrc_utils import mi, planes
from lrc_utils.book.chapters.information_planes import readings as compression
from lrc_utils.book.chapters.information_planes import study
from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.models import MLP, init_like_chelombiev
from lrc_utils.training import eval_epochs, l2_penalised_cross_entropy

# ----------------------------------------------------------------------------------------------------
# the estimators and the monitor


def test_chelombiev_lower_edges_follow_their_code_and_ours_for_elu():
    assert planes.chelombiev_low("tanh") == -1.000001 == planes.chelombiev_low("elu")
    assert planes.chelombiev_low("relu") == 0.0 == planes.chelombiev_low("softplus")
    with pytest.raises(ValueError, match="lower end.*'gelu'"):
        planes.chelombiev_low("gelu")


def relu_net_with_known_layers() -> MLP:
    """1 -> 1 -> 1 -> 2, ReLU: layer 1 is relu(x), layer 2 is the constant 0."""
    model = MLP([1, 1, 1, 2], "relu")
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        model.layers[0].weight.fill_(1.0)
    return model


def test_monitor_rows_on_a_hand_counted_network():
    # layer 1 = relu(x) = [0, 0.5, 1, 2]: Saxe's codes floor(v / 0.07) = 0, 7, 14, 28 are distinct, so
    # I(X;T) = log 4 and, with labels [0, 0, 1, 1], I(T;Y) = H(Y) = log 2; layer 2 is constant: both 0.
    x = torch.tensor([[-1.0], [0.5], [1.0], [2.0]])
    y = torch.tensor([0, 0, 1, 1])
    monitor = planes.InformationMonitor(x, y, "relu", ["binning", "adaptive_binning"])
    rows = pd.DataFrame(monitor(relu_net_with_known_layers(), step=1, batch_loss=0.0))
    assert list(rows.columns) == ["layer", "estimator", "ixt", "ity"]
    assert rows[["layer", "estimator"]].values.tolist() == [[1, "binning"], [1, "adaptive_binning"],
                                                            [2, "binning"], [2, "adaptive_binning"]]
    assert rows.ixt.tolist() == pytest.approx([math.log(4)] * 2 + [0.0] * 2, abs=1e-12)
    assert rows.ity.tolist() == pytest.approx([math.log(2)] * 2 + [0.0] * 2, abs=1e-12)


def test_every_estimator_is_the_rule_it_names():
    gen = torch.Generator().manual_seed(0)
    t, y = torch.tanh(torch.randn(64, 3, generator=gen)), torch.randint(0, 2, (64,), generator=gen)
    expected = {"binning_sz": mi.binning(t, y, rule="shwartz-ziv"),
                "binning": mi.binning(t, y, rule="saxe", binsize=0.07),
                "kde_upper": mi.kde(t, y, noise_var=1e-3),
                "adaptive_binning": mi.adaptive_binning(t, y, rule="chelombiev", low=-1.000001),
                "adaptive_kde": mi.adaptive_kde(t, y, rule="ours")}
    assert set(expected) == set(planes.ESTIMATORS)
    for name, est in expected.items():
        got = planes.ESTIMATORS[name](t, y, "tanh")
        assert (got.ixt, got.ity) == (est.ixt, est.ity), name


def test_l2_penalised_loss_by_hand():
    torch.manual_seed(0)
    model = MLP([3, 4, 2], "tanh").double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    logits = model(x).detach()
    ce = float(-(logits[range(5), y] - logits.exp().sum(1).log()).mean())
    # their l2_loss: half the sum of squares, hidden weight matrices only (not the output layer, not biases)
    half_squares = 0.5 * float((model.layers[0].weight.detach() ** 2).sum())
    loss = l2_penalised_cross_entropy(0.01)
    assert loss(model, x, y).item() == pytest.approx(ce + 0.01 * half_squares, rel=1e-12)
    assert l2_penalised_cross_entropy(0.0)(model, x, y).item() == pytest.approx(ce, rel=1e-12)


def test_initialisation_like_their_code():
    torch.manual_seed(0)
    for activation, he in (("tanh", 1.0), ("relu", 2.0), ("elu", 2.0)):
        model = MLP([400, 300, 2], activation)
        init_like_chelombiev(model, activation)
        w = model.layers[0].weight.detach()
        std = he / math.sqrt(400)
        assert float(w.abs().max()) <= 2 * std and float(model.layers[0].bias.detach().abs().max()) == 0.0
        # a normal truncated at 2 sigma has standard deviation 0.8796 sigma
        assert float(w.std()) == pytest.approx(0.8796 * std, rel=0.01)


def test_eval_epochs_are_log_spaced_and_include_both_ends():
    assert eval_epochs(1000, 4) == [1, 10, 100, 1000]
    assert eval_epochs(12, 1) == [1]


def params(**changes):
    base = dict(seeds=[0], data_seed=0, train_fraction=0.8, activations=["tanh"], l2_penalties=[0.0],
                widths=[10, 7, 5, 4, 3], epochs=2, n_evals=2, mi_inputs=64, batch_size=512, lr=1e-3,
                estimators=["binning"])
    return SimpleNamespace(**{**base, **changes})


@pytest.mark.parametrize("change, message", [
    ({"train_fraction": 1.0}, "train_fraction"),
    ({"estimators": ["binning", "knn"]}, "estimators must be"),
    ({"activations": ["gelu"], "estimators": ["adaptive_binning"]}, "lower end"),
    ({"l2_penalties": [-1e-3]}, "l2_penalties"),
    ({"mi_inputs": 5000}, "mi_inputs"),
    ({"seeds": [0, 0]}, "seeds"),
    ({"data_seed": -1}, "data_seed"),
    ({"widths": []}, "widths"),
    ({"activations": ["swish"]}, "activations must be"),
    ({"l2_penalties": [float("nan")]}, "l2_penalties"),
    ({"l2_penalties": [0.0, 0.0]}, "distinct"),
    ({"estimators": ["binning", "binning"]}, "distinct"),
    ({"mi_inputs": 64.5}, "mi_inputs"),
])
def test_bad_parameters_fail_before_any_work(change, message):
    with pytest.raises(ValueError, match=message):
        study.check(params(**change))


# ----------------------------------------------------------------------------------------------------
# readings: compression and the claims


def summarise(planes, n_inputs=4096):
    return compression.curve_summary(planes, n_inputs)


def curve(run, layer, estimator, ixt, ity=None, activation="tanh", l2=0.0, seed=0, test_acc=0.9):
    ity = ity if ity is not None else [0.1 * (k + 1) for k in range(len(ixt))]
    return pd.DataFrame({"run": run, "seed": seed, "activation": activation, "l2": l2,
                         "epoch": [0] + [10**k for k in range(len(ixt) - 1)], "layer": layer, "estimator": estimator,
                         "ixt": ixt, "ity": ity, "train_acc": 1.0, "test_acc": test_acc})


def test_curve_summary_by_hand():
    # epochs 0 (initialisation), 1, 10, 100
    row = summarise(curve("r", 1, "binning", [1.0, 2.0, 3.0, 2.0], [0.1, 0.3, 0.5, 0.6])).iloc[0]
    assert (row.ixt_max, row.epoch_max, row.ixt_final) == (3.0, 10, 2.0)
    assert row.compression == pytest.approx(1.0) and row.relative_compression == pytest.approx(1 / 3)
    assert row.fitting == pytest.approx(0.4) and row.compresses and row.fits_first and not row.pinned
    flat = summarise(curve("r", 1, "binning", [2.0, 2.0, 2.0, 1.99])).iloc[0]
    assert flat.relative_compression == pytest.approx(0.005) and not flat.compresses


def test_a_fall_from_initialisation_is_not_compression():
    row = summarise(curve("r", 1, "binning", [5.0, 2.0, 3.0, 3.0])).iloc[0]
    assert (row.ixt_max, row.epoch_max, row.compression) == (3.0, 10, 0.0)


def test_pinned_and_fitting_tolerance():
    log_n = math.log(4096)
    pinned = summarise(curve("r", 1, "binning", [log_n, log_n, 0.995 * log_n])).iloc[0]
    assert pinned.pinned and not pinned.compresses
    # I(T;Y) falls by 0.005 nats (within the tolerance of 0.01) on the way to the maximum: still fits first
    row = summarise(curve("r", 1, "binning", [1.0, 3.0, 2.0], [0.69, 0.685, 0.69])).iloc[0]
    assert row.fitting == pytest.approx(-0.005) and row.fits_first
    row = summarise(curve("r", 1, "binning", [1.0, 3.0, 2.0], [0.69, 0.6, 0.69])).iloc[0]
    assert not row.fits_first


def test_missing_values_are_refused():
    with pytest.raises(ValueError, match="missing I\\(X;T\\)"):
        summarise(curve("r", 1, "binning", [1.0, float("nan"), 2.0]))
    with pytest.raises(ValueError, match="missing \\['ity'"):
        summarise(curve("r", 1, "binning", [1.0, 2.0]).drop(columns="ity"))


def tanh_layers(compressing: list[bool], fitting: float = 0.4) -> pd.DataFrame:
    return pd.concat([curve("r", layer, "binning_sz", [1.0, 2.0, 1.0] if c else [1.0, 2.0, 2.0],
                            [0.1, 0.1 + fitting, 0.6]) for layer, c in enumerate(compressing, start=1)])


def test_claim_a_leaves_out_pinned_layers():
    log_n = math.log(4096)
    table = pd.concat([curve("r", 1, "binning_sz", [log_n] * 3), curve("r", 2, "binning_sz", [log_n] * 3),
                       curve("r", 3, "binning_sz", [1.0, 2.0, 1.0], [0.1, 0.5, 0.6]),
                       curve("r", 4, "binning_sz", [1.0, 2.0, 2.0])])
    a = compression.claim_fitting_then_compression(compression.layer_verdicts(summarise(table)))
    assert (a["holds"], a["layers"], a["of"], a["pinned"]) == (True, 1, 2, [1, 2])


def test_claim_a_counts_layers_that_fit_then_compress():
    verdicts = compression.layer_verdicts(summarise(tanh_layers([True, True, True, False, False])))
    a = compression.claim_fitting_then_compression(verdicts)
    assert (a["holds"], a["layers"], a["of"], a["which"]) == (True, 3, 5, [1, 2, 3])
    assert (a["n_hold"], a["n_cases"], compression.rule_text(a, "layers")) == (3, 5, "partly: 3 of 5 layers")
    verdicts = compression.layer_verdicts(summarise(tanh_layers([True] * 5, fitting=-0.05)))
    assert compression.claim_fitting_then_compression(verdicts)["layers"] == 0  # I(T;Y) fell: no fitting phase


def relu_table(compressing: dict[str, list[bool]], l2: float = 0.0, seeds=(0,)) -> pd.DataFrame:
    return pd.concat([curve(f"relu-{l2}-{s}", layer, est, [1.0, 2.0, 1.0] if c else [1.0, 2.0, 2.0],
                            activation="relu", l2=l2, seed=s)
                      for est, flags in compressing.items() for layer, c in enumerate(flags, 1) for s in seeds])


def test_claims_b_and_c_count_relu_layers():
    table = relu_table({"binning": [False] * 3, "kde_upper": [False, False, True],
                        "adaptive_binning": [True, True, False], "adaptive_kde": [True, False, False]})
    verdicts = compression.layer_verdicts(summarise(table))
    b = compression.claim_no_compression(verdicts)
    assert not b["holds"] and b["counts"] == {"binning": (0, 3), "kde_upper": (1, 3)}
    assert (b["n_hold"], b["n_cases"]) == (5, 6)  # 6 (estimator, layer) pairs, one compresses
    c = compression.claim_adaptive_compression(verdicts)
    assert not c["holds"] and c["counts"] == {"adaptive_binning": (2, 3), "adaptive_kde": (1, 3)}
    assert (c["n_hold"], c["n_cases"], compression.rule_text(c, "pairs")) == (3, 6, "not reproduced: 3 of 6 pairs")


def test_claim_d_compares_l2_against_none_cell_by_cell():
    none = relu_table({"adaptive_binning": [False, False, True, True]})
    with_l2 = relu_table({"adaptive_binning": [True, True, True, False]}, l2=1e-3)
    d = compression.claim_l2_increases(compression.layer_verdicts(summarise(
        pd.concat([none, with_l2]))), ("adaptive_binning",))
    # relative compression 0.5 vs 0: layers 1, 2 larger with L2; layer 3 a tie (left out); layer 4 smaller
    assert (d["larger"], d["of"], d["ties"], d["holds"], d["l2"]) == (2, 3, 1, False, 1e-3)
    assert (d["n_hold"], d["n_cases"], compression.rule_text(d, "cells")) == (2, 3, "partly: 2 of 3 cells")
    only_ties = relu_table({"adaptive_binning": [False]})
    d = compression.claim_l2_increases(compression.layer_verdicts(summarise(
        pd.concat([only_ties, relu_table({"adaptive_binning": [False]}, l2=1e-3)]))), ("adaptive_binning",))
    assert (d["of"], d["holds"]) == (0, False)  # nothing to compare: not reproduced
    assert compression.rule_text(d, "cells") == "not measured: no case"


def test_claim_e_spread_over_cells_where_some_seed_compresses():
    table = pd.concat([
        curve("s0", 3, "adaptive_binning", [1.0, 2.0, 1.0], activation="relu", seed=0),   # relative 0.5
        curve("s1", 3, "adaptive_binning", [1.0, 2.0, 1.8], activation="relu", seed=1),   # relative 0.1
        curve("s0", 4, "adaptive_binning", [1.0, 2.0, 1.0], activation="relu", seed=0),   # 0.5
        curve("s1", 4, "adaptive_binning", [1.0, 2.0, 1.0], activation="relu", seed=1),   # 0.5
        curve("s0", 5, "adaptive_binning", [1.0, 2.0, 2.0], activation="relu", seed=0),   # no seed compresses
        curve("s1", 5, "adaptive_binning", [1.0, 2.0, 2.0], activation="relu", seed=1)])
    e = compression.claim_varies_with_initialisation(summarise(table))
    # ranges over seeds: 0.4 (layer 3) and 0 (layer 4); layer 5 is left out: median 0.2 >= 0.1
    assert (e["cells"], e["of"], e["holds"], e["measured"]) == (2, 3, True, True)
    assert e["median_spread"] == pytest.approx(0.2)
    assert (e["n_hold"], e["n_cases"]) == (1, 2)  # layer 3's range 0.4 >= 0.1; layer 4's 0
    one_seed = compression.claim_varies_with_initialisation(summarise(table[table.seed == 0]))
    assert not one_seed["measured"] and not one_seed["holds"]


def test_claim_f_spearman_by_hand():
    # last layer: compression ranks 1, 2, 3, 4 against test accuracy ranks 1, 3, 2, 4:
    # rho = 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    rows = []
    for i, (final, acc) in enumerate(zip([1.9, 1.8, 1.7, 1.6], [0.80, 0.90, 0.85, 0.95])):
        rows.append(curve(f"r{i}", 2, "adaptive_binning", [1.0, 2.0, final], test_acc=acc, seed=i))
        rows.append(curve(f"r{i}", 1, "adaptive_binning", [1.0, 2.0, 2.0 - 0.1 * (i % 2)], test_acc=acc, seed=i))
    summary = summarise(pd.concat(rows))
    corr = compression.compression_generalisation(summary)
    assert corr[corr.layer == 2].rho.item() == pytest.approx(0.8)
    f = compression.claim_last_layer_generalisation(summary)
    assert not f["holds"] and f["measured"]  # with 4 runs rho = 0.8 has p = 0.2 > 0.05
    assert (f["n_hold"], f["n_cases"]) == (1, 2)  # the last layer is not significant; no other layer is
    assert f["last"]["p"] == pytest.approx(0.2, abs=1e-9)


def test_claim_f_ranks_within_groups():
    # Two activations: tanh runs compress less and test better (a between-group effect); within each group
    # compression and accuracy rise together in the last layer. Pooled ranks see a negative correlation,
    # ranks within groups a perfect positive one.
    rows = []
    for act, base_rel, base_acc in (("tanh", 0.0, 0.9), ("relu", 0.5, 0.7)):
        for s in range(6):
            final = 2.0 * (1 - base_rel - 0.05 * s)  # relative compression base_rel + 0.05 s
            for layer in (1, 2):
                rows.append(curve(f"{act}{s}", layer, "adaptive_binning", [1.0, 2.0, final if layer == 2 else 2.0],
                                  activation=act, seed=s, test_acc=base_acc + 0.01 * s))
    summary = summarise(pd.concat(rows))
    within = compression.compression_generalisation(summary)
    pooled = compression.compression_generalisation(summary, within_groups=False)
    assert within[within.layer == 2].rho.item() == pytest.approx(1.0)
    assert pooled[pooled.layer == 2].rho.item() < 0
    f = compression.claim_last_layer_generalisation(summary)
    assert f["holds"] and math.isnan(f["table"][f["table"].layer == 1].rho.item())  # layer 1 never compresses


def test_describe_claims_says_what_was_not_measured():
    text = compression.describe_claims(summarise(relu_table({"binning": [False, True]})))
    assert text["a"].startswith("**(a) not measured**") and "tanh" in text["a"]
    assert text["b"].startswith("**(b) not measured**") and "kde_upper" in text["b"]
    assert text["d"].startswith("**(d) not measured**")


def test_describe_claims_without_runs_at_l2_zero():
    text = compression.describe_claims(summarise(relu_table({"binning": [True], "adaptive_binning": [True]},
                                                                           l2=0.01)))
    assert text["b"].startswith("**(b) not measured**") and "without L2" in text["b"]
    assert text["d"].startswith("**(d) not measured**")


# ----------------------------------------------------------------------------------------------------
# the study end to end, tiny


def test_a_tiny_study_run_records_initialisation_and_every_epoch(tmp_path):
    from lrc_utils.book.chapters import StudyContext

    p = params(activations=["relu"], estimators=["binning", "adaptive_binning"], epochs=3, n_evals=2, mi_inputs=32,
               batch_size=1024)
    table = study.compute(p, StudyContext(checkpoint_dir=tmp_path))["planes"]
    assert list(table.columns) == study.COLUMNS
    # 3277 training patterns in batches of 1024: 4 steps an epoch; evaluations at epochs 0, 1 and 3
    assert sorted(table.epoch.unique()) == [0, 1, 3] and sorted(table.step.unique()) == [0, 4, 12]
    assert len(table) == 3 * 5 * 2  # epochs x hidden layers x estimators
    assert table.ixt.max() <= math.log(32) + 1e-9  # X is uniform over 32 patterns
    assert table.train_acc.between(0, 1).all() and table.run.unique().tolist() == ["relu-l2=0-seed0"]
    again = study.compute(p, StudyContext(checkpoint_dir=tmp_path / "again"))["planes"]
    pd.testing.assert_frame_equal(table, again)  # seeded: the same numbers


# ----------------------------------------------------------------------------------------------------
# the numbers of the chapter's prose


def prose_table() -> pd.DataFrame:
    """tanh without L2 under binning_sz: layers 1, 2 pinned, layer 3 fits then compresses, layer 4 does not;
    ReLU without L2 (seed 0, and seed 1 for adaptive binning's layer 4 only) and with L2 = 0.015 (seed 0)."""
    log_n = math.log(4096)
    tanh = pd.concat([curve("tanh", 1, "binning_sz", [log_n] * 3), curve("tanh", 2, "binning_sz", [log_n] * 3),
                      curve("tanh", 3, "binning_sz", [1.0, 2.0, 1.0], [0.1, 0.5, 0.6]),
                      curve("tanh", 4, "binning_sz", [1.0, 2.0, 2.0])]).assign(train_acc=0.9)
    none = relu_table({"binning": [False] * 4, "kde_upper": [False, False, False, True],
                       "adaptive_binning": [False, False, False, True],
                       "adaptive_kde": [False, False, True, True]}).assign(train_acc=0.8)
    seed1 = curve("relu-0.0-1", 4, "adaptive_binning", [1.0, 2.0, 1.8], activation="relu", seed=1,
                  test_acc=0.8).assign(train_acc=0.6)  # relative compression 0.1
    with_l2 = relu_table({"adaptive_binning": [True, True, False, True], "adaptive_kde": [True, False, True, False]},
                         l2=0.015).assign(train_acc=0.5)
    return pd.concat([tanh, none, seed1, with_l2], ignore_index=True)


def test_prose_numbers_by_hand():
    p = SimpleNamespace(mi_inputs=4096, train_fraction=0.8, batch_size=1000)
    out = compression.prose_numbers(prose_table(), p, wall_time_s=120.0)
    assert out["planes_log_n"] == pytest.approx(12 * math.log(2))
    # 4 hidden layers; runs tanh, relu seed 0 and 1, relu with L2; epochs 1 and 10; ceil(3277 / 1000) = 4
    assert (out["planes_hidden_layers"], out["planes_runs"], out["planes_eval_epochs"],
            out["planes_steps_per_epoch"]) == (4, 4, 2, 4)
    assert out["planes_wall_minutes"] == pytest.approx(2.0)
    assert (out["planes_a_pinned"], out["planes_a_where"], out["planes_a_layers"], out["planes_a_resolved"]) == (
        "layers 1 and 2 are pinned", "layer 3", 1, 2)
    assert out["planes_b_counts"] == "0 of 4 under `binning`; 1 of 4 under `kde_upper`"
    assert out["planes_c_counts"] == "1 of 4 under `adaptive_binning`; 2 of 4 under `adaptive_kde`"
    assert out["planes_c_where"] == "the last one or two layers"
    # L2 against none, seed-median relative compression per layer: adaptive binning 0.5/0, 0.5/0, 0/0 (tie),
    # 0.5/0.3 (the median of 0.5 and 0.1): 3 larger; adaptive KDE 0.5/0, 0/0 and 0.5/0.5 (ties), 0/0.5 (smaller):
    # larger in 4 of the 5 untied cells
    assert (out["planes_d_larger"], out["planes_d_cells"]) == (4, 5)
    # adaptive binning cells where some seed compresses: relu/none layer 4 (seeds 0.5 and 0.1: range 0.4) and
    # relu/L2 layers 1, 2, 4 (one seed: range 0); the largest range's seeds reach 10 and 50 per cent
    assert out["planes_e_median_spread"] == pytest.approx(0.0)
    assert out["planes_e_max_spread"] == pytest.approx(0.4)
    assert (out["planes_e_low_percent"], out["planes_e_high_percent"]) == (pytest.approx(10.0), pytest.approx(50.0))
    # last layer, ranked within groups: compression (1, 0.5) and test accuracy (0.9, 0.8 -> 1, 0.5) in the ReLU
    # group without L2, (1) and (1) with L2: identical ranks, rho = 1
    assert out["planes_f_rho"] == pytest.approx(1.0)
    assert (out["planes_train_acc_tanh_none"], out["planes_train_acc_relu_none"],
            out["planes_train_acc_relu_l2"]) == (pytest.approx(0.9), pytest.approx(0.7), pytest.approx(0.5))


def test_prose_numbers_say_what_was_not_measured():
    p = SimpleNamespace(mi_inputs=4096, train_fraction=0.8, batch_size=512)
    out = compression.prose_numbers(curve("r", 1, "binning", [1.0, 2.0, 1.0], activation="elu"), p, 60.0)
    assert out["planes_a_pinned"] == out["planes_c_where"] == out["planes_b_counts"] == "not measured"
    assert math.isnan(out["planes_d_larger"]) and math.isnan(out["planes_f_rho"])


def test_prose_numbers_on_the_committed_paper_runs():
    folder = REPO_ROOT / "results" / "paper" / "information_planes"
    info = json.loads((folder / "meta.json").read_text())["tables"]["planes"]
    out = compression.prose_numbers(pd.read_csv(folder / "planes.csv"), SimpleNamespace(**info["parameters"]),
                                    info["wall_time_s"])
    assert (out["planes_hidden_layers"], out["planes_runs"], out["planes_eval_epochs"],
            out["planes_steps_per_epoch"]) == (5, 40, 19, 7)
    assert out["planes_log_n"] == pytest.approx(8.32, abs=0.005)
    assert out["planes_wall_minutes"] == pytest.approx(65.2, abs=0.05)
    assert (out["planes_a_pinned"], out["planes_a_where"], out["planes_a_layers"], out["planes_a_resolved"]) == (
        "layers 1 and 2 are pinned", "the deepest layer", 1, 3)
    assert out["planes_b_counts"] == "0 of 5 under `binning`; 0 of 5 under `kde_upper`"
    assert out["planes_c_where"] == "the last one or two layers"
    assert (out["planes_d_larger"], out["planes_d_cells"]) == (35, 40)
    assert out["planes_e_median_spread"] == pytest.approx(0.24, abs=0.005)
    assert out["planes_e_max_spread"] == pytest.approx(0.67, abs=0.005)
    assert (out["planes_f_rho"], out["planes_f_p"]) == (pytest.approx(0.24, abs=0.005), pytest.approx(0.13, abs=0.005))
    assert (out["planes_train_acc_softplus_l2"], out["planes_train_acc_softplus_none"]) == (
        pytest.approx(0.756, abs=5e-4), pytest.approx(0.981, abs=5e-4))
    assert (out["planes_train_acc_tanh_l2"], out["planes_train_acc_tanh_none"]) == (
        pytest.approx(0.925, abs=5e-4), pytest.approx(0.995, abs=5e-4))
