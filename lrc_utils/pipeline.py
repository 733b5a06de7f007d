"""Notebooks -> results -> book: presets, the papermill runner, and the result store notebooks use.

Each source notebook ``notebooks/<name>.ipynb`` has one cell tagged ``parameters`` and presets beside it
(``notebooks/<name>.<preset>.yaml``; every notebook has ``smoke`` and ``paper``). The runner executes
notebooks at a preset with papermill and writes the executed copies to ``executed/`` (where ``_toc.yml``
reads them)::

    python -m lrc_utils.pipeline --preset smoke                # every notebook
    python -m lrc_utils.pipeline --preset paper local_rank     # one notebook
    python -m lrc_utils.pipeline --preset paper --recompute    # ignore stored results

Inside a notebook, :class:`Run` keeps results under ``results/<preset>/<name>/``: tables as CSV, figures
as PNG and PDF, and ``meta.json`` with the parameters and the provenance of each table. A table whose
stored parameters match the notebook's is loaded instead of recomputed (unless ``recompute``).
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .config import EXECUTED_DIR, NOTEBOOKS_DIR, PROGRESS_ENV, REPO_ROOT, RESULTS_DIR

#: Parameters every notebook declares. They say where and how to run, not what to compute, so they are
#: not compared when deciding whether stored results still match.
RUN_PARAMETERS = ("preset", "results_dir", "recompute", "device", "data_dir")
REQUIRED_PRESETS = ("smoke", "paper")
#: Set by ``--cached-only``: a notebook that would have to compute a table fails instead.
CACHED_ONLY_ENV = "LRC_CACHED_ONLY"


class PresetError(ValueError):
    """An unknown notebook, preset or parameter name, or a parameter of the wrong type."""


# ----------------------------------------------------------------------------------------------------
# notebooks and presets


def notebook_names(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    return sorted(p.stem for p in notebooks_dir.glob("*.ipynb"))


def preset_names(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    return sorted(p.name[len(name) + 1 : -len(".yaml")] for p in notebooks_dir.glob(f"{name}.*.yaml"))


def notebook_parameters(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, object]:
    """The defaults of a notebook's ``parameters`` cell, as Python values (name -> default)."""
    import papermill

    path = notebooks_dir / f"{name}.ipynb"
    found = papermill.inspect_notebook(str(path))
    return {key: ast.literal_eval(info["default"]) for key, info in found.items()}


def _type_error(key: str, value: object, default: object) -> str | None:
    expected = type(default)
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
    else:
        ok = isinstance(value, expected)
    if ok:
        return None
    hint = ""
    if isinstance(value, str) and isinstance(default, (int, float)):
        hint = " (papermill reads YAML 1.1: write 1.0e-3, not 1e-3)"
    return f"{key} = {value!r} is a {type(value).__name__}, expected {expected.__name__}{hint}"


def load_preset(name: str, preset: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, object]:
    """Read ``<name>.<preset>.yaml`` and check every key against the notebook's parameters.

    Raises :class:`PresetError` naming the valid notebooks, presets or parameters.
    """
    import yaml

    names = notebook_names(notebooks_dir)
    if name not in names:
        raise PresetError(f"unknown notebook {name!r}; valid notebooks: {', '.join(names)}")
    presets = preset_names(name, notebooks_dir)
    if preset not in presets:
        raise PresetError(f"unknown preset {preset!r} for notebook {name!r}; valid presets: {', '.join(presets)}")
    values = yaml.safe_load((notebooks_dir / f"{name}.{preset}.yaml").read_text()) or {}
    if not isinstance(values, dict):
        raise PresetError(f"{name}.{preset}.yaml must hold a mapping of parameter names to values")
    defaults = notebook_parameters(name, notebooks_dir)
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise PresetError(
            f"{name}.{preset}.yaml sets unknown parameters {unknown}; valid parameters: {', '.join(sorted(defaults))}"
        )
    errors = [e for k, v in values.items() if (e := _type_error(k, v, defaults[k]))]
    if errors:
        raise PresetError(f"{name}.{preset}.yaml: " + "; ".join(errors))
    return {**values, "preset": preset}


# ----------------------------------------------------------------------------------------------------
# the runner


