"""Fingerprints: small committed tables that keep the committed results in step with the code.

The fingerprint of a notebook is what its study computes at the ``smoke`` preset (seconds on a CPU), stored
under ``results/fingerprints/<notebook>/<table>.csv``. ``tests/test_fingerprints.py`` recomputes every
fingerprint and compares it with the committed one **exactly** (floats written with 17 significant digits
and read back bit for bit; only the columns a study marks ``MACHINE_DEPENDENT``, such as timings, are left
out). A change to the package that moves any number of a study, even by one unit in the last place of one
training step, changes its fingerprint. Then the notebook's paper results must be recomputed in the same
change (at a clean commit) and the fingerprint updated::

    python -m lrc_utils.fingerprint figure2          # rewrite figure2's fingerprint with the current code
    make recompute PRESET=paper NOTEBOOKS=figure2    # and its paper results

Exact comparison assumes the same arithmetic: the same CPU family and library versions as the machines that
wrote the fingerprint (CI's). On another CPU, floating-point results may differ in the last bits (other SIMD
paths in BLAS); the failure message prints the largest difference so that such a case can be told from a
real change.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

from .config import RESULTS_DIR
from .runner import notebook_names, preset_values
from .store import atomic_write_text
from .studies import StudyContext

FINGERPRINT_DIR = RESULTS_DIR / "fingerprints"
#: read_csv options that give back exactly the floats written with 17 significant digits (pandas 3 does by default).
_EXACT = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
FINGERPRINT_PRESET = "smoke"


def _canonical(frame: pd.DataFrame, drop: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` without ``drop`` columns, as written to CSV and read back exactly."""
    text = frame.drop(columns=[c for c in drop if c in frame.columns]).to_csv(index=False, float_format="%.17g")
    return pd.read_csv(io.StringIO(text), **_EXACT)


def compute(name: str, data_dir: str | None = None) -> dict[str, pd.DataFrame]:
    """The study's tables at the fingerprint preset, on the CPU, with a throw-away checkpoint folder."""
    values = preset_values(name, FINGERPRINT_PRESET)
    study = importlib.import_module(f"lrc_utils.studies.{name}")
    p = SimpleNamespace(**values)
    if hasattr(study, "check"):
        study.check(p)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StudyContext(device=torch.device("cpu"), data_dir=data_dir or values.get("data_dir") or None,
                           checkpoint_dir=Path(tmp))
        tables = study.compute(p, ctx)
    drop = getattr(study, "MACHINE_DEPENDENT", {})
    return {t: _canonical(tables[t], tuple(drop.get(t, ()))) for t in study.TABLES}


def write(name: str, tables: dict[str, pd.DataFrame]) -> None:
    for table, frame in tables.items():
        atomic_write_text(FINGERPRINT_DIR / name / f"{table}.csv", frame.to_csv(index=False, float_format="%.17g"))


def differences(name: str, tables: dict[str, pd.DataFrame]) -> list[str]:
    """How ``tables`` differ from the committed fingerprint of ``name`` (empty: identical)."""
    out = []
    for table, frame in tables.items():
        path = FINGERPRINT_DIR / name / f"{table}.csv"
        if not path.exists():
            out.append(f"{table}: no committed fingerprint ({path.relative_to(RESULTS_DIR.parent)})")
            continue
        stored = pd.read_csv(path, **_EXACT)
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
            f"(make recompute PRESET=paper NOTEBOOKS={name}; then python -m lrc_utils.fingerprint {name}), or, if "
            f"the change cannot affect them, explain why in the commit and update the fingerprint alone. "
            f"Differences of ~1e-16 relative on another CPU type can be rounding, not a code change.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.fingerprint",
                                     description="Rewrite the committed fingerprints with the current code.")
    parser.add_argument("notebooks", nargs="*", help=f"default: all of {notebook_names()}")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $LRC_DATA_DIR or the cache)")
    args = parser.parse_args(argv)
    for name in args.notebooks or notebook_names():
        tables = compute(name, args.data_dir)
        changed = differences(name, tables)
        write(name, tables)
        print(f"[lrc] fingerprint {name}: " + ("unchanged" if not changed else "; ".join(changed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
