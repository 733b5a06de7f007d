"""Each notebook's ``parameters`` cell written from its study's schema (``Params``, :mod:`lrc_utils.book.params`)::

    python -m lrc_utils.book.cells            # rewrite the cells that differ
    python -m lrc_utils.book.cells --check    # only say which differ (exit status 1 if any)
"""

from __future__ import annotations

import argparse
import json
import sys

from .chapters import load_study
from .params import parameters_cell
from .paths import NOTEBOOKS_DIR
from .runner import notebook_names


def write_parameters_cells(check_only: bool = False) -> list[str]:
    """Rewrite every notebook's ``parameters`` cell from its study's ``Params``; return the notebooks whose cell
    differed (with ``check_only``, change nothing)."""
    changed = []
    for name in notebook_names():
        path = NOTEBOOKS_DIR / f"{name}.ipynb"
        nb = json.loads(path.read_text())  # edited as JSON, so that nothing but the cell changes in the file
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        source = parameters_cell(load_study(name).Params, name)
        if "".join(cell["source"]) != source:
            changed.append(name)
            if not check_only:
                cell["source"] = source.splitlines(keepends=True)
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrc_utils.book.cells",
                                     description="Write each notebook's parameters cell from its study's Params.")
    parser.add_argument("--check", action="store_true", help="only say which cells differ")
    args = parser.parse_args(argv)
    changed = write_parameters_cells(check_only=args.check)
    print(("differ: " if args.check else "rewrote: ") + (", ".join(changed) or "none"))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
