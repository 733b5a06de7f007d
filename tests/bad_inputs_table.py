"""The bad inputs tried on every public function and notebook parameter, and the book page that lists them.

One list of cases, :data:`CASES`: each calls one public function of ``lrc_utils`` (or runs a notebook's parameter
checks) with one bad input, and records what that gives: the exception type and a text its message contains, or,
where the input is accepted, a check of what comes back instead. ``tests/test_bad_inputs.py`` runs every case
against that record and checks that ``tests/BAD_INPUTS.md`` is what :func:`render` writes now. After a change to
the package, update the cases the change concerns and regenerate the page::

    python -m tests.bad_inputs_table

The notebook parameters are covered twice: by hand-written cases (misspelt names, repeated seeds, an empty beta
range, ...) and by a sweep that gives every declared parameter of every notebook a value of the wrong type and a
bad value of its own type (:func:`parameter_cases`), each run through :func:`lrc_utils.book.notebook.start`, the
checks a notebook makes before any work.
"""

from __future__ import annotations

import contextlib
import functools
import io
import linecache
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch
from torch import nn

from lrc_utils import (
    MLP,
    VIB,
    FitConfig,
    count_singular_values_above,
    data,
    fit,
    get_device,
    grid,
    input_jacobians,
    local_rank,
    mi,
    seed_everything,
    singular_values,
)
from lrc_utils.book import runner, store
from lrc_utils.book.chapters import load_study
from lrc_utils.book.notebook import NotebookRun, start
from lrc_utils.book.params import PresetError, schema
from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.models import NoisyMLP
from lrc_utils.training import BatchLoss, DamagedWork, StaleWork, cross_entropy_loss, save_work, work_code
from lrc_utils.vib import kl_to_standard_normal, vib_loss

PAGE = REPO_ROOT / "tests" / "BAD_INPUTS.md"
REGENERATE = "python -m tests.bad_inputs_table"
#: The table shows the first line of each message, cut at this many characters.
MESSAGE_CHARS = 160
NAN, INF = math.nan, math.inf


@dataclass(frozen=True)
class Case:
    """One bad input to one function.

    ``function`` is the name under ``lrc_utils`` (``"mi.binning"``), or ``"notebook <name>"``; ``bad_input``
    describes the input in words (Markdown); ``call(tmp)`` makes the call, given an empty temporary folder.
    ``raises`` is the exception type it gives and ``expect`` a text its message contains; where ``raises`` is
    None the input is accepted, ``expect`` says what happens instead and ``accepted(result)`` checks it.
    ``clear``: the message says what was wrong and what was expected (our judgement, see the page).
    """

    function: str
    bad_input: str
    call: Callable[[Path], object]
    raises: type[BaseException] | None
    expect: str
    clear: bool = True
    accepted: Callable[[object], bool] | None = None
    section: str = ""

    @property
    def verdict(self) -> str:
        return "accepted" if self.raises is None else "clear" if self.clear else "unclear"


@dataclass(frozen=True)
class Outcome:
    """What a case gave: the exception type (None: no exception) and its message with machine paths redacted,
    or whether the result passed the case's ``accepted`` check."""

    error: type[BaseException] | None
    message: str = ""
    accepted: bool | None = None
    ours: bool = True  # the message was written by lrc_utils (not torch's, numpy's or Python's own words)

    @property
    def first_line(self) -> str:
        line = self.message.splitlines()[0] if self.message else ""
        return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def redact(text: str, tmp: Path) -> str:
    """``text`` with the temporary folder written ``<tmp>``, the repository ``<repo>`` and the home folder ``~``."""
    for path, name in ((tmp.resolve(), "<tmp>"), (tmp, "<tmp>"), (REPO_ROOT, "<repo>"), (Path.home(), "~")):
        text = text.replace(str(path), name)
    return text.replace(tmp.name, "<tmp>")  # display_path shows a folder outside the repository as .../<tmp>/...


def raised_by_us(err: BaseException) -> bool:
    """Whether ``err``'s message is our wording: the innermost frame of its traceback is a ``raise`` statement of
    the package (or of these cases). A library function or a Python builtin that fails inside our code leaves the
    frame at the line that called it, not at a ``raise``."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    path = Path(tb.tb_frame.f_code.co_filename).resolve()
    if not any(path.is_relative_to(REPO_ROOT / folder) for folder in ("lrc_utils", "tests")):
        return False
    return linecache.getline(str(path), tb.tb_lineno).lstrip().startswith("raise ")


def run_case(case: Case) -> Outcome:
    """Make the case's call in a fresh temporary folder, its printing and warnings silenced."""
    with tempfile.TemporaryDirectory(prefix="lrc-bad-input-") as folder, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        tmp = Path(folder)
        try:
            result = case.call(tmp)
        except Exception as err:  # noqa: BLE001 - recording the exception is the point of the case
            return Outcome(type(err), redact(str(err), tmp), ours=raised_by_us(err))
        return Outcome(None, accepted=bool(case.accepted(result)) if case.accepted else None)


@functools.cache
def outcome(index: int) -> Outcome:
    """The outcome of ``CASES[index]``, computed once per process (the test and the page share it)."""
    return run_case(CASES[index])


# ----------------------------------------------------------------------------------------------------
# inputs the cases share


def randn(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


def with_value(t: torch.Tensor, value: float) -> torch.Tensor:
    """A copy of ``t`` with its first entry set to ``value``."""
    t = t.clone()
    t.view(-1)[0] = value
    return t


def is_nan(value) -> bool:
    return bool(torch.as_tensor(value).isnan().all())


def _model(make: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return make()


MLP_3 = _model(lambda: MLP([3, 4, 2], init="normal"))  # input_dim 3, one hidden layer of width 4
VIB_3 = _model(lambda: VIB(3, [4], 2, 3))  # input_dim 3, latent_dim 2, 3 classes
TANH_5 = _model(lambda: MLP([5, 2, 2, 2], "tanh"))  # input_dim 5, two hidden layers of width 2
NOISY_3 = _model(lambda: NoisyMLP([3, 4, 2], noise_std=0.5))
X = randn(5, 3)  # 5 inputs of 3 features
Y = torch.tensor([0, 1, 2, 0, 1])
T = randn(6, 2, dtype=torch.float64)  # a layer's activity: 6 inputs, 2 units
T_LABELS = torch.tensor([0, 1, 0, 1, 0, 1])


def pandas_run(key: dict) -> dict[str, pd.DataFrame]:
    return {"runs": pd.DataFrame({"value": [1.0]})}


def damaged_mnist(tmp: Path) -> Path:
    """A data folder whose MNIST test files are not the known files."""
    raw = tmp / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"not an IDX file")
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"not an IDX file")
    return tmp / "data"


def damaged_szt(tmp: Path) -> Path:
    (tmp / "data" / "szt").mkdir(parents=True)
    (tmp / "data" / "szt" / "var_u.mat").write_bytes(b"not a MATLAB file")
    return tmp / "data"


def foreign_run_file(tmp: Path) -> Path:
    """A grid folder whose file for key ``{"seed": 0}`` holds the run of another key."""
    folder = tmp / "grid"
    save_work({"key": {"seed": 1}, "identity": "another", "tables": {}}, grid.run_file(folder, {}, {"seed": 0}))
    return folder


def damaged_run_file(tmp: Path) -> Path:
    folder = tmp / "grid"
    folder.mkdir()
    grid.run_file(folder, {}, {"seed": 0}).write_bytes(b"not a torch file")
    return folder


def flipped_run_file(tmp: Path) -> Path:
    """A grid folder whose finished run file had one byte of its payload flipped after it was written."""
    folder = tmp / "grid"
    grid.run_grid([{"seed": 0}], pandas_run, folder, {}, progress=False)
    path = grid.run_file(folder, {}, {"seed": 0})
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01
    path.write_bytes(bytes(data))
    return folder


def stale_run_grid(tmp: Path):
    """The grid of a finished run written by code digest "old", run again by code "new"."""
    folder = tmp / "grid"
    with work_code("old"):
        grid.run_grid([{"seed": 0}], pandas_run, folder, {}, progress=False)
    with work_code("new"):
        return grid.run_grid([{"seed": 0}, {"seed": 1}], pandas_run, folder, {}, progress=False)


def preset_folder(tmp: Path, preset_text: str) -> Path:
    """A notebooks folder holding the local_rank notebook and a preset ``bad`` with ``preset_text``."""
    folder = tmp / "notebooks"
    folder.mkdir()
    (folder / "local_rank.ipynb").write_bytes((runner.NOTEBOOKS_DIR / "local_rank.ipynb").read_bytes())
    (folder / "local_rank.bad.yaml").write_text(preset_text)
    return folder


@functools.cache
def declared(name: str) -> dict[str, tuple[type, object]]:
    return runner.declared_parameters(name)


