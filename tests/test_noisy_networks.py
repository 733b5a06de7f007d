"""The noisy-networks chapter: the clustering ratio and the rank-correlation criterion against answers counted by
hand, the training noise reproducible from the seed (also across an interrupted run), and the claim's verdict."""

import math

import pandas as pd
import pytest
import torch

from lrc_utils.book import claims
from lrc_utils.book.chapters.noisy_networks import readings as clustering
from lrc_utils.book.chapters.noisy_networks import study
from lrc_utils.data import DataNotFoundError
from lrc_utils.models import NoisyMLP, noisy_cross_entropy, noisy_logits
from lrc_utils.planes import NoisyMetrics, clustering_ratio
from lrc_utils.training import Checkpoint, FitConfig, fit

# ----------------------------------------------------------------------------------------------------
# the clustering ratio


def test_clustering_ratio_on_a_line_counted_by_hand():
    # class 0 at 0 and 1, class 1 at 3 and 4: within-class distances 1, 1 (mean 1); between-class distances
    # |0-3| = 3, |0-4| = 4, |1-3| = 2, |1-4| = 3 (mean 3): ratio 1/3
    s = torch.tensor([[0.0], [1.0], [3.0], [4.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert clustering_ratio(s, y) == pytest.approx(1 / 3, rel=1e-15)


def test_clustering_ratio_with_unequal_classes_in_two_dimensions():
    # class 0: (0,0), (3,4), (0,4); class 1: (6,8). Within: |(0,0)-(3,4)| = 5, |(0,0)-(0,4)| = 4, |(3,4)-(0,4)| = 3
    # (mean 4). Between: |(6,8)-(0,0)| = 10, |(6,8)-(3,4)| = 5, |(6,8)-(0,4)| = sqrt(36 + 16) (mean (15 + sqrt 52)/3).
    s = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0], [6.0, 8.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1])
    expected = 4.0 / ((15.0 + math.sqrt(52.0)) / 3.0)
    assert clustering_ratio(s, y) == pytest.approx(expected, rel=1e-15)
    # the row blocks do not change the answer (one row per block here), nor the order of the rows
    assert clustering_ratio(s, y, chunk_bytes=1) == pytest.approx(expected, rel=1e-15)
    perm = torch.tensor([3, 1, 0, 2])
    assert clustering_ratio(s[perm], y[perm]) == pytest.approx(expected, rel=1e-15)


def test_clustering_ratio_limits_and_bad_inputs():
    y = torch.tensor([0, 0, 1, 1])
    collapsed = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, 2.0], [-1.0, 2.0]])
    assert clustering_ratio(collapsed, y) == 0.0  # every class a point
    assert math.isnan(clustering_ratio(torch.ones(4, 3), y))  # no spread at all
    with pytest.raises(ValueError, match="at least two classes"):
        clustering_ratio(torch.randn(4, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="a class with two rows"):
        clustering_ratio(torch.randn(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one label per row"):
        clustering_ratio(torch.randn(4, 2), torch.tensor([0, 1]))


# ----------------------------------------------------------------------------------------------------
# the rank correlation and the verdict


def t3_two_sided_p(t: float) -> float:
    """Two-sided p-value of Student's t with 3 degrees of freedom, from its closed-form CDF."""
    cdf = 0.5 + (t / (math.sqrt(3) * (1 + t * t / 3)) + math.atan(t / math.sqrt(3))) / math.pi
    return 2 * (1 - cdf)


def test_spearman_of_five_steps_counted_by_hand():
    # ranks of ixt 1..5, of clustering 2, 1, 4, 3, 5: d = 1, -1, 1, -1, 0, sum d^2 = 4, rho = 1 - 6*4/(5*24) = 0.8;
    # p from t = rho sqrt(3 / (1 - rho^2)) with 3 degrees of freedom
    table = pd.DataFrame({"layer": 1, "seed": 0, "step": [1, 2, 4, 8, 16], "ixt": [1.0, 2.0, 3.0, 4.0, 5.0],
                          "clustering": [0.2, 0.1, 0.4, 0.3, 0.5]})
    row = clustering.clustering_correlations(table).iloc[0]
    assert row.rho == pytest.approx(0.8, rel=1e-12)
    assert row.p_value == pytest.approx(t3_two_sided_p(0.8 * math.sqrt(3 / 0.36)), rel=1e-9)
    assert row.peak_step == 16 and row.steps_after_peak == 1 and math.isnan(row.rho_after_peak)


def noisy_table(layers: dict[int, list[tuple[list[float], list[float]]]]) -> pd.DataFrame:
    """Rows (seed, step, layer, ixt, clustering) from per-layer lists of (ixt, clustering) series, one per seed,
    at steps 1, 2, 4, ..."""
    rows = []
    for layer, series in layers.items():
        for seed, (ixt, ratio) in enumerate(series):
            rows += [(seed, 2**k, layer, i, c, 0.01) for k, (i, c) in enumerate(zip(ixt, ratio))]
    return pd.DataFrame(rows, columns=["seed", "step", "layer", "ixt", "clustering", "stderr"])


UP = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
DOWN = UP[::-1]
RISE_THEN_FALL = [1.0, 2.0, 3.0, 6.0, 5.0, 4.0]  # peak at the 4th step (step 8)
FALLING = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]


def test_clustering_correlations_counted_by_hand():
    table = noisy_table({
        1: [(UP, UP), (UP, [0.1, 0.3, 0.2, 0.4, 0.6, 0.5])],  # rho 1 and 0.886 (p 0.019): holds
        2: [(UP, DOWN), (UP, DOWN)],  # rho -1: does not hold
        3: [(RISE_THEN_FALL, FALLING), (UP, UP)],  # seed 0: rho -0.77 over every step, +1 from its peak on
    })
    corr = clustering.clustering_correlations(table).set_index(["layer", "seed"])
    assert corr.loc[(1, 1), "rho"] == pytest.approx(1 - 6 * 4 / (6 * 35), rel=1e-12)  # d = 0,-1,1,0,-1,1
    assert corr.loc[(3, 0), "peak_step"] == 8 and corr.loc[(3, 0), "steps_after_peak"] == 3
    assert corr.loc[(3, 0), "rho"] == pytest.approx(1 - 6 * 62 / (6 * 35), rel=1e-12)  # d = -5,-3,-1,3,3,3
    assert corr.loc[(3, 0), "rho_after_peak"] == pytest.approx(1.0)
    by_layer = clustering.clustering_by_layer(clustering.clustering_correlations(table), 0.05, "all")
    assert by_layer.holds.tolist() == [True, False, False]
    assert by_layer.seeds_hold.tolist() == [2, 0, 1]


RISING_AFTER_PEAK = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def test_goldfeld_claim_judges_the_compression_phase_of_the_layers_that_have_one():
    """Their claim, read from each seed's I(X;T_l) peak on: layer 1 clusters as it compresses in both seeds
    (rho +1 over the 3 steps from the peak: holds), layer 2 declusters (rho -1: does not hold), layer 3 never
    compresses (I(X;T_l) peaks at the last step: not judged). One of two judged layers: not more than half."""
    table = noisy_table({1: [(RISE_THEN_FALL, FALLING)] * 2, 2: [(RISE_THEN_FALL, RISING_AFTER_PEAK)] * 2,
                         3: [(UP, DOWN)] * 2})
    row = claims.goldfeld_clustering_claim(table)
    assert row["chapter"] == "noisy_networks" and row["group"] == "others"
    assert row["verdict"] == "not reproduced: 1 of 2 layers"
    assert "not judged (no compression phase in any seed): layer 3" in row["measured"]
    assert row["measured"].startswith("from each seed's $I(X;T_l)$ peak on: median $\\rho$ per layer +1.00, -1.00, "
                                      "undefined (2 seeds)")
    both = noisy_table({1: [(RISE_THEN_FALL, FALLING)] * 2, 2: [(UP, DOWN)] * 2})
    assert claims.goldfeld_clustering_claim(both)["verdict"] == "reproduced: 1 of 1 layers"


def test_a_constant_series_never_holds_and_without_compression_the_claim_is_not_seen():
    table = noisy_table({1: [([2.0] * 6, UP)] * 2})
    corr = clustering.clustering_correlations(table)
    assert corr.rho.isna().all() and corr.rho_after_peak.isna().all()
    row = claims.goldfeld_clustering_claim(table)  # no compression at all: the claim is not seen
    assert row["verdict"] == "not reproduced: 0 of 1 layers; no layer has a compression phase in any seed"


# ----------------------------------------------------------------------------------------------------
# the training noise


def test_noisy_logits_draw_what_noisy_hidden_draws():
    torch.manual_seed(0)
    model = NoisyMLP([12, 10, 7, 2], "tanh", noise_std=0.1)
    x = torch.rand(16, 12)
    logits = noisy_logits(model, x, torch.Generator().manual_seed(5))
    _, values = model.noisy_hidden(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(logits, model.layers[-1](values[-1]))


class StopAt:
    """A monitor that raises once at ``step`` (an interruption), then records nothing."""

    name = "stop"

    def __init__(self, step):
        self.step, self.fired = step, False

    def __call__(self, model, step, batch_loss):
        if step == self.step and not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return []


def train(tmp_path, interrupt_at=None, global_seed=0, loss=noisy_cross_entropy):
    x, y = torch.rand(64, 12, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    torch.manual_seed(0)  # the initialisation
    model = NoisyMLP([12, 6, 4, 2], "tanh", noise_std=0.1)
    torch.manual_seed(global_seed)  # the global generator after it must not matter
    config = FitConfig(steps=12, lr=1e-2, batch_size=8, seed=3, eval_steps=(4, 8, 12), checkpoint_every=5)
    monitors = [NoisyMetrics((x, y), (x, y), seed=3), StopAt(interrupt_at)]
    checkpoint = Checkpoint(tmp_path, {"test": "noisy"})
    try:
        return fit(model, loss, (x, y), config, monitors, checkpoint, progress=False)
    except KeyboardInterrupt:
        torch.manual_seed(global_seed + 1)
        return fit(model, loss, (x, y), config, monitors, checkpoint, progress=False)


@pytest.mark.parametrize("path", ["fast path", "autograd"])
def test_training_noise_comes_from_the_run_seed_also_across_an_interruption(tmp_path, path):
    """Both ways fit trains a noisy network: its step without autograd (noisy_cross_entropy itself) and autograd (the
    loss wrapped in a function fit does not know); the two give the same table."""
    loss = noisy_cross_entropy if path == "fast path" else (lambda m, x, y, g: noisy_cross_entropy(m, x, y, g))
    plain = train(tmp_path / "a", loss=loss)["metrics"]
    other_global = train(tmp_path / "b", global_seed=99, loss=loss)["metrics"]
    resumed = train(tmp_path / "c", interrupt_at=8, loss=loss)["metrics"]  # checkpoint at step 5, stopped at step 8
    pd.testing.assert_frame_equal(plain, other_global)
    pd.testing.assert_frame_equal(plain, resumed)
    pd.testing.assert_frame_equal(plain, train(tmp_path / "d")["metrics"])


def test_two_runs_of_the_study_give_identical_tables(tmp_path):
    from types import SimpleNamespace

    p = SimpleNamespace(seeds=[0, 1], data_seed=0, train_fraction=0.8, widths=[4, 3], activation="tanh",
                        noise_std=0.1, steps=20, lr=1e-2, batch_size=16, weight_decay=0.0, n_evals=2, n_samples=2,
                        n_mc=20)
    study.check(p)
    try:
        first = study.compute(p, study.StudyContext(checkpoint_dir=tmp_path / "a"))["noisy"]
    except DataNotFoundError as err:
        pytest.skip(f"the 12-bit task is not on this machine ({str(err).splitlines()[0]})")
    torch.manual_seed(123)
    second = study.compute(p, study.StudyContext(checkpoint_dir=tmp_path / "b"))["noisy"]
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == study.COLUMNS
    assert len(first) == 2 * 2 * 2  # seeds x steps x layers
    by_seed = first.set_index(["step", "layer", "seed"]).ixt.unstack("seed")
    assert not by_seed[0].equals(by_seed[1])  # the seeds differ


@pytest.mark.parametrize("name, value, message", [
    ("noise_std", 0.0, "noise_std must be a finite number > 0"), ("train_fraction", 1.0, "strictly between 0 and 1"),
    ("activation", "swish", "activation must be one of"), ("widths", [4, 0], "widths must be a non-empty list"),
    ("n_mc", 1, "n_mc must be >= 2"), ("seeds", [0, 0], "seeds must be a non-empty list"),
])
def test_check_refuses_bad_parameters(name, value, message):
    from types import SimpleNamespace

    p = SimpleNamespace(seeds=[0], data_seed=0, train_fraction=0.8, widths=[4, 3], activation="tanh", noise_std=0.1,
                        steps=20, lr=1e-2, batch_size=16, weight_decay=0.0, n_evals=2, n_samples=2, n_mc=20)
    setattr(p, name, value)
    with pytest.raises(ValueError, match=message):
        study.check(p)


def test_prose_numbers_log_of_the_patterns():
    assert clustering.prose_numbers(4096)["noisy_log_n"] == pytest.approx(12 * math.log(2))
    assert clustering.prose_numbers(1)["noisy_log_n"] == 0.0
    with pytest.raises(ValueError, match="n_patterns"):
        clustering.prose_numbers(0)


def test_prose_numbers_on_the_committed_paper_table():
    from lrc_utils.book.paths import REPO_ROOT

    log_n = clustering.prose_numbers(4096)["noisy_log_n"]
    assert log_n == pytest.approx(8.32, abs=0.005)
    noisy = pd.read_csv(REPO_ROOT / "results" / "paper" / "noisy_networks" / "noisy.csv")
    assert noisy.ixt.max() <= log_n  # every estimate below the ceiling the prose quotes
