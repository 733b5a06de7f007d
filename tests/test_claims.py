"""The claims table of the book's introduction: each verdict rule on small hand-made tables whose answer is
counted by hand, and the committed page ``book/claims_table.md`` is what the generator writes now."""

import math

import pandas as pd
import pytest

from lrc_utils.book import claims, summary
from lrc_utils.book.paths import REPO_ROOT, RESULTS_DIR

# ----------------------------------------------------------------------------------------------------
# the committed page


@pytest.mark.parametrize("page, render", [(claims.PAGE, claims.render), (claims.SUMMARY_PAGE, claims.render_summary)])
def test_page_is_what_the_generator_writes_now(page, render):
    assert page.exists(), f"{page.relative_to(REPO_ROOT)} is missing: run `{claims.REGENERATE}`"
    assert page.read_text() == render(RESULTS_DIR / "paper"), \
        f"{page.relative_to(REPO_ROOT)} is out of date with results/paper: run `{claims.REGENERATE}`"


def test_summary_figure_is_what_the_generator_draws_now(tmp_path):
    """Byte for byte: the same locked environment draws the same PNG (Agg, no date in its metadata)."""
    assert summary.FIGURE.exists(), f"{summary.FIGURE.relative_to(REPO_ROOT)} is missing: run `{claims.REGENERATE}`"
    drawn = summary.write_summary_figure(RESULTS_DIR / "paper", claims.claims_table(RESULTS_DIR / "paper"),
                                         tmp_path / "summary.png")
    assert drawn.read_bytes() == summary.FIGURE.read_bytes(), \
        f"{summary.FIGURE.relative_to(REPO_ROOT)} is out of date with results/paper: run `{claims.REGENERATE}`"


def test_intro_includes_the_pages_under_its_heading_summary_first():
    intro = (REPO_ROOT / "book" / "intro.md").read_text()
    heading, summary = intro.find("## The claims at a glance"), intro.find("```{include} claims_summary.md")
    include = intro.find("```{include} claims_table.md")
    assert 0 < heading < summary < include, ("book/intro.md must include claims_summary.md, then claims_table.md, "
                                             "under '## The claims at a glance'")
    assert intro.find("\n## ") + 1 == heading, "the claims table must be the introduction's first section"


def test_every_claim_of_the_book_has_a_row_in_its_group():
    table = claims.claims_table(RESULTS_DIR / "paper")
    assert list(table.columns) == list(claims.COLUMNS)
    author = (RESULTS_DIR / claims.AUTHOR_PRESET / "figure1" / "meta.json").exists()
    mechanism = 3 * (RESULTS_DIR / "paper" / "mechanism" / "meta.json").exists()
    assert list(table.chapter) == (["figure1"] * (1 + author) + ["mechanism"] * mechanism
                                   + ["figure2", "figure3", "rank_and_information"]
                                   + ["information_planes"] * 6 + ["noisy_networks"] + ["mi_estimators"] * 4
                                   + ["theory"] * 2)
    assert list(table.group) == (["paper"] * (4 + author + mechanism) + ["others"] * 7 + ["check"] * 4
                                 + ["ours"] * 2)


def test_every_committed_verdict_follows_the_one_rule():
    """The introduction's rule, row by row: the verdict's words are verdict_word of the count it states."""
    table = claims.claims_table(RESULTS_DIR / "paper")
    for r in table.itertuples():
        word = claims.verdict_word(r.n_hold, r.n_cases, r.group)
        assert r.verdict.startswith(f"{word}: {r.n_hold} of {r.n_cases} "), (r.claim, r.verdict)
        assert 0 <= r.n_hold <= r.n_cases and r.conditions or r.group == "check", r.claim