def notebook_start(name: str, tmp: Path, **given) -> NotebookRun:
    """What notebook ``name`` does with papermill's values ``given`` before any work:
    :func:`lrc_utils.book.notebook.start` on the namespace its kernel would hold (the defaults of its parameters
    cell, then papermill's injected cell), with the results folder in ``tmp``."""
    namespace = {k: default for k, (_, default) in declared(name).items()}
    namespace["__annotations__"] = {k: kind for k, (kind, _) in declared(name).items()}
    namespace["results_dir"] = str(tmp / "results")
    namespace.update(given)
    namespace["In"] = ["# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in given.items())]
    return start(name, namespace)


def starts(result) -> bool:
    return isinstance(result, NotebookRun)


def raises_later(call: Callable[[], object], error: type[BaseException], text: str) -> bool:
    """Whether ``call()`` raises ``error`` with ``text`` in its message (what an accepted input leads to)."""
    try:
        call()
    except error as err:
        return text in str(err)
    return False


# ----------------------------------------------------------------------------------------------------
# the cases, one builder per section


def local_rank_cases() -> list[Case]:
    batch = torch.eye(3)[None] * 0.5  # one 3 x 3 matrix, singular values 0.5, 0.5, 0.5
    return [
        Case("local_rank", "`x` with a NaN entry", lambda tmp: local_rank(MLP_3, with_value(X, NAN)),
             ValueError, "x contains NaN or Inf"),
        Case("local_rank", "`x` with an infinite entry", lambda tmp: local_rank(MLP_3, with_value(X, INF)),
             ValueError, "x contains NaN or Inf"),
        Case("local_rank", "`x` of shape `[3]` (no batch dimension)", lambda tmp: local_rank(MLP_3, X[0]),
             ValueError, "x must have shape [N, input_dim]"),
        Case("local_rank", "`x` empty, shape `[0, 3]`", lambda tmp: local_rank(MLP_3, X[:0]),
             ValueError, "empty batch"),
        Case("local_rank", "`x` with 5 features, the model takes 3", lambda tmp: local_rank(MLP_3, randn(5, 5)),
             ValueError, "the model expects input_dim = 3"),
        Case("local_rank", "`x` a NumPy array", lambda tmp: local_rank(MLP_3, X.numpy()),
             TypeError, "x must be a torch.Tensor"),
        Case("local_rank", "`x` an integer tensor", lambda tmp: local_rank(MLP_3, X.long()),
             TypeError, "floating-point"),
        Case("local_rank", "`x` float64, the model float32", lambda tmp: local_rank(MLP_3, X.double()),
             ValueError, "move one to the other"),
        Case("local_rank", "`atol=-0.01`", lambda tmp: local_rank(MLP_3, X, atol=-0.01),
             ValueError, "atol must be a finite number >= 0"),
        Case("local_rank", "`atol=nan`", lambda tmp: local_rank(MLP_3, X, atol=NAN),
             ValueError, "atol must be a finite number >= 0"),
        Case("local_rank", "`rtol=inf`", lambda tmp: local_rank(MLP_3, X, rtol=INF),
             ValueError, "rtol must be a finite number >= 0"),
        Case("local_rank", "`atol='0.01'` (a string)", lambda tmp: local_rank(MLP_3, X, atol="0.01"),
             ValueError, "atol must be a finite number >= 0"),
        Case("local_rank", "`method='qr'` (unknown)", lambda tmp: local_rank(MLP_3, X, method="qr"),
             ValueError, "unknown method 'qr'"),
        Case("local_rank", "`method='inertia'` with `rtol=0.1`",
             lambda tmp: local_rank(MLP_3, X, rtol=0.1, method="inertia"), ValueError, "use rtol=0"),
        Case("local_rank", "`chunk_size=0`", lambda tmp: local_rank(MLP_3, X, chunk_size=0),
             ValueError, "chunk_size must be >= 1"),
        Case("local_rank", "`chunk_size=2.5`", lambda tmp: local_rank(MLP_3, X, chunk_size=2.5),
             TypeError, "chunk_size must be an int (inputs per chunk), got 2.5"),
        Case("local_rank", "a model without `preactivations` (`nn.Linear(3, 2)`)",
             lambda tmp: local_rank(nn.Linear(3, 2), X), TypeError, "has no preactivations(x) method"),
        Case("count_singular_values_above", "matrices full of NaN",
             lambda tmp: count_singular_values_above(torch.full((2, 3, 3), NAN), 0.1, 0.0), None,
             "returns a count of 0 for every matrix", accepted=lambda r: r.tolist() == [0, 0]),
        Case("count_singular_values_above", "`atol=-1` (singular values 0.5, 0.5, 0.5)",
             lambda tmp: count_singular_values_above(batch, -1.0, 0.0), None,
             "returns 0 (it counts above `atol**2`); the rule `> max(atol, rtol * sigma_max)` gives 3",
             accepted=lambda r: r.tolist() == [0]),
        Case("count_singular_values_above", "`atol=nan`", lambda tmp: count_singular_values_above(batch, NAN, 0.0),
             None, "returns 0", accepted=lambda r: r.tolist() == [0]),
        Case("count_singular_values_above", "`a` a NumPy array",
             lambda tmp: count_singular_values_above(np.ones((2, 3, 3)), 0.1, 0.0), AttributeError,
             "'numpy.ndarray' object has no attribute", clear=False),
        Case("count_singular_values_above", "`a` of shape `[3]` (one vector)",
             lambda tmp: count_singular_values_above(torch.ones(3), 0.1, 0.0), IndexError,
             "tuple index out of range", clear=False),
        Case("count_singular_values_above", "`method='qr'` (unknown)",
             lambda tmp: count_singular_values_above(batch, 0.1, 0.0, "qr"), ValueError, "unknown method 'qr'"),
        Case("singular_values", "`x` with a NaN entry", lambda tmp: singular_values(MLP_3, with_value(X, NAN)),
             ValueError, "x contains NaN or Inf"),
        Case("singular_values", "`x` empty, shape `[0, 3]`", lambda tmp: singular_values(MLP_3, X[:0]),
             ValueError, "empty batch"),
        Case("singular_values", "`chunk_size=0`", lambda tmp: singular_values(MLP_3, X, chunk_size=0), None,
             "runs with the default chunk size (`local_rank` refuses 0)",
             accepted=lambda r: r[0].shape == (5, 3)),
        Case("singular_values", "`chunk_size=-1`", lambda tmp: singular_values(MLP_3, X, chunk_size=-1),
             RuntimeError, "split expects split_size be non-negative", clear=False),
        Case("input_jacobians", "`x` with a NaN entry in its first input",
             lambda tmp: input_jacobians(TANH_5, with_value(randn(2, 5), NAN)), None,
             "returns all-NaN Jacobians for that input (finite ones for the other)",
             accepted=lambda r: all(is_nan(j[0]) and bool(j[1].isfinite().all()) for j in r)),
        Case("input_jacobians", "`x` empty, shape `[0, 3]`", lambda tmp: input_jacobians(MLP_3, X[:0]), None,
             "returns one empty `[0, 4, 3]` tensor", accepted=lambda r: r[0].shape == (0, 4, 3)),
        Case("input_jacobians", "`x` with 5 features, the model takes 3",
             lambda tmp: input_jacobians(MLP_3, randn(2, 5)), RuntimeError, "shapes cannot be multiplied",
             clear=False),
        Case("input_jacobians", "`x` a NumPy array", lambda tmp: input_jacobians(MLP_3, X.numpy()),
             TypeError, "must be Tensor, not numpy.ndarray", clear=False),
        Case("input_jacobians", "a model without `preactivations` (`nn.Linear(3, 2)`)",
             lambda tmp: input_jacobians(nn.Linear(3, 2), X), AttributeError, "has no attribute 'preactivations'",
             clear=False),
    ]


def model_cases() -> list[Case]:
    return [
        Case("MLP", "`sizes=[784]` (no hidden layer)", lambda tmp: MLP([784]), ValueError,
             "at least one hidden"),
        Case("MLP", "a width of 0", lambda tmp: MLP([3, 0, 2]), ValueError, "all >= 1"),
        Case("MLP", "a width of 2.5", lambda tmp: MLP([3, 2.5, 2]), None, "builds a hidden layer of width 2",
             accepted=lambda m: m.sizes == [3, 2, 2]),
        Case("MLP", "a width of NaN", lambda tmp: MLP([3, NAN, 2]), ValueError, "cannot convert float NaN",
             clear=False),
        Case("MLP", "`sizes='abc'` (a string)", lambda tmp: MLP("abc"), ValueError, "invalid literal for int()",
             clear=False),
        Case("MLP", "`sizes=None`", lambda tmp: MLP(None), TypeError, "'NoneType' object is not iterable",
             clear=False),
        Case("MLP", "`activation='swish'` (unknown)", lambda tmp: MLP([3, 4, 2], "swish"), ValueError,
             "unknown activation 'swish'"),
        Case("MLP", "`init='xavier'` (unknown)", lambda tmp: MLP([3, 4, 2], init="xavier"), ValueError,
             "unknown init 'xavier'"),
        Case("VIB", "`encoder_widths=[]`", lambda tmp: VIB(3, [], 2, 3), ValueError,
             "at least one encoder width"),
        Case("VIB", "`encoder_widths=64` (a number, not a list)", lambda tmp: VIB(3, 64, 2, 3), TypeError,
             "'int' object is not iterable", clear=False),
        Case("VIB", "`latent_dim=0`", lambda tmp: VIB(3, [4], 0, 3), ValueError, "latent_dim=0"),
        Case("VIB", "`n_classes=1`", lambda tmp: VIB(3, [4], 2, 1), ValueError, "n_classes >= 2"),
        Case("VIB", "`input_dim=nan`", lambda tmp: VIB(NAN, [4], 2, 3), ValueError, "cannot convert float NaN",
             clear=False),
        Case("VIB", "`activation='swish'` (unknown)", lambda tmp: VIB(3, [4], 2, 3, "swish"), ValueError,
             "unknown activation 'swish'"),
        Case("VIB", "`n_predict_samples=0`", lambda tmp: VIB(3, [4], 2, 3, n_predict_samples=0), ValueError,
             "n_predict_samples must be >= 1"),
        Case("VIB", "`n_predict_samples=1.5`", lambda tmp: VIB(3, [4], 2, 3, n_predict_samples=1.5), None,
             "uses 1 sample", accepted=lambda m: m.n_predict_samples == 1),
        Case("vib.vib_loss", "`beta=-1`", lambda tmp: vib_loss(VIB_3, X, Y, -1.0), ValueError,
             "beta must be a finite number >= 0"),
        Case("vib.vib_loss", "`beta=nan`", lambda tmp: vib_loss(VIB_3, X, Y, NAN), ValueError,
             "beta must be a finite number >= 0"),
        Case("vib.vib_loss", "`beta='1e-3'` (a string)", lambda tmp: vib_loss(VIB_3, X, Y, "1e-3"), ValueError,
             "beta must be a finite number >= 0"),
        Case("vib.vib_loss", "`x` with a NaN entry", lambda tmp: vib_loss(VIB_3, with_value(X, NAN), Y, 0.1), None,
             "returns a NaN loss", accepted=lambda r: is_nan(r.total)),
        Case("vib.vib_loss", "`n_samples=0`", lambda tmp: vib_loss(VIB_3, X, Y, 0.1, n_samples=0), None,
             "returns a NaN loss", accepted=lambda r: is_nan(r.total)),
        Case("vib.vib_loss", "`y` with 3 labels for 5 inputs", lambda tmp: vib_loss(VIB_3, X, Y[:3], 0.1),
             ValueError, "to match target batch_size", clear=False),
        Case("vib.vib_loss", "`y` of floats", lambda tmp: vib_loss(VIB_3, X, Y.float(), 0.1), RuntimeError,
             "expected target dtype to be Long", clear=False),
        Case("vib.vib_loss", "a label 7 for 3 classes",
             lambda tmp: vib_loss(VIB_3, X, torch.tensor([0, 1, 2, 0, 7]), 0.1), IndexError,
             "Target 7 is out of bounds", clear=False),
        Case("vib.vib_loss", "`x` with 4 features, the model takes 3", lambda tmp: vib_loss(VIB_3, randn(5, 4), Y, 0.1),
             RuntimeError, "shapes cannot be multiplied", clear=False),
        Case("vib.kl_to_standard_normal", "a negative `sigma`",
             lambda tmp: kl_to_standard_normal(torch.zeros(2, 3), -torch.ones(2, 3)), None, "returns NaN",
             accepted=is_nan),
        Case("vib.kl_to_standard_normal", "`sigma` of zeros",
             lambda tmp: kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)), None, "returns `inf`",
             accepted=lambda r: bool(torch.isinf(r).all())),
        Case("vib.kl_to_standard_normal", "`mu` of shape `[2, 3]`, `sigma` of shape `[2, 4]`",
             lambda tmp: kl_to_standard_normal(torch.zeros(2, 3), torch.ones(2, 4)), RuntimeError,
             "must match the size of tensor b", clear=False),
    ]


