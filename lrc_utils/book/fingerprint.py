"""Fingerprints: small committed tables that keep the committed results in step with the code.

The fingerprint of a notebook is what it computes at the ``smoke`` preset (seconds on a CPU), stored under
``results/fingerprints/<notebook>/<table>.csv``, with the numeric environment that computed them in
``results/fingerprints/environment.json`` (:func:`numeric_environment`: Python, torch, numpy, scipy and pandas
versions and the CPU kernels their BLAS libraries pick). ``tests/test_fingerprints.py`` compares the tables of
the test session's smoke runs with the committed ones **exactly** (floats written with 17 significant digits and
read back bit for bit; only the columns a study marks ``MACHINE_DEPENDENT``, such as timings, are left out). A
change to the package that moves any number of a study, even by one unit in the last place of one training step,
changes its fingerprint. Then the notebook's paper results must be recomputed in the same change (at a clean
commit) and the fingerprint updated::

    python -m lrc_utils.book.fingerprint figure2          # rewrite figure2's fingerprint with the current code
    make recompute PRESET=paper NOTEBOOKS=figure2    # and its paper results

Exact comparison means something only in the environment that wrote the fingerprints: the locked one
(``requirements.lock``, installed by ``make setup``) on a CPU with the same kernels. Training amplifies a last-bit
difference (another torch, another SIMD path in BLAS) into visible ones, so elsewhere no tolerance makes the
comparison meaningful: there the test skips, naming the difference (:func:`environment_mismatch`).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

from .chapters import StudyContext, load_study
from .paths import RESULTS_DIR
from .runner import notebook_names, preset_values
from .store import atomic_write_text, one_thread

FINGERPRINT_DIR = RESULTS_DIR / "fingerprints"
ENVIRONMENT_FILE = FINGERPRINT_DIR / "environment.json"
#: How to get the environment that wrote the fingerprints.
LOCKED_ENVIRONMENT = "make setup installs requirements.lock"
#: Environment variable that turns the skip of the exact checks into a failure where it is set to 1 (in .ci/run,
#: on the machines that wrote the fingerprints: there the checks must run).
REQUIRE_ENV = "LRC_REQUIRE_EXACT"
#: The keys of :func:`numeric_environment` that the lock decides (the others are the machine's).
LOCKED_KEYS = ("torch", "numpy", "scipy", "pandas")
#: read_csv options that give back exactly the floats written with 17 significant digits (pandas 3 does by default).
_EXACT = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
FINGERPRINT_PRESET = "smoke"


def numeric_environment() -> dict[str, str]:
    """What decides the last bits of a study's numbers on a CPU (every study computes with one thread, so the core
    count does not): the versions of Python, of the C library and of the libraries that compute (torch, numpy,
    scipy, pandas), the processor architecture, the SIMD kernels torch dispatches to
    (``torch.backends.cpu.get_cpu_capability()``: ``AVX2``, ``AVX512``, ...), the SIMD extensions numpy dispatches
    to on this CPU, and the BLAS libraries numpy and scipy loaded with the kernels they picked for this CPU
    (threadpoolctl: ``openblas SkylakeX``, ...)."""
    import numpy
    import scipy
    import scipy.linalg  # noqa: F401 - loads scipy's BLAS, so that it is listed
    from threadpoolctl import threadpool_info

    blas = sorted({f"{i['internal_api']} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                   if i.get("user_api") == "blas"})
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        numpy_simd = " ".join(f for f in __cpu_dispatch__ if __cpu_features__.get(f))
    except ImportError:  # numpy 1.x keeps them in numpy.core
        numpy_simd = "unknown"
    return {"python": platform.python_version(), "libc": " ".join(platform.libc_ver()),
            "machine": platform.machine(), "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__,
            "torch_cpu_kernels": torch.backends.cpu.get_cpu_capability(), "numpy_simd": numpy_simd,
            "numpy_scipy_blas": "; ".join(blas)}


def recorded_environment() -> dict[str, str]:
    """The numeric environment that wrote the committed fingerprints."""
    if not ENVIRONMENT_FILE.exists():
        raise FileNotFoundError(f"{ENVIRONMENT_FILE.relative_to(RESULTS_DIR.parent)} is missing: the fingerprints "
                                f"say nothing without it; rewrite them (python -m lrc_utils.book.fingerprint)")
    return json.loads(ENVIRONMENT_FILE.read_text())


def environment_mismatch(now: dict[str, str] | None = None) -> str | None:
    """None where this is the environment that wrote the fingerprints; else one line naming each difference and
    how to get that environment."""
    recorded, now = recorded_environment(), now or numeric_environment()
    diffs = [f"{key} {recorded.get(key)!s} there, {now.get(key)!s} here" for key in sorted(set(recorded) | set(now))
             if recorded.get(key) != now.get(key)]
    if not diffs:
        return None
    locked = [k for k in LOCKED_KEYS if recorded.get(k) != now.get(k)]
    remedy = (f"{LOCKED_ENVIRONMENT} (for {', '.join(locked)})" if locked else "")
    machine = [k for k in sorted(set(recorded) | set(now)) if k not in LOCKED_KEYS and recorded.get(k) != now.get(k)]
    if machine:
        remedy += ("; " if remedy else "") + f"{', '.join(machine)}: only a machine like the one that wrote them"
    return (f"exact comparisons with results/fingerprints/ skipped: they were written in another environment ("
            f"{'; '.join(diffs)}); to run them: {remedy}")


def _canonical(frame: pd.DataFrame, drop: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` without ``drop`` columns, as written to CSV and read back exactly."""
    text = frame.drop(columns=[c for c in drop if c in frame.columns]).to_csv(index=False, float_format="%.17g")
    return pd.read_csv(io.StringIO(text), **_EXACT)


