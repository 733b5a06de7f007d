"""A batched ensemble records exactly what one-at-a-time runs of lrc_utils.training.fit record (on the CPU):
the 12-bit task's networks (tanh and ReLU, with and without the L2 penalty), Goldfeld et al.'s noisy networks
(float32 and float64) and Figure 1's Gaussian network (AdamW weight decay)."""

import math
from dataclasses import replace

import pytest
import torch

from lrc_utils.config import flush_denormals, seed_everything
from lrc_utils.data import disjoint_subsets, gaussian_classification
from lrc_utils.ensemble import MLPEnsemble, fast_path_loss, fit_ensemble
from lrc_utils.grid import Training, grid_tasks, order_tasks, run_grid, train_runs
from lrc_utils.models import ACTIVATIONS, MLP, NoisyMLP, init_like_chelombiev, noisy_cross_entropy
from lrc_utils.planes import NoisyMetrics
from lrc_utils.training import (
    LOSSES,
    BatchLoss,
    Checkpoint,
    ClassifierMetrics,
    FitConfig,
    LocalRankMonitor,
    adamw_weights_only,
    cross_entropy_loss,
    fit,
    l2_penalised_cross_entropy,
    minibatch_step,
)


def twelve_bit_like(n: int = 1024, seed: int = 0):
    """Random 12-bit patterns with a nonlinear label (the task's shape, without its data file)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, 12), generator=g).float()
    y = ((x[:, :6].sum(1) * x[:, 6:].sum(1)) % 2).long()
    train, test = disjoint_subsets(n, [768, 256], seed)
    return (x[train], y[train]), (x[test], y[test])


def one_at_a_time(make, loss_of, train, configs, l2s, monitors_of):
    """Each run alone through autograd: the loss wrapped in a function fit does not know, so that it takes no fast
    path."""
    out = []
    for config, l2 in zip(configs, l2s):
        model = make(config.seed)
        loss = loss_of(l2)
        records = fit(model, lambda m, x, y, g=None, loss=loss: loss(m, x, y, g), train, config, monitors_of(),
                      progress=False)
        out.append((model, records))
    return out


def assert_same(alone, members, together):
    for (model, records), member, recorded in zip(alone, members, together):
        assert list(records) == list(recorded)
        for name in records:
            assert records[name].equals(recorded[name]), f"{name}:\n{records[name].compare(recorded[name])}"
        for a, b in zip(model.parameters(), member.parameters()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_twelve_bit_networks_train_together_exactly_as_alone(activation):
    train, test = twelve_bit_like()

    def make(seed):
        seed_everything(seed)
        model = MLP([12, 10, 7, 5, 4, 3, 2], activation)
        init_like_chelombiev(model, activation)
        return model

    seeds, l2s = [0, 1, 2, 3], [0.0, 0.015, 0.0, 0.015]
    configs = [FitConfig(steps=60, lr=1e-2, batch_size=512, seed=s, eval_steps=(1, 7, 60), adam_beta1=0.5,
                         lr_final_ratio=0.1) for s in seeds]
    monitors_of = lambda: [ClassifierMetrics(train, test), LocalRankMonitor(test[0][:64], 1e-2), BatchLoss()]  # noqa: E731
    alone = one_at_a_time(make, l2_penalised_cross_entropy, train, configs, l2s, monitors_of)
    members = [make(s) for s in seeds]
    together = fit_ensemble(members, train, configs, l2s, [monitors_of() for _ in seeds], progress=False)
    assert_same(alone, members, together)
    assert together[0]["metrics"]["step"].tolist() == [1, 7, 60]
    assert together[1]["batch_loss"]["batch_loss"].iloc[0] > 0


def test_figure1_gaussian_networks_with_weight_decay_train_together_exactly_as_alone():
    x, y = gaussian_classification(700, 100, 10, 4, seed=0)
    train, test = (x[:500], y[:500]), (x[500:], y[500:])

    def make(seed):
        seed_everything(seed)
        return MLP([100, 100, 100, 100, 4], "relu", init="normal")

    configs = [FitConfig(steps=40, lr=1e-3, weight_decay=0.1, batch_size=64, seed=s, eval_steps=(10, 40))
               for s in (0, 1, 2)]
    monitors_of = lambda: [ClassifierMetrics(train, test), BatchLoss()]  # noqa: E731
    alone = one_at_a_time(make, l2_penalised_cross_entropy, train, configs, [0.0] * 3, monitors_of)
    members = [make(c.seed) for c in configs]
    together = fit_ensemble(members, train, configs, None, [monitors_of() for _ in configs], progress=False)
    assert_same(alone, members, together)


@pytest.mark.parametrize("dtype,activation", [(torch.float32, "tanh"), (torch.float64, "relu")])
def test_noisy_networks_train_together_exactly_as_alone(dtype, activation, tmp_path, monkeypatch):
    """Noisy 12-10-7-5-4-3-2 networks (the noisy-network chapter's): each member's noise is drawn from its own
    generator after its minibatch, as noisy_cross_entropy draws it for the run alone through autograd; fit takes the
    fast path for one of them (also at a minibatch of 50); records, minibatch losses and parameters equal, bit for
    bit, and so are those of an ensemble interrupted after a checkpoint and resumed."""
    from lrc_utils import ensemble

    (x, y), (xt, yt) = twelve_bit_like()
    train, test = (x.to(dtype), y), (xt.to(dtype), yt)

    def make(seed):
        seed_everything(seed)
        return NoisyMLP([12, 10, 7, 5, 4, 3, 2], activation, noise_std=0.1).to(dtype)

    def checkpoints(folder):
        return [Checkpoint(folder, {"seed": s}) for s in seeds]

    seeds = [0, 1, 2]
    configs = [FitConfig(steps=50, lr=1e-2, weight_decay=0.05, batch_size=64, seed=s, eval_steps=(1, 8, 50),
                         lr_final_ratio=0.1, checkpoint_every=10) for s in seeds]
    monitors_of = lambda seed: [NoisyMetrics(train, test, seed), BatchLoss()]  # noqa: E731
    autograd_loss = lambda m, xb, yb, g: noisy_cross_entropy(m, xb, yb, g)  # noqa: E731 - unknown to fit
    alone = []
    for config in configs:
        model = make(config.seed)
        alone.append((model, fit(model, autograd_loss, train, config, monitors_of(config.seed), progress=False)))
    assert fast_path_loss(make(0), noisy_cross_entropy, configs[0], train) == ("cross_entropy", 0.0)
    assert fast_path_loss(make(0), cross_entropy_loss, configs[0], train) is None  # its forward's noise: global
    lone = make(1)
    assert_same(alone[1:2], [lone], [fit(lone, noisy_cross_entropy, train, configs[1], monitors_of(1), progress=False)])
    small = replace(configs[1], batch_size=50)
    slow, fast = make(1), make(1)
    assert_same([(slow, fit(slow, autograd_loss, train, small, monitors_of(1), progress=False))], [fast],
                [fit(fast, noisy_cross_entropy, train, small, monitors_of(1), progress=False)])
    members = [make(s) for s in seeds]
    together = fit_ensemble(members, train, configs, None, [monitors_of(s) for s in seeds], progress=False)
    assert_same(alone, members, together)
    assert together[2]["batch_loss"]["batch_loss"].iloc[-1] > 0
    real_save, saves = ensemble._save, {"n": 0}

    def interrupting(*args):
        real_save(*args)
        saves["n"] += 1
        if saves["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ensemble, "_save", interrupting)
    with pytest.raises(KeyboardInterrupt):
        fit_ensemble([make(s) for s in seeds], train, configs, None, [monitors_of(s) for s in seeds], progress=False,
                     checkpoints=checkpoints(tmp_path))
    monkeypatch.setattr(ensemble, "_save", real_save)
    members = [make(s) for s in seeds]
    resumed = fit_ensemble(members, train, configs, None, [monitors_of(s) for s in seeds], progress=False,
                           checkpoints=checkpoints(tmp_path))  # from step 20
    assert_same(alone, members, resumed)
    with pytest.raises(ValueError, match="one architecture and activation"):
        fit_ensemble([make(0), MLP([12, 10, 7, 5, 4, 3, 2], activation).to(dtype)], train, configs[:2])
    with pytest.raises(ValueError, match="without a penalty"):
        fit_ensemble([make(0)], train, configs[:1], l2=[0.1])


def test_member_slices_are_aligned_and_hold_the_members():
    members = [MLP([12, 10, 7, 2], "tanh") for _ in range(3)]
    ens = MLPEnsemble(members)
    for k, w in enumerate(ens.weights):
        assert all(w[e].data_ptr() % 64 == 0 for e in range(3))
        assert all(torch.equal(w[e], m.layers[k].weight) for e, m in enumerate(members))
    x = torch.randn(3, 64, 12)
    assert all(torch.equal(ens(x)[e], m(x[e])) for e, m in enumerate(members))


def test_what_an_ensemble_cannot_train_exactly_is_refused():
    train, _ = twelve_bit_like()
    config = FitConfig(steps=2, lr=1e-3, batch_size=512, seed=0)
    with pytest.raises(ValueError, match="multiple of 64"):
        fit_ensemble([MLP([12, 4, 2]), MLP([12, 4, 2])], train,
                     [FitConfig(steps=2, lr=1e-3, batch_size=100, seed=s) for s in (0, 1)])
    with pytest.raises(ValueError, match="one architecture and activation"):
        fit_ensemble([MLP([12, 4, 2]), MLP([12, 5, 2])], train, [config, replace(config, seed=1)])
    with pytest.raises(ValueError, match="equal but for their seeds"):
        fit_ensemble([MLP([12, 4, 2]), MLP([12, 4, 2])], train, [config, FitConfig(steps=3, lr=1e-3, batch_size=512,
                                                                                    seed=1)])
    with pytest.raises(ValueError, match="one config, L2 penalty and monitor list per member"):
        fit_ensemble([MLP([12, 4, 2])], train, [config, config])


# ----------------------------------------------------------------------------------------------------
# the fast path (hand-written gradients) against autograd, and runs whose numbers do not depend on their company


def autograd_reference(model, loss_fn, train, config):
    """The obvious loop: torch.optim.AdamW (decay on weight matrices only) on autograd's gradients of ``loss_fn``,
    minibatches drawn by one seeded generator, the step's subnormals flushed as fit's are; its minibatch losses."""
    opt = adamw_weights_only(model, config.lr, config.weight_decay, (config.adam_beta1, 0.999))
    gen = torch.Generator().manual_seed(config.seed)
    losses = []
    for step in range(1, config.steps + 1):
        for group in opt.param_groups:
            group["lr"] = config.lr_at(step)
        with flush_denormals():
            losses.append(minibatch_step(model, opt, *train, config.batch_size, gen, loss_fn))
    return losses


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["cross_entropy", "softmax_cross_entropy", "l2 0.05"])
def test_fits_fast_path_equals_autograd_for_every_activation_and_loss(activation, loss):
    """fit trains a plain MLP without autograd's graph (lrc_utils.ensemble.fast_path_loss); its parameters and
    minibatch losses are autograd's, bit for bit."""
    loss_fn = l2_penalised_cross_entropy(0.05) if loss == "l2 0.05" else LOSSES[loss]
    x, y = gaussian_classification(300, 20, 5, 3, seed=1)
    config = FitConfig(steps=40, lr=1e-2, weight_decay=0.1, batch_size=64, seed=2, lr_final_ratio=0.1,
                       eval_steps=tuple(range(1, 41)))

    def make():
        seed_everything(5)
        return MLP([20, 16, 12, 3], activation, init="normal")

    assert fast_path_loss(make(), loss_fn, config, (x, y)) is not None
    fast = make()
    records = fit(fast, loss_fn, (x, y), config, [BatchLoss()], progress=False)
    slow = make()
    losses = autograd_reference(slow, loss_fn, (x, y), config)
    assert records["batch_loss"]["batch_loss"].tolist() == losses
    for a, b in zip(fast.parameters(), slow.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(next(fast.parameters()), next(make().parameters()))  # it trained


def author_recipe_runs(seeds, steps=30, checkpoint_dir=None):
    """The first author's MNIST recipe at Figure 1's sizes (784-200x4-10, softmax cross-entropy, AdamW 1e-4 with
    decay 1e-2, batch 64) on random inputs, as lrc_utils.grid.Training runs."""
    g = torch.Generator().manual_seed(0)
    train = (torch.randn(500, 784, generator=g), torch.randint(0, 10, (500,), generator=g))
    x_rank = torch.randn(8, 784, generator=g)
    runs = []
    for seed in seeds:
        seed_everything(seed)
        config = FitConfig(steps=steps, lr=1e-4, weight_decay=1e-2, batch_size=64, seed=seed, eval_steps=(1, 9, steps),
                           checkpoint_every=7)
        checkpoint = None if checkpoint_dir is None else Checkpoint(checkpoint_dir, {"seed": seed})
        runs.append(Training(MLP([784, 200, 200, 200, 200, 10], "relu", init="normal"),
                             LOSSES["softmax_cross_entropy"], train, config,
                             [LocalRankMonitor(x_rank, 1e-2), ClassifierMetrics(train, train), BatchLoss()],
                             checkpoint, f"seed {seed}"))
    return runs


def test_a_members_records_do_not_depend_on_which_runs_it_trains_with():
    """Seed 2 of the author's recipe alone (fit), in an ensemble of two and in one of three: the same records and
    parameters, bit for bit."""
    alone = author_recipe_runs([2])
    pair = author_recipe_runs([1, 2])
    three = author_recipe_runs([0, 1, 2])
    records = [train_runs(alone)[0], train_runs(pair)[1], train_runs(three)[2]]
    for other in records[1:]:
        assert list(other) == list(records[0])
        for name in records[0]:
            assert records[0][name].equals(other[name]), name
    for run in (pair[1], three[2]):
        assert all(torch.equal(a, b) for a, b in zip(alone[0].model.parameters(), run.model.parameters()))
    assert records[0]["batch_loss"]["batch_loss"].iloc[-1] > math.log(math.e + 9) - 1  # the softmax loss's floor


def test_runs_checkpointed_in_an_ensemble_resume_alone_together_or_beside_fresh_runs(tmp_path, monkeypatch):
    """An ensemble interrupted after a checkpoint leaves each member's state in the file fit writes for the run
    alone. Seed 1 resumes alone; seed 0 resumes beside a fresh seed 3 (members at different steps train apart);
    seeds 0 and 1 of a second interrupted ensemble resume together. Every run ends as an uninterrupted run."""
    from lrc_utils import ensemble

    straight = train_runs(author_recipe_runs([0, 1, 3]))
    saves = {"n": 0}
    real_save = ensemble._save

    def interrupting(*args):
        real_save(*args)
        saves["n"] += 1
        if saves["n"] % 2 == 0:
            raise KeyboardInterrupt

    def interrupted(folder):
        monkeypatch.setattr(ensemble, "_save", interrupting)
        with pytest.raises(KeyboardInterrupt):
            train_runs(author_recipe_runs([0, 1], checkpoint_dir=folder))
        monkeypatch.setattr(ensemble, "_save", real_save)
        assert len(list(folder.glob("*.pt"))) == 2  # one file per member, at step 14

    interrupted(tmp_path / "a")
    resumed_alone = train_runs(author_recipe_runs([1], checkpoint_dir=tmp_path / "a"))[0]
    beside_fresh = train_runs(author_recipe_runs([0, 3], checkpoint_dir=tmp_path / "a"))
    interrupted(tmp_path / "b")
    together = train_runs(author_recipe_runs([0, 1], checkpoint_dir=tmp_path / "b"))
    for resumed, reference in ((resumed_alone, straight[1]), (beside_fresh[0], straight[0]),
                               (beside_fresh[1], straight[2]), (together[0], straight[0]), (together[1], straight[1])):
        for name in reference:
            assert resumed[name].equals(reference[name]), name
    assert not list(tmp_path.glob("*/*.pt"))  # finished runs leave no checkpoint


def test_grid_tasks_group_the_runs_marked_together_in_even_tasks_of_at_most_the_ensemble_size():
    keys = [{"panel": panel, "seed": s} for panel in ("a", "b") for s in range(5)]
    by_panel = lambda key: key["panel"]  # noqa: E731
    assert grid_tasks(range(10), keys, by_panel, 3) == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    # a resumed grid keeps its groups: what is left of them, never new ones
    assert grid_tasks([1, 2, 3, 7], keys, by_panel, 3) == [[1], [2, 3], [7]]
    assert grid_tasks(range(3), keys, None, 3) == [[0], [1], [2]]
    assert grid_tasks(range(3), keys, by_panel, 1) == [[0], [1], [2]]
    assert grid_tasks(range(5), keys, lambda key: None if key["seed"] == 4 else key["panel"], 3) == [
        [0, 1], [2, 3], [4]]  # None: alone
    assert grid_tasks(range(5), keys, by_panel, 3, workers=5) == [[0], [1], [2], [3], [4]]  # one run per worker
    assert grid_tasks(range(5), keys, by_panel, 3, workers=2) == [[0, 1], [2, 3, 4]]


def test_tasks_are_handed_out_heaviest_first_by_their_runs_summed_cost():
    """Figure 1's author preset on two workers: the MNIST seeds' tasks (a run 30x the Gaussian's work) go first."""
    keys = [{"panel": panel, "seed": s} for panel in ("gaussian", "mnist") for s in range(3)]
    tasks = grid_tasks(range(6), keys, lambda key: key["panel"], 2, workers=2)
    assert tasks == [[0, 1], [2], [3, 4], [5]]
    cost = {"gaussian": 1.0, "mnist": 30.0}
    assert order_tasks(tasks, keys, lambda key: cost[key["panel"]]) == [[3, 4], [5], [0, 1], [2]]
    assert order_tasks(tasks, keys, None) == tasks
    assert order_tasks(tasks, keys, lambda key: 1.0) == [[0, 1], [3, 4], [2], [5]]  # ties keep their order


def test_a_grid_of_runs_trained_together_stores_the_tables_of_runs_trained_alone(tmp_path, monkeypatch):
    x, y = gaussian_classification(400, 20, 5, 3, seed=0)

    def run_one(key):
        seed_everything(key["seed"])
        config = FitConfig(steps=25, lr=1e-2, weight_decay=0.1, batch_size=64, seed=key["seed"], eval_steps=(5, 25))
        return Training(MLP([20, 16, 3], key["activation"], init="normal"), cross_entropy_loss, (x, y), config,
                        [BatchLoss()], finish=lambda records: {"losses": records["batch_loss"].assign(**key)})

    keys = [{"activation": a, "seed": s} for a in ("relu", "tanh") for s in range(3)]
    tables = {}
    for size in ("1", "2", "3"):
        monkeypatch.setenv("LRC_ENSEMBLE_SIZE", size)
        tables[size] = run_grid(keys, run_one, tmp_path / size, {"test": 1}, progress=False,
                                together=lambda key: key["activation"])["losses"]
    assert tables["1"].equals(tables["2"]) and tables["1"].equals(tables["3"])
    assert tables["1"]["seed"].tolist() == [0, 0, 1, 1, 2, 2] * 2
    monkeypatch.setenv("LRC_ENSEMBLE_SIZE", "0")
    with pytest.raises(ValueError, match="LRC_ENSEMBLE_SIZE must be an integer >= 1"):
        run_grid(keys, run_one, tmp_path / "0", {"test": 1}, progress=False, together=lambda key: key["activation"])
