"""Finalize records whose run ended without sealing them (SIGKILL, abandoned JupyterLab run).

Such a record has a journal but no manifest. Once no process that wrote it is
alive, it is sealed as ``interrupted`` with everything the journal shows, and
enters the chain like any other record. ``records reindex`` and every new run
call this, so no evidence stays unsealed for long.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat

from .errors import RecordError
from .record import MANIFEST
from .runtime.journal import read_journal
from .runtime.mask import SecretMasker
from .verdict import judge


def unsealed_records(records: Path) -> list[Path]:
    """Record directories with a journal but no manifest."""
    return sorted(p.parent for p in records.glob("*/*/journal.jsonl") if not (p.parent / MANIFEST).exists())


def finalize_abandoned(records: Path) -> list[Path]:
    """Seal every unsealed record whose writers are gone; returns the sealed directories."""
    sealed = []
    for run_dir in unsealed_records(records):
        try:
            events = read_journal(run_dir / "journal.jsonl")
        except RecordError:
            continue  # a corrupt journal is for `verify` to report, not for us to paper over
        if not events or _writer_alive(events):
            continue  # still running, or created this instant and not yet journaled
        try:
            finalize_interrupted(records, run_dir, events)
        except RecordError:
            continue  # another process sealed it first
        sealed.append(run_dir)
    return sealed


def finalize_interrupted(records: Path, run_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Seal one abandoned record and index it.

    A run that stopped at a failed or blocked step (plain papermill stops there and
    nobody runs the finish cell) keeps that verdict; anything else — a kill
    mid-step, an operator who walked away — is ``interrupted``.
    """
    from .archive import index_record
    from .journal_notebook import record_notebook
    from .seal import seal_record

    start = next((e for e in events if e.get("event") == "session_start"), {})
    run_start = next((e for e in events if e.get("event") == "run_start"), {})
    runbook = dict(start.get("runbook") or {"id": run_dir.parent.name, "title": run_dir.parent.name})
    meta = {**runbook, "steps": start.get("steps", []), "checklists": []}
    record = run_dir / "record.ipynb"
    if not _readable(record):
        if record.exists():
            record.rename(run_dir / "record.partial.ipynb")
        source = _source_notebook(start.get("notebook"))
        nbformat.write(record_notebook(run_dir, events, source), record)
    verdict = judge(events)
    if verdict.status not in ("failed", "blocked") or verdict.failed_step is None or _cut_off(events):
        verdict = judge(events, interrupted=True)  # killed mid-way: what it shows, as interrupted
    manifest = seal_record(
        run_dir, run_id=run_dir.name, meta=meta, status=verdict.status, verdict=verdict, rollback=None,
        operator=str(run_start.get("operator") or start.get("operator") or ""),
        started_at=str(events[0].get("at")) if events else "", parameters=start.get("parameters") or run_start.get("parameters") or {},
        dry_run=bool(start.get("dry_run") or run_start.get("dry_run")), masker=SecretMasker([]),
        mode=str(start.get("mode") or "headless"),
    )
    index_record(records, run_dir, manifest)
    return manifest


def _cut_off(events: list[dict[str, Any]]) -> bool:
    """Whether a step started and never ended (the writer died mid-step)."""
    running: set[str] = set()
    for event in events:
        if event.get("event") == "step_start":
            running.add(event.get("step"))
        elif event.get("event") == "step_end":
            running.discard(event.get("step"))
    return bool(running)


def _writer_alive(events: list[dict[str, Any]]) -> bool:
    pids = {e.get("pid") for e in events if e.get("event") in ("run_start", "session_start") and e.get("pid")}
    for pid in pids:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            return True
        return True
    return False


def _readable(path: Path) -> bool:
    try:
        nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a partial save can be broken in any way
        return False
    return True


def _source_notebook(path: str | None) -> nbformat.NotebookNode | None:
    if not path or not Path(path).is_file():
        return None
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return None
