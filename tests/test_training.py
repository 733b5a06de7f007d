"""The Gaussian task, the log-spaced schedule, and the resumable training loop."""

import pytest
import torch

from lrc_utils import MLP, local_rank, seed_everything
from lrc_utils import training as training_module
from lrc_utils.data import gaussian_classification
from lrc_utils.training import TrainConfig, accuracy, log_spaced_steps, train_recording_local_rank


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


CONFIG = TrainConfig(steps=60, lr=1e-2, weight_decay=0.1, batch_size=16, seed=3,
                     eval_steps=tuple(log_spaced_steps(60, 8)), checkpoint_every=7)


def test_records_equal_direct_measurements():
    train, test, x_rank = small_problem()
    model = fresh_model()
    records = train_recording_local_rank(model, train, test, x_rank, CONFIG, progress=False)
    assert list(records.columns) == ["step", "layer", "local_rank", "train_loss", "train_acc", "test_acc"]
    assert len(records) == len(CONFIG.eval_steps) * 2
    last = records[records.step == 60]
    assert last.local_rank.tolist() == local_rank(model, x_rank).tolist()
    assert last.train_acc.iloc[0] == accuracy(model, *train) and last.test_acc.iloc[0] == accuracy(model, *test)
    loss = torch.nn.functional.cross_entropy(model(train[0]), train[1]).item()
    assert last.train_loss.iloc[0] == pytest.approx(loss, rel=1e-6)


def test_an_interrupted_run_resumes_to_the_same_records(tmp_path, monkeypatch):
    train, test, x_rank = small_problem()
    straight_model = fresh_model()
    straight = train_recording_local_rank(straight_model, train, test, x_rank, CONFIG, progress=False)

    calls = {"n": 0}
    real_local_rank = training_module.local_rank

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real_local_rank(*args, **kwargs)

    checkpoint = tmp_path / "run.pt"
    monkeypatch.setattr(training_module, "local_rank", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_recording_local_rank(fresh_model(), train, test, x_rank, CONFIG, checkpoint, progress=False)
    monkeypatch.setattr(training_module, "local_rank", real_local_rank)
    saved = torch.load(checkpoint, weights_only=False)
    assert 0 < saved["step"] < CONFIG.steps  # stopped part-way, with the finished part on disk
    resumed_model = fresh_model()
    resumed = train_recording_local_rank(resumed_model, train, test, x_rank, CONFIG, checkpoint, progress=False)
    assert resumed.equals(straight)
    for a, b in zip(resumed_model.parameters(), straight_model.parameters()):
        assert torch.equal(a, b)
    # a finished run loads without training again
    again = train_recording_local_rank(fresh_model(), train, test, x_rank, CONFIG, checkpoint, progress=False)
    assert again.equals(straight)


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    train, test, x_rank = small_problem()
    checkpoint = tmp_path / "run.pt"
    train_recording_local_rank(fresh_model(), train, test, x_rank, CONFIG, checkpoint, progress=False)
    other = TrainConfig(steps=60, lr=2e-2, weight_decay=0.1, batch_size=16, seed=3, eval_steps=CONFIG.eval_steps)
    with pytest.raises(ValueError, match="another configuration"):
        train_recording_local_rank(fresh_model(), train, test, x_rank, other, checkpoint, progress=False)


def test_bad_configurations_raise():
    with pytest.raises(ValueError, match="eval_steps"):
        TrainConfig(steps=10, lr=1e-3, weight_decay=0.0, batch_size=4, seed=0, eval_steps=(0, 5))
    with pytest.raises(ValueError, match="lr > 0"):
        TrainConfig(steps=10, lr=0.0, weight_decay=0.0, batch_size=4, seed=0, eval_steps=(5,))


def test_terminal_phase_falls_on_a_hand_made_table():
    import pandas as pd

    from lrc_utils.analysis import terminal_phase_falls

    rows = []
    # layer 1 falls 50% after the fit (step 10); layer 2 falls only before the fit
    for step, acc, r1, r2 in [(1, 0.5, 10, 20), (10, 0.995, 10, 10), (100, 1.0, 8, 10), (1000, 1.0, 5, 10)]:
        rows += [("p", 0, step, 1, r1, acc), ("p", 0, step, 2, r2, acc)]
    table = pd.DataFrame(rows, columns=["panel", "seed", "step", "layer", "local_rank", "train_acc"])
    falls = terminal_phase_falls(table).set_index("layer")
    assert falls.loc[1, "falls in terminal phase"] and falls.loc[1, "fall from max (%)"] == 50
    assert not falls.loc[2, "falls in terminal phase"]  # 50% below its maximum, but not after the fit
    assert falls.loc[1, "step at 99% train acc"] == 10
