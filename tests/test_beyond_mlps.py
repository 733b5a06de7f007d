"""Beyond MLPs (book/beyond_mlps_design.md): the package's image networks measured by layer name against an
independent reference, the study's table, and the readings' criterion on hand-counted cases."""

import tempfile
from pathlib import Path

import pandas as pd
import pytest
import torch

from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.beyond_mlps import readings, study
from lrc_utils.models import IMAGE_NETWORKS
from lrc_utils.training import LocalRankMonitor


def svd_reference(model, x, layers, atol):
    """int64 [N, n_layers]: per input, the Jacobian of each layer's output (read by forward hooks) with respect to
    the flattened image, one column per input direction by forward-mode dual numbers (a plain loop, no vmap),
    counted by svdvals."""
    import torch.autograd.forward_ad as fwAD

    modules, out = dict(model.named_modules()), torch.zeros(len(x), len(layers), dtype=torch.int64)
    for i, xi in enumerate(x):
        columns = {name: [] for name in layers}
        got = {}
        for j in range(xi.numel()):
            got.clear()
            handles = [modules[name].register_forward_hook(
                lambda _m, _i, o, name=name, got=got: got.__setitem__(name, o)) for name in layers]
            try:
                with fwAD.dual_level():
                    model(fwAD.make_dual(xi[None], torch.eye(xi.numel(), dtype=xi.dtype)[j][None]))
                    for name in layers:
                        columns[name].append(fwAD.unpack_dual(got[name]).tangent.reshape(-1))
            finally:
                for handle in handles:
                    handle.remove()
        for k, name in enumerate(layers):
            out[i, k] = int((torch.linalg.svdvals(torch.stack(columns[name], dim=1)) > atol).sum())
    return out


@pytest.mark.slow
@pytest.mark.parametrize("network", list(IMAGE_NETWORKS))
def test_the_image_networks_ranks_by_name_equal_autograd_svd(network):
    """After a few training steps (so that ranks are not all full), the monitor's rows are the reference's means,
    layer by layer, in float64, at a tolerance that cuts through the spectra."""
    torch.manual_seed(0)
    model = IMAGE_NETWORKS[network]().double()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(5):  # a large step size: some units die, ranks drop below full
        x, y = torch.randn(32, 784, dtype=torch.float64), torch.randint(0, 10, (32,))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    x = torch.randn(1, 784, dtype=torch.float64)  # one image: 784 forward passes of the reference per layer set
    expected = svd_reference(model, x, model.MEASURED, atol=0.5)
    rows = LocalRankMonitor(x, 0.5, layers=model.MEASURED)(model, 0, 0.0)
    assert [r["layer"] for r in rows] == list(model.MEASURED)
    assert [r["local_rank"] for r in rows] == expected.double().mean(0).tolist()


def test_the_study_records_every_measured_layer_of_every_run():
    p = study.Params(seeds=[0], n_train=50, n_test=50, n_rank_points=2, n_evals=2, steps=4)
    table = study.compute(p, StudyContext(checkpoint_dir=Path(tempfile.mkdtemp())))["local_rank"]
    assert list(table.columns) == study.COLUMNS and not table.isna().any().any()
    for network, rows in table.groupby("network"):
        assert list(dict.fromkeys(rows.layer)) == list(IMAGE_NETWORKS[network].MEASURED)
    assert set(table.dataset) == {"mnist", "fashion_mnist"} and set(table.step) == {1, 4}
    with pytest.raises(ValueError, match="networks must be distinct names among"):
        study.Params(networks=["cnn", "vit"])


def test_the_answer_counts_falls_by_figure1s_criterion_and_the_one_rule():
    """Hand-counted: fc1 rises to 60 by the fit (step 4) and ends at 20 (falls); conv1 stays at 784 (does not);
    1 of 2 cases falls: not more than half, "no"."""
    steps, acc = [1, 2, 4, 8, 16], [0.5, 0.9, 1.0, 1.0, 1.0]
    rows = [{"network": "cnn", "dataset": "mnist", "seed": 0, "step": s, "layer": layer, "local_rank": r,
             "train_loss": 0.1, "train_acc": a, "test_acc": a}
            for layer, ranks in {"conv1": [784] * 5, "fc1": [40, 50, 60, 60, 20]}.items()
            for s, r, a in zip(steps, ranks, acc)]
    falls = readings.falls(pd.DataFrame(rows))
    assert falls.set_index("layer")["falls in terminal phase"].to_dict() == {"conv1": False, "fc1": True}
    assert readings.answer(falls) == ("no", 1, 2)
    assert readings.answer_markdown(falls) == ("* Does the local rank of every measured layer fall in the terminal "
                                               "phase? **no**: 1 of 2 (network, data set, layer) cases fall by "
                                               "Figure 1's criterion (CNN, MNIST: fc1).\n")


def test_the_last_step_summary_names_each_panels_largest_fall_with_its_seeds():
    """Hand-computed: two seeds; fc1 ends at 30 and 10 of maxima 60 and 50 (falls of 50% and 80%; the seed mean
    20 of 55, 63.6%), conv1 stays at 784; accuracies at the last step 100% and 80% (test 90% and 70%)."""
    steps = [1, 2, 4]
    curves = {(0, "conv1"): [784] * 3, (0, "fc1"): [40, 60, 30], (1, "conv1"): [784] * 3, (1, "fc1"): [50, 50, 10]}
    accuracy = {0: [0.5, 1.0, 1.0], 1: [0.5, 1.0, 0.8]}
    rows = [{"network": "cnn", "dataset": "mnist", "seed": seed, "step": s, "layer": layer, "local_rank": r,
             "train_loss": 0.1, "train_acc": a, "test_acc": a - 0.1}
            for (seed, layer), ranks in curves.items() for s, r, a in zip(steps, ranks, accuracy[seed])]
    table = pd.DataFrame(rows)
    assert readings.last_step_markdown(table, readings.falls(table)) == (
        "* CNN, MNIST: training accuracy 90.0%, test accuracy 80.0% at step 4; the largest fall is fc1's, 63.6% "
        "below its maximum (per seed: 50.0%, 80.0%), which falls by the criterion.\n")
