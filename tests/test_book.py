"""End to end: every notebook at the smoke preset (run once per session, shared with the fingerprints), and the
book as a reader gets it: `make book` on a fresh clone, offline, with no data anywhere, every page rendered from
the committed results alone (built once per session: the ``paper_book`` fixture, which the browser test opens
too). Slow (minutes)."""

import json
import re
import subprocess

import nbformat
import pytest

from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.book.runner import notebook_names

pytestmark = pytest.mark.slow
NAMES = notebook_names()
MACHINE_PATHS = ("/tmp/", "/home/", "/root/", "/work/")


def figures_shown(nb) -> set[str]:
    """The figures a page shows: images glued by the notebook (MyST-NB) that a ``{glue:figure}`` cell places."""
    glued = {o["metadata"]["scrapbook"]["name"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if "application/papermill.record/image/png" in o.get("data", {})}
    placed = {name for c in nb.cells if c.cell_type == "markdown"
              for name in re.findall(r"```\{glue:figure\} (\w+)", c.source)}
    return glued & placed


def shown_text(nb) -> str:
    """Everything a notebook's outputs show as text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(output.get("text", ""))
            parts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            parts += output.get("traceback", [])
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


@pytest.mark.parametrize("name", NAMES)
def test_smoke_preset_runs_and_shows_its_figures(name, smoke_runs):
    """The notebook runs at the smoke preset without an error, shows every figure it saves, and shows no machine
    path (its page in the book is the paper run's; this is the same code at other parameters)."""
    root = smoke_runs(name)
    executed = nbformat.read(root / "executed" / f"{name}.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    figures = json.loads((root / "results" / "smoke" / name / "meta.json").read_text()).get("figures", [])
    assert figures and set(figures) <= figures_shown(executed), f"{name}: saved {figures}, showed fewer"
    text = shown_text(executed)
    for machine_path in (str(REPO_ROOT), str(root), *MACHINE_PATHS):
        assert machine_path not in text, f"{name}: the notebook shows a machine path ({machine_path})"


@pytest.mark.parametrize("name", NAMES)
def test_paper_book_page_renders_from_committed_results_alone(name, paper_book):
    page = (paper_book / "_build" / "html" / "executed" / f"{name}.html").read_text()
    assert "Traceback" not in page, f"{name}: the rendered page shows a traceback"
    for machine_path in (str(REPO_ROOT), str(paper_book), *MACHINE_PATHS):
        assert machine_path not in page, f"{name}: the page shows a machine path ({machine_path})"
    nb = nbformat.read(paper_book / "executed" / f"{name}.ipynb", as_version=4)
    shown = figures_shown(nb)
    figures = json.loads((REPO_ROOT / "results" / "paper" / name / "meta.json").read_text()).get("figures", [])
    assert figures and set(figures) <= shown, f"{name}: saved {figures} but displayed {sorted(shown)}"
    images = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"', page)
    assert len(images) >= len(shown), f"{name}: {len(shown)} figures in the notebook, {len(images)} in the HTML"
    for src in images:
        assert (paper_book / "_build" / "html" / "executed" / src).resolve().exists(), f"{name}: missing {src}"


def test_make_book_on_a_fresh_clone_wrote_nothing_into_the_data_folder_or_the_clone(paper_book):
    """The fixture's `make book` ran offline with an empty data folder: no notebook touched data, and the committed
    results are unchanged (compared with the working tree's, which were copied into the clone)."""
    assert not list((paper_book / "no-data").iterdir()), "something was written into the data folder"
    for name in NAMES:
        assert (paper_book / "_build" / "html" / "executed" / f"{name}.html").exists(), name
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "results"],
                            cwd=paper_book, capture_output=True, text=True, check=True).stdout
    changed = [line for line in status.splitlines()
               if not (REPO_ROOT / line[3:]).exists() or (REPO_ROOT / line[3:]).read_bytes()
               != (paper_book / line[3:]).read_bytes()]
    assert not changed, f"make book changed committed results: {changed}"



@pytest.mark.parametrize("name", NAMES)
def test_every_number_glued_into_the_prose_is_computed_by_the_page(name, paper_book):
    """Each ``{glue:...}`name``` of the notebook's Markdown is glued by its code in the executed page, and the rendered
    page shows no unresolved glue role."""
    source = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    used = {m for c in source.cells if c.cell_type == "markdown"
            for m in re.findall(r"\{glue(?::\w+)?\}`([A-Za-z0-9_]+)", c.source)}
    executed = nbformat.read(paper_book / "executed" / f"{name}.ipynb", as_version=4)
    glued = {o.get("metadata", {}).get("scrapbook", {}).get("name") for c in executed.cells if c.cell_type == "code"
             for o in c.outputs}
    assert used <= glued, f"{name}: glued nowhere: {sorted(used - glued)}"
    page = (paper_book / "_build" / "html" / "executed" / f"{name}.html").read_text()
    assert "{glue" not in page, f"{name}: an unresolved glue role is shown"
