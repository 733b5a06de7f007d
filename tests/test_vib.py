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
                                   "local_rank_abs", "local_rank_rel", "local_rank_noise", "effective_rank"]
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
    for key in ["kl", "ce", "train_acc", "test_acc", "local_rank_abs", "local_rank_rel", "local_rank_noise",
                "effective_rank"]:
        assert row[key] == direct[key], key
    assert row.local_rank_abs == local_rank(model, x_rank, atol=p.atol)[-1].item()
    # the two measures without an outside tolerance, from their definitions by hand: singular values of
    # diag(1/sigma) J above 1, and exp of the entropy of s / sum(s), each averaged over the rank points
    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: model.encode(v[None])[0][0], xi).double()
                       for xi in x_rank])
    sigma = torch.stack([model.encode(xi[None])[1][0].double() for xi in x_rank])
    whitened = torch.linalg.svdvals(jac / sigma[:, :, None])
    assert row.local_rank_noise == pytest.approx(float((whitened > 1).sum(-1).double().mean()), abs=1e-12)
    s = torch.linalg.svdvals(jac)
    q = s / s.sum(-1, keepdim=True)
    assert row.effective_rank == pytest.approx(float(torch.exp(-(q * q.log()).sum(-1)).mean()), rel=1e-6)


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


def hand_made_vib_tables(per_dataset, spectrum_rows, tolerance_rows):
    """A VIB sweep (two identical seeds per dataset and beta), spectrum and tolerance tables from
    ``{dataset: (betas, abs ranks, rel ranks, test accuracies)}``, ``(dataset, beta, index, singular value)`` and
    ``(dataset, convention, tolerance, ranks per beta)`` rows."""
    sweep = pd.DataFrame([{"dataset": d, "seed": seed, "beta": b, "local_rank_abs": a, "local_rank_rel": r,
                           "test_acc": acc}
                          for d, columns in per_dataset.items() for seed in (0, 1) for b, a, r, acc in zip(*columns)])
    spectrum = pd.DataFrame([{"dataset": d, "seed": seed, "beta": b, "index": i, "singular_value": s}
                             for d, b, i, s in spectrum_rows for seed in (0, 1)])
    tolerance = pd.DataFrame([{"dataset": d, "seed": seed, "beta": b, "convention": c, "tolerance": t,
                               "local_rank": r}
                              for d, c, t, ranks in tolerance_rows for seed in (0, 1)
                              for b, r in zip(per_dataset[d][0], ranks)])
    return {"vib_sweep": sweep, "spectrum": spectrum, "tolerance": tolerance}


def test_figure2_prose_numbers_on_hand_made_tables():
    from lrc_utils.book.chapters.vib.readings import figure2_prose_numbers

    betas = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    columns = (betas, [4, 3.8, 3, 2.2, 0, 0, 0], [3, 2.8, 2.5, 3.2, 2.0, 3.5, 3.9],
               [0.9, 0.9, 0.88, 0.62, 0.5, 0.255, 0.25])
    spectrum = [("g", b, 1, 1.0) for b in betas[:5]] + [("g", 3.0, 1, 0.02), ("g", 10.0, 1, 0.04)]
    spectrum += [("g", b, 2, 0.001) for b in betas]  # not the largest: ignored
    tolerance = [("g", "absolute", 1e-3, [4, 4, 4, 4, 4, 3.9, 4]), ("g", "absolute", 1e-2, [4, 4, 4, 4, 3, 2, 1]),
                 ("g", "relative", 1e-4, [4] * 7), ("g", "relative", 1e-2, [4, 4, 3.5, 4, 4, 4, 4]),
                 ("g", "relative", 0.1, [1] * 7)]  # above 1e-2: not counted
    p = SimpleNamespace(jump_min_change=0.5, accuracy_min_drop=0.1, latent_dim=4, lr=1e-3, lr_final_ratio=0.1,
                        separations=[8.0, 3.0])
    n = figure2_prose_numbers(hand_made_vib_tables({"g": columns}, spectrum, tolerance), p)
    # absolute: 4 -> 0, sharp steps -0.8, -0.8, -2.2 from beta 0.03 to 1
    assert (n["fig2_abs_first"], n["fig2_abs_last"]) == (4, 0)
    assert (n["fig2_abs_steps_from"], n["fig2_abs_steps_to"]) == (0.03, 1.0)
    assert (n["fig2_abs_step_min"], n["fig2_abs_step_max"]) == pytest.approx((0.8, 2.2))
    # accuracy drops of at least 0.1 at 0.1 -> 0.3, 0.3 -> 1, 1 -> 3; within 0.01 of 0.25 from beta 3 on
    assert n["fig2_acc_plateau"] == pytest.approx((0.9 + 0.9 + 0.88) / 3) and n["fig2_acc_plateau_2"] == 0.62
    assert n["fig2_collapse_beta"] == 3.0 and n["fig2_s1_collapsed"] == pytest.approx(0.03)
    # relative: sharp steps +0.7, -1.2, +1.5; the largest rise (1 -> 3) alone
    assert (n["fig2_rel_first"], n["fig2_rel_last"], n["fig2_rel_min"], n["fig2_rel_min_beta"]) == (3, 3.9, 2, 1)
    assert (n["fig2_rel_jump_from"], n["fig2_rel_jump_to"], n["fig2_rel_jump_steps"]) == (1, 3, 1)
    assert n["fig2_rel_jump_value"] == 3.5 and n["fig2_rel_sharp_count"] == 3
    assert n["fig2_rel_sharp_md"] == ("β = 0.1 to 0.3 (+0.70), β = 0.3 to 1 (-1.20), "
                                      "β = 1 to 3 (+1.50)")
    assert n["fig2_atol_small_md"] == "3.90 or more of the 4 directions"
    assert n["fig2_atol_mid_collapsed"] == pytest.approx(1.5)
    assert n["fig2_rtol_small_md"] == "3.50 or more of the 4 directions"
    assert n["fig2_lr_final_md"] == "10⁻⁴"
    assert n["fig2_separation_error_1"] == pytest.approx(3.167e-5, rel=1e-3)  # Phi(-4)
    assert n["fig2_separation_error_2"] == pytest.approx(0.0668, abs=1e-4)  # Phi(-1.5)