def test_committed_counts_are_the_chapters_own_counts():
    """The counts the verdicts are decided on, recounted from the committed tables with the chapters' functions
    (not through the claims module): Figure 1's falling layers, and information-plane claims (a) to (c)."""
    from lrc_utils.book.chapters.figure1.readings import terminal_phase_falls
    from lrc_utils.book.chapters.information_planes import readings as planes
    from lrc_utils.book.store import read_stored_table

    table = claims.claims_table(RESULTS_DIR / "paper").set_index("claim")
    local_rank, _ = read_stored_table(RESULTS_DIR / "paper" / "figure1", "local_rank")
    falls = terminal_phase_falls(local_rank, 0.10, 0.99)
    row = table[table.chapter == "figure1"].iloc[0]
    assert (row.n_hold, row.n_cases) == (int(falls["falls in terminal phase"].sum()), len(falls))
    if (RESULTS_DIR / "paper" / "mechanism" / "meta.json").exists():  # the arms without weight decay
        from lrc_utils.book.chapters.mechanism import readings as mechanism

        measures, _ = read_stored_table(RESULTS_DIR / "paper" / "mechanism", "measures")
        at_atol = mechanism.falls(measures)
        at_atol = at_atol[at_atol.measure == mechanism.JUDGED["rank_atol"]]
        rows = table[table.chapter == "mechanism"]
        assert len(rows) == len(claims.MECHANISM_ARMS)
        for arm, recipe in claims.MECHANISM_ARMS.items():
            row = rows[rows.index.str.endswith(f"({recipe})")].iloc[0]
            arm_falls = at_atol[at_atol.arm == arm].falls
            assert (row.n_hold, row.n_cases) == (int(arm_falls.sum()), len(arm_falls)), arm
            never = any(a == arm for a, _ in mechanism.unfitted_arms(measures))
            assert ("training accuracy never reaches 99%" in row.verdict) == never, arm
    planes_table, info = read_stored_table(RESULTS_DIR / "paper" / "information_planes", "planes")
    verdicts = planes.layer_verdicts(planes.curve_summary(planes_table, info["parameters"]["mi_inputs"]))
    rows = table[table.chapter == "information_planes"]
    for letter, claim in zip("abc", (planes.claim_fitting_then_compression, planes.claim_no_compression,
                                     planes.claim_adaptive_compression)):
        row = rows[rows.index.str.startswith(f"({letter})")].iloc[0]
        counted = claim(verdicts)
        assert (row.n_hold, row.n_cases) == (counted["n_hold"], counted["n_cases"]), letter


@pytest.mark.parametrize("group, words", [("paper", ("reproduced", "partly", "not reproduced")),
                                          ("check", ("verified", "partly", "not verified")),
                                          ("ours", ("verified (ours)", "partly (ours)", "not verified (ours)"))])
def test_the_rule_counts_cases_the_same_in_every_group(group, words):
    assert [claims.verdict_word(n, 4, group) for n in (4, 3, 2, 0)] == [words[0], words[1], words[2], words[2]]
    assert claims.verdict(3, 4, "layers", group, "layer 2 fails") == f"{words[1]}: 3 of 4 layers; layer 2 fails"


# ----------------------------------------------------------------------------------------------------
# verdict rules


@pytest.mark.parametrize("n_hold, n_cases, expected", [(7, 7, "reproduced"), (4, 7, "partly"), (6, 7, "partly"),
                                                        (3, 6, "not reproduced"), (0, 5, "not reproduced")])
def test_count_verdict(n_hold, n_cases, expected):
    assert claims.count_verdict(n_hold, n_cases) == expected


def local_rank_table(ranks: dict[tuple[str, int], list[float]], train_acc=(0.5, 1.0, 1.0)) -> pd.DataFrame:
    """Two seeds at steps 1, 10, 100; seed 0 at rank - 1, seed 1 at rank + 1, so the seed mean is ``rank``."""
    rows = [(panel, seed, step, layer, r + (2 * seed - 1), acc)
            for (panel, layer), values in ranks.items() for seed in (0, 1)
            for step, r, acc in zip((1, 10, 100), values, train_acc)]
    return pd.DataFrame(rows, columns=["panel", "seed", "step", "layer", "local_rank", "train_acc"])


def test_figure1_every_layer_falls():
    # last 5 <= 0.9 * 10 (the maximum, which is also the maximum after the fit at step 10)
    row = claims.figure1_claim(local_rank_table({("gaussian", 1): [10, 10, 5], ("mnist", 1): [20, 20, 8]}))
    assert row["verdict"] == "reproduced: 2 of 2 layers"
    assert row["measured"] == "seed means: 2 of 2 layers fall, by 50% to 60%; per seed: 4 of 4 (seed, layer) curves"


def test_figure1_a_flat_layer_is_named():
    row = claims.figure1_claim(local_rank_table({("gaussian", 1): [10, 10, 5], ("gaussian", 2): [10, 10, 5],
                                                 ("mnist", 1): [20, 20, 20]}))
    assert row["verdict"] == "partly: 2 of 3 layers; MNIST layer 1 does not fall"
    assert row["measured"] == ("seed means: 2 of 3 layers fall, by 50% to 50%; per seed: 4 of 6 (seed, layer) curves; "
                               "MNIST layer 1: maximum 20.0, last 20.0")


