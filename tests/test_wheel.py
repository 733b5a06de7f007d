"""The wheel users get (``pip install lrc-utils``, the notebooks' install cell on Colab) holds every module of the
package; without extras it installs where only the core's requirements are, and computes a local rank without the
book's libraries; with the extra ``book`` it installs through a notebook's own install cell into a new virtual
environment (no ``-e``) and runs that notebook from outside any checkout, with the numbers of the checkout. Slow
(about a minute)."""

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from lrc_utils.book.fingerprint import stored_tables
from lrc_utils.book.paths import NOTEBOOKS_DIR, REPO_ROOT

pytestmark = pytest.mark.slow
#: A quick notebook with figures, tables and a training run.
NOTEBOOK = "mi_estimators"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the working tree's sources (an in-tree build would leave build/ behind),
    without build isolation: with the locked setuptools, offline."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for item in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / item, source / item)
    shutil.copytree(REPO_ROOT / "lrc_utils", source / "lrc_utils", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "-w", str(root / "dist"), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (built,) = (root / "dist").glob("lrc_utils-*.whl")
    return built


def test_the_wheel_holds_every_module_of_the_package(wheel):
    inside = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "lrc_utils").rglob("*.py")}
    assert modules - inside == set(), "modules missing from the wheel"
    assert "lrc_utils/book/chapters/figure1/study.py" in inside and "lrc_utils/book/notebook.py" in inside


def runtime_closure(name: str = "lrc-utils", extras: tuple[str, ...] = ()) -> dict[str, object]:
    """canonical name -> distribution, for every distribution that ``name`` with ``extras`` needs at run time (its
    requirements, and theirs, with the extras each asks for), ``name`` itself left out."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found, seen, todo = {}, set(), [(name, e) for e in ("", *extras)]
    while todo:
        key, extra = todo.pop()
        key = canonicalize_name(key)
        if (key, extra) in seen:
            continue
        seen.add((key, extra))
        found[key] = dist = distribution(key)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, e) for e in ("", *requirement.extras)]  # torch asks cuda-toolkit[...]
    found.pop(canonicalize_name(name))
    return found


def new_environment(folder: Path, extras: tuple[str, ...] = ()) -> Path:
    """A new virtual environment without lrc_utils whose other packages are what lrc-utils with ``extras`` declares
    it needs at run time (no test or lint tools), taken from this environment through a folder of links that a
    ``.pth`` line adds to ``sys.path`` (``.pth`` files inside it are not run). Returns its Python."""
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    # ensurepip's old setuptools would shadow the one torch needs (>= 77)
    subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], check=True,
                   capture_output=True)
    links = folder / "packages"
    links.mkdir()
    for dist in runtime_closure(extras=extras).values():
        site = Path(dist.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            if not (links / top).exists() and not top.endswith(".pth"):
                (links / top).symlink_to(site / top)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "packages-of-the-test-environment.pth").write_text(f"{links}\n")
    return python


#: What the core may not import: the book's and the cluster's libraries.
NOT_CORE = ("matplotlib", "seaborn", "yaml", "nbformat", "papermill", "ipykernel", "IPython", "jupyter_book",
            "distributed", "dask", "torchvision", "threadpoolctl", "myst_nb")

CORE_USE = """
import sys
import torch
from lrc_utils import MLP, local_rank
torch.manual_seed(0)
model = MLP([6, 4, 3, 2], init="normal")
w = model.layers[0].weight.detach().double()
x = torch.randn(50, 6)
ranks = local_rank(model, x, atol=1e-6)
# layer 1: the Jacobian is W1 (rank 4) for every input; layer 2: W2 diag(active) W1, counted per input by hand
active = (model.layers[0](x) > 0).double()
by_hand = [float(torch.linalg.matrix_rank(model.layers[1].weight.detach().double() * a @ w, atol=1e-6)) for a in active]
assert abs(float(ranks[0]) - 4.0) < 1e-12 and abs(float(ranks[1]) - sum(by_hand) / len(by_hand)) < 1e-12, ranks
import importlib, pkgutil, lrc_utils
core = [m.name for m in pkgutil.iter_modules(lrc_utils.__path__, "lrc_utils.") if m.name != "lrc_utils.book"]
assert len(core) >= 12, core
for name in core:  # every module of the core imports without the extras
    importlib.import_module(name)
print("not core:", sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(","))))
"""


def test_the_core_installs_without_extras_and_computes_a_local_rank(wheel, tmp_path):
    """``pip install lrc-utils`` (no extras, no index) where only the core's requirements are at hand: it imports,
    computes the local rank of a small ReLU MLP equal to a count by hand, imports every module of the core, and
    imports none of the book's libraries."""
    python = new_environment(tmp_path)
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"pip install of the wheel without extras failed:\n{done.stderr[-3000:]}"
    used = subprocess.run([str(python), "-c", CORE_USE, ",".join(NOT_CORE)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert used.returncode == 0, used.stderr[-3000:]
    assert used.stdout.strip() == "not core: []", used.stdout


def test_a_notebook_installs_the_wheel_through_its_install_cell_and_runs_from_it(wheel, tmp_path, smoke_runs):
    python = new_environment(tmp_path, extras=("book",))
    where = [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('lrc_utils'))"]
    assert subprocess.run(where, capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip() == "None"

    work = tmp_path / "work"  # a reader's folder, outside any checkout
    work.mkdir()
    shutil.copy(NOTEBOOKS_DIR / f"{NOTEBOOK}.ipynb", work / f"{NOTEBOOK}.ipynb")
    # no index: every requirement of the wheel must be met by what it declares (PIP_NO_INDEX)
    env = {**os.environ, "LRC_INSTALL": f"{wheel}[book]", "LRC_OFFLINE": "1", "LRC_PROGRESS": "0",
           "PIP_NO_INDEX": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("MPLBACKEND", None)
    done = subprocess.run([str(python), "-m", "papermill", f"{NOTEBOOK}.ipynb", "out.ipynb", "-k", "python3",
                           "-f", str(NOTEBOOKS_DIR / f"{NOTEBOOK}.smoke.yaml"), "-p", "preset", "smoke",
                           "-p", "device", "cpu"], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"the notebook failed from the wheel:\n{done.stderr[-4000:]}"

    installed = subprocess.run(where, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(tmp_path / "venv") in installed, f"the install cell did not install the wheel here: {installed}"
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, f"pip check in the new environment:\n{check.stdout}{check.stderr}"
    results = work / "results"  # installed from a wheel: results/ in the working folder
    assert (results / "smoke" / NOTEBOOK / "meta.json").exists()
    from_wheel = stored_tables(NOTEBOOK, results)
    from_checkout = stored_tables(NOTEBOOK, smoke_runs(NOTEBOOK) / "results")
    for table in from_checkout:
        assert from_wheel[table].equals(from_checkout[table]), f"{table}: the wheel computes other numbers"
