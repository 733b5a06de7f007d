"""Notebook hygiene, presets, the table of contents, and committed results against the paper preset."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from lrc_utils.book.chapters import RUN_PARAMETERS, load_study, study_module_name
from lrc_utils.book.paths import NOTEBOOKS_DIR, REPO_ROOT, RESULTS_DIR
from lrc_utils.book.runner import REQUIRED_PRESETS, declared_parameters, load_preset, notebook_names

NAMES = notebook_names()


def test_there_are_notebooks():
    assert NAMES, "no notebooks in notebooks/"


def read(name):
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_hygiene(name):
    nb = read(name)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{name}: kernelspec must be python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), f"{name}: must open with an H1 title"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: committed with outputs"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters', found {len(tagged)}"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_typed_documented_and_all_seen_by_papermill(name):
    cell = next(c for c in read(name).cells if "parameters" in c.metadata.get("tags", []))
    statements = ast.parse(cell.source).body
    assigned = []
    for statement in statements:
        assert isinstance(statement, ast.AnnAssign), f"{name}: '{ast.unparse(statement)}' needs a type annotation"
        assigned.append(statement.target.id)
    for line in cell.source.splitlines():
        assert re.search(r"\S\s+#\s+\S", line), f"{name}: parameter line without a help comment: {line!r}"
    assert sorted(declared_parameters(name)) == sorted(assigned)
    import papermill

    assert sorted(papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"))) == sorted(assigned), (
        f"{name}: papermill cannot parse some lines")
    assert set(RUN_PARAMETERS) <= set(assigned), f"{name}: must declare {RUN_PARAMETERS}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("preset", REQUIRED_PRESETS)
def test_required_presets_exist_and_are_valid(name, preset):
    load_preset(name, preset)  # raises naming what is wrong


def test_every_notebook_is_in_the_toc():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = re.findall(r"file: (\S+)", yaml.safe_dump(toc))
    for name in NAMES:
        assert f"executed/{name}" in files, f"{name} is not in _toc.yml as executed/{name}"


MAX_CODE_LINES = 25


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_only_parameterise_call_plot_and_explain(name):
    """At most 25 code lines outside the parameters cell and the hidden install cell (the same in every notebook);
    one call to the shared set-up; the study is a module of the package; nothing is loaded, trained or defined
    in the notebook itself."""
    cells = [c for c in read(name).cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
             and "remove-cell" not in c.metadata.get("tags", [])]
    code = "\n".join(c.source for c in cells)
    assert len(code.splitlines()) <= MAX_CODE_LINES, f"{name}: {len(code.splitlines())} code lines"
    assert code.count(f'start("{name}", globals())') == 1, f"{name}: must call start({name!r}, globals()) once"
    for forbidden in ("def ", "class ", "load_mnist", "load_fashion_mnist", "fit(", "import torch"):
        assert forbidden not in code, f"{name}: {forbidden!r} belongs in lrc_utils"
    study = REPO_ROOT / "lrc_utils" / "book" / "chapters" / name / "study.py"
    assert study.exists(), f"{name}: no study {study_module_name(name)}"


def test_install_cell_points_at_the_configured_repository():
    url = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"]
    for name in NAMES:
        sources = "\n".join(c.source for c in read(name).cells)
        assert f"lrc-utils[book] @ git+{url}" in sources, f"{name}: the install cell must install [book] from {url}"


def current_preset_key(name, preset):
    values = {**{k: d for k, (_, d) in declared_parameters(name).items()}, **load_preset(name, preset)}
    return {k: v for k, v in values.items() if k not in RUN_PARAMETERS}


#: (preset, notebook) of every committed result folder (fingerprints are checked in test_fingerprints.py).
def _committed() -> list[tuple[str, str]]:
    listed = subprocess.run(["git", "ls-files", "results/*/*/meta.json"], cwd=RESULTS_DIR.parent, capture_output=True,
                            text=True).stdout.split()
    return sorted((Path(p).parent.parent.name, Path(p).parent.name) for p in listed
                  if Path(p).parent.parent.name != "fingerprints")


COMMITTED = _committed()


@pytest.mark.parametrize("preset, name", COMMITTED)
def test_committed_results_match_their_current_preset(preset, name):
    """Every committed table was computed with the parameters its preset file gives today (a stale table would
    otherwise be shown, or recomputed by the book build)."""
    from lrc_utils.book.chapters import load_study
    from lrc_utils.book.params import added_defaults
    from lrc_utils.book.store import ResultStore

    assert name in NAMES, f"results/{preset}/{name} has no notebook"
    meta = json.loads((RESULTS_DIR / preset / name / "meta.json").read_text())
    store = ResultStore(name, preset, current_preset_key(name, preset), RESULTS_DIR,
                        added_defaults=added_defaults(load_study(name).Params))
    for table in meta["tables"]:
        assert (RESULTS_DIR / preset / name / f"{table}.csv").exists(), f"{preset}/{name}/{table}.csv is missing"
        assert store.stored_matches(table), f"results/{preset}/{name}/{table}.csv was computed with other parameters"


@pytest.mark.skipif(not (RESULTS_DIR / "paper" / "figure1" / "local_rank.csv").exists(), reason="no paper results")
def test_committed_figure1_shows_the_terminal_phase_fall():
    """The issue's criterion on the committed paper results: every hidden layer's mean local rank ends at
    least 10% below its maximum, and below its maximum after 99% training accuracy, except MNIST's first
    layer, whose Jacobian is W_1 for every input (the documented exception)."""
    import pandas as pd

    from lrc_utils.book.chapters.figure1.readings import terminal_phase_falls

    table = pd.read_csv(RESULTS_DIR / "paper" / "figure1" / "local_rank.csv")
    assert table.seed.nunique() >= 3
    falls = terminal_phase_falls(table, drop=0.10, threshold=0.99)
    not_falling = {(r.panel, r.layer) for r in falls.itertuples() if not r[-1]}
    assert not_falling <= {("mnist", 1)}, f"layers that do not fall: {sorted(not_falling)}"


def committed_sweep(name):
    import pandas as pd

    return pd.read_csv(RESULTS_DIR / "paper" / name / "vib_sweep.csv")


SWEEP_COLUMNS = {"dataset", "seed", "beta", "kl", "ce", "train_acc", "test_acc", "local_rank_abs", "local_rank_rel"}


@pytest.mark.parametrize("name, n_classes", [("figure2", {"gaussian": 8}),
                                             ("figure3", {"mnist": 10, "fashion_mnist": 10})])
def test_committed_vib_sweeps_compress_to_chance(name, n_classes):
    """The issue's criteria on the committed paper results: at least 15 betas and 2 seeds per data set; the
    KL term and the test accuracy fall as beta grows, and the accuracy at the largest beta is chance."""
    if not (RESULTS_DIR / "paper" / name / "vib_sweep.csv").exists():
        pytest.skip("no paper results")
    from lrc_utils.book.chapters.vib.readings import vib_sweep_summary

    sweep = committed_sweep(name)
    assert SWEEP_COLUMNS <= set(sweep.columns)
    assert set(sweep.dataset) == set(n_classes)
    counts = sweep.groupby("dataset").agg(betas=("beta", "nunique"), seeds=("seed", "nunique"))
    assert (counts.betas >= 15).all() and (counts.seeds >= 2).all(), counts
    summary = vib_sweep_summary(sweep, n_classes)
    assert summary["kl falls"].all() and summary["accuracy falls"].all(), summary
    assert summary["chance at max beta"].all(), summary


@pytest.mark.skipif(not (RESULTS_DIR / "paper" / "figure2" / "vib_sweep.csv").exists(), reason="no paper results")
def test_committed_gaussian_sweep_has_two_sharp_rank_steps():
    from lrc_utils.book.chapters.vib.readings import sharp_steps

    min_change = load_preset("figure2", "paper")["jump_min_change"]
    sweep = committed_sweep("figure2")
    for column in ("local_rank_abs", "local_rank_rel"):
        assert len(sharp_steps(sweep, column, min_change)) >= 2, column


def test_every_parameters_cell_is_written_from_its_study_schema():
    """The study's ``Params`` is the source: ``python -m lrc_utils.book.cells`` writes each notebook's cell."""
    from lrc_utils.book.cells import write_parameters_cells

    assert write_parameters_cells(check_only=True) == [], "run python -m lrc_utils.book.cells"


def test_figure1_and_theory_share_one_panel_schema():
    from lrc_utils.book.chapters.panels import PanelParams
    from lrc_utils.book.params import schema

    for name in ("figure1", "theory"):
        params = load_study(name).Params
        assert issubclass(params, PanelParams)
        assert {k: d for k, (_, d, _) in schema(params).items() if k in schema(PanelParams)} == {
            k: d for k, (_, d, _) in schema(PanelParams).items()}


def test_importing_the_figures_leaves_the_users_matplotlib_settings_alone():
    """Only a notebook's ``start`` sets the book's theme; a library user's settings survive the imports."""
    code = ("import matplotlib, importlib, pkgutil; before = dict(matplotlib.rcParams)\n"
            "import lrc_utils.book.chapters as chapters\n"
            "names = [m.name for m in pkgutil.walk_packages(chapters.__path__, 'lrc_utils.book.chapters.')]\n"
            "[importlib.import_module(n) for n in names if n.endswith(('.figures', '.readings'))]\n"
            "import lrc_utils.book.style\n"
            "print(sum(n.endswith('.figures') for n in names), dict(matplotlib.rcParams) == before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, unchanged = done.stdout.split()
    assert int(count) >= 9 and unchanged == "True"


def test_a_table_is_shown_whole_without_its_index_rounded_and_in_a_scrolling_box():
    """77 rows (more than pandas' 60 before it elides): every row is in the HTML, no index column, 3 decimals,
    folded under a line giving its size (more than FOLD_ROWS rows)."""
    import base64
    import io
    import re

    import pandas as pd

    from lrc_utils.book.notebook import table_html

    frame = pd.DataFrame({"case": [f"c{i}" for i in range(77)], "rho": [i / 7 for i in range(77)]})
    html = table_html(frame, 3)
    assert html.startswith('<details class="lrc-table-fold"><summary>The full table: 77 rows of case, rho')
    assert '<div class="lrc-table" style="overflow:auto' in html  # folded, and scrolling once opened
    assert html.count("<tr>") == 78 and "c76" in html and "10.857" in html and "10.8571" not in html
    assert "row_heading" not in html and "blank level0" not in html  # the index is hidden
    assert table_html(frame.head(30), 3).startswith('<div class="lrc-table"')  # 30 rows: shown open
    # the folded table downloads whole and unrounded, from the page itself
    html = table_html(frame, 3, name="correlations")
    link = re.search(r'<a class="lrc-table-csv" download="correlations.csv" href="data:text/csv;base64,([^"]+)"', html)
    assert link is not None and link.start() < html.index("</summary>")
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(base64.b64decode(link.group(1)))), frame)