def test_figure1_a_fall_before_the_fit_does_not_count():
    # falls from 10 to 5 while fitting (accuracy 0.5 at step 1), then stays at 5: its maximum after the fit is
    # its last value, so it does not fall in the terminal phase; the 9.5 layer falls by only 5%
    row = claims.figure1_claim(local_rank_table({("gaussian", 1): [10, 5, 5], ("gaussian", 2): [10, 10, 9.5],
                                                 ("gaussian", 3): [10, 10, 8.9]}))
    assert row["verdict"] == "not reproduced: 1 of 3 layers; Gaussian layers 1 and 2 do not fall"


def vib_table(columns: dict[str, dict[str, list[float]]], betas=(0.1, 1.0, 10.0)) -> pd.DataFrame:
    """Per dataset, seed means of test_acc, kl and the two ranks over ``betas``; two seeds at mean -+ 0.01."""
    rows = []
    for dataset, values in columns.items():
        for seed in (0, 1):
            for i, beta in enumerate(betas):
                rows.append({"dataset": dataset, "seed": seed, "beta": beta, "kl": 1.0 / beta,
                             **{k: v[i] + 0.01 * (2 * seed - 1) for k, v in values.items()}})
    return pd.DataFrame(rows)


def test_figure2_relative_only():
    # the accuracy drops by 0.4 between beta 0.1 and 1 (a transition), by 0.05 between 1 and 10 (not one);
    # absolute: 8 -> 4 -> 3 falls; relative: 3 -> 6 -> 6.2 rises with a step of 3 at the transition
    sweep = vib_table({"gaussian": {"test_acc": [0.9, 0.5, 0.45], "local_rank_abs": [8, 4, 3],
                                    "local_rank_rel": [3, 6, 6.2]}})
    row = claims.figure2_claim(sweep, jump_min_change=0.5, accuracy_min_drop=0.1)
    # decided under the absolute tolerance (the paper's definition), the relative outcome beside it
    assert row["verdict"] == ("not reproduced: 0 of 1 data set; absolute tolerance: the rank falls; relative "
                              "tolerance: holds")
    assert row["measured"] == ("accuracy drops at $\\beta$ 0.1–1; absolute 8.00 → 3.00, 2 steps ($\\beta$ 0.1–10), "
                               "1 at drops; relative 3.00, 6.20 at the largest $\\beta$, 1 step ($\\beta$ 0.1–1), 1 at "
                               "drops")
    dip = vib_table({"gaussian": {"test_acc": [0.9, 0.8, 0.45], "local_rank_abs": [8, 4, 3],
                                  "local_rank_rel": [3, 2, 6.2]}})  # the relative rank dips before the collapse
    assert "relative 3.00, lowest 2.00 at $\\beta$ 1 before the encoder collapses, 6.20" in \
        claims.figure2_claim(dip, 0.5, 0.1)["measured"]


def test_figure2_a_rise_away_from_the_transitions_does_not_count():
    # relative rises only between beta 1 and 10 (3.2 -> 6), where the accuracy does not drop
    sweep = vib_table({"gaussian": {"test_acc": [0.9, 0.5, 0.45], "local_rank_abs": [2, 5, 6],
                                    "local_rank_rel": [3, 3.2, 6]}})
    row = claims.figure2_claim(sweep, jump_min_change=0.5, accuracy_min_drop=0.1)
    assert row["verdict"] == ("reproduced: 1 of 1 data set; relative tolerance: no sharp step of the rank at a "
                              "transition")
    both = vib_table({"gaussian": {"test_acc": [0.9, 0.5, 0.45], "local_rank_abs": [2, 5, 6],
                                   "local_rank_rel": [3, 6, 6]}})
    assert claims.figure2_claim(both, 0.5, 0.1)["verdict"] == "reproduced: 1 of 1 data set; relative tolerance: holds"
    no_drop = vib_table({"gaussian": {"test_acc": [0.9, 0.85, 0.8], "local_rank_abs": [2, 5, 6],
                                      "local_rank_rel": [3, 6, 6]}})
    row = claims.figure2_claim(no_drop, 0.5, 0.1)
    assert row["verdict"].startswith("not reproduced: 0 of 1 data set; absolute tolerance: no sharp step")
    assert row["measured"].startswith("no accuracy drop; ")


