"""Bad inputs to every public function and notebook parameter give the errors recorded for them, and the book page
``book/bad_inputs.md`` lists what they give now (the cases and the generator: ``tests/bad_inputs_table.py``)."""

import importlib
import importlib.util

import pytest
import torch
import yaml

import lrc_utils
from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.book.runner import declared_parameters, notebook_names
from tests.bad_inputs_table import (
    CASES,
    FREE_VALUES,
    PAGE,
    PARAMETERS,
    REGENERATE,
    outcome,
    raised_by_us,
    render,
    without_foreign_wording,
)

#: The public functions the page must cover, by their names under ``lrc_utils``.
PUBLIC = [
    "local_rank", "count_singular_values_above", "singular_values", "input_jacobians", "MLP", "VIB",
    "vib.vib_loss", "vib.kl_to_standard_normal", "mi.binning", "mi.adaptive_binning", "mi.kde", "mi.adaptive_kde",
    "mi.mixture_entropy", "mi.noisy_mi", "mi.discrete_mi", "mi.gaussian_channel_mi", "data.load_mnist",
    "data.load_fashion_mnist", "data.load_image_dataset", "data.load_szt_12bit", "data.disjoint_subsets",
    "data.gaussian_classification", "data.hierarchical_gaussian_mixture", "training.FitConfig", "training.fit",
    "grid.run_grid", "runner.load_preset", "runner.check_parameters", "runner.declared_parameters",
    "store.ResultStore", "config.get_device", "config.seed_everything", "theory.relu_check",
    "theory.margin_separation", "theory.rank_r_matrix", "theory.information_slope", "theory.decay_per_step",
    "readings.require", "cluster.parse_cluster", "cluster.DaskRuns", "ensemble.fit_ensemble",
]


def resolve(name: str) -> object:
    """``lrc_utils.<name>`` or, for the book's pipeline, ``lrc_utils.book.<name>``, importing its module."""
    module, _, attribute = name.rpartition(".")
    if not module:
        return getattr(lrc_utils, attribute)
    core = importlib.util.find_spec(f"lrc_utils.{module}") is not None
    return getattr(importlib.import_module(f"lrc_utils.{module}" if core else f"lrc_utils.book.{module}"), attribute)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{i + 1}-{c.function}" for i, c in enumerate(CASES)])
def test_case_gives_what_is_recorded(index):
    case, result = CASES[index], outcome(index)
    if case.raises is None:
        assert result.error is None, f"{case.bad_input}: now raises {result.error.__name__}: {result.message}"
        assert result.accepted, f"{case.bad_input}: accepted, but not as recorded ({case.expect})"
    else:
        got = result.error.__name__ if result.error else "no error"
        assert result.error is case.raises, f"{case.bad_input}: expected {case.raises.__name__}, got {got}: " \
                                            f"{result.message}"
        if result.ours:  # another library's wording changes with its version: its errors are checked by type
            assert case.expect in result.message, (f"{case.bad_input}: {case.expect!r} not in the message "
                                                   f"{result.message!r}")


def test_every_public_function_has_cases():
    covered = {c.function for c in CASES}
    for name in PUBLIC:
        assert callable(resolve(name)), name
    missing = [name for name in PUBLIC if name not in covered]
    assert not missing, f"no bad-input case for {missing}"
    unknown = sorted(f for f in covered if not f.startswith("notebook ") and f not in PUBLIC)
    assert not unknown, f"cases for functions missing from PUBLIC: {unknown}"


def test_every_notebook_parameter_is_swept():
    swept = {(p.notebook, p.parameter) for p in PARAMETERS}
    expected = {(name, parameter) for name in notebook_names() for parameter in declared_parameters(name)}
    assert swept == expected
    assert all((p.bad_value is None) == (p.parameter in FREE_VALUES) for p in PARAMETERS)


def test_page_is_what_the_cases_give_now():
    """Exactly, but for the messages in another library's words (marked on the page), which may read otherwise
    with other versions of it than the lock's."""
    assert PAGE.exists(), f"{PAGE.relative_to(REPO_ROOT)} is missing: run {REGENERATE}"
    assert without_foreign_wording(PAGE.read_text()) == without_foreign_wording(render()), (
        f"{PAGE.relative_to(REPO_ROOT)} is out of date: run {REGENERATE}")


def test_messages_are_told_ours_or_not_by_where_they_were_raised():
    """A hand-counted case each way: our own check, a torch error raised inside a torch function, a torch error
    raised by a C function called from our code, a Python builtin failing in our code."""
    from lrc_utils import config

    def outcome_of(call):
        try:
            call()
        except Exception as err:  # noqa: BLE001
            return raised_by_us(err)
        raise AssertionError("no error")

    assert outcome_of(lambda: config.seed_everything(-1)) is True
    assert outcome_of(lambda: torch.nn.Linear(3, 2)(torch.ones(1, 4))) is False
    assert outcome_of(lambda: config.get_device("no_such_device")) is False
    assert outcome_of(lambda: lrc_utils.MLP([3, float("nan"), 2])) is False
    page = "| `ValueError` | `ours` |\n| `RuntimeError` | *not ours:* ``a `b` c`` |\n"
    assert without_foreign_wording(page) == ("| `ValueError` | `ours` |\n| `RuntimeError` | *not ours:* <another "
                                             "library's message> |\n")


def test_page_shows_no_machine_path_and_is_developer_documentation_not_a_book_page():
    """The page documents the tests for developers: it lives beside them, not in the reader's book."""
    text = PAGE.read_text()
    for machine_path in (str(REPO_ROOT), "/tmp/", "/home/", "/root/", "/work/", "/usr/"):
        assert machine_path not in text, f"the page shows a machine path ({machine_path})"
    assert text.startswith("# "), "the page needs an H1 title"
    assert PAGE.parent.name == "tests"
    assert "bad_inputs" not in yaml.safe_dump(yaml.safe_load((REPO_ROOT / "_toc.yml").read_text()))
