"""The Gaussian task, the log-spaced schedule, and the one training loop: fit, monitors, checkpoints."""

import pandas as pd
import pytest
import torch

from lrc_utils import MLP, local_rank, seed_everything
from lrc_utils import training as training_module
from lrc_utils.data import gaussian_classification
from lrc_utils.training import (
    BatchLoss,
    Checkpoint,
    ClassifierMetrics,
    FitConfig,
    LocalRankMonitor,
    accuracy,
    cross_entropy_loss,
    fit,
    log_spaced_steps,
)


def test_gaussian_task_has_the_stated_intrinsic_dimension_and_scale():
    x, y = gaussian_classification(4000, 30, 5, 3, seed=1)
    assert x.shape == (4000, 30) and y.shape == (4000,) and x.dtype == torch.float32
    assert torch.linalg.matrix_rank(x.double(), atol=1e-4).item() == 5
    assert abs(x.double().pow(2).sum(1).mean().item() / 30 - 1) < 0.05  # E||x||^2 = D
    assert set(y.unique().tolist()) == {0, 1, 2}
    x2, y2 = gaussian_classification(4000, 30, 5, 3, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    # labels are a function of x: the teacher acts on z, which x determines
    assert not torch.equal(y, gaussian_classification(4000, 30, 5, 3, seed=2)[1])


def test_gaussian_task_rejects_bad_dimensions():
    with pytest.raises(ValueError, match="intrinsic_dim"):
        gaussian_classification(10, 5, 6, 2, seed=0)
    with pytest.raises(ValueError, match="n_classes"):
        gaussian_classification(10, 5, 2, 1, seed=0)


def test_log_spaced_steps():
    steps = log_spaced_steps(1000, 10)
    assert steps[0] == 1 and steps[-1] == 1000 and steps == sorted(set(steps))
    assert log_spaced_steps(5, 50) == [1, 2, 3, 4, 5]


def small_problem():
    x, y = gaussian_classification(300, 8, 3, 2, seed=0)
    return (x[:200], y[:200]), (x[200:280], y[200:280]), x[280:]


def fresh_model():
    seed_everything(0)
    return MLP([8, 12, 12, 2], init="normal")


CONFIG = FitConfig(steps=60, lr=1e-2, weight_decay=0.1, batch_size=16, seed=3,
                   eval_steps=tuple(log_spaced_steps(60, 8)), checkpoint_every=7)


def monitors(train, test, x_rank):
    return [LocalRankMonitor(x_rank, atol=1e-2), ClassifierMetrics(train, test)]


def test_fit_equals_a_plain_adamw_loop():
    """The loop against the obvious one written out: AdamW with decay on weight matrices only, minibatches drawn
    with replacement by one seeded generator, the learning rate decaying exponentially: identical parameters."""
    train, _, _ = small_problem()
    config = FitConfig(steps=50, lr=1e-2, weight_decay=0.1, batch_size=16, seed=3, lr_final_ratio=0.1)
    model = fresh_model()
    fit(model, cross_entropy_loss, train, config, progress=False)

    reference = fresh_model()
    weights = [p for p in reference.parameters() if p.ndim == 2]
    biases = [p for p in reference.parameters() if p.ndim == 1]
    opt = torch.optim.AdamW([{"params": weights, "weight_decay": 0.1}, {"params": biases, "weight_decay": 0.0}],
                            lr=1e-2)
    gen = torch.Generator().manual_seed(3)
    for step in range(50):
        for group in opt.param_groups:
            group["lr"] = 1e-2 * 0.1 ** (step / 50)
        idx = torch.randint(0, len(train[0]), (16,), generator=gen)
        loss = torch.nn.functional.cross_entropy(reference(train[0][idx]), train[1][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.equal(a, b)


def test_records_equal_direct_measurements():
    train, test, x_rank = small_problem()
    model = fresh_model()
    records = fit(model, cross_entropy_loss, train, CONFIG, monitors(train, test, x_rank), progress=False)
    ranks, metrics = records["local_rank"], records["metrics"]
    assert list(ranks.columns) == ["step", "layer", "local_rank"]
    assert list(metrics.columns) == ["step", "train_loss", "train_acc", "test_acc"]
    assert len(ranks) == len(CONFIG.eval_steps) * 2 and ranks.step.is_monotonic_increasing
    assert ranks[ranks.step == 60].local_rank.tolist() == local_rank(model, x_rank).tolist()
    last = metrics[metrics.step == 60].iloc[0]
    assert last.train_acc == accuracy(model, *train) and last.test_acc == accuracy(model, *test)
    loss = torch.nn.functional.cross_entropy(model(train[0]), train[1]).item()
    assert last.train_loss == pytest.approx(loss, rel=1e-6)


def test_an_interrupted_run_resumes_to_the_same_records(tmp_path, monkeypatch):
    train, test, x_rank = small_problem()
    straight_model = fresh_model()
    straight = fit(straight_model, cross_entropy_loss, train, CONFIG, monitors(train, test, x_rank), progress=False)

    calls = {"n": 0}
    real_local_rank = training_module.local_rank

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real_local_rank(*args, **kwargs)

    checkpoint = Checkpoint(tmp_path, {"run": "test"})
    monkeypatch.setattr(training_module, "local_rank", interrupting)
    with pytest.raises(KeyboardInterrupt):
        fit(fresh_model(), cross_entropy_loss, train, CONFIG, monitors(train, test, x_rank), checkpoint,
            progress=False)
    monkeypatch.setattr(training_module, "local_rank", real_local_rank)
    saved = training_module.load_work(checkpoint.for_config(CONFIG).path)
    assert 0 < saved["step"] < CONFIG.steps  # stopped part-way, with the finished part on disk
    resumed_model = fresh_model()
    resumed = fit(resumed_model, cross_entropy_loss, train, CONFIG, monitors(train, test, x_rank), checkpoint,
                  progress=False)
    for name in straight:
        pd.testing.assert_frame_equal(resumed[name], straight[name])
    for a, b in zip(resumed_model.parameters(), straight_model.parameters()):
        assert torch.equal(a, b)
    assert not checkpoint.for_config(CONFIG).path.exists()  # a finished run leaves no checkpoint


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    train, test, x_rank = small_problem()
    mine, other = Checkpoint(tmp_path, {"run": "a"}), Checkpoint(tmp_path, {"run": "b"})
    assert mine.for_config(CONFIG).path != other.for_config(CONFIG).path  # other parameters, other file
    model = fresh_model()
    opt = training_module.adamw_weights_only(model, 1e-2, 0.1)
    other.for_config(CONFIG).save(model, opt, torch.Generator(), {}, 5)
    other.for_config(CONFIG).path.rename(mine.for_config(CONFIG).path)  # a file copied under the wrong name
    with pytest.raises(ValueError, match="written for another run"):
        fit(fresh_model(), cross_entropy_loss, train, CONFIG, checkpoint=mine, progress=False)


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch ran-code-from-a-checkpoint",))


def test_a_checkpoint_carrying_a_pickled_object_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, _, _ = small_problem()
    import hashlib
    import io

    checkpoint = Checkpoint(tmp_path, {"run": "crafted"})
    path = checkpoint.for_config(CONFIG).path
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"identity": checkpoint.for_config(CONFIG).identity, "payload": _RunsCode()}, buffer)
    payload = buffer.getvalue()
    path.write_bytes(payload)  # a plain torch file: no checksum header
    with pytest.raises(training_module.DamagedWork, match="has no checksum header"):
        fit(fresh_model(), cross_entropy_loss, train, CONFIG, checkpoint=checkpoint, progress=False)
    # with a valid header, as a forger would write it: still refused, and nothing of it runs
    path.write_bytes(training_module.WORK_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    with pytest.raises(training_module.DamagedWork, match="holds objects other than tensors"):
        fit(fresh_model(), cross_entropy_loss, train, CONFIG, checkpoint=checkpoint, progress=False)
    assert not (tmp_path / "ran-code-from-a-checkpoint").exists()


def test_bad_configurations_raise():
    with pytest.raises(ValueError, match="eval_steps"):
        FitConfig(steps=10, lr=1e-3, batch_size=4, seed=0, eval_steps=(0, 5))
    with pytest.raises(ValueError, match="lr > 0"):
        FitConfig(steps=10, lr=0.0, batch_size=4, seed=0)
    with pytest.raises(ValueError, match="lr_final_ratio"):
        FitConfig(steps=10, lr=1e-3, batch_size=4, seed=0, lr_final_ratio=0.0)
    train, _, _ = small_problem()
    with pytest.raises(ValueError, match="distinct"):
        fit(fresh_model(), cross_entropy_loss, train, CONFIG, [BatchLoss(), BatchLoss()], progress=False)


def test_learning_rate_schedule():
    config = FitConfig(steps=100, lr=1e-3, batch_size=4, seed=0, lr_final_ratio=0.1)
    assert config.lr_at(1) == 1e-3 and config.lr_at(101) == pytest.approx(1e-4, rel=1e-12)
    assert FitConfig(steps=100, lr=1e-3, batch_size=4, seed=0).lr_at(57) == 1e-3


def test_terminal_phase_falls_on_a_hand_made_table():
    import pandas as pd

    from lrc_utils.book.chapters.figure1.readings import terminal_phase_falls

    rows = []
    # layer 1 falls 50% after the fit (step 10); layer 2 falls only before the fit
    for step, acc, r1, r2 in [(1, 0.5, 10, 20), (10, 0.995, 10, 10), (100, 1.0, 8, 10), (1000, 1.0, 5, 10)]:
        rows += [("p", 0, step, 1, r1, acc), ("p", 0, step, 2, r2, acc)]
    table = pd.DataFrame(rows, columns=["panel", "seed", "step", "layer", "local_rank", "train_acc"])
    falls = terminal_phase_falls(table).set_index("layer")
    assert falls.loc[1, "falls in terminal phase"] and falls.loc[1, "fall from max (%)"] == 50
    assert not falls.loc[2, "falls in terminal phase"]  # 50% below its maximum, but not after the fit
    assert falls.loc[1, "step at 99% train acc"] == 10


def test_figure1_prose_numbers_on_a_hand_made_table():
    from types import SimpleNamespace

    from lrc_utils.book.chapters.figure1.readings import prose_numbers

    steps, rows = [1, 10, 100, 1000, 10000], []
    accuracies = {"gaussian": [0.5, 0.995, 1.0, 1.0, 1.0], "mnist": [0.5, 0.9, 1.0, 1.0, 1.0]}  # fits at 10 and 100
    ranks = {("gaussian", 1): {0: [10, 10, 10, 8, 6], 1: [10, 10, 10, 8, 6]},  # starts falling at 1000
             ("gaussian", 2): {0: [20, 20, 20, 20, 10], 1: [20, 20, 20, 20, 10]},  # at 10000: 3 decades after 10
             ("mnist", 1): {0: [4, 4, 4, 4, 4], 1: [4, 4, 4, 3, 2]},  # full rank (4) in both seeds up to 100
             ("mnist", 2): {0: [8, 8, 8, 8, 2], 1: [8, 8, 8, 8, 2]}}  # at 10000: 2 decades after 100
    for (panel, layer), per_seed in ranks.items():
        for seed, values in per_seed.items():
            rows += [(panel, seed, s, layer, r, a) for s, r, a in zip(steps, values, accuracies[panel])]
    table = pd.DataFrame(rows, columns=["panel", "seed", "step", "layer", "local_rank", "train_acc"])
    p = SimpleNamespace(mnist_lr=2e-3, mnist_weight_decay=0.1, atol=0.01, gauss_input_dim=100,
                        gauss_intrinsic_dim=10, mnist_widths=[4])
    n = prose_numbers(table, p, mark_step=5000)
    assert (n["fig1_gauss_fit_step"], n["fig1_mnist_fit_step"]) == (10, 100)
    assert (n["fig1_fall_start_min"], n["fig1_fall_start_max"]) == (10000, 10000)
    assert n["fig1_fall_decades_min"] == pytest.approx(2) and n["fig1_fall_decades_max"] == pytest.approx(3)
    assert n["fig1_falls_md"] == "every layer of both panels"  # mnist layer 1: mean 3 at the end, max 4
    assert n["fig1_falls_seeds_md"] == "7 of the 8 (seed, layer) curves fall"  # seed 0's first MNIST layer stays
    assert (n["fig1_gauss_l1_max"], n["fig1_gauss_l1_last"], n["fig1_gauss_l1_fall_start"]) == (10, 6, 1000)
    assert n["fig1_mnist_l1_full_until"] == 100
    assert n["fig1_mark_step"] == 1000 and n["fig1_mnist_l1_at_mark_md"] == "at rank 3 to 4 across seeds"
    assert n["fig1_mnist_deep_at_mark"] == 8
    assert (n["fig1_lr_factor"], n["fig1_wd_factor"]) == pytest.approx((20, 10))
    assert n["fig1_public_factor_md"] == "20 and 10 times"
    assert n["fig1_shrink_md"] == "1 − 2·10⁻⁴"
    assert n["fig1_decay_steps_md"] == "ln(100)/2·10⁻⁴ ≈ 2.3·10⁴"  # ln(100) / 2e-4
    assert n["fig1_public_eta_lambda_md"] == "10⁻⁶" and n["fig1_public_decay_steps_md"] == "4.6·10⁶"
    assert n["fig1_unfed_directions"] == 90


def test_figure1_author_recipe_numbers_and_side_by_side_on_a_hand_made_table():
    from lrc_utils.book.chapters.figure1.readings import (
        AUTHOR_NOT_STORED,
        author_prose_numbers,
        recipes_side_by_side,
    )

    steps, rows = [1, 10, 100, 1000], []
    acc = {"gaussian": [0.5, 1.0, 1.0, 1.0], "mnist": [0.5, 0.6, 0.7, 0.8]}  # MNIST never reaches 99%
    ranks = {("gaussian", 1): [10, 10, 10, 10],  # stays
             ("gaussian", 2): [20, 20, 20, 10],  # falls after the fit
             ("mnist", 1): [8, 8, 8, 4]}  # falls, but never after a fit: not a terminal-phase fall
    for (panel, layer), values in ranks.items():
        for seed in (0, 1):
            rows += [(panel, seed, s, layer, r, a, 0.5) for s, r, a in zip(steps, values, acc[panel])]
    table = pd.DataFrame(rows, columns=["panel", "seed", "step", "layer", "local_rank", "train_acc", "train_loss"])
    info = {"parameters": {"mnist_lr": 1e-4, "mnist_weight_decay": 0.01, "mnist_steps": 1000000,
                           "mnist_split": "train", "loss": "softmax_cross_entropy"},
            "wall_time_s": 5400.0, "git_commit": "abcdef0123"}
    n = author_prose_numbers((table, info))
    assert n["fig1a_falls_md"] == "layer 2 of the gaussian panel (of the 3 layers)"
    assert n["fig1a_falls_seeds_md"] == "2 of the 6 (seed, layer) curves"
    assert n["fig1a_fit_md"] == "gaussian: step 10; mnist: never (mean training accuracy stays below 99%)"
    assert (n["fig1a_lr"], n["fig1a_wd"], n["fig1a_eta_lambda"], n["fig1a_steps"]) == ("10⁻⁴", "10⁻²", "10⁻⁶", "10⁶")
    assert n["fig1a_decay_md"] == "0.37" and n["fig1a_loss"] == "softmax-cross-entropy"  # e^-1
    assert n["fig1a_hours_md"] == "1.5 h in its last attempt (earlier, interrupted attempts were not counted)"
    assert n["fig1a_commit"] == "abcdef0"
    # gaussian layer 2: its maximum after the fit (step 10) is 20 at step 10; 10 <= 0.9 * 20 first at step 1000
    assert n["fig1a_fall_starts_md"] == "gaussian: layer 2 at step 1,000 (last recorded step 1,000)"
    counted = {**info, "attempts": 2}
    assert author_prose_numbers((table, counted))["fig1a_hours_md"] == "1.5 h over 2 attempts"
    assert author_prose_numbers((table, {**info, "attempts": 1}))["fig1a_hours_md"] == "1.5 h"
    assert n["fig1a_last_md"] == "training accuracy 0.800, cross-entropy of the logits 5·10⁻¹ nats"
    missing = author_prose_numbers(None)  # every number says so, and the figure's place holds a note
    assert {k: v for k, v in missing.items() if k.startswith("fig1a_")} == dict.fromkeys(n, "(not stored)")
    assert missing["figure1_author"] == AUTHOR_NOT_STORED and missing["figure1_author_provenance"] == "not stored"
    side = recipes_side_by_side({"ours": table, "theirs": table.assign(local_rank=20)}).set_index(["panel", "layer"])
    assert side.loc[("gaussian", 2), "ours: falls"] and not side.loc[("gaussian", 2), "theirs: falls"]
    assert (side.loc[("mnist", 1), "ours: max"], side.loc[("mnist", 1), "ours: last"]) == (8, 4)


def test_figure1_prose_numbers_on_the_committed_paper_tables():
    import json
    from types import SimpleNamespace

    from lrc_utils.book.chapters.figure1.readings import prose_numbers
    from lrc_utils.book.paths import RESULTS_DIR

    folder = RESULTS_DIR / "paper" / "figure1"
    if not (folder / "local_rank.csv").exists():
        pytest.skip("no paper results")
    p = SimpleNamespace(**json.loads((folder / "meta.json").read_text())["tables"]["local_rank"]["parameters"])
    n = prose_numbers(pd.read_csv(folder / "local_rank.csv"), p, mark_step=30000)
    # values recomputed by hand with pandas on the table of 2aa47a3 (MNIST from its training split): fit at 130
    # (MNIST) and 129 (Gaussian), the first steps whose seed-mean training accuracy reaches 0.99; layer 1 at 200 in
    # all seeds up to 34,857; Gaussian layer 1 ends at 68.3 (seed mean at step 5e4); ln(100) / 1e-4 = 46,052 and
    # ln(100) / 1e-6 = 4.6e6 steps; 100 - 10 = 90 directions; 10 times
    assert (n["fig1_mnist_fit_step"], n["fig1_gauss_fit_step"]) == (130, 129)
    assert n["fig1_mnist_l1_full_until"] == 34857 and n["fig1_mnist_l1_at_mark_md"] == "at rank 200 in every seed"
    assert n["fig1_gauss_l1_last"] == pytest.approx(68.3, abs=0.05)
    assert n["fig1_decay_steps_md"] == "ln(100)/10⁻⁴ ≈ 4.6·10⁴"
    assert n["fig1_public_decay_steps_md"] == "4.6·10⁶" and n["fig1_shrink_md"] == "1 − 10⁻⁴"
    assert n["fig1_unfed_directions"] == 90 and n["fig1_public_factor_md"] == "10 times"
    assert n["fig1_falls_md"] == "every layer of both panels"
    assert 1 <= n["fig1_fall_decades_min"] <= n["fig1_fall_decades_max"] <= 2.5


def test_softmax_cross_entropy_is_cross_entropy_of_the_probabilities_and_bounded_below():
    """Against a hand loop in float64: loss = mean_i [log sum_c exp(p_ic) - p_i,y_i] with p = softmax(logits);
    at one-hot probabilities it reaches log(e + C - 1) - 1 (1.46 nats for 10 classes), never 0."""
    import math

    from lrc_utils.training import LOSSES, softmax_cross_entropy_loss

    torch.manual_seed(0)
    model = MLP([5, 7, 4]).double()
    x, y = torch.randn(6, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1])
    logits = model(x).detach()
    expected = 0.0
    for row, label in zip(logits.tolist(), y.tolist()):
        z = [math.exp(v) for v in row]
        probs = [v / sum(z) for v in z]
        expected += math.log(sum(math.exp(q) for q in probs)) - probs[label]
    assert float(softmax_cross_entropy_loss(model, x, y)) == pytest.approx(expected / len(y), rel=1e-12)
    assert LOSSES["softmax_cross_entropy"] is softmax_cross_entropy_loss

    class Confident(torch.nn.Module):
        def forward(self, x):
            return 1e3 * torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).double()

    floor = float(softmax_cross_entropy_loss(Confident(), x, torch.zeros(6, dtype=torch.long)))
    assert floor == pytest.approx(math.log(math.e + 9) - 1, rel=1e-12) and floor > 1.46