def mi_cases() -> list[Case]:
    cov = torch.eye(2, dtype=torch.float64)
    return [
        Case("mi.binning", "`t` with a NaN entry", lambda tmp: mi.binning(with_value(T, NAN)), ValueError,
             "t contains NaN or Inf"),
        Case("mi.binning", "`t` with an infinite entry", lambda tmp: mi.binning(with_value(T, INF)), ValueError,
             "t contains NaN or Inf"),
        Case("mi.binning", "`t` of shape `[6]`", lambda tmp: mi.binning(T[:, 0]), ValueError,
             "t must be a tensor of shape [N, d]"),
        Case("mi.binning", "`t` a list", lambda tmp: mi.binning(T.tolist()), ValueError,
             "t must be a tensor of shape [N, d], got list"),
        Case("mi.binning", "`t` empty, shape `[0, 2]`", lambda tmp: mi.binning(T[:0]), ValueError,
             "need at least N = 2 samples of d >= 1 units, got N = 0"),
        Case("mi.binning", "`t` with one sample", lambda tmp: mi.binning(T[:1]), ValueError,
             "need at least N = 2 samples"),
        Case("mi.binning", "`t` with no units, shape `[6, 0]`", lambda tmp: mi.binning(T[:, :0]), ValueError,
             "need at least N = 2 samples of d >= 1 units, got N = 6, d = 0"),
        Case("mi.binning", "`t` of integers", lambda tmp: mi.binning(T.long()), TypeError,
             "t must be floating point"),
        Case("mi.binning", "`y` of floats", lambda tmp: mi.binning(T, T_LABELS.double()), TypeError,
             "y must hold integer labels"),
        Case("mi.binning", "`y` with 4 labels for 6 rows", lambda tmp: mi.binning(T, T_LABELS[:4]), ValueError,
             "one label per row of t (6)"),
        Case("mi.binning", "`y` a NumPy array", lambda tmp: mi.binning(T, T_LABELS.numpy()), ValueError,
             "got shape (6,)", clear=False),
        Case("mi.binning", "`n_bins=0`", lambda tmp: mi.binning(T, n_bins=0), ValueError,
             "n_bins must be an int >= 1, got 0"),
        Case("mi.binning", "`n_bins=2.5`", lambda tmp: mi.binning(T, n_bins=2.5), ValueError,
             "n_bins must be an int >= 1, got 2.5"),
        Case("mi.binning", "`n_bins=True`", lambda tmp: mi.binning(T, n_bins=True), ValueError,
             "n_bins must be an int >= 1, got True"),
        Case("mi.binning", "`value_range=(1, 0)`", lambda tmp: mi.binning(T, value_range=(1.0, 0.0)), ValueError,
             "value_range must be (low, high) with low < high, got (1.0, 0.0)"),
        Case("mi.binning", "`value_range=(-inf, inf)`", lambda tmp: mi.binning(T, value_range=(-INF, INF)), None,
             "puts every value in one bin: I(X;T) = 0", accepted=lambda r: r.ixt == 0),
        Case("mi.adaptive_binning", "`t` with a NaN entry", lambda tmp: mi.adaptive_binning(with_value(T, NAN)),
             ValueError, "t contains NaN or Inf"),
        Case("mi.adaptive_binning", "`t` with no units, shape `[6, 0]`", lambda tmp: mi.adaptive_binning(T[:, :0]),
             ValueError, "need at least N = 2 samples of d >= 1 units, got N = 6, d = 0"),
        Case("mi.adaptive_binning", "`n_bins=0`", lambda tmp: mi.adaptive_binning(T, n_bins=0), ValueError,
             "n_bins must be an int >= 1, got 0"),
        Case("mi.kde", "`t` with a NaN entry", lambda tmp: mi.kde(with_value(T, NAN)), ValueError,
             "t contains NaN or Inf"),
        Case("mi.kde", "`t` with no units, shape `[6, 0]`", lambda tmp: mi.kde(T[:, :0]), ValueError,
             "need at least N = 2 samples of d >= 1 units, got N = 6, d = 0"),
        Case("mi.kde", "`noise_var=0`", lambda tmp: mi.kde(T, noise_var=0.0), ValueError,
             "noise_var must be a finite number > 0"),
        Case("mi.kde", "`noise_var=-0.1`", lambda tmp: mi.kde(T, noise_var=-0.1), ValueError,
             "noise_var must be a finite number > 0"),
        Case("mi.kde", "`noise_var=nan`", lambda tmp: mi.kde(T, noise_var=NAN), ValueError,
             "noise_var must be a finite number > 0"),
        Case("mi.kde", "`noise_var='0.1'` (a string)", lambda tmp: mi.kde(T, noise_var="0.1"), ValueError,
             "noise_var must be a finite number > 0"),
        Case("mi.kde", "`bound='middle'` (unknown)", lambda tmp: mi.kde(T, bound="middle"), ValueError,
             "unknown bound 'middle'"),
        Case("mi.adaptive_kde", "`relative_noise=0`", lambda tmp: mi.adaptive_kde(T, relative_noise=0.0),
             ValueError, "relative_noise must be a finite number > 0"),
        Case("mi.adaptive_kde", "`bound='middle'` (unknown)", lambda tmp: mi.adaptive_kde(T, bound="middle"),
             ValueError, "unknown bound 'middle'"),
        Case("mi.mixture_entropy", "`centers` with a NaN entry",
             lambda tmp: mi.mixture_entropy(with_value(T, NAN), 1.0, 10), ValueError, "centers contain NaN or Inf"),
        Case("mi.mixture_entropy", "`centers` of shape `[6]`", lambda tmp: mi.mixture_entropy(T[:, 0], 1.0, 10),
             ValueError, "centers must be a tensor of shape [n >= 1, d]"),
        Case("mi.mixture_entropy", "no centers, shape `[0, 2]`", lambda tmp: mi.mixture_entropy(T[:0], 1.0, 10),
             ValueError, "centers must be a tensor of shape [n >= 1, d]"),
        Case("mi.mixture_entropy", "`sigma=0`", lambda tmp: mi.mixture_entropy(T, 0.0, 10), ValueError,
             "sigma must be a finite number > 0"),
        Case("mi.mixture_entropy", "`n_mc=1`", lambda tmp: mi.mixture_entropy(T, 1.0, 1), ValueError,
             "n_mc must be an int >= 2, got 1"),
        Case("mi.mixture_entropy", "`n_mc=2.5`", lambda tmp: mi.mixture_entropy(T, 1.0, 2.5), ValueError,
             "n_mc must be an int >= 2, got 2.5"),
        Case("mi.noisy_mi", "a network without noise (an `MLP`)", lambda tmp: mi.noisy_mi(MLP_3, X), TypeError,
             "MLP is not a noisy network"),
        Case("mi.noisy_mi", "`x` with a NaN entry", lambda tmp: mi.noisy_mi(NOISY_3, with_value(X, NAN)),
             ValueError, "x contains NaN or Inf"),
        Case("mi.noisy_mi", "`x` with one input", lambda tmp: mi.noisy_mi(NOISY_3, X[:1]), ValueError,
             "x must have shape [m >= 2, input_dim]"),
        Case("mi.noisy_mi", "`n_samples=0`", lambda tmp: mi.noisy_mi(NOISY_3, X, n_samples=0), ValueError,
             "n_samples must be an int >= 1, got 0"),
        Case("mi.noisy_mi", "`x` with 5 features, the network takes 3",
             lambda tmp: mi.noisy_mi(NOISY_3, randn(4, 5), n_samples=2, n_mc=2), RuntimeError,
             "shapes cannot be multiplied", clear=False),
        Case("mi.noisy_mi", "`x` an integer tensor", lambda tmp: mi.noisy_mi(NOISY_3, X.long(), n_samples=2, n_mc=2),
             RuntimeError, "must have the same dtype", clear=False),
        Case("mi.discrete_mi", "negative codes: rows `(-1, 0)` and `(0, -1)`",
             lambda tmp: mi.discrete_mi(torch.tensor([[-1, 0], [0, -1]])), None,
             "shifts each column to start at 0: I(X;T) = log 2 for two distinct rows, the truth",
             accepted=lambda r: math.isclose(r.ixt, math.log(2))),
        Case("mi.discrete_mi", "codes of floats: rows `(0.5)` and `(0.7)`",
             lambda tmp: mi.discrete_mi(torch.tensor([[0.5], [0.7]])), None,
             "truncates both to 0: I(X;T) = 0 for two distinct rows", accepted=lambda r: r.ixt == 0),
        Case("mi.discrete_mi", "codes empty, shape `[0, 2]`",
             lambda tmp: mi.discrete_mi(torch.zeros(0, 2, dtype=torch.int64)), IndexError,
             "Expected reduction dim 0 to have non-zero size", clear=False),
        Case("mi.discrete_mi", "`y` with 2 labels for 3 rows",
             lambda tmp: mi.discrete_mi(torch.tensor([[0], [1], [2]]), torch.tensor([0, 1])), RuntimeError,
             "stack expects each tensor to be equal size", clear=False),
        Case("mi.gaussian_channel_mi", "`noise_var=0`", lambda tmp: mi.gaussian_channel_mi(cov, 0.0), ValueError,
             "noise_var must be a finite number > 0"),
        Case("mi.gaussian_channel_mi", "`cov` of shape `[2, 3]`",
             lambda tmp: mi.gaussian_channel_mi(torch.ones(2, 3), 1.0), RuntimeError,
             "must match the size of tensor b", clear=False),
        Case("mi.gaussian_channel_mi", "`cov` of shape `[3]`", lambda tmp: mi.gaussian_channel_mi(torch.ones(3), 1.0),
             None, "returns log 2 (the vector is broadcast against a 3 x 3 identity)",
             accepted=lambda r: math.isclose(r, math.log(2))),
        Case("mi.gaussian_channel_mi", "`cov` with a NaN entry",
             lambda tmp: mi.gaussian_channel_mi(with_value(cov, NAN), 1.0), None, "returns NaN", accepted=is_nan),
        Case("mi.gaussian_channel_mi", "`cov = -4 I` (no covariance)",
             lambda tmp: mi.gaussian_channel_mi(-4 * cov, 1.0), None, "returns log 3 (of det(-3 I))",
             accepted=lambda r: math.isclose(r, math.log(3))),
    ]


