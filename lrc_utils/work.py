"""Work files: checkpoints and finished runs, checksummed, stamped with the code that wrote them, and refused when
damaged or written for another run (:class:`Checkpoint`, :func:`save_work`, :func:`load_work`, :func:`work_code`)."""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .optim import FitConfig, FlatAdamW


def digest(value: object) -> str:
    """A short, stable digest of a JSON-able value (dict keys sorted)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``: never half a file
    at ``path``. The file gets the mode a new file gets under the process's umask (``mkstemp`` would leave it 0600,
    unreadable by a group sharing the results) and reaches the disk (fsync) before the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------------
# work files: checkpoints and finished runs, checksummed and stamped with the code that wrote them

#: The first bytes of a work file; the SHA-256 of the rest (hex) follows on the same line.
WORK_MAGIC = b"lrc-work-v1 sha256="


class DamagedWork(ValueError):
    """A checkpoint or run file whose bytes are not what was written (or that this package did not write)."""


class StaleWork(RuntimeError):
    """A checkpoint or run file written by other code than the code now computing (see :func:`work_code`)."""


_WORK_CODE: contextvars.ContextVar[tuple[str | None, bool]] = contextvars.ContextVar("lrc_work_code",
                                                                                      default=(None, False))


@contextmanager
def work_code(digest: str | None, reuse_stale: bool = False) -> Iterator[None]:
    """Within the block, checkpoints and finished-run files are stamped with ``digest`` (a digest of the code that
    computes them, e.g. :func:`lrc_utils.book.store.code_digest` of a study), and one stamped with another digest is
    refused with :class:`StaleWork` when it is loaded, unless ``reuse_stale``. Work written while ``reuse_stale``
    is on may continue work of other code, so it is stamped as such (never equal to ``digest``): a later block
    without ``reuse_stale`` refuses it too. Outside any block no digest is written or compared (a library user's
    own runs)."""
    token = _WORK_CODE.set((digest, reuse_stale))
    try:
        yield
    finally:
        _WORK_CODE.reset(token)


def current_work_code() -> tuple[str | None, bool]:
    """(digest, reuse_stale) of the innermost :func:`work_code` block; ``(None, False)`` outside any."""
    return _WORK_CODE.get()


def is_stale(stored_code: str | None) -> bool:
    """Whether work stamped ``stored_code`` was written by other code than the current :func:`work_code`."""
    digest, _ = _WORK_CODE.get()
    return digest is not None and stored_code != digest


def save_work(obj: dict, path: Path) -> None:
    """Write ``obj`` (tensors and plain values) to ``path`` atomically, stamped with the current :func:`work_code`
    digest (key ``code``), behind a header holding the SHA-256 of the payload."""
    digest, reuse_stale = _WORK_CODE.get()
    stamp = f"{digest} (written with reuse of stale work)" if digest is not None and reuse_stale else digest
    buffer = io.BytesIO()
    torch.save({**obj, "code": stamp}, buffer)
    payload = buffer.getvalue()
    data = WORK_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def load_work(path: Path, map_location=None) -> dict:
    """What :func:`save_work` wrote to ``path``, after checking its SHA-256 (:class:`DamagedWork` if the bytes
    differ) and reading it with ``torch.load(weights_only=True)`` (tensors and plain values only: a file carrying
    any other pickled object is refused and nothing of it runs). A file written before work files had a header
    (plain values, no checksum) is read with code ``None``: stale wherever a :func:`work_code` digest is compared,
    so it is resumed only when its reuse is asked."""
    data = Path(path).read_bytes()
    if not data.startswith(WORK_MAGIC):  # written before work files had a header: no checksum, no code digest
        try:
            legacy = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
        except Exception:  # noqa: BLE001 - not a torch file of plain values either
            legacy = None
        if isinstance(legacy, dict):
            return {**legacy, "code": None}  # of unknown code: stale wherever a digest is compared
        raise DamagedWork(f"{path} has no checksum header and is not a file of tensors and plain values: it was "
                          "not loaded. Delete it, or rerun with recompute = 'always' (runner: --recompute), to "
                          "compute that work again.")
    header, _, payload = data.partition(b"\n")
    recorded, actual = header[len(WORK_MAGIC):].decode(errors="replace"), hashlib.sha256(payload).hexdigest()
    if actual != recorded:
        raise DamagedWork(f"{path} is not the file that was written: its SHA-256 is {actual[:16]}..., its header "
                          f"records {recorded[:16]}... (cut, edited or corrupted). Delete it, or rerun with recompute "
                          "= 'always' (runner: --recompute), to compute that work again.")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError (or RuntimeError) for disallowed globals
        raise DamagedWork(f"{path} holds objects other than tensors and plain values; it was not loaded. Delete it, "
                          f"or rerun with recompute = 'always' (runner: --recompute), to start over. ({err})") from err


class Checkpoint:
    """Resumable state of one training run: ``<folder>/<digest of identity>.pt``.

    ``identity`` (a JSON-able dict) says what the run computes; :func:`fit` adds its :class:`FitConfig`.
    A file whose stored identity differs from the run's is refused (``ValueError``), never reused; so is one whose
    checksum fails (:class:`DamagedWork`) or that other code wrote (:class:`StaleWork`, see :func:`work_code`).
    """

    def __init__(self, folder: str | Path, identity: dict):
        self.folder = Path(folder)
        self.identity = json.loads(json.dumps(identity, default=str))  # as it will be stored

    def for_config(self, config: FitConfig) -> Checkpoint:
        return Checkpoint(self.folder, {**self.identity, "fit": config.identity()})

    @property
    def path(self) -> Path:
        return self.folder / f"{digest(self.identity)}.pt"

    def read(self, map_location=None) -> dict | None:
        """The state saved for this run (model, optimizer and generator states, records, step), checked: refused
        when written for another run (``ValueError``), damaged (:class:`DamagedWork`) or by other code
        (:class:`StaleWork`); ``None`` without a file."""
        if not self.path.exists():
            return None
        state = load_work(self.path, map_location=map_location)
        if state.get("identity") != self.identity:
            raise ValueError(f"checkpoint {self.path} was written for another run; delete it to start over")
        if is_stale(state.get("code")) and not current_work_code()[1]:
            raise StaleWork(f"checkpoint {self.path} (step {int(state['step'])}) was written by other code (digest "
                            f"{state.get('code')}, now {current_work_code()[0]}); it was not resumed")
        return state

    def load(self, model: nn.Module, opt: torch.optim.Optimizer | FlatAdamW, gen: torch.Generator) -> tuple[dict, int]:
        """Restore ``model``, ``opt`` and ``gen``; return (records so far, step), or ({}, 0) without a file."""
        state = self.read(map_location=next(model.parameters()).device)
        if state is None:
            return {}, 0
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        return state["records"], int(state["step"])

    def save(self, model: nn.Module, opt: torch.optim.Optimizer | FlatAdamW, gen: torch.Generator, records: dict,
             step: int) -> None:
        self.write(model.state_dict(), opt.state_dict(), gen.get_state(), records, step)

    def write(self, model_state: dict, optimizer_state: dict, generator_state: torch.Tensor, records: dict,
              step: int) -> None:
        """Save the run's state at ``step`` (what :meth:`read` returns)."""
        save_work({"identity": self.identity, "model": model_state, "optimizer": optimizer_state,
                   "generator": generator_state, "records": records, "step": step}, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
