"""Every preset of every notebook passes the checks a notebook applies before any work, and the ``full`` presets
of Figures 2 and 3 (the original Deep VIB sizes, not run for the book) run their code path at a smoke size."""

import math
from types import SimpleNamespace

import pytest

from lrc_utils.book.chapters import StudyContext, load_study
from lrc_utils.book.runner import check_parameters, declared_parameters, notebook_names, preset_names, preset_values
from lrc_utils.data import DataNotFoundError

PAIRS = [(name, preset) for name in notebook_names() for preset in preset_names(name)]


def values(name: str, preset: str) -> dict:
    return preset_values(name, preset)


@pytest.mark.parametrize(("name", "preset"), PAIRS)
def test_every_preset_passes_the_checks_made_before_any_work(name, preset):
    v = values(name, preset)
    check_parameters(v, {k: t for k, (t, _) in declared_parameters(name).items()}, f"{name} {preset}")
    study = load_study(name)
    if hasattr(study, "check"):
        study.check(SimpleNamespace(**v))


@pytest.mark.parametrize("name", ["figure2", "figure3"])
def test_the_full_presets_have_the_original_vib_sizes(name):
    p = values(name, "full")
    assert p["encoder_widths"] == [1024, 1024] and p["latent_dim"] == 256
    assert (p["lr"], p["adam_beta1"], p["batch_size"]) == (1e-4, 0.5, 100)
    epochs = p["steps"] / math.ceil(p["n_train"] / p["batch_size"])
    assert epochs == pytest.approx(200, rel=0.01)  # 200 epochs
    assert p["lr_final_ratio"] == pytest.approx(0.97 ** (200 / 2), rel=1e-3)  # 0.97 every 2 epochs
    if name == "figure3":
        assert p["mnist_split"] == "train" and p["n_train"] + p["n_rank_points"] == 60_000 and p["n_test"] == 10_000


def smoke_sized(name: str, **override) -> SimpleNamespace:
    """The full preset with only the sizes of the grid cut down (the architecture and schedule kept)."""
    return SimpleNamespace(**(values(name, "full") | {"seeds": [0], "n_betas": 2, "steps": 3, "n_train": 300,
                                                       "n_test": 100, "n_rank_points": 32} | override))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "datasets"), [("figure2", None), ("figure3", ["fashion_mnist"]),
                                                ("figure3", ["mnist"])])
def test_the_full_presets_code_path_at_smoke_size(name, datasets, tmp_path):
    """Figure 3's MNIST at ``mnist_split="train"`` needs MNIST's training split (not on machines without internet);
    Fashion-MNIST goes through the same branch (training and rank images from the train split, test images from
    the test split)."""
    p = smoke_sized(name, **({"datasets": datasets} if datasets else {}))
    study = load_study(name)
    study.check(p)
    try:
        tables = study.compute(p, StudyContext(checkpoint_dir=tmp_path))
    except DataNotFoundError as err:
        pytest.skip(f"{datasets}: training split not on this machine ({str(err).splitlines()[0]})")
    sweep = tables["vib_sweep"]
    assert len(sweep) == p.n_betas and sweep["local_rank_abs"].between(0, 256).all()
    n_values = min(256, getattr(p, "input_dim", 784))  # the bottleneck Jacobian is [256, input_dim]
    assert tables["spectrum"].groupby("beta")["index"].max().tolist() == [n_values] * p.n_betas


def test_building_params_checks_types_bounds_and_the_study_rules():
    from lrc_utils.book.params import PresetError

    figure1 = load_study("figure1")
    p = figure1.Params(seeds=[3], gauss_steps=10)
    assert p.seeds == [3] and p.gauss_steps == 10 and p.mnist_steps == 150000 and p.preset == "custom"
    assert figure1.Params().seeds is not figure1.Params().seeds  # list defaults are not shared between instances
    with pytest.raises(PresetError, match="gauss_steps = '10' is a str, expected int"):
        figure1.Params(gauss_steps="10")
    with pytest.raises(PresetError, match="gauss_lr = nan is not a finite number"):
        figure1.Params(gauss_lr=float("nan"))
    with pytest.raises(ValueError, match="seeds must be a non-empty list of distinct"):
        figure1.Params(seeds=[0, 0])


def test_a_preset_out_of_a_study_rules_is_refused_before_any_notebook_runs(tmp_path, monkeypatch):
    from lrc_utils.book import runner

    values = {"seeds": [1, 1]}
    monkeypatch.setattr(runner, "load_preset", lambda name, preset, notebooks_dir=None: {**values, "preset": preset})
    monkeypatch.setattr(runner, "preset_values", lambda name, preset, notebooks_dir=None: {**values, "preset": preset})
    with pytest.raises(ValueError, match="seeds must be a non-empty list of distinct"):
        runner.run_notebooks(["figure1"], "smoke", tmp_path)
    assert not list(tmp_path.iterdir())  # no executed copy: nothing ran


@pytest.mark.parametrize("bad", ["../../escaped", "a/b", "", ".hidden", "/abs"])
def test_a_preset_name_cannot_leave_the_results_root(bad):
    from lrc_utils.book.params import PresetError

    with pytest.raises(PresetError, match="must be a plain name"):
        load_study("figure2").Params(preset=bad)
    assert load_study("figure2").Params(preset="my-run_2.b").preset == "my-run_2.b"


def test_sizes_are_capped_before_any_work_unless_a_field_declares_its_own_bound():
    """Every integer parameter but a seed has an upper bound (:data:`SIZE_CAPS` by the end of its name, or its own
    ``high``), and so does every list's length: a value a few zeros too large stops with a message."""
    from lrc_utils.book.chapters.figure1.study import Params as Figure1
    from lrc_utils.book.chapters.figure2.study import Params as Figure2
    from lrc_utils.book.params import LIST_CAP, PresetError, size_cap

    assert [size_cap(k) for k in ("mnist_steps", "epochs", "mnist_widths[1]", "input_dim", "batch_size",
                                  "n_betas", "loop_max")] == [10**9, 10**7, 10**4, 10**4, 10**6, 10**6, 10**6]
    with pytest.raises(PresetError, match="n_betas = 1,000,001 is above 1,000,000"):
        Figure2(n_betas=1_000_001)
    with pytest.raises(PresetError, match=f"seeds holds {LIST_CAP + 1:,} values, more than the {LIST_CAP:,}"):
        Figure1(seeds=list(range(LIST_CAP + 1)))
    Figure1(seeds=[0], data_seed=10**12, mnist_steps=10**9)  # seeds are not sizes; steps cost time only