def test_figure3_conventions_and_datasets():
    falls = {"test_acc": [0.97, 0.9, 0.1]}
    sweep = vib_table({"mnist": {**falls, "local_rank_abs": [19, 10, 2.5], "local_rank_rel": [9, 12, 32]},
                       "fashion_mnist": {**falls, "local_rank_abs": [22, 10, 2.5], "local_rank_rel": [8, 12, 32]}})
    row = claims.figure3_claim(sweep)
    assert row["verdict"] == ("not reproduced: 0 of 2 data sets; absolute tolerance: holds in 0 of 2 (MNIST: the rank "
                              "falls; Fashion-MNIST: the rank falls); relative tolerance: holds in 2 of 2")
    assert row["measured"] == ("$\\beta$ 0.1 → 10: MNIST: accuracy 0.97 → 0.10, rank absolute 19.0 → 2.5, relative "
                               "9.0 → 32.0; Fashion-MNIST: accuracy 0.97 → 0.10, rank absolute 22.0 → 2.5, relative "
                               "8.0 → 32.0")
    mixed = vib_table({"mnist": {**falls, "local_rank_abs": [19, 10, 2.5], "local_rank_rel": [9, 12, 32]},
                       "fashion_mnist": {**falls, "local_rank_abs": [22, 10, 2.5], "local_rank_rel": [8, 6, 4]}})
    expected = "relative tolerance: holds in 1 of 2 (Fashion-MNIST: the rank falls)"
    assert claims.figure3_claim(mixed)["verdict"].endswith(expected)
    rises = {"test_acc": [0.9, 0.9, 0.95], "local_rank_abs": [1, 2, 3], "local_rank_rel": [1, 2, 3]}
    assert claims.figure3_claim(vib_table({"mnist": rises}))["verdict"].startswith("not reproduced: 0 of 1 data sets")


def test_binning_uses_the_finest_bins_only():
    log4, log3 = math.log(4), math.log(3)
    table = pd.DataFrame([("binning", 4, d, n_bins, ixt, log4)
                          for d, fine in ((1, log3), (2, log4), (5, 0.995 * log4))
                          for n_bins, ixt in ((2, 0.1), (10, fine))],
                         columns=["estimator", "n", "d", "n_bins", "ixt", "truth"])
    row = claims.binning_claim(table, rel_tol=0.01)  # d = 1 is short by log(4/3) = 0.29 nats, d = 5 within 1%
    assert row["verdict"] == "partly: 2 of 3 cases"
    assert row["measured"] == "short of $\\log N$: binning at $d$ = 1, $N$ = 4 (by 0.29 nats)"
    assert "(10 per dimension)" in row["criterion"]


def test_channel_counts_only_cases_below_half_log_n():
    half = math.log(100) / 2  # 2.30
    cases = [(1, 1.0, 0.8, 1.2), (2, 2.0, 2.1, 2.5), (3, 1.5, 1.4, 1.6), (4, 3.0, 3.5, 4.0)]  # (d, truth, lo, up)
    table = pd.DataFrame([(est, 100, d, 0.1, value, truth, 2 * half)
                          for d, truth, lo, up in cases for est, value in (("kde lower", lo), ("kde upper", up))],
                         columns=["estimator", "n", "d", "noise_var", "ixt", "truth", "log_n"])
    row = claims.channel_claim(table)  # d = 4 is above (1/2) log N: ignored although outside the bracket
    assert row["verdict"] == "partly: 2 of 3 cases"
    assert row["measured"] == "2 of 3 cases below $\\tfrac12 \\log N$ (4 in all)"