def test_a_figure_with_text_below_8_pt_as_shown_is_refused():
    """Hand-computed: at 100 dpi a figure inch is 100 CSS px and a CSS px is 0.75 pt, so a figure point shows as
    100/72 * 0.75 = 1.0417 pt while the figure fits the 740 px column, and shrinks by 740 / (its tight width in px)
    when it is wider. Texts of an axis drawn off do not count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrc_utils.book.style import require_readable_text, smallest_text

    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=9)
    ax.set_title("title", fontsize=7.5)
    assert smallest_text(fig) == (pytest.approx(7.5 * 100 / 72 * 0.75), "title")
    with pytest.raises(ValueError, match=r"figure plot: the text 'title' would show at 7\.8 pt"):
        require_readable_text(fig, "plot")
    ax.set_title("title", fontsize=8)
    require_readable_text(fig, "plot")  # 8.3 pt: accepted
    ax.axis("off")
    ax.tick_params(labelsize=5)  # not drawn: not counted
    assert smallest_text(fig)[1] == "title"
    plt.close(fig)

    wide, ax = plt.subplots(figsize=(16, 3), dpi=100)
    ax.set_title("title", fontsize=12)
    ax.tick_params(labelsize=12)
    width_px = wide.get_tightbbox(wide.canvas.get_renderer()).width * 100
    assert width_px > 740
    assert smallest_text(wide)[0] == pytest.approx(12 * 100 / 72 * 0.75 * 740 / width_px)
    plt.close(wide)