def test_sgd_equals_a_plain_torch_sgd_loop_and_keeps_adamw_checkpoint_names():
    """fit with optimizer="sgd" takes the steps of a plain loop with torch.optim.SGD (momentum 0.9, weight decay on
    weight matrices only, the same minibatches); an AdamW config's checkpoint identity has no optimiser fields (the
    names of checkpoints made before they existed), an SGD one has them."""
    from lrc_utils.training import minibatch_step, sgd_weights_only

    train, _, _ = small_problem()
    config = FitConfig(steps=30, lr=0.05, weight_decay=0.01, batch_size=16, seed=3, optimizer="sgd", momentum=0.9)
    ours = fresh_model()
    fit(ours, cross_entropy_loss, train, config, progress=False)
    plain = fresh_model()
    opt, gen = sgd_weights_only(plain, 0.05, 0.01, 0.9), torch.Generator().manual_seed(3)
    for _ in range(30):
        minibatch_step(plain, opt, *train, 16, gen, cross_entropy_loss)
    for a, b in zip(ours.parameters(), plain.parameters()):
        assert torch.equal(a, b)
    assert "optimizer" not in CONFIG.identity() and config.identity()["optimizer"] == "sgd"
    with pytest.raises(ValueError, match="optimizer in"):
        FitConfig(steps=1, lr=0.1, batch_size=1, seed=0, optimizer="adam")


