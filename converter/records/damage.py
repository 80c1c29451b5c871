"""What ``records verify`` reports beyond hashes and the chain.

* JupyterLab's checkpoint copies (``.ipynb_checkpoints/``) appear inside a record
  when its notebook is opened; they are not part of the evidence, so they are
  notes, never failures (a change to any sealed file still fails).
* A run whose journal ends with ``run_end`` but that has no manifest either lost its own
  seal (the next run or ``records reindex`` seals it: a note) or had its manifest deleted
  after sealing. When the chain names a manifest that is gone, it is the latter, and a
  problem: re-sealing it would not bring back what the chain names.
* A journal with a corrupt line is damaged evidence: an unsealed one is a
  problem, and a record sealed by recovery at a corrupt line (its manifest's
  ``failure.journal_line``) stays a problem, so the damage is never forgotten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import events as ev
from .journal import read_journal_prefix
from .layout import CHECKPOINTS, JOURNAL, MANIFEST
from .walk import GONE_BEFORE, GONE_NEWEST, Problem


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


_GONE = "the chain names a manifest that is gone (deleted after sealing?)"
_UNFINISHED = "its seal did not complete (the next run or 'runbook records reindex' seals it)"


def ended_unsealed(
    records: Path, run_dirs: list[Path], chain: list[Problem]
) -> tuple[list[Path], list[Problem], list[Problem]]:
    """(runs that ended, problems, notes) among unsealed ``run_dirs``, given the chain's
    problems: a run that journaled ``run_end`` was sealed once when the chain lost a manifest."""
    gone = any(p.message.startswith((GONE_BEFORE, GONE_NEWEST)) for p in chain)
    ended, problems, notes = [], [], []
    for run_dir in run_dirs:
        try:
            events = read_journal_prefix(run_dir / JOURNAL)[0]
        except RecordError:
            continue
        if not any(e.get("event") == ev.RUN_END for e in events):
            continue
        ended.append(run_dir)
        where = f"{run_dir.relative_to(records).as_posix()}/{MANIFEST}"
        if gone:
            problems.append(Problem(where, f"missing: the run ended and {_GONE}"))
        else:
            notes.append(Problem(where, f"missing: the run ended but {_UNFINISHED}"))
    return ended, problems, notes
