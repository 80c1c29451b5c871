"""What ``records verify`` reports beyond hashes and the chain.

* JupyterLab's checkpoint copies (``.ipynb_checkpoints/``) appear inside a record
  when its notebook is opened; they are not part of the evidence, so they are
  notes, never failures (a change to any sealed file still fails).
* A journal with a corrupt line is damaged evidence: an unsealed one is a
  problem, and a record sealed by recovery at a corrupt line (its manifest's
  ``failure.journal_line``) stays a problem, so the damage is never forgotten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import RecordError
from .journal import read_journal_prefix
from .layout import CHECKPOINTS, JOURNAL


def is_checkpoint(name: str) -> bool:
    """Whether a record-relative path lies in a JupyterLab checkpoint folder."""
    return name.startswith(f"{CHECKPOINTS}/") or f"/{CHECKPOINTS}/" in name


def checkpoint_notes(records: Path, run_dirs: list[Path]) -> list[str]:
    """``path: note`` for every checkpoint copy inside the given records."""
    notes = []
    for run_dir in run_dirs:
        for folder, _dirs, files in os.walk(run_dir):
            if Path(folder).name != CHECKPOINTS:
                continue
            for name in sorted(files):
                where = (Path(folder) / name).relative_to(records).as_posix()
                notes.append(
                    f"{where}: JupyterLab checkpoint copy, not part of the record (safe to delete)"
                )
    return notes


def sealed_damage(where: str, manifest: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(path, problem) that a record sealed at a corrupt journal line carries for ever."""
    failure = manifest.get("failure") if manifest is not None else None
    line = failure.get("journal_line") if isinstance(failure, dict) else None
    if not isinstance(line, int):
        return []
    return [(f"{where}/{JOURNAL}", f"line {line} is corrupt: the run was sealed interrupted there")]


def unsealed_damage(records: Path, run_dirs: list[Path]) -> list[str]:
    """``path:line: problem`` for every unsealed record whose journal has a corrupt line."""
    found = []
    for run_dir in run_dirs:
        try:
            damage = read_journal_prefix(run_dir / JOURNAL)[1]
        except RecordError:
            continue
        if damage is not None:
            where = (run_dir / JOURNAL).relative_to(records).as_posix()
            found.append(f"{where}:{damage[0]}: {damage[1]} (the run cannot be trusted past it)")
    return found