def data_cases() -> list[Case]:
    return [
        Case("data.load_mnist", "`split='validation'`", lambda tmp: data.load_mnist("validation"), ValueError,
             "unknown split 'validation'"),
        Case("data.load_mnist", "an empty data folder, downloads off",
             lambda tmp: data.load_mnist("test", tmp, download=False), data.DataNotFoundError,
             "mnist (test split) was not found"),
        Case("data.load_mnist", "damaged files in the data folder",
             lambda tmp: data.load_mnist("test", damaged_mnist(tmp), download=False), data.DataChecksumError,
             "is damaged or is not the known file"),
        Case("data.load_fashion_mnist", "`split='valid'`", lambda tmp: data.load_fashion_mnist("valid"), ValueError,
             "unknown split 'valid'"),
        Case("data.load_image_dataset", "`name='cifar10'` (unknown)", lambda tmp: data.load_image_dataset("cifar10"),
             ValueError, "unknown data set 'cifar10'"),
        Case("data.load_szt_12bit", "an empty data folder, downloads off",
             lambda tmp: data.load_szt_12bit(tmp, download=False), data.DataNotFoundError,
             "The 12-bit task (var_u.mat) was not found"),
        Case("data.load_szt_12bit", "a damaged `var_u.mat`",
             lambda tmp: data.load_szt_12bit(damaged_szt(tmp), download=False), data.DataChecksumError,
             "is damaged or is not the known file"),
        Case("data.disjoint_subsets", "a size of -1", lambda tmp: data.disjoint_subsets(10, [-1, 3], 0), ValueError,
             "subset sizes must be non-negative"),
        Case("data.disjoint_subsets", "sizes adding up to more than `n_total`",
             lambda tmp: data.disjoint_subsets(10, [6, 6], 0), ValueError, "do not fit in 10 examples"),
        Case("data.disjoint_subsets", "a size of 2.5", lambda tmp: data.disjoint_subsets(10, [2.5, 3], 0), TypeError,
             "slice indices must be integers", clear=False),
        Case("data.disjoint_subsets", "`sizes=3` (a number, not a list)", lambda tmp: data.disjoint_subsets(10, 3, 0),
             TypeError, "'int' object is not iterable", clear=False),
        Case("data.disjoint_subsets", "`seed=-1`", lambda tmp: data.disjoint_subsets(10, [2, 3], -1), None,
             "draws with seed -1 (`seed_everything` refuses it)", accepted=lambda r: [len(s) for s in r] == [2, 3]),
        Case("data.gaussian_classification", "`intrinsic_dim` above `input_dim`",
             lambda tmp: data.gaussian_classification(10, 4, 5, 3, 0), ValueError, "need 1 <= intrinsic_dim"),
        Case("data.gaussian_classification", "`n=0`", lambda tmp: data.gaussian_classification(0, 4, 2, 3, 0),
             ValueError, "need n >= 1"),
        Case("data.gaussian_classification", "`n_classes=1`",
             lambda tmp: data.gaussian_classification(10, 4, 2, 1, 0), ValueError, "n_classes >= 2"),
        Case("data.gaussian_classification", "`n=10.5`", lambda tmp: data.gaussian_classification(10.5, 4, 2, 3, 0),
             TypeError, "received an invalid combination of arguments", clear=False),
        Case("data.gaussian_classification", "`n='10'` (a string)",
             lambda tmp: data.gaussian_classification("10", 4, 2, 3, 0), TypeError, "'<' not supported",
             clear=False),
        Case("data.hierarchical_gaussian_mixture", "`separations=[]`",
             lambda tmp: data.hierarchical_gaussian_mixture(10, 4, [], 0), ValueError,
             "separations must be a non-empty list"),
        Case("data.hierarchical_gaussian_mixture", "`separations=[nan]`",
             lambda tmp: data.hierarchical_gaussian_mixture(10, 4, [NAN], 0), ValueError,
             "separations must be a non-empty list of numbers > 0"),
        Case("data.hierarchical_gaussian_mixture", "`separations=[-1]`",
             lambda tmp: data.hierarchical_gaussian_mixture(10, 4, [-1.0], 0), ValueError,
             "separations must be a non-empty list of numbers > 0"),
        Case("data.hierarchical_gaussian_mixture", "`input_dim` below `len(separations)`",
             lambda tmp: data.hierarchical_gaussian_mixture(10, 1, [1.0, 2.0], 0), ValueError,
             "need input_dim >= len(separations)"),
        Case("data.hierarchical_gaussian_mixture", "`separations='abc'` (a string)",
             lambda tmp: data.hierarchical_gaussian_mixture(10, 4, "abc", 0), ValueError,
             "could not convert string to float", clear=False),
        Case("data.hierarchical_gaussian_mixture", "`separations=2.0` (a number, not a list)",
             lambda tmp: data.hierarchical_gaussian_mixture(10, 4, 2.0, 0), TypeError,
             "'float' object is not iterable", clear=False),
    ]


