"""A batched ensemble records exactly what one-at-a-time runs of lrc_utils.training.fit record (float32, CPU):
the 12-bit task's networks (tanh and ReLU, with and without the L2 penalty) and Figure 1's Gaussian network
(AdamW weight decay)."""

import pytest
import torch

from lrc_utils.config import seed_everything
from lrc_utils.data import disjoint_subsets, gaussian_classification
from lrc_utils.ensemble import MLPEnsemble, fit_ensemble
from lrc_utils.models import MLP, init_like_chelombiev
from lrc_utils.training import (
    BatchLoss,
    ClassifierMetrics,
    FitConfig,
    LocalRankMonitor,
    fit,
    l2_penalised_cross_entropy,
)


def twelve_bit_like(n: int = 1024, seed: int = 0):
    """Random 12-bit patterns with a nonlinear label (the task's shape, without its data file)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, 12), generator=g).float()
    y = ((x[:, :6].sum(1) * x[:, 6:].sum(1)) % 2).long()
    train, test = disjoint_subsets(n, [768, 256], seed)
    return (x[train], y[train]), (x[test], y[test])


def one_at_a_time(make, loss_of, train, configs, l2s, monitors_of):
    out = []
    for config, l2 in zip(configs, l2s):
        model = make(config.seed)
        records = fit(model, loss_of(l2), train, config, monitors_of(), progress=False)
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
        fit_ensemble([MLP([12, 4, 2])], train, [FitConfig(steps=2, lr=1e-3, batch_size=100, seed=0)])
    with pytest.raises(ValueError, match="one architecture and activation"):
        fit_ensemble([MLP([12, 4, 2]), MLP([12, 5, 2])], train, [config, config])
    with pytest.raises(ValueError, match="equal but for their seeds"):
        fit_ensemble([MLP([12, 4, 2]), MLP([12, 4, 2])], train, [config, FitConfig(steps=3, lr=1e-3, batch_size=512,
                                                                                    seed=1)])
    with pytest.raises(ValueError, match="one config, L2 penalty and monitor list per member"):
        fit_ensemble([MLP([12, 4, 2])], train, [config, config])
