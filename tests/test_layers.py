"""The package's layers, read from its source (every import, at the top of a module or inside a function):

* the core (``lrc_utils`` outside ``lrc_utils.book``) imports nothing of the book and no library beyond
  pyproject.toml's ``dependencies``;
* the book (``lrc_utils.book``) imports no library beyond those and the extras ``[book]`` and ``[cluster]``;
* a study (``lrc_utils.book.chapters.<name>.study``) imports the core, its schema (``lrc_utils.book.params``) and
  the chapters' shared helpers only: no other pipeline module, no figure, no other chapter; no chapter's module
  imports another chapter;
* no import cycles (strongly connected components of the import graph, a submodule's import of its own parent
  package aside, which is how Python packages work).
"""

import ast
import re
import sys
from pathlib import Path

import pytest
import tomllib

from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.book.runner import notebook_names

PACKAGE = REPO_ROOT / "lrc_utils"
BOOK = "lrc_utils.book"
CHAPTERS = "lrc_utils.book.chapters"
#: What a study may import of the book's pipeline: its parameter schema (and the packages above it).
STUDY_MAY_IMPORT = ("lrc_utils.book", "lrc_utils.book.params")
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
#: Distributions whose import name differs from their name.
# ipykernel brings IPython and its inline backend (matplotlib-inline), whose figure format the book sets
IMPORT_NAMES = {"pyyaml": {"yaml"}, "ipykernel": {"ipykernel", "IPython", "matplotlib_inline"},
                "jupyter-book": {"jupyter_book"},
                "distributed": {"distributed", "dask"}}


def import_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        dist = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()
        names |= IMPORT_NAMES.get(dist, {dist.replace("-", "_")})
    return names


CORE_LIBRARIES = import_names(PYPROJECT["dependencies"])
BOOK_LIBRARIES = CORE_LIBRARIES | import_names(PYPROJECT["optional-dependencies"]["book"]
                                               + PYPROJECT["optional-dependencies"]["cluster"])


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every name ``path`` imports, anywhere in it, as absolute names: ``from . import mi`` in ``lrc_utils/planes.py``
    gives ``lrc_utils`` and ``lrc_utils.mi`` (``mi`` may be a module or a name)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # "from . import mi" names a module
    return found


def imports(path: Path) -> set[str]:
    """The modules ``path`` imports: package modules, and libraries by their full dotted names."""
    return {t for t in imported_names(path) if not t.startswith("lrc_utils") or t in MODULES}


GRAPH = {name: imports(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_of_the_package_names_a_module_that_exists(module):
    """``from .x import y`` must find ``x``, also inside a function (where no other test may execute it)."""
    names = imported_names(MODULES[module])
    missing = sorted(n for n in names if n.startswith("lrc_utils") and n not in MODULES
                     and n.rsplit(".", 1)[0] not in MODULES)
    assert not missing, f"{module} imports {missing}, which are no module of the package"


def is_book(module: str) -> bool:
    return module == BOOK or module.startswith(BOOK + ".")


def chapter_of(module: str) -> str | None:
    """The notebook whose chapter folder holds ``module``, or None (a shared helper or not a chapter)."""
    parts = module.split(".")
    if module.startswith(CHAPTERS + ".") and parts[3] in notebook_names():
        return parts[3]
    return None


def libraries(module: str) -> set[str]:
    return {m.split(".")[0] for m in GRAPH[module] if not m.startswith("lrc_utils")} - set(
        sys.stdlib_module_names) - {"__future__"}


def test_the_graph_holds_every_module():
    assert "lrc_utils.local_rank" in GRAPH and "lrc_utils.book.chapters.figure1.study" in GRAPH
    assert "lrc_utils.mi" in GRAPH["lrc_utils.planes"]  # "from . import mi"
    assert {"torch", "numpy", "scipy", "pandas", "tqdm"} <= CORE_LIBRARIES
    assert {"matplotlib", "seaborn", "papermill", "yaml", "IPython", "distributed"} <= BOOK_LIBRARIES
    assert chapter_of("lrc_utils.book.chapters.figure1.figures") == "figure1"
    assert chapter_of("lrc_utils.book.chapters.vib.grid") is None


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if not is_book(m)))
def test_the_core_imports_neither_the_book_nor_its_libraries(module):
    book = sorted(m for m in GRAPH[module] if is_book(m))
    assert not book, f"{module} (core) imports the book's {book}"
    assert libraries(module) <= CORE_LIBRARIES, f"{module} (core) imports {sorted(libraries(module) - CORE_LIBRARIES)}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if is_book(m)))
def test_the_book_imports_only_its_declared_libraries(module):
    assert libraries(module) <= BOOK_LIBRARIES, (
        f"{module} imports {sorted(libraries(module) - BOOK_LIBRARIES)}, not in pyproject.toml's dependencies, "
        f"[book] or [cluster]")


@pytest.mark.parametrize("name", notebook_names())
def test_a_chapter_folder_holds_a_study_that_imports_the_core_and_shared_helpers_only(name):
    study = f"{CHAPTERS}.{name}.study"
    assert study in GRAPH, f"notebook {name} has no study module {study}"
    book = sorted(m for m in GRAPH[study] if is_book(m) and m not in STUDY_MAY_IMPORT
                  and not (m.startswith(CHAPTERS) and chapter_of(m) is None))
    assert not book, f"{study} imports {book}: a study computes from the core, its schema and the shared helpers"
    assert not libraries(study) - CORE_LIBRARIES, f"{study} imports {sorted(libraries(study) - CORE_LIBRARIES)}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if chapter_of(m)))
def test_a_chapter_imports_no_other_chapter(module):
    others = sorted(m for m in GRAPH[module] if chapter_of(m) not in (None, chapter_of(module)))
    assert not others, f"{module} imports other chapters' {others}: what two share goes to a shared helper"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def without_parent_imports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``graph`` less the edges from a module to a package that contains it."""
    return {m: {t for t in targets if t in graph and t != m and not m.startswith(t + ".")} for m, targets in
            graph.items()}


def test_the_cycle_search_finds_a_cycle_through_three_modules():
    toy = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p": {"p.a"}, "p.d": {"p"}}
    assert strongly_connected(without_parent_imports(toy)) == [["p.a", "p.b", "p.c"]]
    assert strongly_connected(without_parent_imports({"p": {"p.a"}, "p.a": {"p"}})) == []


def test_no_import_cycles():
    cycles = strongly_connected(without_parent_imports(GRAPH))
    assert not cycles, "import cycles among: " + "; ".join(", ".join(c) for c in cycles)
