"""The set-up every notebook makes in one call: :func:`start`.

A notebook's ``parameters`` cell declares ``name: type = default`` lines. Right after it (and after the cell
papermill injects), ``run = start("figure1", globals())``:

1. checks every parameter: papermill's injected names must be declared (a misspelt ``-p train_step 10`` is
   an error, not a warning) and every value must have its declared type, before any work;
2. builds the study's ``Params`` (``lrc_utils.book.chapters.<name>.study``), which checks bounds and the study's
   own rules, e.g. distinct seeds;
3. resolves the device (on the Dask workers when ``cluster`` names one, see :mod:`lrc_utils.book.cluster`) and
   opens the result store ``results/<preset>/<name>/``;
4. shows the values this run was given (papermill's injected cell itself is hidden in the book).

``run.tables()`` then loads the study's tables when they are stored with the same computing parameters, else
computes them with ``lrc_utils.book.chapters.<name>.study.compute`` (data are loaded only there), its grid's runs
here or on the Dask cluster of the ``cluster`` parameter. ``run.glue(values)`` hands the prose its numbers.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, replace
from types import ModuleType

import pandas as pd

from ..config import BOOK_PAGE_ENV, get_device
from .chapters import RUN_PARAMETERS, StudyContext, load_study
from .cluster import DaskRuns, parse_cluster
from .params import PresetError, added_defaults, check_parameters, check_values, schema
from .store import (
    ResultStore,
    code_digest,
    display_path,
    has_grid,
    one_thread,
    provenance_line,
    read_stored_table,
)
from .style import apply_theme, require_readable_text


def _injected_values(namespace: dict) -> dict[str, object]:
    """The names papermill's injected cell assigned (found in IPython's input history), with their values."""
    names: list[str] = []
    for source in namespace.get("In", []) or []:
        if isinstance(source, str) and source.lstrip().startswith("# Parameters"):
            for statement in ast.parse(source).body:
                if isinstance(statement, ast.Assign):
                    names += [t.id for t in statement.targets if isinstance(t, ast.Name)]
    return {n: namespace[n] for n in names if n in namespace}


def computing_parameters(params: dict) -> dict:
    """The parameters that say what is computed (all but :data:`RUN_PARAMETERS`)."""
    return {k: v for k, v in params.items() if k not in RUN_PARAMETERS}


@dataclass
class NotebookRun:
    """One notebook's run: its parameters ``p``, ``device`` (``None`` until a cluster's workers resolve it),
    result ``store`` and ``study`` module."""

    name: str
    p: object  # the study's Params
    device: object
    store: ResultStore
    study: ModuleType
    where: str = ""  # where the tables were computed (set by tables())

    def context(self) -> StudyContext:
        return StudyContext(device=self.device, data_dir=self.p.data_dir or None,
                            checkpoint_dir=self.store.checkpoint_dir)

    def _compute(self) -> dict[str, pd.DataFrame]:
        if not self.p.cluster:
            with one_thread():
                return self.study.compute(self.p, self.context())
        with DaskRuns(self.p.cluster, self.p.device, self.store.checkpoint_dir) as runs:
            self.where = runs.describe()
            print(f"computing the runs on {self.where}")
            return self.study.compute(self.p, replace(self.context(), device=runs.device, runs=runs))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The study's tables: loaded when stored with these computing parameters, else computed and stored
        (``meta.json`` records the device, and with a cluster the device its workers resolved and how many). In a
        chapter that decides claims of the book, its answer is glued too (:meth:`glue_answer`)."""
        from .claims import CHAPTER_ROWS

        self.where = str(self.device)
        tables = self.store.tables(list(self.study.TABLES), self._compute, device=lambda: self.where)
        if self.name in CHAPTER_ROWS:
            self.glue_answer()
        return tables

    def glue(self, values: dict[str, object]) -> None:
        """Glue computed values into the page's prose (MyST-NB): a number as ``{glue:text}`name:.2f```, a string
        (Markdown) as ``{glue:md}`name```. Nothing is shown where the call is."""
        from IPython.display import Markdown
        from myst_nb import glue

        for name, value in values.items():
            glue(name, Markdown(value) if isinstance(value, str) else value, display=False)

    def stored_table(self, preset: str, table: str) -> tuple[pd.DataFrame, dict] | None:
        """This notebook's ``table`` as stored at another ``preset`` (under the same results root), checked against
        its recorded SHA-256, with its ``meta.json`` entry; ``None`` where it is not stored. Never computes: a
        chapter that shows another preset's runs beside its own reads them here."""
        try:
            return read_stored_table(self.store.dir.parent.parent / preset / self.name, table)
        except FileNotFoundError:
            return None

    def glue_answer(self) -> None:
        """Glue this chapter's answer as ``answer_md`` (:func:`lrc_utils.book.claims.answer_markdown` of its stored
        tables: each claim it decides, with its verdict and conditions), for the box at the top of its page."""
        from .claims import answer_markdown

        self.glue({"answer_md": answer_markdown(self.name, self.store.dir.parent)})

    def stored_provenance(self, preset: str, table: str, info: dict) -> str:
        """The provenance line of ``table`` as stored at another ``preset`` (``info``: its ``meta.json`` entry, as
        :meth:`stored_table` returns it)."""
        return provenance_line(self.name, preset, table, info, "loaded from stored results",
                               code_digest(self.store.code_module))

    def save_figure(self, fig, name: str, table: str | None = None, provenance: str | None = None) -> None:
        """Show ``fig`` as a numbered, captioned figure of the page, and save it beside the tables.

        Text that would show smaller than :data:`~lrc_utils.book.style.MIN_TEXT_PT` in the book's column
        (:func:`~lrc_utils.book.style.smallest_text`) stops it with a ``ValueError`` naming the text. The figure is
        glued (MyST-NB) under ``name``, at twice the screen resolution, and its provenance line
        (``table``'s, see :meth:`ResultStore.provenance`, or ``provenance``) under ``<name>_provenance``; the page
        places them with a Markdown cell::

            ```{glue:figure} name
            :name: fig-<notebook>-<name>

            The caption.

            {glue:md}`name_provenance`
            ```

        In an interactive notebook the figure is also shown where it is drawn; when the book's runner executes
        the page (``$LRC_BOOK_PAGE`` = 1) only the caption's copy is. The saved files (``<name>.png``, ``.pdf``)
        carry the provenance line drawn under the figure."""
        import matplotlib.pyplot as plt
        from IPython.display import Markdown, display
        from myst_nb import glue

        line = provenance if provenance is not None else self.store.provenance(table) if table is not None else None
        if line is None:
            raise ValueError(f"figure {name}: say where its numbers come from (table= or provenance=)")
        if fig.get_layout_engine() is None:
            fig.tight_layout()  # before the figure is rendered for the page (the files' stamp re-lays it out)
        require_readable_text(fig, name)
        glue(name, fig, display=False)
        glue(f"{name}_provenance", Markdown(line), display=False)
        if os.environ.get(BOOK_PAGE_ENV) != "1":
            display(fig)
        self.store.save_figure(fig, name, provenance=line)
        plt.close(fig)  # shown (or glued) once: the inline backend would show it again at the cell's end


