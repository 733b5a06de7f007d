"""Deep VIB: the KL term, the reparameterised sample, beta = 0, local rank of the bottleneck, the sweep."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from lrc_utils import MLP, local_rank, seed_everything
from lrc_utils import training as training_module
from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.figure2 import study as figure2
from lrc_utils.data import gaussian_classification, hierarchical_gaussian_mixture
from lrc_utils.local_rank import ranks_at_tolerances
from lrc_utils.local_rank_reference import autograd_loop_local_rank
from lrc_utils.training import FitConfig, accuracy, cross_entropy_loss, fit
from lrc_utils.vib import VIB, evaluate_vib, kl_to_standard_normal, sample_latent, vib_loss


def gaussians(n=5, k=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, k, generator=gen, dtype=torch.float64)
    sigma = torch.rand(n, k, generator=gen, dtype=torch.float64) * 1.5 + 0.2
    return mu, sigma


def test_kl_equals_torch_distributions_closed_form():
    mu, sigma = gaussians()
    reference = kl_divergence(Normal(mu, sigma), Normal(torch.zeros_like(mu), torch.ones_like(sigma))).sum(-1)
    assert torch.allclose(kl_to_standard_normal(mu, sigma), reference, rtol=1e-12, atol=1e-12)
    assert torch.allclose(kl_to_standard_normal(torch.zeros(3, 7), torch.ones(3, 7)), torch.zeros(3))


def test_kl_agrees_with_a_monte_carlo_estimate():
    mu, sigma = gaussians(n=3, k=4, seed=1)
    gen = torch.Generator().manual_seed(2)
    z = mu + sigma * torch.randn(200_000, *mu.shape, generator=gen, dtype=torch.float64)  # [S, N, K]
    log_ratio = (Normal(mu, sigma).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)  # [S, N]
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(z))
    assert (estimate - kl_to_standard_normal(mu, sigma)).abs().max() < 5 * stderr.max()


def test_the_loss_sums_kl_over_latent_dimensions_and_averages_over_the_batch():
    seed_everything(0)
    model = VIB(6, [8], latent_dim=5, n_classes=3).double()
    x, y = torch.randn(7, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    mu, sigma = model.encode(x)
    per_dim = 0.5 * (mu**2 + sigma**2 - 1 - 2 * sigma.log())  # [N, K]
    loss = vib_loss(model, x, y, beta=0.3, generator=torch.Generator().manual_seed(0))
    assert loss.kl.item() == pytest.approx(per_dim.sum(1).mean().item(), rel=1e-12)
    assert loss.total.item() == pytest.approx(loss.ce.item() + 0.3 * loss.kl.item(), rel=1e-12)


def test_the_sample_is_reparameterised():
    mu, sigma = gaussians(n=4, k=3, seed=3)
    mu.requires_grad_(True)
    sigma.requires_grad_(True)
    z = sample_latent(mu, sigma, n_samples=2, generator=torch.Generator().manual_seed(5))
    eps = torch.randn((2, *mu.shape), generator=torch.Generator().manual_seed(5), dtype=mu.dtype)
    assert torch.allclose(z, mu + sigma * eps)
    weights = torch.randn_like(z)
    d_mu, d_sigma = torch.autograd.grad((weights * z).sum(), (mu, sigma))
    assert torch.allclose(d_mu, weights.sum(0)) and torch.allclose(d_sigma, (weights * eps).sum(0))


def test_loss_gradient_through_the_sample_matches_finite_differences():
    seed_everything(1)
    model = VIB(5, [6], latent_dim=3, n_classes=4).double()
    x, y = torch.randn(9, 5, dtype=torch.float64), torch.randint(0, 4, (9,))

    def loss_at(beta=0.5):
        return vib_loss(model, x, y, beta, n_samples=3, generator=torch.Generator().manual_seed(7)).total

    # the scale head reaches the loss only through sigma * eps, i.e. through the sample
    weight = model.scale_head.weight
    grad = torch.autograd.grad(loss_at(), weight)[0]
    numeric = torch.zeros_like(weight)
    with torch.no_grad():
        for idx in [(0, 0), (1, 3), (2, 5)]:
            weight[idx] += 1e-6
            up = loss_at().item()
            weight[idx] -= 2e-6
            down = loss_at().item()
            weight[idx] += 1e-6
            numeric[idx] = (up - down) / 2e-6
            assert grad[idx].item() == pytest.approx(numeric[idx].item(), rel=1e-5, abs=1e-9)
    assert grad.abs().sum() > 0


def test_prediction_is_a_normalised_sample_average():
    seed_everything(2)
    model = VIB(4, [5], latent_dim=2, n_classes=3).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    log_probs = model(x, n_samples=5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(6, dtype=torch.float64))
    mu, sigma = model.encode(x)
    z = sample_latent(mu, sigma, 5, torch.Generator().manual_seed(1))
    manual = torch.softmax(model.decoder(z), -1).mean(0).log()
    assert torch.allclose(log_probs, manual)


def test_beta_zero_is_the_plain_classifier():
    x, y = gaussian_classification(600, 10, 10, 3, seed=4)
    train, test = (x[:400], y[:400]), (x[400:], y[400:])
    seed_everything(0)
    model = VIB(10, [32], latent_dim=8, n_classes=3)
    loss = vib_loss(model, *train, beta=0.0, generator=torch.Generator().manual_seed(0))
    assert loss.total.item() == loss.ce.item()  # the KL term is absent
    config = FitConfig(steps=600, lr=3e-3, batch_size=50, seed=0)
    fit(model, lambda m, xb, yb, g: vib_loss(m, xb, yb, 0.0, generator=g).total, train, config, progress=False)
    seed_everything(0)
    mlp = MLP([10, 32, 3])
    fit(mlp, cross_entropy_loss, train, config, progress=False)
    plain, vib = accuracy(mlp, *test), accuracy(model, *test)
    assert plain > 0.9 and vib > plain - 0.05


def test_local_rank_of_the_bottleneck_matches_autograd():
    seed_everything(3)
    model = VIB(7, [9, 6], latent_dim=4, n_classes=3).double()
    x = torch.randn(12, 7, dtype=torch.float64)
    mu = model.preactivations(x)[-1]
    assert torch.equal(mu, model.encode(x)[0])
    for atol, rtol in [(1e-2, 0.0), (0.3, 0.0), (0.0, 0.2)]:
        fast = local_rank(model, x, atol=atol, rtol=rtol, per_sample=True)
        assert fast.shape == (12, 3)
        assert torch.equal(fast, autograd_loop_local_rank(model, x, atol=atol, rtol=rtol))


def test_ranks_at_tolerances_hand_counted():
    s = torch.tensor([[4.0, 1.0, 0.05], [0.5, 0.4, 0.001]])
    table = ranks_at_tolerances(s, atols=[0.01, 0.45], rtols=[0.1])
    # abs 0.01: 3 and 2; abs 0.45: 2 and 1; rel 0.1: 4.0 -> > 0.4: {4, 1} = 2; 0.5 -> > 0.05: {0.5, 0.4} = 2
    assert table.local_rank.tolist() == [2.5, 1.5, 2.0]
    assert table.convention.tolist() == ["absolute", "absolute", "relative"]


def test_hierarchical_mixture_has_the_stated_means_and_bits():
    x, y = hierarchical_gaussian_mixture(40_000, 5, [6.0, 2.0], seed=0)
    assert x.shape == (40_000, 5) and set(y.unique().tolist()) == {0, 1, 2, 3}
    centred = x - torch.stack([x[y == c].mean(0) for c in range(4)])[y]
    assert centred.var(0).sub(1).abs().max() < 0.05  # unit noise in every direction
    for bit, sep in enumerate([6.0, 2.0]):
        sign = ((y >> bit) & 1) * 2 - 1
        gap = x[sign == 1].mean(0) - x[sign == -1].mean(0)
        assert gap.norm().item() == pytest.approx(sep, rel=0.03)
    with pytest.raises(ValueError, match="separations"):
        hierarchical_gaussian_mixture(10, 5, [1.0, -1.0], seed=0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="encoder width"):
        VIB(4, [], latent_dim=2, n_classes=3)
    with pytest.raises(ValueError, match="beta"):
        vib_loss(VIB(4, [5], 2, 3), torch.randn(2, 4), torch.tensor([0, 1]), beta=-1.0)


def sweep_params(**overrides):
    """A tiny Figure 2 study: 3 betas x 2 seeds on a 4-class Gaussian mixture."""
    values = dict(seeds=[0, 1], data_seed=0, input_dim=6, separations=[4.0, 2.0], n_train=150, n_test=80,
                  n_rank_points=30, encoder_widths=[10], latent_dim=4, beta_min=1e-3, beta_max=3.0, n_betas=3,
                  steps=40, lr=1e-2, lr_final_ratio=0.5, adam_beta1=0.5, batch_size=16, n_predict_samples=4,
                  atol=1e-2, rtol=1e-3, atol_grid=[1e-3, 1e-1], rtol_grid=[1e-2])
    values.update(overrides)
    return SimpleNamespace(**values)


def run_sweep(folder, **overrides):
    from lrc_utils.book.chapters.vib import grid as vib_grid

    vib_grid.CHECKPOINT_EVERY = 10  # the test runs have 40 steps; restored below
    p = sweep_params(**overrides)
    figure2.check(p)
    try:
        return figure2.compute(p, StudyContext(checkpoint_dir=folder))
    finally:
        vib_grid.CHECKPOINT_EVERY = 1000


def test_sweep_rows_equal_direct_training_and_measurement(tmp_path):
    tables = run_sweep(tmp_path / "a")
    sweep = tables["vib_sweep"]
    assert list(sweep.columns) == ["dataset", "seed", "beta", "kl", "ce", "train_acc", "test_acc",
                                   "local_rank_abs", "local_rank_rel"]
    assert len(sweep) == 6 and len(tables["spectrum"]) == 6 * 4 and len(tables["tolerance"]) == 6 * 3
    p = sweep_params()
    x, y = hierarchical_gaussian_mixture(260, 6, [4.0, 2.0], seed=0)
    train, test, x_rank = (x[:150], y[:150]), (x[150:230], y[150:230]), x[230:]
    beta = sweep.beta.unique()[1]
    seed_everything(1)
    model = VIB(6, [10], latent_dim=4, n_classes=4, n_predict_samples=4)
    config = FitConfig(steps=40, lr=1e-2, batch_size=16, seed=1, adam_beta1=0.5, lr_final_ratio=0.5)
    fit(model, lambda m, xb, yb, g: vib_loss(m, xb, yb, beta, generator=g).total, train, config, progress=False)
    direct = evaluate_vib(model, train, test, x_rank, p.atol, p.rtol, seed=1, n_samples=4)
    row = sweep[(sweep.seed == 1) & (sweep.beta == beta)].iloc[0]
    for key in ["kl", "ce", "train_acc", "test_acc", "local_rank_abs", "local_rank_rel"]:
        assert row[key] == direct[key], key
    assert row.local_rank_abs == local_rank(model, x_rank, atol=p.atol)[-1].item()


def test_an_interrupted_sweep_resumes_to_the_same_tables(tmp_path, monkeypatch):
    straight = run_sweep(tmp_path / "straight")
    calls = {"n": 0}
    real_step = training_module.minibatch_step

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * 40 + 25:  # part-way through the third run, after its checkpoint at step 20
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    folder = tmp_path / "resumed"
    monkeypatch.setattr(training_module, "minibatch_step", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(folder.resolve(), steps=40)
    monkeypatch.setattr(training_module, "minibatch_step", real_step)
    files = sorted(p.name for p in folder.glob("*.pt"))
    assert sum(name.startswith("dataset") for name in files) == 2 and len(files) == 3  # 2 runs + 1 checkpoint

    counted = {"n": 0}

    def counting(*args, **kwargs):
        counted["n"] += 1
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training_module, "minibatch_step", counting)
    resumed = run_sweep(folder)
    assert counted["n"] == 20 + 3 * 40  # the third run from its checkpoint at step 20, then the last three runs
    for name in straight:
        pd.testing.assert_frame_equal(resumed[name], straight[name])


def test_sweep_rejects_bad_grids_before_training(tmp_path):
    with pytest.raises(ValueError, match="beta_min < beta_max"):
        figure2.check(sweep_params(beta_min=1.0, beta_max=0.1))
    with pytest.raises(ValueError, match="seeds"):
        figure2.check(sweep_params(seeds=[1, 1]))
    with pytest.raises(ValueError, match="seeds"):
        figure2.check(sweep_params(seeds=[]))


def test_sharp_steps_and_summary_on_a_hand_made_sweep():
    from lrc_utils.book.chapters.vib.readings import sharp_steps, vib_sweep_summary

    # two seeds; seed-mean ranks over beta 0.01, 0.1, 1, 10: 4.0, 3.75, 2.0, 0.0
    sweep = pd.DataFrame({"dataset": "d", "seed": [0] * 4 + [1] * 4, "beta": [0.01, 0.1, 1.0, 10.0] * 2,
                          "local_rank_abs": [4, 4, 2, 0, 4, 3.5, 2, 0], "kl": [5, 3, 1, 0.01] * 2,
                          "test_acc": [0.9, 0.8, 0.5, 0.27] * 2})
    jumps = sharp_steps(sweep, "local_rank_abs", min_change=0.5)
    assert jumps[["beta_from", "beta_to"]].values.tolist() == [[0.1, 1.0], [1.0, 10.0]]
    assert jumps.change.tolist() == [-1.75, -2.0]
    assert len(sharp_steps(sweep, "local_rank_abs", min_change=0.2)) == 3
    summary = vib_sweep_summary(sweep, {"d": 4}).iloc[0]
    assert summary["kl falls"] and summary["accuracy falls"] and summary["chance at max beta"]
    assert not vib_sweep_summary(sweep, {"d": 10}).iloc[0]["chance at max beta"]  # 0.27 is not 0.1 +- 0.05