def _machine_dependent(name: str) -> dict[str, tuple[str, ...]]:
    return getattr(load_study(name), "MACHINE_DEPENDENT", {})


def _tables(name: str) -> tuple[str, ...]:
    return tuple(load_study(name).TABLES)


def compute(name: str, data_dir: str | None = None) -> dict[str, pd.DataFrame]:
    """The study's tables at the fingerprint preset, computed in this process on the CPU with one thread for torch
    and for numpy's and scipy's BLAS (as a notebook computes them) and a throw-away checkpoint folder."""
    values = preset_values(name, FINGERPRINT_PRESET)
    study = load_study(name)
    p = study.Params(**values)  # checked: types, bounds, the study's rules
    with tempfile.TemporaryDirectory() as tmp, one_thread():
        ctx = StudyContext(device=torch.device("cpu"), data_dir=data_dir or values.get("data_dir") or None,
                           checkpoint_dir=Path(tmp))
        tables = study.compute(p, ctx)
    drop = _machine_dependent(name)
    return {t: _canonical(tables[t], tuple(drop.get(t, ()))) for t in study.TABLES}


def stored_tables(name: str, results_root: Path, preset: str = FINGERPRINT_PRESET) -> dict[str, pd.DataFrame]:
    """The tables a notebook run stored under ``results_root/<preset>/<name>/``, in fingerprint form."""
    drop = _machine_dependent(name)
    folder = Path(results_root) / preset / name
    return {t: _canonical(pd.read_csv(folder / f"{t}.csv", **_EXACT), tuple(drop.get(t, ()))) for t in _tables(name)}


def run_smoke(names: list[str], results_root: Path, executed_dir: Path) -> None:
    """Run notebooks at the fingerprint preset on the CPU (what fingerprints are made of)."""
    from .runner import run_notebooks

    run_notebooks(names, FINGERPRINT_PRESET, executed_dir, results_dir=results_root, overrides={"device": "cpu"})


def write(name: str, tables: dict[str, pd.DataFrame]) -> None:
    for table, frame in tables.items():
        atomic_write_text(FINGERPRINT_DIR / name / f"{table}.csv", frame.to_csv(index=False, float_format="%.17g"))


