"""Run the book's notebooks at a preset with papermill.

Each source notebook ``notebooks/<name>.ipynb`` has one cell tagged ``parameters`` (typed defaults) and
presets beside it (``notebooks/<name>.<preset>.yaml``; every notebook has ``smoke`` and ``paper``)::

    python -m lrc_utils.book.runner --preset smoke                 # every notebook
    python -m lrc_utils.book.runner --preset paper local_rank      # one notebook, stored results reused
    python -m lrc_utils.book.runner --preset paper --recompute     # from scratch
    python -m lrc_utils.book.runner --preset paper --cluster local:4 figure2   # the runs on 4 local Dask workers
    python -m lrc_utils.book.runner --preset author --cluster local:2 --ensemble-size 2 figure1   # 2 runs per ensemble

Executed copies of the ``paper`` preset go to ``executed/`` (where the book reads them), of any other preset
to ``executed/<preset>/``, so a smoke run never replaces a page of the book. Every name and type of every
preset is checked before any notebook runs, with the same check a notebook applies to papermill's injected
values (:func:`check_parameters`).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from ..config import BOOK_PAGE_ENV, DEFAULT_ENSEMBLE_SIZE, ENSEMBLE_SIZE_ENV, PROGRESS_ENV
from .chapters import load_study, study_module_name
from .params import TYPES, PresetError, check_parameters, check_values
from .paths import EXECUTED_DIR, NOTEBOOKS_DIR
from .store import display_path, has_grid

REQUIRED_PRESETS = ("smoke", "paper")
BOOK_PRESET = "paper"


# ----------------------------------------------------------------------------------------------------
# parameters


def notebook_names(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    return sorted(p.stem for p in notebooks_dir.glob("*.ipynb"))


def preset_names(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    return sorted(p.name[len(name) + 1 : -len(".yaml")] for p in notebooks_dir.glob(f"{name}.*.yaml"))


def declared_parameters(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, tuple[type, object]]:
    """name -> (type, default) of a notebook's ``parameters`` cell (``name: type = default`` lines)."""
    import nbformat

    nb = nbformat.read(notebooks_dir / f"{name}.ipynb", as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise PresetError(f"notebook {name} needs exactly one cell tagged 'parameters', found {len(cells)}")
    out = {}
    for statement in ast.parse(cells[0].source).body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(statement.annotation, ast.Name) and statement.annotation.id in TYPES):
            raise PresetError(f"notebook {name}: parameter line '{ast.unparse(statement)}' must read "
                              f"'name: type = default' with a type among {sorted(TYPES)}")
        out[statement.target.id] = (TYPES[statement.annotation.id], ast.literal_eval(statement.value))
    return out


def load_preset(name: str, preset: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, object]:
    """Read ``<name>.<preset>.yaml``, check every name and type against the notebook's parameters, and return
    the values with ``preset`` set. Raises :class:`PresetError` naming what is valid."""
    import yaml

    names = notebook_names(notebooks_dir)
    if name not in names:
        raise PresetError(f"unknown notebook {name!r}; valid notebooks: {', '.join(names)}")
    presets = preset_names(name, notebooks_dir)
    if preset not in presets:
        raise PresetError(f"unknown preset {preset!r} for notebook {name!r}; valid presets: {', '.join(presets)}")
    path = notebooks_dir / f"{name}.{preset}.yaml"
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise PresetError(f"{display_path(path)} is not valid YAML: {problem}{where}") from None
    if not isinstance(values, dict):
        raise PresetError(f"{name}.{preset}.yaml must hold a mapping of parameter names to values")
    declared = {k: t for k, (t, _) in declared_parameters(name, notebooks_dir).items()}
    check_parameters(values, declared, f"{name}.{preset}.yaml")
    return {**values, "preset": preset}


# ----------------------------------------------------------------------------------------------------
# the runner


def preset_values(name: str, preset: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, object]:
    """Every parameter of a notebook at a preset: the notebook's defaults, overridden by the preset's values."""
    return {k: default for k, (_, default) in declared_parameters(name, notebooks_dir).items()} | load_preset(
        name, preset, notebooks_dir)


def executed_dir_for(preset: str, root: Path = EXECUTED_DIR) -> Path:
    """Where executed copies of ``preset`` go: the book's folder for the paper preset, a subfolder otherwise."""
    return root if preset == BOOK_PRESET else root / preset


#: The longest message :func:`_failure_summary` repeats (the executed copy holds the whole traceback).
SUMMARY_CHARS = 800


def _failure_summary(err: Exception) -> str:
    """``ExceptionType: its message`` of the error raised inside the notebook, its lines joined into one (so that a
    message listing the places it looked and the fixes, as a missing data set's does, arrives whole)."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename is None:
        ename, evalue = type(err).__name__, str(err)
    if ename == "DeadKernelError":  # killed (by a signal, or the out-of-memory killer): the work done is on disk
        return (f"{ename}: the notebook's kernel died (killed, or out of memory). Run it again without --recompute "
                "(recompute = 'auto'): finished runs and checkpoints are kept, so it resumes where it stopped")
    text = " ".join(line.strip() for line in str(evalue).splitlines() if line.strip())
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS] + " ..."
    return f"{ename}: {text}" if text else ename


def _hide_injected_parameters(path: Path) -> None:
    """The book shows a notebook's parameters once: the defaults cell, folded, and the table the notebook
    prints of papermill's injected values; papermill's own injected cell is removed from the page."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
    nbformat.write(nb, path)


