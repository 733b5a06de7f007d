"""Write ``requirements.lock``: every package of the project's environment at an exact version.

    python tools/lock.py            # or: make lock

Resolves ``pyproject.toml``'s ranges (``.[book,cluster,dev]``) in a throw-away virtual environment with this
machine's pip (its index and its constraint file, if it has one: the lock must install where it was made),
then records what pip installed (``pip freeze --all``, less pip itself and the project). Packages that only
exist on Linux x86_64 (torch's CUDA libraries and triton) get an environment marker, so the lock also installs
elsewhere, where the exact checks then skip (see ``lrc_utils.book.fingerprint``). ``environment.yml`` is rewritten
with the same versions, so that conda users get what the lock pins.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
ENVIRONMENT_YML = ROOT / "environment.yml"
#: Distributions that exist only for Linux x86_64 wheels of torch (CUDA libraries, triton).
LINUX_X86_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)", re.IGNORECASE)
LINUX_X86_MARKER = 'sys_platform == "linux" and platform_machine == "x86_64"'
#: Written by pip freeze but not part of the environment's contents.
LEFT_OUT = {"pip", "lrc-utils"}
#: The extras the lock installs with the core: the book, Dask clusters, the tests.
LOCKED_EXTRAS = "book,cluster,dev"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze() -> list[str]:
    """``name==version`` of every distribution that installing ``.[book,cluster,dev]`` into a new environment
    gives."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"  # a copy: building in the checkout would leave build/ behind
        source.mkdir()
        for item in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / item, source / item)
        shutil.copytree(ROOT / "lrc_utils", source / "lrc_utils", ignore=shutil.ignore_patterns("__pycache__"))
        venv.create(Path(tmp) / "venv", with_pip=True)
        python = str(Path(tmp) / "venv" / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "--quiet", f"{source}[{LOCKED_EXTRAS}]"], check=True)
        out = subprocess.run([python, "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True)
    lines = []
    for line in out.stdout.splitlines():
        name = re.split(r"[=@ ]", line, maxsplit=1)[0]
        if canonical(name) in LEFT_OUT:
            continue
        if "==" not in line:
            raise SystemExit(f"pip freeze gave {line!r}, not name==version: a package did not come from an index")
        lines.append(f"{line} ; {LINUX_X86_MARKER}" if LINUX_X86_ONLY.match(canonical(name)) else line)
    return sorted(lines, key=lambda s: canonical(s.split("==")[0]))


def pins(lines: list[str]) -> dict[str, str]:
    """canonical name -> exact version, from the lock's lines."""
    return {canonical(line.split("==")[0]): line.split("==")[1].split(";")[0].strip() for line in lines
            if "==" in line and not line.startswith("#")}


def rewrite_environment_yml(versions: dict[str, str]) -> None:
    """Write environment.yml: this Python's minor version, and pyproject's dependencies with its extras book and
    cluster, at the lock's versions."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for e in ("book", "cluster") for d in project["optional-dependencies"][e]]
    names = [re.match(r"[A-Za-z0-9_.\-]+", d).group() for d in deps]
    pins = "\n".join(f"      - {name}=={versions[canonical(name)]}" for name in names)
    python = ".".join(platform.python_version_tuple()[:2])
    ENVIRONMENT_YML.write_text(f"""\
# The project's environment for conda and Binder users: pyproject.toml's dependencies and extras book and
# cluster at the versions of requirements.lock, written with it by `make lock` (tests/test_environment.py checks
# that the three agree); `-e .` installs lrc_utils itself.
name: lrc
channels:
  - conda-forge
dependencies:
  - python={python}
  - pip
  - pip:
      # CPU builds of torch and torchvision keep Binder images small; remove this line for CUDA builds.
      - --extra-index-url https://download.pytorch.org/whl/cpu
{pins}
      - -e .
""")


def main() -> int:
    lines = freeze()
    constraints = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.constraint"],
                                 capture_output=True, text=True).stdout.strip()
    header = [
        "# The project's environment at exact versions: `make setup` installs it (pip install -r requirements.lock).",
        "# Written by `make lock` (python tools/lock.py) from pyproject.toml's ranges (.[book,cluster,dev]);",
        "# do not edit by hand.",
        f"# Resolved on {platform.system()} {platform.machine()}, Python {platform.python_version()}"
        + (f", under the machine's pip constraints ({constraints})" if constraints else "") + ".",
        "# Packages marked linux/x86_64 are torch's CUDA libraries: elsewhere pip leaves them out.",
    ]
    LOCK.write_text("\n".join(header + lines) + "\n")
    rewrite_environment_yml(pins(lines))
    print(f"wrote {LOCK.relative_to(ROOT)} ({len(lines)} packages) and pinned environment.yml to it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