def test_flush_denormals_reads_subnormals_as_zero_inside_the_block_only():
    """1e-39 is subnormal in float32 (below 2**-126, about 1.18e-38): with one torch thread it reads as zero inside
    the block, and after it (also after a raise) the thread flushes as before the block; with two threads the
    block changes nothing."""
    from lrc_utils.config import flush_denormals, flushing_denormals, torch_threads

    tiny = torch.tensor([1e-39], dtype=torch.float32)
    with torch_threads(1):
        with flush_denormals() as flushing:
            inside = float(tiny * 1.0)
        if not flushing:
            pytest.skip("this CPU cannot flush subnormals")
        assert inside == 0.0 and float(tiny * 1.0) == float(tiny) and not flushing_denormals()
        with pytest.raises(RuntimeError, match="raised inside"):
            with flush_denormals():
                raise RuntimeError("raised inside")
        assert not flushing_denormals()
        torch.set_flush_denormal(True)  # a caller who flushes already keeps flushing after the block
        try:
            with flush_denormals():
                pass
            assert flushing_denormals()
        finally:
            torch.set_flush_denormal(False)
    with torch_threads(2):
        with flush_denormals() as flushing:
            assert not flushing and float(tiny * 1.0) == float(tiny)


def subnormal_prone_task():
    """Half of the features are each nonzero in one example of 2,048, so with beta1 = 0.1 the first moment of a
    weight they feed decays through the subnormal range between the minibatches that draw that example."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2048, 100, generator=g), torch.randint(0, 4, (2048,), generator=g)
    x[:, 50:] = 0.0
    x[torch.randint(0, 2048, (50,), generator=g), torch.arange(50, 100)] = 1.0
    config = FitConfig(steps=300, lr=1e-2, weight_decay=0.1, batch_size=64, seed=3, adam_beta1=0.1,
                       eval_steps=tuple(range(1, 301)))
    return (x, y), config


def test_fit_computes_the_numbers_of_a_plain_loop_that_keeps_subnormals():
    """fit flushes subnormals in its step (for speed, with one torch thread). On :func:`subnormal_prone_task`
    (subnormals counted in the plain loop's moments), fit's minibatch losses and trained parameters equal, bit for
    bit, those of a plain loop of minibatch_step with FlatAdamW that computes subnormals in full."""
    from lrc_utils.config import flush_denormals, torch_threads
    from lrc_utils.training import FlatAdamW, minibatch_step

    (x, y), config = subnormal_prone_task()
    with torch_threads(1):
        with flush_denormals() as flushing:
            if not flushing:
                pytest.skip("this CPU cannot flush subnormals: fit computes them in full")
        seed_everything(3)
        plain, trained = MLP([100, 20, 4], "relu", init="normal"), MLP([100, 20, 4], "relu", init="normal")
        trained.load_state_dict(plain.state_dict())
        opt, gen = FlatAdamW(plain, config.lr, config.weight_decay, (0.1, 0.999)), torch.Generator().manual_seed(3)
        losses, subnormal = [], 0
        for _ in range(config.steps):
            losses.append(minibatch_step(plain, opt, x, y, 64, gen))
            subnormal += int(((opt.exp_avg != 0) & (opt.exp_avg.abs() < torch.finfo(torch.float32).tiny)).sum())
        assert subnormal > 0
        records = fit(trained, cross_entropy_loss, (x, y), config, [BatchLoss()], progress=False)
    assert records["batch_loss"].batch_loss.tolist() == losses
    assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), plain.parameters()))


def test_fit_ensemble_flushing_subnormals_computes_the_numbers_it_computes_in_full(monkeypatch):
    """fit_ensemble's step flushes subnormals too: on :func:`subnormal_prone_task`, two members' records and
    trained parameters equal those of the same ensemble with the flushing switched off."""
    import contextlib

    from lrc_utils import ensemble
    from lrc_utils.config import torch_threads

    (x, y), config = subnormal_prone_task()
    configs = [config, FitConfig(**{**config.__dict__, "seed": 4})]

    def train():
        seed_everything(3)
        members = [MLP([100, 20, 4], "relu", init="normal") for _ in configs]
        records = ensemble.fit_ensemble(members, (x, y), configs, monitors=[[BatchLoss()], [BatchLoss()]],
                                        progress=False, products="per_member")
        return records, members

    with torch_threads(1):
        flushed, flushed_members = train()
        monkeypatch.setattr(ensemble, "flush_denormals", lambda: contextlib.nullcontext(False))
        full, full_members = train()
    for a, b in zip(flushed, full):
        assert a["batch_loss"].batch_loss.tolist() == b["batch_loss"].batch_loss.tolist()
    assert all(torch.equal(p, q) for m, n in zip(flushed_members, full_members)
               for p, q in zip(m.parameters(), n.parameters()))