def training_cases() -> list[Case]:
    config = FitConfig(steps=2, lr=0.1, batch_size=2, seed=0, eval_steps=(2,))
    train = (X, torch.tensor([0, 1, 0, 1, 0]))

    def config_with(**changes) -> Callable[[Path], FitConfig]:
        return lambda tmp: FitConfig(**{"steps": 2, "lr": 0.1, "batch_size": 2, "seed": 0, **changes})

    def fit_mlp(train, config=config, monitors=()):
        return lambda tmp: fit(MLP([3, 4, 2]), cross_entropy_loss, train, config, monitors, progress=False)

    return [
        Case("training.FitConfig", "`steps=0`", config_with(steps=0), ValueError, "need steps >= 1"),
        Case("training.FitConfig", "`lr=nan`", config_with(lr=NAN), ValueError, "lr > 0"),
        Case("training.FitConfig", "`lr=inf`", config_with(lr=INF), None, "accepted", accepted=lambda c: c.lr == INF),
        Case("training.FitConfig", "`lr='0.1'` (a string)", config_with(lr="0.1"), TypeError, "'>' not supported",
             clear=False),
        Case("training.FitConfig", "`steps=2.5`", config_with(steps=2.5), None,
             "accepted; `fit` then raises `TypeError: 'float' object cannot be interpreted as an integer`",
             accepted=lambda c: raises_later(lambda: fit(MLP([3, 4, 2]), cross_entropy_loss, train, c, progress=False),
                                             TypeError, "'float' object cannot be interpreted as an integer")),
        Case("training.FitConfig", "`weight_decay=nan`", config_with(weight_decay=NAN), None, "accepted",
             accepted=lambda c: math.isnan(c.weight_decay)),
        Case("training.FitConfig", "`seed=-1`", config_with(seed=-1), ValueError, "seed must be >= 0"),
        Case("training.FitConfig", "`eval_steps=(0,)`", config_with(eval_steps=(0,)), ValueError,
             "eval_steps must lie in [1, steps=2]"),
        Case("training.FitConfig", "`adam_beta1=1.0`", config_with(adam_beta1=1.0), ValueError,
             "need 0 <= adam_beta1 < 1"),
        Case("training.FitConfig", "`epochs=3` (unknown field)", config_with(epochs=3), TypeError,
             "unexpected keyword argument 'epochs'"),
        Case("training.fit", "5 inputs and 3 labels", fit_mlp((X, train[1][:3])), ValueError,
             "same positive number of inputs and labels, got 5 and 3"),
        Case("training.fit", "no training data (0 inputs)", fit_mlp((X[:0], train[1][:0])), ValueError,
             "same positive number of inputs and labels, got 0 and 0"),
        Case("training.fit", "inputs with a NaN entry in every row", fit_mlp((torch.full((5, 3), NAN), train[1]),
                                                                             monitors=[BatchLoss()]), None,
             "trains: the recorded loss is NaN", accepted=lambda r: is_nan(r["batch_loss"].batch_loss.to_numpy())),
        Case("training.fit", "labels of floats", fit_mlp((X, train[1].float())), RuntimeError,
             "expected target dtype to be Long", clear=False),
        Case("training.fit", "inputs with 5 features, the model takes 3", fit_mlp((randn(5, 5), train[1])),
             RuntimeError, "shapes cannot be multiplied", clear=False),
        Case("training.fit", "`train` a single tensor, not `(x, y)`", fit_mlp(X), ValueError,
             "too many values to unpack", clear=False),
        Case("training.fit", "`config` a dict, not a `FitConfig`", fit_mlp(train, config={"steps": 2}),
             AttributeError, "'dict' object has no attribute", clear=False),
        Case("training.fit", "two monitors of the same name", fit_mlp(train, monitors=[BatchLoss(), BatchLoss()]),
             ValueError, "monitor names must be distinct"),
        Case("grid.run_grid", "no keys", lambda tmp: grid.run_grid([], pandas_run, tmp, {}, progress=False),
             ValueError, "the grid has no runs"),
        Case("grid.run_grid", "runs that return different tables",
             lambda tmp: grid.run_grid([{"seed": 0}, {"seed": 1}],
                                       lambda k: pandas_run(k) if k["seed"] == 0 else {"other": pd.DataFrame()},
                                       tmp, {}, progress=False),
             RuntimeError, "the runs of the grid returned different tables"),
        Case("grid.run_grid", "the file of a key holds another run",
             lambda tmp: grid.run_grid([{"seed": 0}], pandas_run, foreign_run_file(tmp), {}, progress=False),
             ValueError, "holds another run; delete it to recompute"),
        Case("grid.run_grid", "the file of a key is damaged",
             lambda tmp: grid.run_grid([{"seed": 0}], pandas_run, damaged_run_file(tmp), {}, progress=False),
             DamagedWork, "has no checksum header"),
        Case("grid.run_grid", "a finished run file with one byte flipped",
             lambda tmp: grid.run_grid([{"seed": 0}], pandas_run, flipped_run_file(tmp), {}, progress=False),
             DamagedWork, "is not the file that was written"),
        Case("grid.run_grid", "a finished run written by other code",
             stale_run_grid, StaleWork, "1 of the 2 finished runs in <tmp>/grid were written by other code"),
        Case("grid.run_grid", "a key that is a number, not a dict",
             lambda tmp: grid.run_grid([1], pandas_run, tmp, {}, progress=False), AttributeError,
             "'int' object has no attribute 'items'", clear=False),
        Case("grid.run_grid", "`run_one` returns None",
             lambda tmp: grid.run_grid([{"seed": 0}], lambda k: None, tmp, {}, progress=False), AttributeError,
             "'NoneType' object has no attribute 'items'", clear=False),
        Case("grid.run_grid", "the same key twice",
             lambda tmp: grid.run_grid([{"seed": 0}, {"seed": 0}], pandas_run, tmp, {}, progress=False), None,
             "computes it twice (into one file) and returns its rows twice", accepted=lambda r: len(r["runs"]) == 2),
    ]


def runner_store_config_cases() -> list[Case]:
    def no_study_code(tmp: Path) -> list[Path]:
        s = store.ResultStore("nb", "smoke", {}, tmp, code_module="lrc_utils.book.chapters.no_such_study")
        s.tables(["runs"], lambda: pandas_run({}))
        return store.package_files_used("lrc_utils.book.chapters.no_such_study")

    def outside(tmp: Path) -> bool:
        return not store.ResultStore("../elsewhere", "smoke", {}, tmp).dir.resolve().is_relative_to(tmp / "smoke")

    return [
        Case("runner.load_preset", "an unknown notebook", lambda tmp: runner.load_preset("figure4", "smoke"),
             runner.PresetError, "unknown notebook 'figure4'; valid notebooks:"),
        Case("runner.load_preset", "an unknown preset", lambda tmp: runner.load_preset("figure1", "full"),
             runner.PresetError, "unknown preset 'full' for notebook 'figure1'; valid presets:"),
        Case("runner.load_preset", "a preset with a misspelt name (`train_step: 10`)",
             lambda tmp: runner.load_preset("local_rank", "bad", preset_folder(tmp, "train_step: 10\n")),
             runner.PresetError, "unknown parameter 'train_step' (did you mean 'train_steps'?)"),
        Case("runner.load_preset", "a preset with `lr: 1e-3` (a string in YAML 1.1)",
             lambda tmp: runner.load_preset("local_rank", "bad", preset_folder(tmp, "lr: 1e-3\n")),
             runner.PresetError, "write 1.0e-3, not 1e-3"),
        Case("runner.load_preset", "a preset holding a list, not a mapping",
             lambda tmp: runner.load_preset("local_rank", "bad", preset_folder(tmp, "- 1\n- 2\n")),
             runner.PresetError, "must hold a mapping of parameter names to values"),
        Case("runner.load_preset", "a preset that is not valid YAML (`lr: [1`)",
             lambda tmp: runner.load_preset("local_rank", "bad", preset_folder(tmp, "seed: 0\nlr: [1\n")),
             runner.PresetError, "local_rank.bad.yaml is not valid YAML: expected ',' or ']', but got '<stream end>' "
             "at line 3, column 1"),
        Case("runner.load_preset", "a preset with `lr: .nan`",
             lambda tmp: runner.load_preset("local_rank", "bad", preset_folder(tmp, "lr: .nan\n")), None,
             "accepted (NaN is a float); `FitConfig` refuses it when the notebook trains",
             accepted=lambda r: math.isnan(r["lr"])),
        Case("runner.declared_parameters", "an unknown notebook", lambda tmp: runner.declared_parameters("figure4"),
             FileNotFoundError, "No such file or directory", clear=False),
        Case("runner.check_parameters", "a misspelt name",
             lambda tmp: runner.check_parameters({"train_step": 10}, {"train_steps": int}, "my run"),
             runner.PresetError, "my run: unknown parameter 'train_step' (did you mean 'train_steps'?)"),
        Case("runner.check_parameters", "a string where a float is declared",
             lambda tmp: runner.check_parameters({"lr": "1e-3"}, {"lr": float}, "my run"), runner.PresetError,
             "lr = '1e-3' is a str, expected float"),
        Case("runner.check_parameters", "types declared by name (`{'lr': 'float'}`)",
             lambda tmp: runner.check_parameters({"lr": 0.1}, {"lr": "float"}, "my run"), TypeError,
             "isinstance() arg 2 must be a type", clear=False),
        Case("store.ResultStore", "`recompute='sometimes'`",
             lambda tmp: store.ResultStore("nb", "smoke", {}, tmp, recompute="sometimes"), ValueError,
             "recompute must be one of ('auto', 'always', 'never', 'reuse_stale')"),
        Case("store.ResultStore", "`recompute='never'` and nothing stored",
             lambda tmp: store.ResultStore("nb", "smoke", {}, tmp, recompute="never").tables(["runs"], dict),
             store.StoredResultsMissing, "recompute = 'never' forbids computing them"),
        Case("store.ResultStore", "a computation that does not return a table it names",
             lambda tmp: store.ResultStore("nb", "smoke", {}, tmp).tables(["runs"], dict), RuntimeError,
             "the computation for nb returned no tables ['runs']"),
        Case("store.ResultStore", "a computation that returns a list, not a DataFrame",
             lambda tmp: store.ResultStore("nb", "smoke", {}, tmp).tables(["runs"], lambda: {"runs": [1, 2]}),
             AttributeError, "'list' object has no attribute 'to_csv'", clear=False),
        Case("store.ResultStore", "notebook name `'../elsewhere'`", outside, None,
             "accepted: the folder lies outside `<root>/<preset>/`", accepted=bool),
        Case("store.ResultStore", "`code_module` naming no module", no_study_code, None,
             "stores the tables with a code digest of no file at all (it never changes)",
             accepted=lambda files: files == []),
        Case("config.get_device", "`device='gpu'` (unknown)", lambda tmp: get_device("gpu"), RuntimeError,
             "device type at start of device string: gpu"),
        Case("config.get_device", "`device='cuda'` where CUDA is not available",
             lambda tmp: no_cuda(lambda: get_device("cuda")), RuntimeError,
             "device='cuda' was asked for, but CUDA is not available here"),
        Case("config.get_device", "`device=None`", lambda tmp: get_device(None), TypeError,
             "received an invalid combination of arguments", clear=False),
        Case("config.seed_everything", "`seed=-1`", lambda tmp: seed_everything(-1), ValueError,
             "seed must be a non-negative int"),
        Case("config.seed_everything", "`seed=1.5`", lambda tmp: seed_everything(1.5), ValueError,
             "seed must be a non-negative int"),
        Case("config.seed_everything", "`seed='0'` (a string)", lambda tmp: seed_everything("0"), ValueError,
             "seed must be a non-negative int"),
        Case("config.seed_everything", "`seed=True`", lambda tmp: seed_everything(True), RuntimeError,
             "manual_seed expected a long, but got bool", clear=False),
        Case("config.seed_everything", "`seed=2**64`", lambda tmp: seed_everything(2**64), ValueError,
             "Overflow when unpacking long long", clear=False),
    ]


