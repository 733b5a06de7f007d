"""The flat-buffer AdamW of :func:`lrc_utils.training.fit` against its slow reference, ``torch.optim.AdamW`` with
weight decay on weight matrices only (:func:`lrc_utils.training.adamw_weights_only`): the same parameters bit for
bit after many steps, on every kind of network the studies train, and checkpoints that load either way."""

import copy

import pytest
import torch

from lrc_utils.models import MLP, NoisyMLP, noisy_cross_entropy
from lrc_utils.training import FlatAdamW, adamw_weights_only, cross_entropy_loss, minibatch_step
from lrc_utils.vib import VIB, vib_loss


def vib_total(model, x, y, gen):
    return vib_loss(model, x, y, beta=0.1, generator=gen).total


CASES = {  # name: (model, loss, inputs, classes)
    "relu MLP": (lambda: MLP([12, 16, 16, 3], "relu", init="normal"), cross_entropy_loss, 12, 3),
    "tanh MLP": (lambda: MLP([12, 10, 7, 2], "tanh"), cross_entropy_loss, 12, 2),
    "VIB (samples z from the run's generator)": (lambda: VIB(12, [16], 4, 3), vib_total, 12, 3),
    "noisy MLP": (lambda: NoisyMLP([12, 10, 5, 2], "tanh", noise_std=0.1), noisy_cross_entropy, 12, 2),
}


def train(model, opt, loss_fn, data, steps, lrs, seed=0, gen=None):
    gen = gen or torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        if isinstance(opt, FlatAdamW):
            opt.lr = lrs[step]
        else:
            for group in opt.param_groups:
                group["lr"] = lrs[step]
        losses.append(minibatch_step(model, opt, *data, 32, gen, loss_fn))
    return losses, gen


def parameters(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("weight_decay,beta1", [(0.1, 0.9), (0.0, 0.5)])
def test_flat_adamw_equals_torch_adamw_bit_for_bit(name, weight_decay, beta1):
    make, loss_fn, inputs, classes = CASES[name]
    torch.manual_seed(0)
    reference = make()
    fast = copy.deepcopy(reference)
    data = (torch.randn(200, inputs), torch.randint(0, classes, (200,)))
    lrs = [1e-2 * 0.1 ** (s / 300) for s in range(300)]  # a decaying rate, as FitConfig.lr_at
    slow_losses, _ = train(reference, adamw_weights_only(reference, lrs[0], weight_decay, (beta1, 0.999)), loss_fn,
                           data, 300, lrs)
    fast_losses, _ = train(fast, FlatAdamW(fast, lrs[0], weight_decay, (beta1, 0.999)), loss_fn, data, 300, lrs)
    assert fast_losses == slow_losses
    assert torch.equal(parameters(fast), parameters(reference))
    assert not torch.equal(parameters(fast), parameters(make()))  # it trained


@pytest.mark.parametrize("direction", ["flat to torch", "torch to flat"])
def test_a_checkpoint_of_either_optimiser_resumes_in_the_other(direction):
    torch.manual_seed(1)
    model = MLP([8, 12, 12, 3], "relu", init="normal")
    data = (torch.randn(100, 8), torch.randint(0, 3, (100,)))
    lrs = [1e-2] * 40
    straight = copy.deepcopy(model)
    train(straight, adamw_weights_only(straight, 1e-2, 0.1), cross_entropy_loss, data, 40, lrs)

    first = FlatAdamW if direction == "flat to torch" else adamw_weights_only
    second = adamw_weights_only if direction == "flat to torch" else FlatAdamW
    opt = first(model, 1e-2, 0.1)
    _, gen = train(model, opt, cross_entropy_loss, data, 20, lrs)
    saved = {"model": copy.deepcopy(model.state_dict()), "optimizer": copy.deepcopy(opt.state_dict()),
             "generator": gen.get_state()}

    resumed = MLP([8, 12, 12, 3], "relu", init="normal")
    opt = second(resumed, 1e-2, 0.1)
    resumed.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    gen = torch.Generator()
    gen.set_state(saved["generator"])
    train(resumed, opt, cross_entropy_loss, data, 20, lrs, gen=gen)
    assert torch.equal(parameters(resumed), parameters(straight))


def test_flat_adamw_refuses_a_state_of_another_shape():
    opt = FlatAdamW(MLP([4, 5, 2]), 1e-3, 0.1)
    other = adamw_weights_only(MLP([4, 5, 5, 2]), 1e-3, 0.1).state_dict()
    with pytest.raises(ValueError, match="parameter groups of sizes"):
        opt.load_state_dict(other)
    with pytest.raises(ValueError, match="no trainable parameter"):
        FlatAdamW(torch.nn.Linear(3, 2).requires_grad_(False), 1e-3, 0.1)


def test_flat_adamw_refuses_what_would_silently_train_wrong():
    model = MLP([4, 6, 2])
    opt = FlatAdamW(model, 1e-2, 0.1)
    data = (torch.randn(20, 4), torch.randint(0, 2, (20,)))
    model.zero_grad(set_to_none=True)  # detaches the gradients from the optimiser's buffer
    with pytest.raises(RuntimeError, match="no longer a view of FlatAdamW's gradient buffer"):
        minibatch_step(model, opt, *data, 8, torch.Generator().manual_seed(0), cross_entropy_loss)
    other = MLP([4, 6, 2])
    state = adamw_weights_only(other, 1e-2, 0.1)
    minibatch_step(other, state, *data, 8, torch.Generator().manual_seed(0), cross_entropy_loss)
    saved = state.state_dict()
    saved["state"][0]["exp_avg"] = torch.zeros(1)  # broadcastable, but not this parameter's shape
    with pytest.raises(ValueError, match=r"exp_avg of parameter 0 has shape \(1,\)"):
        FlatAdamW(MLP([4, 6, 2]), 1e-2, 0.1).load_state_dict(saved)
    mixed = MLP([4, 6, 2])
    mixed.layers[0].double()
    with pytest.raises(ValueError, match="one dtype on one device"):
        FlatAdamW(mixed, 1e-2, 0.1)
