"""A study's parameters as one typed schema: a dataclass whose fields carry their type, default, help and bounds.

Each chapter's study declares ``Params``, a subclass of :class:`RunParams` (the six parameters that say where and
how to run, the same for every notebook). The schema is the source: the notebook's ``parameters`` cell is written
from it (``python -m lrc_utils.book.cells`` rewrites every cell; a test checks that each cell is what it writes),
its presets are checked against it before any notebook runs, and a study can be called from Python::

    from lrc_utils.book.chapters.figure1 import study
    tables = study.compute(study.Params(seeds=[0], gauss_steps=2000, mnist_steps=2000))

Building a ``Params`` checks every value before any work: names, types (:func:`check_values`), bounds (``low``,
``high``, ``choices`` of :func:`param`; every float must be finite), then the study's own rules (``check``).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from dataclasses import MISSING, Field, dataclass, field, fields

#: A preset's name: it names a folder under the results root, so it may not hold a path.
PRESET_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
#: The types a parameter may have (papermill passes JSON-like values).
TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}


class PresetError(ValueError):
    """An unknown notebook, preset or parameter name, or a parameter of the wrong type or out of its bounds."""


def param(default, help: str, *, low: float | None = None, high: float | None = None,
          choices: tuple | None = None, added: bool = False) -> Field:
    """A parameter's field: its ``default`` (lists and dicts copied for every instance), one line of ``help``,
    and optional inclusive bounds ``low``/``high`` (numbers) or ``choices`` (allowed values).

    ``added=True`` marks a parameter added after tables were stored whose ``default`` computes what the code
    computed before it existed: a table stored without it counts as computed with its default
    (:func:`added_defaults`, :class:`lrc_utils.book.store.ResultStore`), and with any other value as not
    stored."""
    metadata = {"help": help, "low": low, "high": high, "choices": choices, "added": added}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def schema(cls: type) -> dict[str, tuple[type, object, Field]]:
    """name -> (type, default, field) of a parameter dataclass, in the order of its fields."""
    out = {}
    for f in fields(cls):
        kind = TYPES[f.type] if isinstance(f.type, str) else f.type
        default = f.default if f.default is not MISSING else f.default_factory()
        out[f.name] = (kind, default, f)
    return out


def added_defaults(cls: type) -> dict[str, object]:
    """name -> default of the parameters of ``cls`` declared with ``param(..., added=True)``."""
    return {name: default for name, (_, default, f) in schema(cls).items() if f.metadata.get("added")}


def type_error(key: str, value: object, expected: type) -> str | None:
    """Why ``value`` is not of the ``expected`` type (an int passes for a float, a bool for nothing but a bool)."""
    if expected is bool or isinstance(value, bool):
        ok = isinstance(value, bool) and expected is bool
    elif expected is float:
        ok = isinstance(value, (int, float))
    else:
        ok = isinstance(value, expected)
    if ok:
        return None
    hint = " (papermill reads YAML 1.1: write 1.0e-3, not 1e-3)" if isinstance(value, str) and expected in (
        int, float) else ""
    return f"{key} = {value!r} is a {type(value).__name__}, expected {expected.__name__}{hint}"


def check_parameters(values: dict[str, object], declared: dict[str, type], where: str) -> None:
    """Raise :class:`PresetError` if ``values`` has a name not in ``declared`` (with the closest valid names)
    or a value of another type. ``where`` says whose values these are, for the message."""
    errors = []
    for key in sorted(set(values) - set(declared)):
        close = difflib.get_close_matches(key, list(declared), n=2)
        errors.append(f"unknown parameter {key!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)"
                                                       if close else ""))
    errors += [e for k, v in values.items() if k in declared and (e := type_error(k, v, declared[k]))]
    if errors:
        raise PresetError(f"{where}: " + "; ".join(errors) + f". Valid parameters: {', '.join(sorted(declared))}")


#: Sizes a parameter may not exceed unless its field declares its own ``high``: by the end of its name (the first
#: match wins), the largest count of that kind this package accepts, so that a typo (three zeros too many) stops
#: before any work instead of filling the memory. Steps and epochs cost time, not memory; the others set the
#: size of arrays and of grids of runs (a width of 10^4 is a 10^4 x 10^4 float32 matrix, 0.4 GB).
SIZE_CAPS = (("steps", 10**9), ("epochs", 10**7), ("width", 10**4), ("widths", 10**4), ("_dim", 10**4),
             ("batch_size", 10**6), ("max", 10**6), ("", 10**6))
#: The longest list a parameter may hold (a list is a grid axis or a set of settings).
LIST_CAP = 10**4


def _counts(f: Field) -> bool:
    """Whether field ``f`` holds counts (an int, or a list whose default holds ints only), not real numbers."""
    default = f.default if f.default is not MISSING else f.default_factory()
    if isinstance(default, list):
        return bool(default) and all(isinstance(v, int) and not isinstance(v, bool) for v in default)
    return isinstance(default, int) and not isinstance(default, bool)


def size_cap(key: str) -> int:
    """The largest value :data:`SIZE_CAPS` allows for the integer parameter ``key``."""
    return next(cap for end, cap in SIZE_CAPS if key.split("[")[0].endswith(end))


def bound_error(key: str, value: object, f: Field) -> str | None:
    """Why ``value`` is outside the bounds of field ``f`` (floats must be finite; integers and lists within the
    size caps, :data:`SIZE_CAPS` and :data:`LIST_CAP`, unless the field has its own ``high``), or None."""
    low, high, choices = f.metadata.get("low"), f.metadata.get("high"), f.metadata.get("choices")
    if isinstance(value, list):  # bounds of a list apply to each of its numbers
        if len(value) > LIST_CAP:
            return f"{key} holds {len(value):,} values, more than the {LIST_CAP:,} this package accepts for a list"
        return next((e for i, v in enumerate(value) if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and (e := bound_error(f"{key}[{i}]", v, f))), None)
    if high is None and isinstance(value, int) and not isinstance(value, bool) and "seed" not in key and _counts(f):
        cap = size_cap(key)
        if value > cap:
            return (f"{key} = {value:,} is above {cap:,}, the largest size this package accepts for it (the arrays "
                    "or runs it sets would not fit in memory, or it is a typo)")
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key} = {value!r} is not a finite number"
    if choices is not None and value not in choices:
        return f"{key} = {value!r} is not one of {list(choices)}"
    if low is not None and value < low:
        return f"{key} = {value!r} is below its lower bound {low}"
    if high is not None and value > high:
        return f"{key} = {value!r} is above its upper bound {high}"
    return None


def check_values(cls: type, values: dict[str, object], where: str) -> None:
    """Names and types (:func:`check_parameters`), then bounds (:func:`bound_error`) of ``values`` against the
    parameter dataclass ``cls``; raises :class:`PresetError` naming every problem."""
    declared = schema(cls)
    check_parameters(values, {k: kind for k, (kind, _, _) in declared.items()}, where)
    errors = [e for k, v in values.items() if (e := bound_error(k, v, declared[k][2]))]
    if errors:
        raise PresetError(f"{where}: " + "; ".join(errors))


@dataclass(kw_only=True)
class RunParams:
    """Where and how a study runs: the parameters every notebook declares first. They say nothing of what is
    computed, so they are not compared when deciding whether stored results still match, and they do not name a
    study's runs (:data:`lrc_utils.book.chapters.RUN_PARAMETERS`)."""

    preset: str = param("custom", "preset name; results go to results/<preset>/<notebook>/")
    results_dir: str = param("", "results root folder; empty: results/ of the repository (installed: of the "
                                 "working folder)")
    recompute: str = param("auto", '"auto": reuse stored; "always": from scratch; "never": only load; '
                                   '"reuse_stale": old code too')
    device: str = param("auto", '"auto" (CUDA when available), "cpu" or "cuda"')
    data_dir: str = param("", "data folder; empty: $LRC_DATA_DIR, else ~/.cache/lrc/data")
    cluster: str = param("", 'where runs are computed: empty, here one by one; "local:4", 4 local Dask workers; '
                             "or an address")

    def __post_init__(self) -> None:
        where = f"{type(self).__module__}.{type(self).__qualname__}"
        check_values(type(self), vars(self), where)
        if not re.fullmatch(PRESET_NAME, self.preset):
            raise PresetError(f"{where}: preset = {self.preset!r} must be a plain name (letters, digits, '_', '.', "
                              "'-'; no path): it names the folder results/<preset>/")
        self.check()

    def check(self) -> None:
        """The study's own rules beyond types and bounds (a subclass overrides it), run before any work."""


def literal(value: object) -> str:
    """``value`` as Python source, strings in double quotes (as the book's code writes them)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(map(literal, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def parameters_cell(cls: type, notebook: str) -> str:
    """The source of notebook ``notebook``'s ``parameters`` cell: one ``name: type = default  # help`` line per
    field of ``cls``."""
    lines = []
    for name, (kind, default, f) in schema(cls).items():
        text = f.metadata["help"].replace("<notebook>", notebook)
        lines.append(f"{name}: {kind.__name__} = {literal(default)}  # {text}")
    return "\n".join(lines)