def no_cuda(call: Callable[[], object]) -> object:
    """``call()`` on a machine without CUDA, whatever this machine has."""
    with mock.patch("torch.cuda.is_available", return_value=False):
        return call()


def notebook_cases() -> list[Case]:
    def given(name: str, **values) -> Callable[[Path], NotebookRun]:
        return lambda tmp: notebook_start(name, tmp, **values)

    return [
        Case("notebook figure1", "`-p seed 1` (misspelt `seeds`)", given("figure1", seed=1), runner.PresetError,
             "unknown parameter 'seed' (did you mean 'seeds' or 'data_seed'?)"),
        Case("notebook local_rank", "`-p train_step 10` (misspelt `train_steps`)", given("local_rank", train_step=10),
             runner.PresetError, "unknown parameter 'train_step' (did you mean 'train_steps'?)"),
        Case("notebook mi_estimators", "`-p n_bins 10` (not a parameter)", given("mi_estimators", n_bins=10),
             runner.PresetError, "unknown parameter 'n_bins'"),
        Case("notebook figure2", "`beta_min = '1e-3'` (a string, as papermill reads `-p beta_min 1e-3`)",
             given("figure2", beta_min="1e-3"), runner.PresetError, "write 1.0e-3, not 1e-3"),
        Case("notebook figure1", "`gauss_steps = 5.0e4` (a float)", given("figure1", gauss_steps=5.0e4),
             runner.PresetError, "gauss_steps = 50000.0 is a float, expected int"),
        Case("notebook local_rank", "`seed = True` (a bool)", given("local_rank", seed=True), runner.PresetError,
             "seed = True is a bool, expected int"),
        Case("notebook figure1", "`seeds = [0, 0]` (repeated)", given("figure1", seeds=[0, 0]), ValueError,
             "seeds must be a non-empty list of distinct non-negative integers"),
        Case("notebook figure2", "`seeds = [1, 1]` (repeated)", given("figure2", seeds=[1, 1]), ValueError,
             "seeds must be a non-empty list of distinct non-negative integers"),
        Case("notebook figure3", "`seeds = [-1]`", given("figure3", seeds=[-1]), ValueError,
             "seeds must be a non-empty list of distinct non-negative integers"),
        Case("notebook figure1", "`seeds = [True]`", given("figure1", seeds=[True]), None,
             "accepted (`True` counts as the seed 1)", accepted=starts),
        Case("notebook figure2", "`beta_min = 10.0`, `beta_max = 1.0`", given("figure2", beta_min=10.0, beta_max=1.0),
             ValueError, "need 0 < beta_min < beta_max"),
        Case("notebook figure3", "`beta_min = beta_max = 1.0`", given("figure3", beta_min=1.0, beta_max=1.0),
             ValueError, "need 0 < beta_min < beta_max"),
        Case("notebook figure3", "`datasets = ['cifar10']`", given("figure3", datasets=["cifar10"]), ValueError,
             "datasets must be distinct names from ['mnist', 'fashion_mnist']"),
        Case("notebook figure3", "`datasets = ['mnist', 'mnist']`", given("figure3", datasets=["mnist", "mnist"]),
             ValueError, "datasets must be distinct names"),
        Case("notebook mechanism", "`mnist_weight_decay = 0.5` (each arm sets its weight decay)",
             given("mechanism", mnist_weight_decay=0.5), ValueError,
             "the arms set the weight decay; leave mnist_weight_decay at their defaults"),
        Case("notebook mechanism", "`loss = 'softmax_cross_entropy'` (each arm sets its loss)",
             given("mechanism", loss="softmax_cross_entropy"), ValueError, "the arms set the loss"),
        Case("notebook local_rank", "`toy_width = 20` above `toy_input_dim = 12`", given("local_rank", toy_width=20),
             ValueError, "toy_width (20) must be <= toy_input_dim (12)"),
        Case("notebook figure1", "`mnist_split = 'validation'`", given("figure1", mnist_split="validation"),
             PresetError, "mnist_split = 'validation' is not one of ['train', 'test']"),
        Case("notebook figure2", "`separations = [8.0, -3.0]`", given("figure2", separations=[8.0, -3.0]), None,
             "accepted; `hierarchical_gaussian_mixture` refuses it when the first run draws its data", accepted=starts),
        Case("notebook figure2", "`n_betas = 1000000000` (a grid that would fill the memory)",
             given("figure2", n_betas=1_000_000_000), PresetError,
             "n_betas = 1,000,000,000 is above 1,000,000, the largest size this package accepts for it"),
        Case("notebook figure1", "`mnist_widths = [200, 200000]`", given("figure1", mnist_widths=[200, 200_000]),
             PresetError, "mnist_widths[1] = 200,000 is above 10,000, the largest size this package accepts"),
        Case("notebook figure2", "`encoder_widths = [64, 'a']`", given("figure2", encoder_widths=[64, "a"]), None,
             "accepted; `VIB` fails (`int('a')`) when the first run builds its model", accepted=starts),
        Case("notebook information_planes", "`estimators = ['knn']`", given("information_planes", estimators=["knn"]),
             ValueError, "estimators must be a non-empty list of distinct names from ['binning_sz', 'binning'"),
        Case("notebook information_planes", "`activations = ['gelu']` with adaptive binning",
             given("information_planes", activations=["gelu"]), ValueError,
             "adaptive binning needs the activation's lower end"),
        Case("notebook mi_estimators", "`noise_vars = [-1.0]`", given("mi_estimators", noise_vars=[-1.0]), None,
             "accepted; `gaussian_channel_mi` refuses it, after the binning study has run", accepted=starts),
    ]


# ----------------------------------------------------------------------------------------------------
# every parameter of every notebook