def test_figure3_prose_numbers_on_hand_made_tables():
    from lrc_utils.book.chapters.vib.readings import figure3_prose_numbers

    betas = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]
    sweeps = {"mnist": (betas, [10, 9, 8, 7, 2, 2], [4, 4.5, 5, 8, 16, 16], [0.95, 0.95, 0.96, 0.7, 0.1, 0.1]),
              "fashion_mnist": (betas, [12, 11, 10, 8, 5, 3], [5, 5, 6, 7, 10, 15],
                                [0.85, 0.85, 0.85, 0.84, 0.3, 0.11])}
    spectrum = [(d, b, i, s) for d in sweeps for b in betas[:4] for i, s in ((1, 1.0), (2, 0.5))]
    spectrum += [("mnist", b, i, s) for b in (1.0, 10.0) for i, s in ((1, 0.2), (2, 0.05))]
    spectrum += [("fashion_mnist", 1.0, 1, 0.5), ("fashion_mnist", 1.0, 2, 0.2)]
    spectrum += [("fashion_mnist", 10.0, 1, 0.3), ("fashion_mnist", 10.0, 2, 0.04)]
    tolerance = [(d, "absolute", t, [16] * 6) for d in sweeps for t in (1e-3, 1e-2)]
    tolerance += [("mnist", "relative", 1e-2, [16] * 6), ("fashion_mnist", "relative", 1e-2, [16, 14.5] + [16] * 4),
                  ("mnist", "relative", 0.3, [3, 2, 1, 4, 10, 12]), ("fashion_mnist", "relative", 0.3, [2] * 6)]
    p = SimpleNamespace(latent_dim=16, steps=700, batch_size=100, n_train=7000, lr=1e-3, lr_final_ratio=0.1)
    n = figure3_prose_numbers(hand_made_vib_tables(sweeps, spectrum, tolerance), p)
    m, f = "fig3_mnist_", "fig3_fashion_mnist_"
    # MNIST: collapsed (accuracy within 0.01 of 0.1) from beta 1; largest fall 5 (0.1 -> 1) after 3 falls of 1
    assert (n[m + "abs_first"], n[m + "collapse_beta"], n[m + "abs_collapsed"]) == (10, 1, 2)
    assert (n[m + "abs_largest_step"], n[m + "abs_mean_step"]) == pytest.approx((5, 1))
    assert n[m + "acc_plateau"] == pytest.approx((0.95 + 0.95 + 0.96) / 3)  # before the drop 0.01 -> 0.1
    # Fashion-MNIST: collapsed only at beta 10; largest fall 3 (0.1 -> 1) after falls of 1, 1, 2
    assert (n[f + "abs_first"], n[f + "collapse_beta"], n[f + "abs_collapsed"]) == (12, 10, 3)
    assert (n[f + "abs_largest_step"], n[f + "abs_mean_step"]) == pytest.approx((3, 4 / 3))
    assert n[f + "acc_plateau"] == pytest.approx((0.85 * 3 + 0.84) / 4)
    assert n["fig3_abs_largest_md"] == "β = 0.1 and 1"
    assert (n[m + "s1_collapsed"], n[f + "s1_collapsed"]) == pytest.approx((0.2, 0.3))
    assert (n["fig3_collapsed_sv_min"], n["fig3_collapsed_sv_max"]) == pytest.approx((0.04, 0.3))
    # relative: average steps 2.4 and 2; faster rises +3, +8 and +3, +5
    assert (n[m + "rel_first"], n[m + "rel_last_md"]) == (4, "16 (all of *K*)")
    assert (n[f + "rel_first"], n[f + "rel_last_md"]) == (5, "15.0 (of *K* = 16)")
    assert n[m + "rel_fast_md"] == "3.0 to 8.0 per grid point between β ≈ 0.01 and 1"
    assert n[f + "rel_fast_md"] == "3.0 to 5.0 per grid point between β ≈ 0.1 and 10"
    assert n["fig3_atol_small_md"] == "all 16 directions"
    assert n["fig3_rtol_small_md"] == "14.50 or more of the 16 directions"
    assert (n[m + "rtol_high_first"], n[m + "rtol_high_min"], n[m + "rtol_high_last"]) == (3, 1, 12)
    assert (n[f + "rtol_high_first"], n[f + "rtol_high_min"], n[f + "rtol_high_last"]) == (2, 2, 2)
    assert n["fig3_epochs"] == 10 and n["fig3_lr_final_md"] == "10⁻⁴"