def differences(name: str, tables: dict[str, pd.DataFrame]) -> list[str]:
    """How ``tables`` differ from the committed fingerprint of ``name`` (empty: identical). A table missing on
    either side, or an empty one, is a difference: an empty comparison never passes."""
    out = []
    if set(tables) != set(_tables(name)):
        out.append(f"tables {sorted(tables)} given, the study has {sorted(_tables(name))}")
    for table, frame in tables.items():
        path = FINGERPRINT_DIR / name / f"{table}.csv"
        if not path.exists():
            out.append(f"{table}: no committed fingerprint ({path.relative_to(RESULTS_DIR.parent)})")
            continue
        stored = pd.read_csv(path, **_EXACT)
        if frame.empty or stored.empty:
            out.append(f"{table}: an empty table compares nothing")
            continue
        if list(stored.columns) != list(frame.columns) or stored.shape != frame.shape:
            out.append(f"{table}: columns/shape {list(stored.columns)} {stored.shape} -> "
                       f"{list(frame.columns)} {frame.shape}")
            continue
        for column in frame.columns:
            a, b = stored[column], frame[column]
            if a.equals(b):
                continue
            if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
                gap = (a.astype(float) - b.astype(float)).abs()
                scale = a.astype(float).abs().clip(lower=1e-300)
                out.append(f"{table}.{column}: {int((gap > 0).sum())} of {len(a)} values differ, largest by "
                           f"{gap.max():.3g} (relative {(gap / scale).max():.3g})")
            else:
                out.append(f"{table}.{column}: {int((a != b).sum())} of {len(a)} values differ")
    return out


def stale_message(name: str, diffs: list[str]) -> str:
    return (f"The fingerprint of notebook {name!r} changed: the current code computes other numbers than the code "
            f"that wrote results/fingerprints/{name}/ (and, with it, results/paper/{name}/).\n  "
            + "\n  ".join(diffs)
            + f"\nEither recompute that notebook's paper results in the same change, at a clean commit "
            f"(make recompute PRESET=paper NOTEBOOKS={name}; then python -m lrc_utils.book.fingerprint {name}), or, if "
            f"the change cannot affect them, explain why in the commit and update the fingerprint alone. "
            f"This environment (library versions, CPU kernels) is the one that wrote the fingerprints, and every study "
            f"computes with one thread: a difference here is most likely the code's, not rounding.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.book.fingerprint",
                                     description="Rewrite the committed fingerprints: run the notebooks at the smoke "
                                     "preset on the CPU and keep their tables, with this numeric environment.")
    parser.add_argument("notebooks", nargs="*", help=f"default: all of {notebook_names()}")
    args = parser.parse_args(argv)
    names = args.notebooks or notebook_names()
    unknown = sorted(set(names) - set(notebook_names()))
    if unknown:
        parser.error(f"unknown notebooks {unknown}; valid: {notebook_names()}")
    now = numeric_environment()
    if set(names) != set(notebook_names()) and ENVIRONMENT_FILE.exists() and environment_mismatch(now):
        parser.error(f"the other fingerprints were written in another environment ({environment_mismatch(now)}); "
                     f"rewrite all of them (python -m lrc_utils.book.fingerprint), or none")
    with tempfile.TemporaryDirectory(prefix="lrc-fingerprints-") as tmp:
        run_smoke(names, Path(tmp) / "results", Path(tmp) / "executed")
        for name in names:
            tables = stored_tables(name, Path(tmp) / "results")
            changed = differences(name, tables) if (FINGERPRINT_DIR / name).exists() else ["new"]
            write(name, tables)
            print(f"[lrc] fingerprint {name}: " + ("unchanged" if not changed else "; ".join(changed)))
    atomic_write_text(ENVIRONMENT_FILE, json.dumps(now, indent=1, sort_keys=True) + "\n")
    print(f"[lrc] numeric environment: {now}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
