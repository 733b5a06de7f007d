"""The preset and parameter checks, the runner's error reporting, and where executed copies go."""

from pathlib import Path

import nbformat
import pytest

from lrc_utils.book.notebook import _injected_values
from lrc_utils.book.runner import (
    PresetError,
    check_parameters,
    declared_parameters,
    executed_dir_for,
    load_preset,
    run_notebooks,
)

PARAMETERS = '''preset: str = "custom"  # preset
results_dir: str = ""  # results root
recompute: str = "auto"  # recompute
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


def test_declared_parameters_are_read_with_their_types(tmp_path):
    make_notebook(tmp_path, "alpha")
    declared = declared_parameters("alpha", tmp_path)
    assert declared["lr"] == (float, 0.1) and declared["steps"] == (int, 3) and declared["recompute"] == (str, "auto")


def test_unknown_names_fail_before_any_work_naming_the_valid_ones(tmp_path):
    make_notebook(tmp_path, "alpha", presets={"smoke": "steps: 1\n", "bad": "stpes: 2\n", "typo": "lr: 1e-3\n"})
    with pytest.raises(PresetError, match="unknown notebook 'beta'; valid notebooks: alpha"):
        load_preset("beta", "smoke", tmp_path)
    with pytest.raises(PresetError, match="unknown preset 'paper'.*valid presets: bad, smoke, typo"):
        load_preset("alpha", "paper", tmp_path)
    with pytest.raises(PresetError, match=r"unknown parameter 'stpes' \(did you mean 'steps'\?\).*Valid parameters"):
        load_preset("alpha", "bad", tmp_path)
    with pytest.raises(PresetError, match="lr = '1e-3' is a str, expected float .*write 1.0e-3"):
        load_preset("alpha", "typo", tmp_path)
    assert load_preset("alpha", "smoke", tmp_path) == {"steps": 1, "preset": "smoke"}


def test_check_parameters_rules():
    declared = {"lr": float, "steps": int, "fast": bool, "seeds": list}
    check_parameters({"lr": 1, "steps": 2, "fast": True, "seeds": [0]}, declared, "x")  # an int is a valid float
    for bad, message in [({"steps": 2.0}, "steps = 2.0 is a float, expected int"),
                         ({"fast": 1}, "fast = 1 is a int, expected bool"),
                         ({"steps": True}, "steps = True is a bool, expected int"),
                         ({"seeds": 0}, "seeds = 0 is a int, expected list"),
                         ({"step": 10}, "unknown parameter 'step' \\(did you mean 'steps'\\?\\)")]:
        with pytest.raises(PresetError, match=message):
            check_parameters(bad, declared, "x")


def test_the_injected_cell_is_found_in_the_input_history():
    namespace = {"In": ["", "import os", "# Parameters\ntrain_step = 10\npreset = \"mine\"\n"],
                 "train_step": 10, "preset": "mine"}
    assert _injected_values(namespace) == {"train_step": 10, "preset": "mine"}
    assert _injected_values({"In": ["x = 1"], "x": 1}) == {}


def test_runner_checks_every_preset_before_running(tmp_path):
    make_notebook(tmp_path, "good", body="open('ran', 'w').write('yes')")
    make_notebook(tmp_path, "other", presets={"paper": "steps: 1\n"})
    with pytest.raises(PresetError, match="unknown preset 'smoke' for notebook 'other'"):
        run_notebooks(None, "smoke", tmp_path / "out", notebooks_dir=tmp_path)
    assert not (tmp_path / "ran").exists()


def test_a_broken_notebook_fails_the_run_and_is_named_with_its_error(tmp_path):
    make_notebook(tmp_path, "fine")
    make_notebook(tmp_path, "broken", body="raise ValueError('deliberately broken\\nsecond line')")
    with pytest.raises(RuntimeError) as err:
        run_notebooks(None, "smoke", tmp_path / "out", notebooks_dir=tmp_path)
    message = str(err.value)
    assert ("notebook broken (preset smoke) failed with ValueError: deliberately broken second line [executed copy:"
            in message)  # the whole message, on one line
    assert "notebook fine" not in message
    executed = nbformat.read(tmp_path / "out" / "fine.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == "0.1"  # lr * steps with steps = 1 from the preset
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    assert any("injected-parameters" in t and "remove-cell" in t for t in tags)  # shown once, not twice


def test_only_the_paper_preset_lands_where_the_book_reads(tmp_path):
    assert executed_dir_for("paper", tmp_path) == tmp_path
    assert executed_dir_for("smoke", tmp_path) == tmp_path / "smoke"


def test_a_relative_results_folder_is_the_callers_and_is_printed(tmp_path, monkeypatch, capsys):
    import papermill

    from lrc_utils.book import runner

    seen = {}
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, out, parameters, **kw: seen.update(parameters))
    monkeypatch.setattr(runner, "_hide_injected_parameters", lambda path: None)
    monkeypatch.chdir(tmp_path)
    runner.run_notebooks(["mi_estimators"], "smoke", tmp_path / "out", results_dir=Path("mine"))
    assert seen["results_dir"] == str(tmp_path / "mine")
    assert f"results root: {tmp_path / 'mine'}" in capsys.readouterr().out


def test_a_failed_notebook_is_summarised_with_its_whole_message():
    from lrc_utils.book.runner import _failure_summary
    from lrc_utils.data import DataNotFoundError

    err = DataNotFoundError("mnist (test split) was not found. Looked at:\n  - /data/MNIST/raw\nTo fix, do one of:\n"
                            "  - set LRC_DATA_DIR")
    assert _failure_summary(err) == ("DataNotFoundError: mnist (test split) was not found. Looked at: "
                                     "- /data/MNIST/raw To fix, do one of: - set LRC_DATA_DIR")


def test_a_killed_kernel_is_reported_with_how_to_resume():
    """nbclient's DeadKernelError (a kernel killed by a signal or the out-of-memory killer) gets the remedy: the
    same command without --recompute resumes from the finished runs and checkpoints."""
    from nbclient.exceptions import DeadKernelError

    from lrc_utils.book.runner import _failure_summary

    summary = _failure_summary(DeadKernelError("Kernel died"))
    assert summary.startswith("DeadKernelError: the notebook's kernel died (killed, or out of memory)")
    assert "Run it again without --recompute" in summary and "resumes where it stopped" in summary