SWEEP_SECTION = "Every notebook parameter"
#: Bad value of each declared type: of the right type, wrong for any parameter of it.
BAD_VALUE = {int: -1, float: NAN, list: [], str: "no_such_value"}
#: A value of the wrong type for each declared type (the float one as papermill reads ``-p lr 1e-3``).
WRONG_TYPE = {int: "10", float: "1e-3", list: 0, str: 1}
#: Parameters that take any value of their type (a preset's name, folders): no bad value to try.
FREE_VALUES = ("preset", "results_dir", "data_dir")
#: The bad values rejected before any work, by (notebook, parameter): (exception type, a text of its message).
#: Every other bad value of the sweep is accepted by the checks and fails, if at all, while the notebook runs.
REJECTED_BAD_VALUES: dict[tuple[str, str], tuple[type[BaseException], str]] = {
    **{(nb, "device"): (RuntimeError, "device string: no_such_value")
       for nb in runner.notebook_names()},
    **{(nb, "recompute"): (ValueError, "recompute must be one of")
       for nb in runner.notebook_names()},
    **{(nb, "seeds"): (ValueError, "seeds must be a non-empty list")
       for nb in runner.notebook_names() if "seeds" in runner.declared_parameters(nb)},
    ("beyond_mlps", "networks"): (ValueError, "networks must be distinct names among"),
    ("mechanism", "arms"): (ValueError, "arms must be distinct names among"),
    ("beyond_mlps", "datasets"): (ValueError, "datasets must be distinct names among"),
    ("information_planes", "data_seed"): (ValueError, "data_seed must be a non-negative integer"),
    ("information_planes", "train_fraction"): (ValueError, "train_fraction must lie in (0, 1)"),
    ("information_planes", "activations"): (ValueError, "activations must be a non-empty list"),
    ("information_planes", "l2_penalties"): (ValueError, "l2_penalties must be a non-empty list"),
    ("information_planes", "widths"): (ValueError, "widths must be a non-empty list of positive integers"),
    **{("information_planes", p): (ValueError, "need epochs, n_evals, batch_size >= 1 and lr > 0")
       for p in ("epochs", "n_evals", "batch_size", "lr")},
    ("information_planes", "mi_inputs"): (ValueError, "mi_inputs must lie in [2, 4096]"),
    ("information_planes", "estimators"): (ValueError, "estimators must be a non-empty list"),
    **{(nb, p): (ValueError, "need 0 < beta_min < beta_max and n_betas >= 2")
       for nb in ("figure2", "figure3") for p in ("beta_min", "beta_max", "n_betas")},
    ("figure3", "datasets"): (ValueError, "datasets must be distinct names"),
    ("figure3", "mnist_split"): (ValueError, "mnist_split must be 'train' or 'test'"),
    **{(nb, "cluster"): (ValueError, "cluster must be")
       for nb in runner.notebook_names()},
    ("local_rank", "toy_input_dim"): (ValueError, "toy_width (8) must be <= toy_input_dim (-1)"),
    **{("noisy_networks", p): (ValueError, f"{p} must be >= {1 if p != 'data_seed' else 0}, got -1")
       for p in ("steps", "n_evals", "batch_size", "n_samples", "data_seed")},
    ("noisy_networks", "n_mc"): (ValueError, "n_mc must be >= 2, got -1"),
    ("noisy_networks", "noise_std"): (ValueError, "noise_std must be a finite number > 0"),
    ("noisy_networks", "train_fraction"): (ValueError, "train_fraction must lie strictly between 0 and 1"),
    ("noisy_networks", "widths"): (ValueError, "widths must be a non-empty list of positive integers"),
    ("noisy_networks", "activation"): (ValueError, "activation must be one of"),
    **{("noisy_networks", p): (ValueError, "need lr > 0 and weight_decay >= 0") for p in ("lr", "weight_decay")},
    ("theory", "seed"): (ValueError, "seed must be a non-negative integer, got -1"),
    ("theory", "tolerances"): (ValueError, "tolerances must be a non-empty list of numbers > 0"),
    ("theory", "channel_ranks"): (ValueError, "channel_ranks must be integers in [1, 8]"),
    ("theory", "bottlenecks"): (ValueError, "bottlenecks must be integers in [1, 32]"),
    ("theory", "network_seeds"): (ValueError, "network_seeds must be a non-empty list of distinct integers"),
    **{("theory", p): (ValueError, "need n_samples >= 16, n_sigmas >= 3 and 0 < sigma_min < sigma_max")
       for p in ("n_samples", "n_sigmas", "sigma_min", "sigma_max")},
    ("theory", "nn_quantile"): (ValueError, "nn_quantile must lie in (0, 1]"),
    ("rank_and_information", "atol"): (ValueError, "atol must be > 0, got nan"),
    **{("rank_and_information", p): (ValueError, f"{p} must be >= 1, got -1")
       for p in ("n_evals", "epochs", "batch_size", "noisy_steps", "mnist_n_measure", "mnist_steps")},
    ("rank_and_information", "estimators"): (ValueError, "estimators must be a non-empty list of distinct names"),
    ("rank_and_information", "train_fraction"): (ValueError, "train_fraction must lie in (0, 1), got nan"),
    ("rank_and_information", "activations"): (ValueError, "activations must be names among tanh, relu, elu, softplus"),
    # the schema's bounds (lrc_utils.book.params.bound_error), checked before the study's rules: every float must
    # be finite, a number at least its lower bound, a string one of its choices
    **{(nb, p): (PresetError, f"{p} = -1 is below its lower bound")
       for nb in runner.notebook_names() for p, (kind, _, f) in schema(load_study(nb).Params).items()
       if kind is int and f.metadata.get("low") is not None and f.metadata["low"] > -1},
    **{(nb, p): (PresetError, f"{p} = 'no_such_value' is not one of")
       for nb in runner.notebook_names() for p, (kind, _, f) in schema(load_study(nb).Params).items()
       if kind is str and f.metadata.get("choices")},
    **{(nb, p): (PresetError, f"{p} = nan is not a finite number")
       for nb in runner.notebook_names() for p, (kind, _) in runner.declared_parameters(nb).items() if kind is float},
}


@dataclass(frozen=True)
class ParameterCases:
    """The two sweep cases of one notebook parameter (``bad_value`` None where any value of the type is valid)."""

    notebook: str
    parameter: str
    kind: type
    wrong_type: Case
    bad_value: Case | None


def parameter_cases() -> list[ParameterCases]:
    """For every declared parameter of every notebook: a value of the wrong type (always a
    :class:`lrc_utils.book.runner.PresetError`) and a bad value of its own type (:data:`BAD_VALUE`), each given as
    papermill gives it and run through the notebook's checks."""
    out = []
    for name in runner.notebook_names():
        for parameter, (kind, _) in declared(name).items():
            def given(value, name=name, parameter=parameter):
                return lambda tmp: notebook_start(name, tmp, **{parameter: value})

            wrong = WRONG_TYPE[kind]
            wrong_case = Case(f"notebook {name}", f"`{parameter} = {wrong!r}`", given(wrong), runner.PresetError,
                              f"{parameter} = {wrong!r} is a {type(wrong).__name__}, expected {kind.__name__}",
                              section=SWEEP_SECTION)
            bad_case = None
            if parameter not in FREE_VALUES:
                bad = BAD_VALUE[kind]
                raises, text = REJECTED_BAD_VALUES.get((name, parameter), (None, "accepted: the run starts"))
                bad_case = Case(f"notebook {name}", f"`{parameter} = {bad!r}`", given(bad), raises, text,
                                accepted=None if raises else starts, section=SWEEP_SECTION)
            out.append(ParameterCases(name, parameter, kind, wrong_case, bad_case))
    return out


def theory_cases() -> list[Case]:
    from lrc_utils import theory
    from lrc_utils.book import readings

    gen = torch.Generator().manual_seed(0)
    return [
        Case("theory.relu_check", "a tanh network", lambda tmp: theory.relu_check(MLP([3, 4, 2], "tanh"), randn(2, 3)),
             ValueError, "relu_check needs a ReLU MLP, got activation 'tanh'"),
        Case("theory.margin_separation", "a GELU network (not 1-Lipschitz)",
             lambda tmp: theory.margin_separation(MLP([3, 4, 2], "gelu"), randn(2, 3)), ValueError,
             "margin_separation needs a noiseless MLP with an activation among"),
        Case("theory.rank_r_matrix", "`rank = 0`", lambda tmp: theory.rank_r_matrix(3, 4, 0, gen), ValueError,
             "rank must lie in [1, 3], got 0"),
        Case("theory.information_slope", "one noise level", lambda tmp: theory.information_slope([0.1], [1.0]),
             ValueError, "a slope needs at least two noise levels, got 1"),
        Case("theory.decay_per_step", "`lr = 1.0`, `weight_decay = 2.0`", lambda tmp: theory.decay_per_step(1.0, 2.0),
             ValueError, "need 0 < lr x weight_decay < 1"),
        Case("readings.require", "a check that judged no case",
             lambda tmp: readings.require(pd.DataFrame({"judged": [False], "holds": [True]}), "s"), AssertionError,
             "s: no case could be judged"),
    ]