def run_notebooks(names: Iterable[str] | None, preset: str, output_dir: Path | None = None,
                  results_dir: Path | None = None, recompute: str = "auto",
                  notebooks_dir: Path = NOTEBOOKS_DIR, cluster: str = "",
                  overrides: dict[str, object] | None = None) -> list[Path]:
    """Execute notebooks at a preset with papermill; return the executed copies' paths.

    ``recompute`` is passed to every notebook (``"auto"``, ``"always"``, ``"never"`` or ``"reuse_stale"``: see
    :class:`lrc_utils.book.store.ResultStore`); ``cluster`` (see :mod:`lrc_utils.book.cluster`) to every notebook that
    computes a grid of runs (the others compute here); ``overrides`` replace preset values in every notebook (e.g.
    ``{"device": "cpu"}``). Every preset, and the overrides, are checked before any notebook runs. All
    notebooks are run even if one fails; then a ``RuntimeError`` names each failed notebook, its exception
    type, the first line of the message and where its executed copy is.
    """
    import papermill

    from .cluster import parse_cluster
    parse_cluster(cluster)
    names = list(names) if names else notebook_names(notebooks_dir)
    jobs = [(name, load_preset(name, preset, notebooks_dir) | dict(overrides or {})) for name in names]
    for name in names if overrides else ():
        declared = {k: t for k, (t, _) in declared_parameters(name, notebooks_dir).items()}
        check_parameters(dict(overrides), declared, f"overrides for notebook {name}")
    if notebooks_dir == NOTEBOOKS_DIR:  # the book's notebooks: their studies' schemas and rules, before any work
        for name, _ in jobs:
            full = preset_values(name, preset, notebooks_dir) | dict(overrides or {})
            study = load_study(name)
            check_values(study.Params, full, f"{name}.{preset}.yaml")
            study.Params(**full)
    if results_dir is not None:  # the caller's relative path, not the notebooks' folder (where they run)
        results_dir = Path(results_dir).expanduser().resolve()
        print(f"[lrc] results root: {results_dir}", flush=True)
    output_dir = Path(output_dir) if output_dir is not None else executed_dir_for(preset)
    output_dir.mkdir(parents=True, exist_ok=True)
    env_backup = {k: os.environ.get(k) for k in ("MPLBACKEND", PROGRESS_ENV, BOOK_PAGE_ENV)}
    os.environ.pop("MPLBACKEND", None)  # 'Agg' here would silently drop every figure from the book
    os.environ[PROGRESS_ENV] = "0"  # progress bars would fill the rendered pages; papermill shows its own
    os.environ[BOOK_PAGE_ENV] = "1"  # figures shown once, where the page's captions place them
    failures, outputs = [], []
    try:
        for name, params in jobs:
            params = {**params, "recompute": recompute}
            if cluster and has_grid(study_module_name(name)):
                params["cluster"] = cluster
            if results_dir is not None:
                params["results_dir"] = str(results_dir)
            out = output_dir / f"{name}.ipynb"
            print(f"[lrc] running {name} at preset {preset!r} -> {display_path(out)}", flush=True)
            start = time.perf_counter()
            try:
                papermill.execute_notebook(str(notebooks_dir / f"{name}.ipynb"), str(out), parameters=params,
                                           kernel_name="python3", cwd=str(notebooks_dir),
                                           progress_bar=sys.stdout.isatty())
            except Exception as err:  # noqa: BLE001 - collected and reported below
                summary = _failure_summary(err)
                failures.append(f"notebook {name} (preset {preset}) failed with {summary} "
                                f"[executed copy: {display_path(out)}]")
                print(f"[lrc] FAILED {name}: {summary}", flush=True)
                continue
            _hide_injected_parameters(out)
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
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.book.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help=f"notebook names (default: all of {notebook_names()})")
    parser.add_argument("--preset", required=True, help="preset name, e.g. smoke or paper")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for executed notebooks (default: executed/ for paper, executed/<preset>/ else)")
    parser.add_argument("--results", type=Path, default=None, help="results root (default: results/)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--recompute", action="store_true", help="compute from scratch even where results are stored")
    how.add_argument("--cached-only", action="store_true", help="fail instead of computing a table that is not stored")
    how.add_argument("--reuse-stale", action="store_true", help="resume run files and checkpoints written by other "
                     "code (said in the tables' provenance) instead of stopping")
    parser.add_argument("--cluster", default="", help='where grids of runs are computed: "local:N" (N Dask workers '
                        'on this machine) or a Dask scheduler address; default: in the notebook, one run after another')
    parser.add_argument("--ensemble-size", type=int, default=None, metavar="N",
                        help=f"at most N runs of a grid train as one batched ensemble where the study allows it "
                        f"(sets ${ENSEMBLE_SIZE_ENV}; default {DEFAULT_ENSEMBLE_SIZE}; 1: each run alone); no number "
                        "changes")
    args = parser.parse_args(argv)
    if args.ensemble_size is not None:
        if args.ensemble_size < 1:
            parser.error(f"--ensemble-size must be >= 1, got {args.ensemble_size}")
        os.environ[ENSEMBLE_SIZE_ENV] = str(args.ensemble_size)  # the notebooks' kernels inherit it
    recompute = ("always" if args.recompute else "never" if args.cached_only else "reuse_stale" if args.reuse_stale
                 else "auto")
    try:
        run_notebooks(args.notebooks, args.preset, args.out, args.results, recompute, cluster=args.cluster)
    except (PresetError, RuntimeError, ValueError) as err:
        print(f"[lrc] error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