def _sharp_figures() -> None:
    """Figures as PNGs at twice the screen resolution ("retina"), displayed at their size: sharp on every screen."""
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # not in a Jupyter kernel's inline backend: nothing is displayed anyway
        return
    set_matplotlib_formats("retina")


def start(name: str, namespace: dict) -> NotebookRun:
    """Check the notebook's parameters in ``namespace`` (its ``globals()``) against its study's ``Params`` and set
    up its run."""
    study = load_study(name)
    declared = {k: kind for k, (kind, _, _) in schema(study.Params).items()}
    missing = [k for k in RUN_PARAMETERS if k not in namespace]
    if missing:
        raise PresetError(f"notebook {name} does not declare the run parameters {missing}")
    check_parameters(_injected_values(namespace), declared, f"notebook {name}, parameters given to papermill")
    values = {k: namespace[k] for k in declared}
    check_values(study.Params, values, f"notebook {name}")
    if parse_cluster(values["cluster"])[0] != "serial" and not has_grid(study.__name__):
        raise ValueError(f"notebook {name} computes no grid of runs, so a cluster has nothing to run; leave cluster "
                         f"empty (got {values['cluster']!r})")
    p = study.Params(**values)  # checked again, and by the study's own rules (Params.check)
    apply_theme()  # the book's figure style, for this notebook's kernel
    _sharp_figures()
    device = get_device(p.device) if not p.cluster else None  # with a cluster: resolved on its workers
    store = ResultStore(name, p.preset, computing_parameters(values), p.results_dir or None, p.recompute,
                        code_module=study.__name__, added_defaults=added_defaults(study.Params))
    run = NotebookRun(name, p, device, store, study)
    hidden = ("results_dir", "data_dir", "recompute")  # where and how: not what the page shows
    injected = {k: v for k, v in _injected_values(namespace).items() if k not in hidden}
    if injected:  # a table (HTML): the book renders notebook Markdown output as CommonMark, without tables
        from IPython.display import display

        print("This page ran with these values (the rest are the defaults above):")
        display(pd.DataFrame({"parameter": list(injected), "value": [repr(v) for v in injected.values()]})
                .style.hide(axis="index"))
    where = device if not p.cluster else f"{p.device}, resolved on the Dask workers of cluster {p.cluster!r}"
    print(f"results: {display_path(store.dir)}; device: {where}")
    return run