def committed_vib_tables(name):
    import json

    from lrc_utils.book.paths import RESULTS_DIR

    folder = RESULTS_DIR / "paper" / name
    if not (folder / "vib_sweep.csv").exists():
        pytest.skip("no paper results")
    p = SimpleNamespace(**json.loads((folder / "meta.json").read_text())["tables"]["vib_sweep"]["parameters"])
    return {t: pd.read_csv(folder / f"{t}.csv") for t in ("vib_sweep", "spectrum", "tolerance")}, p


def test_figure2_prose_numbers_on_the_committed_paper_tables():
    """The values the audit recomputed from results/paper/figure2."""
    from lrc_utils.book.chapters.vib.readings import figure2_prose_numbers

    n = figure2_prose_numbers(*committed_vib_tables("figure2"))
    assert n["fig2_abs_first"] == pytest.approx(7.495, abs=5e-4) and n["fig2_abs_last"] == 0
    assert round(n["fig2_abs_steps_from"], 2) == 0.13 and round(n["fig2_abs_steps_to"], 2) == 0.75
    assert (n["fig2_abs_step_min"], n["fig2_abs_step_max"]) == pytest.approx((0.54, 1.08), abs=0.005)
    assert 0.663 <= n["fig2_acc_plateau"] <= 0.687 and 0.451 <= n["fig2_acc_plateau_2"] <= 0.486
    assert n["fig2_rel_first"] == pytest.approx(6.087, abs=5e-4) and n["fig2_rel_sharp_count"] == 3
    assert (n["fig2_rel_min"], n["fig2_rel_jump_value"]) == pytest.approx((4.01, 7.51), abs=0.005)
    assert (round(n["fig2_rel_jump_from"], 2), n["fig2_rel_jump_to"], n["fig2_rel_jump_steps"]) == (0.56, 1, 2)
    assert 0.016 <= n["fig2_s1_collapsed"] <= 0.019
    assert n["fig2_atol_small_md"] == "7.98 or more of the 8 directions"
    assert 2.06 <= n["fig2_atol_mid_collapsed"] <= 2.29
    assert n["fig2_rtol_small_md"] == "7.84 or more of the 8 directions"
    assert n["fig2_lr_final_md"] == "10⁻⁴"
    assert (round(n["fig2_separation_error_2"], 3), round(n["fig2_separation_error_3"], 3)) == (0.067, 0.227)


def test_figure3_prose_numbers_on_the_committed_paper_tables():
    """The values recomputed by hand (pandas on the CSVs: seed means per beta, their ends, steps and the collapsed
    betas' mean) from results/paper/figure3 as computed at a981ca5 (MNIST from its training split, 3 seeds)."""
    from lrc_utils.book.chapters.vib.readings import figure3_prose_numbers

    n = figure3_prose_numbers(*committed_vib_tables("figure3"))
    m, f = "fig3_mnist_", "fig3_fashion_mnist_"
    assert (n[m + "abs_first"], n[f + "abs_first"]) == pytest.approx((20.30, 22.68), abs=0.005)
    assert (n[m + "abs_collapsed"], n[f + "abs_collapsed"]) == pytest.approx((2.136, 2.138), abs=0.0005)
    assert round(n[m + "collapse_beta"], 1) == 1.8
    assert (n[m + "abs_mean_step"], n[f + "abs_mean_step"]) == pytest.approx((0.869, 1.041), abs=0.0005)
    assert 0.964 <= n[m + "acc_plateau"] <= 0.972 and 0.853 <= n[f + "acc_plateau"] <= 0.865
    assert (n[m + "abs_largest_step"], n[f + "abs_largest_step"]) == pytest.approx((4.514, 4.316), abs=0.0005)
    assert n["fig3_abs_largest_md"] == "β = 0.56 and 1"
    assert round(n[m + "s1_collapsed"], 2) == round(n[f + "s1_collapsed"], 2) == 0.11
    assert (n[m + "rel_first"], n[f + "rel_first"]) == pytest.approx((9.387, 8.280), abs=0.0005)
    assert n[m + "rel_last_md"] == n[f + "rel_last_md"] == "32 (all of *K*)"
    assert round(n["fig3_collapsed_sv_min"], 2) == 0.03 and round(n["fig3_collapsed_sv_max"], 2) == 0.11
    assert n["fig3_atol_small_md"] == "all 32 directions" and n["fig3_rtol_small_md"].startswith("29.66 or more")
    assert (n[m + "rtol_high_first"], n[m + "rtol_high_min"]) == pytest.approx((6.152, 3.212), abs=0.0005)
    assert (n[f + "rtol_high_first"], n[f + "rtol_high_min"]) == pytest.approx((4.824, 3.615), abs=0.0005)
    assert round(n["fig3_epochs"], 1) == 57.1 and n["fig3_lr_final_md"] == "10⁻⁴"


