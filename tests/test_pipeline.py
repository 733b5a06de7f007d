"""The preset checks, the runner's error reporting, and the result store's reuse rules."""

import json

import nbformat
import pandas as pd
import pytest

from lrc_utils import pipeline
from lrc_utils.pipeline import PresetError, Run, collect_parameters, load_preset, run_notebooks

PARAMETERS = '''preset: str = "custom"  # preset
results_dir: str = ""  # results root
recompute: bool = False  # recompute
device: str = "auto"  # device
data_dir: str = ""  # data
lr: float = 0.1  # learning rate
steps: int = 3  # steps
'''


def make_notebook(folder, name, body="print(lr * steps)", presets=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), params, nbformat.v4.new_code_cell(body)]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")
    for preset, text in (presets or {"smoke": "steps: 1\n"}).items():
        (folder / f"{name}.{preset}.yaml").write_text(text)


def test_unknown_names_fail_before_any_work_naming_the_valid_ones(tmp_path):
    make_notebook(tmp_path, "alpha", presets={"smoke": "steps: 1\n", "bad": "stpes: 2\n", "typo": "lr: 1e-3\n"})
    with pytest.raises(PresetError, match="unknown notebook 'beta'; valid notebooks: alpha"):
        load_preset("beta", "smoke", tmp_path)
    with pytest.raises(PresetError, match="unknown preset 'paper'.*valid presets: bad, smoke, typo"):
        load_preset("alpha", "paper", tmp_path)
    with pytest.raises(PresetError, match=r"unknown parameters \['stpes'\]; valid parameters: .*steps"):
        load_preset("alpha", "bad", tmp_path)
    with pytest.raises(PresetError, match="lr = '1e-3' is a str, expected float .*write 1.0e-3"):
        load_preset("alpha", "typo", tmp_path)
    assert load_preset("alpha", "smoke", tmp_path) == {"steps": 1, "preset": "smoke"}


def test_runner_checks_every_preset_before_running(tmp_path):
    make_notebook(tmp_path, "good", body="open('ran', 'w').write('yes')")
    make_notebook(tmp_path, "other", presets={"paper": "steps: 1\n"})
    with pytest.raises(PresetError, match="unknown preset 'smoke' for notebook 'other'"):
        run_notebooks(None, "smoke", tmp_path / "out", notebooks_dir=tmp_path)
    assert not (tmp_path / "ran").exists()


def test_a_broken_notebook_fails_the_run_and_is_named(tmp_path):
    make_notebook(tmp_path, "fine")
    make_notebook(tmp_path, "broken", body="raise ValueError('deliberately broken')")
    with pytest.raises(RuntimeError) as err:
        run_notebooks(None, "smoke", tmp_path / "out", notebooks_dir=tmp_path)
    message = str(err.value)
    assert "notebook broken (preset smoke) failed" in message and "deliberately broken" in message
    assert "fine" not in message.replace(str(tmp_path), "")
    executed = nbformat.read(tmp_path / "out" / "fine.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == "0.1"  # lr * steps with steps = 1 from the preset


def test_collect_parameters():
    before = {"np", "_hidden"}
    namespace = {"np": 1, "_hidden": 2, "_ipython": 3, "lr": 0.1, "steps": 4}
    assert collect_parameters(namespace, before) == {"lr": 0.1, "steps": 4}


def run_params(tmp_path, **overrides):
    params = dict(preset="test", results_dir=str(tmp_path), recompute=False, device="cpu", data_dir="",
                  lr=0.1, steps=3)
    params.update(overrides)
    return params


def test_results_are_reused_only_when_parameters_match(tmp_path, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"step": [1, 2], "loss": [0.5, 0.25]})

    first = Run("nb", run_params(tmp_path)).table("curve", compute)
    assert len(calls) == 1
    run = Run("nb", run_params(tmp_path, device="cuda", data_dir="/elsewhere"))  # run parameters don't count
    again = run.table("curve", compute)
    assert len(calls) == 1 and again.equals(first) and run.loaded["curve"]
    assert "loaded from stored results" in run.provenance("curve")
    Run("nb", run_params(tmp_path, lr=0.2)).table("curve", compute)
    assert len(calls) == 2
    Run("nb", run_params(tmp_path, lr=0.2, recompute=True)).table("curve", compute)
    assert len(calls) == 3
    meta = json.loads((tmp_path / "test" / "nb" / "meta.json").read_text())
    info = meta["tables"]["curve"]
    assert info["parameters"] == {"lr": 0.2, "steps": 3}
    assert {"git_commit", "versions", "device", "wall_time_s", "computed_utc"} <= set(info)
    monkeypatch.setenv(pipeline.CACHED_ONLY_ENV, "1")
    with pytest.raises(RuntimeError, match="--cached-only forbids computing"):
        Run("nb", run_params(tmp_path, lr=0.3)).table("curve", compute)


def test_run_needs_the_run_parameters(tmp_path):
    with pytest.raises(PresetError, match="does not declare the run parameters"):
        Run("nb", {"preset": "x"})


def test_recompute_starts_checkpointed_work_from_scratch(tmp_path):
    run = Run("nb", run_params(tmp_path))
    (run.checkpoint_dir / "seed0.pt").write_text("partial work")
    assert (Run("nb", run_params(tmp_path)).checkpoint_dir / "seed0.pt").exists()  # resumable by default
    assert not (Run("nb", run_params(tmp_path, recompute=True)).checkpoint_dir / "seed0.pt").exists()


def test_checkpoints_of_other_computing_parameters_are_not_picked_up(tmp_path):
    run = Run("nb", run_params(tmp_path))
    (run.checkpoint_dir / "seed0.pt").write_text("partial work")
    assert not (Run("nb", run_params(tmp_path, lr=0.2)).checkpoint_dir / "seed0.pt").exists()
    # where and how to run do not change what is computed
    assert (Run("nb", run_params(tmp_path, device="cuda", data_dir="/elsewhere")).checkpoint_dir / "seed0.pt").exists()
