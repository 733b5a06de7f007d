"""The book's chapters, one folder per notebook: ``lrc_utils.book.chapters.<notebook name>/`` holds

* ``study.py``, what the chapter computes:

  - ``Params``: the typed schema of its parameters (a dataclass over :class:`lrc_utils.book.params.RunParams`);
    the notebook's ``parameters`` cell is written from it, and building one checks every value;
  - ``TABLES``: the names of the tidy tables it returns;
  - ``compute(p, ctx=None) -> dict[str, DataFrame]``: loads its data (only here), trains through
    :func:`lrc_utils.training.fit` and measures; ``p`` is a ``Params``, ``ctx`` a :class:`StudyContext` (default:
    the CPU, the default data folder, resumable work under ``./checkpoints``), so that
    ``study.compute(study.Params(seeds=[0]))`` runs it from Python;
  - optionally ``check(p)``: its rules beyond types and bounds (``Params.check`` calls it);
  - optionally ``MACHINE_DEPENDENT``: table -> columns that depend on the machine (timings), left out of the
    fingerprints that keep committed results in step with the code (:mod:`lrc_utils.book.fingerprint`);

* ``readings.py`` (pure functions of its tables: summaries, verdicts, the numbers its prose quotes) and
  ``figures.py``, where the chapter has its own (Figures 2 and 3 read theirs from the shared :mod:`.vib`).

A study imports the core and the helpers here that several chapters share (this module, :mod:`.panels` for
Figure 1's networks, :mod:`.vib` for the Deep VIB grid of Figures 2 and 3), never another chapter
(``tests/test_layers.py``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from ..params import RunParams

#: Parameters every notebook declares. They say where and how to run, not what to compute, so they are not
#: compared when deciding whether stored results still match, and they do not name a study's runs.
RUN_PARAMETERS = tuple(f.name for f in fields(RunParams))


def study_module_name(name: str) -> str:
    """The module of notebook ``name``'s study: ``lrc_utils.book.chapters.<name>.study``."""
    return f"{__name__}.{name}.study"


def load_study(name: str) -> ModuleType:
    """Import notebook ``name``'s study module (:func:`study_module_name`)."""
    return importlib.import_module(study_module_name(name))


@dataclass
class StudyContext:
    """Where and how a study runs: the torch device, the data folder (``None``: the package's default, see
    :func:`lrc_utils.config.data_dir`), a folder for resumable work, and where a grid's runs are computed
    (``runs``: ``None`` for one after another in this process, else e.g. a :class:`lrc_utils.book.cluster.DaskRuns`,
    see :func:`lrc_utils.grid.run_grid`).

    A context sent to another process with a run (pickled) leaves ``runs`` behind: a run computes itself."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    data_dir: str | None = None
    checkpoint_dir: Path = Path("checkpoints")
    runs: object = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "runs": None}

    def together(self, label):
        """``label`` (``key -> value``: runs of equal values may train as one ensemble) on the CPU, where ensembles
        compute what runs alone compute; ``None`` elsewhere, so that a GPU grid keeps one run per task."""
        return label if self.device.type == "cpu" else None


def study_identity(name: str, p) -> dict:
    """What a study's runs compute: its name and computing parameters (all but where and how to run). Names
    the run and checkpoint files, so work done with other parameters is never picked up."""
    return {"study": name, **{k: v for k, v in vars(p).items() if k not in RUN_PARAMETERS}}


def check_seeds(seeds: list) -> None:
    if not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct non-negative integers, got {seeds}")


def beta_grid(beta_min: float, beta_max: float, n_betas: int) -> list[float]:
    """``n_betas`` log-spaced values from ``beta_min`` to ``beta_max`` (both included)."""
    if not 0 < beta_min < beta_max or n_betas < 2:
        raise ValueError(f"need 0 < beta_min < beta_max and n_betas >= 2, got {beta_min}, {beta_max}, {n_betas}")
    return np.logspace(np.log10(beta_min), np.log10(beta_max), n_betas).tolist()