def test_noise_resolved_rank_counts_whitened_singular_values_above_one_against_an_autograd_loop():
    """Per input, by a plain loop: the Jacobian of the mean by torch.autograd.functional.jacobian in float64, each
    row divided by that input's sigma, svdvals, the count above 1; and with one scale s for every coordinate (the
    scale head's weights zeroed, its bias set), the count of the Jacobian's singular values above s."""
    from lrc_utils.vib import SCALE_SHIFT, VIB, noise_resolved_rank

    seed_everything(0)
    model = VIB(6, [8, 8], 4, 3).double().eval()
    x = torch.randn(5, 6, dtype=torch.float64)

    def loop(m):
        counts = []
        for xi in x:
            jac = torch.autograd.functional.jacobian(lambda v: m.encode(v[None])[0][0], xi)
            sigma = m.encode(xi[None])[1][0].detach()
            counts.append(int((torch.linalg.svdvals(jac / sigma[:, None]) > 1).sum()))
        return counts

    got = noise_resolved_rank(model, x)
    assert got.dtype == torch.int64 and got.tolist() == loop(model)
    scale = 0.05
    with torch.no_grad():
        model.scale_head.weight.zero_()
        model.scale_head.bias.fill_(math.log(math.expm1(scale)) + SCALE_SHIFT)  # softplus(bias - shift) = scale
    expected = [int((torch.linalg.svdvals(torch.autograd.functional.jacobian(
        lambda v: model.encode(v[None])[0][0], xi)) > scale).sum()) for xi in x]
    assert noise_resolved_rank(model, x).tolist() == expected
    assert 0 < sum(expected) < 4 * len(x)  # the scale cuts through the spectra: the count is not trivially full
    with pytest.raises(ValueError, match=r"x must be \[N >= 1, 6\]"):
        noise_resolved_rank(model, x[:, :5])


def test_the_measures_beside_the_conventions_are_described_against_both_by_hand():
    """Seed means over two seeds at four betas: the noise-resolved rank 4.5 -> 5 -> 3 -> 0.5 falls (as the
    absolute rank, 5 -> 1) through its highest value at beta 1; the effective rank 2 -> 1 -> 3 -> 4 rises (as the
    relative rank, 2 -> 6) through its lowest at beta 1; the extremes are named in beta order. A table without
    the measures (or with a NaN in one) says it has none."""
    from lrc_utils.book.chapters.vib.readings import beside_markdown, beside_measures

    rows = [{"dataset": "g", "seed": seed, "beta": b, "local_rank_abs": a, "local_rank_rel": r,
             "local_rank_noise": n + seed, "effective_rank": e}
            for seed in (0, 1) for b, a, r, n, e in zip([0.1, 1, 3, 10], [5, 3, 2, 1], [2, 3, 4, 6],
                                                         [4, 4.5, 2.5, 0], [2, 1, 3, 4])]
    table = pd.DataFrame(rows)
    text = beside_markdown(table, {"g": "Gaussian"})
    assert text == (
        "* **Gaussian**: rank against the encoder's noise 4.50 at β = 0.1, highest 5.00 at β = 1, "
        "0.50 at β = 10: it **falls** (the absolute tolerance's direction); effective rank 2.00 at β = "
        "0.1, lowest 1.00 at β = 1, 4.00 at β = 10: it **rises** (the relative tolerance's direction).")
    table.loc[0, "effective_rank"] = float("nan")
    assert list(beside_measures(table)) == ["local_rank_noise"]
    none = beside_markdown(table.drop(columns=["local_rank_noise", "effective_rank"]))
    assert none.startswith("*This table records neither measure")
