"""The finish cell: the summary of every step, then — for interactive runs — the record.

Headless, the runner seals the record after the kernel is gone. Interactive
(JupyterLab, plain papermill, nbval), nobody else will: finish rebuilds
``record.ipynb`` from the notebook file and the journal (so an operator who never
saves loses nothing), renders the HTML, writes the chained manifest and shows
where the record is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .views import _display, show_summary

if TYPE_CHECKING:
    from .session import Session


def finish_run(session: Session) -> None:
    """Show the summary, journal ``session_end`` and, unless headless, seal the record."""
    show_summary(session)
    statuses = {step_id: result.status for step_id, result in session.results.items()}
    if session.finished:
        return
    session.journal.write("session_end", source="kernel", statuses=statuses)
    session.finished = True
    if session.settings.mode == "headless":
        return
    manifest = seal_interactive(session)
    path = str(session.run_dir)
    _display(f'<div class="runbook-record">Record: <code>{path}</code> — status <b>{manifest["status"]}</b></div>',
             f"Record: {path} (status {manifest['status']})")


def seal_interactive(session: Session) -> dict:
    """Write record.ipynb from the notebook source and the journal, then seal and index it."""
    import nbformat

    from ..archive import index_record
    from ..journal_notebook import record_notebook
    from ..seal import seal_record
    from ..verdict import judge
    from .journal import read_journal

    events = read_journal(session.run_dir / "journal.jsonl")
    source = _source(session.notebook_path)
    nbformat.write(record_notebook(session.run_dir, events, source), session.run_dir / "record.ipynb")
    verdict = judge(events)
    steps = [{"id": s.id, "kind": s.kind, "title": s.title} for s in session.steps.values()]
    checklists = [{"id": list_id, "items": [{"id": c.id, "text": c.text} for c in items.values()]}
                  for list_id, items in session.checks.items()]
    meta = {**session.runbook, "steps": steps, "checklists": checklists}
    session.journal.close()
    manifest = seal_record(
        session.run_dir, run_id=session.run_dir.name, meta=meta, status=verdict.status, verdict=verdict,
        rollback=None, operator=session.operator, started_at=str(events[0]["at"]) if events else "",
        parameters=session.shown_parameters(), dry_run=session.settings.dry_run, masker=session.masker,
        mode=session.settings.mode,
    )
    index_record(session.run_dir.parent.parent, session.run_dir, manifest)
    return manifest


def _source(path: str | None):
    import nbformat

    if not path:
        return None
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None