def cluster_ensemble_cases() -> list[Case]:
    from lrc_utils import ensemble
    from lrc_utils.book import cluster
    from lrc_utils.models import MLP, NoisyMLP
    from lrc_utils.training import FitConfig

    train = (randn(256, 12), torch.randint(0, 2, (256,)))
    config = FitConfig(steps=2, lr=1e-3, batch_size=128, seed=0)

    def fit_ens(members, configs, **kw):
        return lambda tmp: ensemble.fit_ensemble(members, train, configs, progress=False, **kw)

    def unreachable(tmp: Path):
        with cluster.DaskRuns("tcp://127.0.0.1:9", checkpoint_dir=tmp, connect_timeout=1):
            pass

    return [
        Case("cluster.parse_cluster", "`\"local\"` (no number of workers)", lambda tmp: cluster.parse_cluster("local"),
             ValueError, "cluster must be"),
        Case("cluster.parse_cluster", "`\"local:0\"`", lambda tmp: cluster.parse_cluster("local:0"), ValueError,
             "the number of local workers must be an integer >= 1"),
        Case("cluster.parse_cluster", "an address without a protocol (`\"10.0.0.5:8786\"`)",
             lambda tmp: cluster.parse_cluster("10.0.0.5:8786"), ValueError, "cluster must be"),
        Case("cluster.parse_cluster", "a number (`4`)", lambda tmp: cluster.parse_cluster(4), TypeError,
             "cluster must be a string"),
        Case("cluster.DaskRuns", "a scheduler address where none listens", unreachable, cluster.ClusterUnreachable,
             "no Dask scheduler answered at tcp://127.0.0.1:9 within 1 s"),
        Case("cluster.DaskRuns", "`\"\"` (no cluster)", lambda tmp: cluster.DaskRuns(""), ValueError,
             "DaskRuns needs a cluster"),
        Case("ensemble.fit_ensemble", "two members, a minibatch of 100 (not a multiple of 64)",
             fit_ens([MLP([12, 4, 2]), MLP([12, 4, 2])],
                     [FitConfig(steps=2, lr=1e-3, batch_size=100, seed=s) for s in (0, 1)]),
             ValueError, "minibatch must be a multiple of 64"),
        Case("ensemble.fit_ensemble", "members of two architectures",
             fit_ens([MLP([12, 4, 2]), MLP([12, 5, 2])], [config, replace(config, seed=1)]), ValueError,
             "one architecture and activation"),
        Case("ensemble.fit_ensemble", "`loss=\"mse\"`", fit_ens([MLP([12, 4, 2])], [config], loss="mse"),
             ValueError, "loss must be one of"),
        Case("ensemble.fit_ensemble", "an L2 penalty with the softmax cross-entropy",
             fit_ens([MLP([12, 4, 2])], [config], l2=[0.1], loss="softmax_cross_entropy"), ValueError,
             "an L2 penalty goes with the cross-entropy only"),
        Case("ensemble.fit_ensemble", "configs with other step counts",
             fit_ens([MLP([12, 4, 2]), MLP([12, 4, 2])], [config, FitConfig(steps=3, lr=1e-3, batch_size=128, seed=1)]),
             ValueError, "equal but for their seeds"),
        Case("ensemble.fit_ensemble", "one MLP object given twice", fit_ens([MLP([12, 4, 2])] * 2, [config] * 2),
             ValueError, "its own MLP object"),
        Case("ensemble.fit_ensemble", "float64 members, float32 inputs",
             fit_ens([MLP([12, 4, 2]).double()], [config]), ValueError, "float32 or float64 alike"),
        Case("ensemble.fit_ensemble", "two members, one config", fit_ens([MLP([12, 4, 2]), MLP([12, 4, 2])], [config]),
             ValueError,
             "one config, L2 penalty and monitor list per member"),
        Case("ensemble.fit_ensemble", "`products=\"fast\"`", fit_ens([MLP([12, 4, 2])], [config], products="fast"),
             ValueError, "products must be one of"),
        Case("ensemble.fit_ensemble", "a negative L2 penalty", fit_ens([MLP([12, 4, 2])], [config], l2=[-1.0]),
             ValueError, "L2 penalties must be numbers >= 0"),
        Case("ensemble.fit_ensemble", "a noisy and a plain network",
             fit_ens([NoisyMLP([12, 4, 2], "tanh"), MLP([12, 4, 2], "tanh")], [config, replace(config, seed=1)]),
             ValueError, "one architecture and activation"),
        Case("ensemble.fit_ensemble", "noisy networks of two noise levels",
             fit_ens([NoisyMLP([12, 4, 2], noise_std=0.1), NoisyMLP([12, 4, 2], noise_std=0.2)],
                     [config, replace(config, seed=1)]), ValueError, "one architecture and activation"),
        Case("ensemble.fit_ensemble", "a noisy network with the softmax cross-entropy",
             fit_ens([NoisyMLP([12, 4, 2])], [config], loss="softmax_cross_entropy"), ValueError,
             "noisy networks train on the cross-entropy of their noisy logits, without a penalty"),
    ]


SECTIONS: dict[str, Callable[[], list[Case]]] = {
    "Local rank": local_rank_cases,
    "Models and the Deep VIB": model_cases,
    "Mutual information": mi_cases,
    "Data": data_cases,
    "Training and grids": training_cases,
    "Runner, result store and configuration": runner_store_config_cases,
    "Notebook parameters: names and checks": notebook_cases,
    "Theory statements": theory_cases,
    "Clusters and ensembles": cluster_ensemble_cases,
}
PARAMETERS = parameter_cases()
CASES: list[Case] = [replace(case, section=title) for title, build in SECTIONS.items() for case in build()] + [
    case for p in PARAMETERS for case in (p.wrong_type, p.bad_value) if case]


# ----------------------------------------------------------------------------------------------------
# the page


def code(text: str) -> str:
    """``text`` as a Markdown code span (fenced with more backticks than it holds)."""
    longest = 0
    run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    """A table cell: pipes escaped (also inside code spans), no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


#: Written before a message that is another library's (or Python's) wording, not ours.
NOT_OURS = "*not ours:*"
_NOT_OURS_MESSAGE = re.compile(re.escape(NOT_OURS) + r" (`+).*?\1")


def message_cell(result: Outcome, chars: int | None = None) -> str:
    """The first line of a case's message as a code span, cut at ``chars``, marked when it is not our wording."""
    line = result.first_line
    if chars is not None and len(line) > chars:
        line = line[: chars - 1] + "…"
    return (code(line) if result.ours else f"{NOT_OURS} {code(line)}") if line else ""


def without_foreign_wording(page: str) -> str:
    """``page`` with every message marked as not ours replaced by a placeholder: what the page must say whatever
    the versions of the libraries (their wording changes between releases; ours is compared exactly)."""
    return _NOT_OURS_MESSAGE.sub(f"{NOT_OURS} <another library's message>", page)


def gives(case: Case, result: Outcome, chars: int | None = None) -> str:
    """What a case gave, for the sweep's table: ``ErrorType: message`` or the words of an accepted input."""
    if result.error is None:
        return case.expect
    message = message_cell(result, chars)
    return f"{code(result.error.__name__)}: {message}" if message else code(result.error.__name__)


def render() -> str:
    """The Markdown of ``tests/BAD_INPUTS.md`` from the outcomes of every case now."""
    outcomes = {id(case): outcome(i) for i, case in enumerate(CASES)}
    listed = [c for c in CASES if c.section != SWEEP_SECTION]
    verdicts = {v: sum(c.verdict == v for c in listed) for v in ("clear", "unclear", "accepted")}
    functions = len({c.function for c in listed if not c.function.startswith("notebook ")})
    swept = [p for p in PARAMETERS if p.bad_value is not None]
    rejected = sum(p.bad_value.raises is not None for p in swept)
    lines = [
        "# Bad inputs and the errors they give",
        "",
        f"What the {functions} public functions of `lrc_utils` and the parameters of the "
        f"{len(runner.notebook_names())} notebooks do with bad input: NaN or infinite values, wrong shapes and "
        "types, empty inputs, unknown names. Every row is a case of `tests/bad_inputs_table.py`; the test "
        "`tests/test_bad_inputs.py` runs each case, checks that it gives the error recorded for it (or, where the "
        "input is accepted, what it does instead), and checks that this page is what the cases give now. After a "
        f"change to the package, update the cases and regenerate the page with `{REGENERATE}`.",
        "",
        "The verdict is ours: **clear** where the message says what was wrong and what was expected, **unclear** "
        "where the error comes from deep inside a library or Python and does not name the bad argument, "
        "**accepted** where no error is raised. The message column shows the first line of the message, cut at "
        f"{MESSAGE_CHARS} characters; `<tmp>` stands for a temporary folder and `<repo>` for the repository. "
        f"{NOT_OURS} marks a message in the words of torch, NumPy or Python rather than ours: it was written by the "
        "versions of `requirements.lock` and may read otherwise with others (the test checks its error type only).",
        "",
        f"Of the {len(listed)} cases below, {verdicts['clear']} give a clear error, {verdicts['unclear']} an unclear "
        f"one and {verdicts['accepted']} are accepted. Of the {len(PARAMETERS)} notebook parameters, every one "
        f"refuses a value of the wrong type; of the {len(swept)} that have a bad value to try, {rejected} refuse it "
        f"before any work and {len(swept) - rejected} accept it.",
    ]
    for title in SECTIONS:
        lines += ["", f"## {title}", "",
                  "| # | function | bad input | error | first line of the message, or what happens instead | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for i, case in enumerate(CASES, start=1):
            if case.section != title:
                continue
            result = outcomes[id(case)]
            error = code(result.error.__name__) if result.error else "none"
            message = message_cell(result) if result.error else case.expect
            lines.append(f"| {i} | {cell(code(case.function))} | {cell(case.bad_input)} | {error} | "
                         f"{cell(message)} | {case.verdict} |")
    lines += ["", f"## {SWEEP_SECTION}", "",
              "Every declared parameter of every notebook, given as papermill gives it and run through the checks a "
              "notebook makes before any work (`lrc_utils.book.notebook.start`): a value of the wrong type, and a bad "
              "value of its own type (-1 for an int, NaN for a float, an empty list, an unknown name for a string; "
              f"none for {', '.join(f'`{p}`' for p in FREE_VALUES)}, which take any name or folder). "
              "Each wrong type gives a message naming the parameter, its value and both types (`lr = '1e-3' is a str, "
              "expected float`) and the valid parameters. An accepted bad value fails, if at all, while the notebook "
              "runs.",
              "",
              "| notebook | parameter | type | wrong type | gives | bad value | gives |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for p in PARAMETERS:
        wrong = code(outcomes[id(p.wrong_type)].error.__name__) if outcomes[id(p.wrong_type)].error else "accepted"
        if p.bad_value is None:
            bad, bad_gives = "—", "—"
        else:
            bad = code(repr(BAD_VALUE[p.kind]))
            bad_gives = gives(p.bad_value, outcomes[id(p.bad_value)], chars=80)
        lines.append(f"| {p.notebook} | {code(p.parameter)} | {p.kind.__name__} | "
                     f"{cell(code(repr(WRONG_TYPE[p.kind])))} | {cell(wrong)} | {cell(bad)} | {cell(bad_gives)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``tests/BAD_INPUTS.md`` (with ``--check``: only say whether it is current)."""
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("LRC_PROGRESS", "0")
    text = render()
    if "--check" in argv:
        current = PAGE.exists() and PAGE.read_text() == text
        print(f"{PAGE.relative_to(REPO_ROOT)} is {'current' if current else f'out of date: run {REGENERATE}'}")
        return 0 if current else 1
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(REPO_ROOT)}: {len(CASES)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