def run_notebooks(
    names: Iterable[str] | None,
    preset: str,
    output_dir: Path = EXECUTED_DIR,
    results_dir: Path | None = None,
    recompute: bool = False,
    cached_only: bool = False,
    notebooks_dir: Path = NOTEBOOKS_DIR,
) -> list[Path]:
    """Execute notebooks at a preset with papermill; return the executed copies' paths.

    Every preset is checked before any notebook runs. All notebooks are run even if one fails; then a
    ``RuntimeError`` names each failed notebook and its error.
    """
    import papermill

    names = list(names) if names else notebook_names(notebooks_dir)
    jobs = [(name, load_preset(name, preset, notebooks_dir)) for name in names]
    output_dir.mkdir(parents=True, exist_ok=True)
    env_backup = {k: os.environ.get(k) for k in ("MPLBACKEND", CACHED_ONLY_ENV, PROGRESS_ENV)}
    os.environ.pop("MPLBACKEND", None)  # 'Agg' here would silently drop every figure from the book
    os.environ[CACHED_ONLY_ENV] = "1" if cached_only else "0"
    os.environ[PROGRESS_ENV] = "0"  # progress bars would fill the rendered pages; papermill shows its own
    show_progress = sys.stdout.isatty()
    failures, outputs = [], []
    try:
        for name, params in jobs:
            if results_dir is not None:
                params["results_dir"] = str(results_dir)
            if recompute:
                params["recompute"] = True
            out = output_dir / f"{name}.ipynb"
            print(f"[lrc] running {name} at preset {preset!r} -> {out}", flush=True)
            start = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(notebooks_dir / f"{name}.ipynb"), str(out), parameters=params,
                    kernel_name="python3", cwd=str(notebooks_dir), progress_bar=show_progress,
                )
            except Exception as err:  # noqa: BLE001 - collected and reported below
                summary = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
                failures.append(f"notebook {name} (preset {preset}) failed: {summary} [executed copy: {out}]")
                print(f"[lrc] FAILED {name}: {summary}", flush=True)
                continue
            print(f"[lrc] done {name} in {time.perf_counter() - start:.1f} s", flush=True)
            outputs.append(out)
    finally:
        for key, value in env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if failures:
        raise RuntimeError("\n".join(failures))
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help=f"notebook names (default: all of {notebook_names()})")
    parser.add_argument("--preset", required=True, help="preset name, e.g. smoke or paper")
    parser.add_argument("--out", type=Path, default=EXECUTED_DIR, help="folder for executed notebooks")
    parser.add_argument("--results", type=Path, default=None, help="results root (default: results/)")
    parser.add_argument("--recompute", action="store_true", help="recompute even where stored results match")
    parser.add_argument("--cached-only", action="store_true", help="fail instead of computing a missing table")
    args = parser.parse_args(argv)
    try:
        run_notebooks(args.notebooks, args.preset, args.out, args.results, args.recompute, args.cached_only)
    except (PresetError, RuntimeError) as err:
        print(f"[lrc] error: {err}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------------------------------
# inside a notebook


def collect_parameters(namespace: dict, names_before: set[str]) -> dict[str, object]:
    """The parameters a notebook defined: names added to ``namespace`` since ``names_before``.

    Call it in the cell after the ``parameters`` cell with ``globals()`` and the set of names taken just
    before it, so that papermill's injected values are included.
    """
    return {k: v for k, v in namespace.items() if k not in names_before and not k.startswith("_")}


def git_commit() -> tuple[str, bool]:
    """(commit hash, whether tracked files outside results/ have changes), or ("unknown", False) outside a
    git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        # results/ holds outputs, not the code that computes them: changes there do not count
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)results"], cwd=REPO_ROOT,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False


def library_versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
                "matplotlib": matplotlib.__version__}
    try:
        import papermill

        versions["papermill"] = papermill.__version__
    except ImportError:
        pass
    return versions


class Run:
    """Results of one notebook run: ``results/<preset>/<notebook>/`` with CSV tables, figures, meta.json.

    Args:
        notebook: the notebook's name (its file stem).
        params: the notebook's parameters (see :func:`collect_parameters`); must hold
            :data:`RUN_PARAMETERS`.
    """

    def __init__(self, notebook: str, params: dict[str, object]):
        missing = [k for k in RUN_PARAMETERS if k not in params]
        if missing:
            raise PresetError(f"notebook {notebook} does not declare the run parameters {missing}")
        self.notebook = notebook
        self.params = dict(params)
        self.preset = str(params["preset"])
        root = Path(str(params["results_dir"])) if params["results_dir"] else RESULTS_DIR
        self.dir = root / self.preset / notebook
        self.dir.mkdir(parents=True, exist_ok=True)
        self.meta_path = self.dir / "meta.json"
        self.meta = json.loads(self.meta_path.read_text()) if self.meta_path.exists() else {}
        self.key = {k: v for k, v in self.params.items() if k not in RUN_PARAMETERS}
        self.loaded: dict[str, bool] = {}
        if self.params["recompute"]:
            # recompute means from scratch: resumable work from earlier runs must not be picked up, or the
            # recorded wall time would describe only the last part of the computation
            shutil.rmtree(self.dir / "checkpoints", ignore_errors=True)

    @property
    def checkpoint_dir(self) -> Path:
        """A folder for resumable work of long computations: ``checkpoints/<digest>/``, one per set of
        computing parameters, so that work done with other parameters is never picked up (not committed;
        emptied when ``recompute``)."""
        digest = hashlib.sha1(json.dumps(self.key, sort_keys=True, default=str).encode()).hexdigest()[:12]
        path = self.dir / "checkpoints" / digest
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _write_meta(self) -> None:
        self.meta_path.write_text(json.dumps(self.meta, indent=2, sort_keys=True, default=str) + "\n")

    def stored_matches(self, table: str) -> bool:
        """Whether ``table`` is stored with the same computing parameters as this run."""
        info = self.meta.get("tables", {}).get(table)
        return bool(info) and (self.dir / f"{table}.csv").exists() and info.get("parameters") == self.key

    def table(self, name: str, compute: Callable[[], object], device: str = "") -> object:
        """One table: see :meth:`tables`; ``compute`` returns a single DataFrame."""
        return self.tables([name], lambda: {name: compute()}, device)[name]

    def tables(self, names: list[str], compute: Callable[[], dict], device: str = "") -> dict:
        """Load the tables ``names`` if all are stored with matching parameters, else compute and store them.

        ``compute()`` returns a dict name -> pandas DataFrame (tidy: one row per observation) holding at
        least ``names``. Each CSV is written with its meta.json entry (parameters, git commit, library
        versions, device, wall time of the computation).
        """
        import pandas as pd

        if not self.params["recompute"] and all(self.stored_matches(n) for n in names):
            self.loaded.update(dict.fromkeys(names, True))
            return {n: pd.read_csv(self.dir / f"{n}.csv") for n in names}
        if os.environ.get(CACHED_ONLY_ENV) == "1":
            raise RuntimeError(f"tables {names} of {self.notebook} at preset {self.preset} are not stored with "
                               f"these parameters in {self.dir}, and --cached-only forbids computing them")
        start = time.perf_counter()
        frames = compute()
        wall = time.perf_counter() - start
        missing = [n for n in names if n not in frames]
        if missing:
            raise RuntimeError(f"the computation for {self.notebook} returned no tables {missing}")
        commit, dirty = git_commit()
        info = {
            "parameters": self.key,
            "git_commit": commit,
            "git_dirty": dirty,
            "versions": library_versions(),
            "device": device or str(self.params.get("device")),
            "wall_time_s": round(wall, 2),
            "computed_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.meta.update(notebook=self.notebook, preset=self.preset)
        for name in names:
            frames[name].to_csv(self.dir / f"{name}.csv", index=False)
            self.meta.setdefault("tables", {})[name] = info
            self.loaded[name] = False
        self._write_meta()
        return {n: frames[n] for n in names}

    def provenance(self, table: str) -> str:
        """One line for a figure caption: where the numbers come from."""
        info = self.meta["tables"][table]
        how = "loaded from stored results" if self.loaded.get(table) else "computed in this run"
        dirty = "+changes" if info["git_dirty"] else ""
        return (f"{self.notebook}/{table}.csv, preset '{self.preset}': {how}; computed {info['computed_utc']} "
                f"at commit {info['git_commit'][:10]}{dirty} on {info['device']} in {info['wall_time_s']:.1f} s")

    def save_figure(self, fig, name: str, table: str | None = None) -> None:
        """Save ``fig`` as ``<name>.png`` and ``<name>.pdf`` beside the tables and list it in meta.json.

        With ``table``, the figure is first stamped with that table's :meth:`provenance` line.
        """
        if table is not None:
            fig.tight_layout()  # keeps every label inside the figure, so the line below clears them
            fig.text(0.0, 0.0, self.provenance(table), fontsize=6, color="0.4", ha="left", va="top",
                     transform=fig.transFigure)
        fig.savefig(self.dir / f"{name}.png", dpi=150, bbox_inches="tight")
        fig.savefig(self.dir / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None})
        figures = self.meta.setdefault("figures", [])
        if name not in figures:
            figures.append(name)
            self._write_meta()

if __name__ == "__main__":
    sys.exit(main())