def test_mixture_and_noisy_network_within_four_standard_errors():
    # Monte Carlo 0.95 below the lower bound 1.0: inside with stderr 0.02 (0.95 + 0.08), outside with 0.01
    mix = pd.DataFrame({"kde_lower": [1.0, 1.0], "monte_carlo": [0.95, 0.95], "stderr": [0.02, 0.01],
                        "kde_upper": [2.0, 2.0]})
    assert claims.mixture_claim(mix)["verdict"] == "not verified: 1 of 2 cases"
    assert claims.mixture_claim(mix.iloc[:1])["verdict"] == "verified: 1 of 1 cases"
    # gap 0.1: within 4 * 0.03 = 0.12, not within 4 * 0.02 = 0.08; deeper layers are not checked
    noisy = pd.DataFrame({"n_samples": [4, 16, 64, 4], "layer": [1, 1, 1, 2], "stderr": [0.03, 0.03, 0.02, 0.0],
                          "h_t_given_x": [7.1, 6.9, 7.1, 0.0], "exact_h_t_given_x": [7.0, 7.0, 7.0, None]})
    row = claims.noisy_claim(noisy)
    assert row["verdict"] == "partly: 2 of 3 sample counts"
    assert row["measured"] == "2 of 3 sample counts (4, 16 and 64); largest gap 0.1000 nats (5.00 standard errors)"


def test_markdown_groups_links_the_chapter_bolds_the_verdict_and_refuses_a_verdict_off_the_rule():
    table = pd.DataFrame([("paper", "a | b", "figure2", "AdamW", "c", "partly: 2 of 3 cases", "m", 2, 3)],
                         columns=list(claims.COLUMNS))
    lines = claims.claims_markdown(table).splitlines()
    assert lines[0] == "**The paper's claims**"
    assert lines[4] == "| a \\| b | {doc}`Figure 2 </executed/figure2>` | AdamW | c | **partly**: 2 of 3 cases | m |"
    with pytest.raises(ValueError, match="is not what the rule gives for 1 of 3 cases: 'not reproduced'"):
        claims.claims_markdown(table.assign(n_hold=1))
    summary = claims.summary_markdown(table)
    assert "* Figure 2, Deep VIB on Gaussian data" in summary and "**partly**: 2 of 3 cases (AdamW)." in summary


# ----------------------------------------------------------------------------------------------------
# bad inputs


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"lacks the columns \['train_acc'\]"):
        claims.figure1_claim(local_rank_table({("gaussian", 1): [1, 1, 1]}).drop(columns="train_acc"))
    with pytest.raises(ValueError, match="is empty"):
        claims.mixture_claim(pd.DataFrame(columns=["kde_lower", "monte_carlo", "stderr", "kde_upper"]))
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        claims.binning_claim([1, 2])
    two = vib_table({d: {"test_acc": [1, 1, 1], "local_rank_abs": [1, 1, 1], "local_rank_rel": [1, 1, 1]}
                     for d in ("a", "b")})
    with pytest.raises(ValueError, match=r"must hold one dataset, got \['a', 'b'\]"):
        claims.figure2_claim(two, 0.5, 0.1)
    with pytest.raises(ValueError, match="need 0 <= n_hold <= n_cases"):
        claims.count_verdict(3, 2)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        claims.claims_table(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="figure1/local_rank.csv is not stored"):
        claims.claims_table(tmp_path)


def test_the_answer_box_says_the_conditions_every_row_shares_once():
    """Hand-written rows: the two leading conditions are shared and said once after the bullets; each bullet keeps
    the rest (a last item is never taken as shared); one row keeps all of its conditions."""
    from lrc_utils.book.claims import answer_box_markdown

    rows = pd.DataFrame({"claim": ["(a) A", "(b) B"], "verdict": ["reproduced: 3 of 3 layers", "partly: 2 of 3"],
                         "conditions": ["12-bit task, 5 seeds, tanh; binning", "12-bit task, 5 seeds, ReLU"]})
    assert answer_box_markdown(rows) == ("* (a) A: **reproduced**: 3 of 3 layers (tanh; binning).\n"
                                         "* (b) B: **partly**: 2 of 3 (ReLU).\n\nAll under: 12-bit task, 5 seeds.\n")
    shared_one = rows.assign(conditions=["12-bit task, tanh", "12-bit task, ReLU"])  # one shared item: said in each
    assert answer_box_markdown(shared_one).endswith("* (b) B: **partly**: 2 of 3 (12-bit task, ReLU).\n")
    nested = rows.assign(conditions=["networks (Adam, L2 0), tanh, 5 seeds", "networks (Adam, L2 0), tanh, ReLU"])
    assert answer_box_markdown(nested).endswith("\n\nAll under: networks (Adam, L2 0), tanh.\n")
    assert answer_box_markdown(rows.iloc[:1]) == ("* (a) A: **reproduced**: 3 of 3 layers (12-bit task, 5 seeds, "
                                                  "tanh; binning).\n")
