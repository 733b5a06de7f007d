"""The package's layers, read from its source (every import, at the top of a module or inside a function): the core
never imports the book's pipeline nor the book's libraries, a study never imports another study, and no module
imports itself back through others."""

import ast
import sys
from pathlib import Path

import pytest

from lrc_utils.config import REPO_ROOT
from lrc_utils.runner import notebook_names

PACKAGE = REPO_ROOT / "lrc_utils"
#: The book's pipeline: running notebooks, storing and checking results, figures, claims, studies, Dask.
BOOK = ("lrc_utils.runner", "lrc_utils.store", "lrc_utils.notebook", "lrc_utils.fingerprint", "lrc_utils.claims",
        "lrc_utils.plots", "lrc_utils.cluster", "lrc_utils.studies")
#: What the core may import besides the standard library and itself (pyproject.toml's dependencies).
CORE_LIBRARIES = {"torch", "numpy", "scipy", "pandas", "tqdm"}
#: Modules of lrc_utils.studies that are shared helpers, not a notebook's study.
STUDY_HELPERS = ("lrc_utils.studies", "lrc_utils.studies.vib_grid")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, as absolute names (``from . import mi`` gives
    ``lrc_utils.mi``)."""
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
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {t for t in found if not t.startswith("lrc_utils") or t in modules}


GRAPH = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def is_book(module: str) -> bool:
    return any(module == b or module.startswith(b + ".") for b in BOOK)


def test_the_graph_holds_every_module():
    assert "lrc_utils.local_rank" in GRAPH and "lrc_utils.studies.figure1" in GRAPH
    assert "lrc_utils.mi" in GRAPH["lrc_utils.planes"]  # "from . import mi"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if not is_book(m)))
def test_the_core_imports_neither_the_book_nor_its_libraries(module):
    book = sorted(m for m in GRAPH[module] if m.startswith("lrc_utils") and is_book(m))
    assert not book, f"{module} (core) imports the book's {book}"
    third_party = {m.split(".")[0] for m in GRAPH[module] if not m.startswith("lrc_utils")} - set(
        sys.stdlib_module_names) - {"__future__"}
    assert third_party <= CORE_LIBRARIES, f"{module} (core) imports {sorted(third_party - CORE_LIBRARIES)}"


@pytest.mark.parametrize("study", notebook_names())
def test_a_study_imports_no_other_study(study):
    name = f"lrc_utils.studies.{study}"
    others = sorted(m for m in GRAPH[name] if m.startswith("lrc_utils.studies.") and m not in STUDY_HELPERS
                    and m != name)
    assert not others, f"{name} imports the studies {others}"


def test_no_import_cycles():
    cycles = []

    def visit(module, path):
        for target in sorted(t for t in GRAPH.get(module, ()) if t in GRAPH and t != module):
            if target in path:
                cycles.append(path[path.index(target):] + [target])
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in GRAPH:
        if module not in done:
            visit(module, [module])
    # a package's __init__ imported by its own submodules is how Python packages work, not a cycle of ideas
    real = [c for c in cycles if not all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(c, c[1:]))]
    assert not real, "import cycles: " + "; ".join(" -> ".join(c) for c in real)