#: A table longer than this is folded (a click opens it): the page's prose and figures summarise it.
FOLD_ROWS = 30


def table_html(frame: pd.DataFrame, digits: int = 3, name: str = "table") -> str:
    """``frame`` as the book shows a table: every row (none elided, however long), no pandas index, numbers
    rounded to ``digits`` decimals, inside a box that scrolls when the table is wider or longer than the text
    column; a table of more than :data:`FOLD_ROWS` rows folded under a line that says how many rows it has, with
    a link that downloads it whole as ``<name>.csv`` (unrounded; the CSV travels inside the page as a base64
    ``data:`` URI, so the link works offline and in a saved copy of the page). (A meaningful index should be made
    a column first, with ``reset_index()``.)"""
    import base64
    import html

    styled = frame.style.hide(axis="index").format(precision=digits, na_rep="–")
    box = ('<div class="lrc-table" style="overflow:auto; max-height:36em; max-width:100%">'
           + styled.to_html() + "</div>")
    if len(frame) <= FOLD_ROWS:
        return box
    csv = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    download = (f'<a class="lrc-table-csv" download="{html.escape(name)}.csv" '
                f'href="data:text/csv;base64,{csv}">download it as CSV</a>')
    return (f'<details class="lrc-table-fold"><summary>The full table: {len(frame)} rows of '
            f'{html.escape(", ".join(map(str, frame.columns)))} (click to open, or {download})</summary>{box}'
            "</details>")


def show_table(frame: pd.DataFrame, digits: int = 3, name: str = "table") -> None:
    """Display ``frame`` in the notebook as :func:`table_html` renders it (``name``: its CSV download's file
    name, where it is folded)."""
    from IPython.display import HTML, display

    display(HTML(table_html(frame, digits, name)))


def show_check(check: pd.DataFrame, statement: str) -> None:
    """Display a statement's check (numbers to 3 decimals) in the notebook, then
    :func:`lrc_utils.book.readings.require` it: the notebook stops, naming the failing rows, if it does not
    hold."""
    from .readings import require

    show_table(check, 3)
    require(check, statement)
