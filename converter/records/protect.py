"""What keeps a sealed record sealed, short of a signature: read-only files and inert notebooks.

* Every file of a sealed record is made read-only (mode ``0444``), so an editor,
  JupyterLab's autosave or a stray ``>`` fails instead of changing evidence.
  (Root ignores modes: the hashes in ``manifest.json`` and the chain are what
  detect a change; this only prevents the accidental ones.)
* The first code cell of a sealed record notebook (and its setup cell, folded) raise
  ``SealedRecord`` before anything else runs, so executing the record with
  papermill, nbclient or JupyterLab's "Run All" starts nothing: no step, no
  journal, no new record. The cells' outputs (the evidence) are kept; only a
  guard is put in front of their source.
* Files are rewritten through a temporary file and a rename, so a full disk or
  a kill while sealing leaves the old file, never a truncated one.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

GUARD_MARK = "# runbook: sealed record"
"""First line of the guard; a cell that starts with it is guarded already."""

_GUARD = """{mark} (evidence): executing it runs nothing
try:
    from converter.runtime.errors import SealedRecord
except ImportError:  # opened where runbook-notebooks is not installed
    SealedRecord = RuntimeError
raise SealedRecord({message})
"""


def refusal(runbook: dict[str, Any], run_id: str) -> str:
    """The one line a sealed record says when executed: which runbook to open instead."""
    source = runbook.get("source") or f"the runbook '{runbook.get('id')}'"
    return (
        f"this is the sealed record of run {run_id}; it runs nothing. "
        f"To run the runbook again, open {source} (runbook run / runbook lab)"
    )


def guard_cells(nb: Any, message: str) -> None:
    """Put the refusing guard in front of the first code cell and of any setup cell."""
    code = [c for c in nb.cells if c.get("cell_type") == "code"]
    guarded = code[:1] + [
        c for c in code[1:] if (c.get("metadata", {}).get("runbook") or {}).get("role") == "setup"
    ]
    text = _GUARD.format(mark=GUARD_MARK, message=json.dumps(message, ensure_ascii=False))
    for cell in guarded:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not source.startswith(GUARD_MARK):
            cell["source"] = text + source
    # The refusal is the first thing a reader of the sealed record sees, in JupyterLab and in
    # record.html: the first guarded cell's input is never collapsed. The setup cell's stays
    # collapsed (run, it shows the refusal as its error): its source lists every step, and
    # unfolded it was 100 KB of highlighted plumbing on the page of a 2,000-step record
    # (0.11 ms of sealing per step).
    for cell in guarded[:1]:
        (cell.get("metadata", {}).get("jupyter") or {}).pop("source_hidden", None)


def make_read_only(run_dir: Path) -> None:
    """Clear every write bit on the record's files (directories stay as they are)."""
    for path in sorted(Path(run_dir).rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    prefix: str | None = None,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``data`` (text as UTF-8) through a fsynced temporary file beside
    it: readers see the old file or the new one, never a torn one.

    ``before_replace`` runs between the write and the rename (the chain's fault points).
    """
    import tempfile  # with shutil, lzma and bz2: only a seal pays for them, not `records list`

    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
