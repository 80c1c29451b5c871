"""The finish cell: the summary of every step, then — for interactive runs — the record.

Headless, the runner seals the record after the kernel is gone. Interactive
(JupyterLab, plain papermill, nbval), nobody else will: finish rebuilds
``record.ipynb`` from the notebook file and the journal (so an operator who never
saves loses nothing), renders the HTML, writes the chained manifest and shows
where the record is.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .text import message
from .views import _display, show_summary

if TYPE_CHECKING:
    from .session import Session


def finish_run(session: Session) -> None:
    """Show the summary; seal the record now, or — in JupyterLab — behind a Finish button.

    In JupyterLab "Run All" reaches this cell while the operator may still want to
    run a troubleshooting command or tick the post-execution list, so sealing waits
    for an explicit click. Elsewhere (papermill, nbval, a bare kernel) nobody would
    click, so the record is sealed at once.
    """
    show_summary(session)
    if session.finished:
        _show_record(session, None)
        return
    if session.settings.mode == "headless":
        session.journal.write("session_end", source="kernel", statuses=_statuses(session))
        session.finished = True
        return
    if os.environ.get("JPY_SESSION_NAME") and not os.environ.get("RUNBOOK_AUTO_FINISH"):
        _finish_button(session)
        return
    _show_record(session, _close(session))


def _close(session: Session) -> dict:
    session.journal.write("session_end", source="kernel", statuses=_statuses(session))
    session.finished = True
    return seal_interactive(session)


def _statuses(session: Session) -> dict[str, str]:
    return {step_id: result.status for step_id, result in session.results.items()}


def _finish_button(session: Session) -> None:
    import ipywidgets as widgets
    from IPython.display import display

    button = widgets.Button(description=message(session.lang, "finish_button"), button_style="success", icon="check",
                            layout=widgets.Layout(width="auto"))
    button.add_class("runbook-finish")
    out = widgets.Output()

    def clicked(_button: object) -> None:
        if session.finished:
            return
        button.disabled = True
        with out:
            _show_record(session, _close(session))

    button.on_click(clicked)
    display(widgets.VBox([button, out]))


def _show_record(session: Session, manifest: dict | None) -> None:
    path = str(session.run_dir)
    status = manifest["status"] if manifest else "sealed"
    _display(f'<div class="runbook-record">{message(session.lang, "record")}: <code>{path}</code> — <b>{status}</b></div>',
             f"{message(session.lang, 'record')}: {path} ({status})")


def seal_interactive(session: Session) -> dict:
    """Write record.ipynb from the notebook source and the journal, then seal and index it."""
    import nbformat

    from ..archive import index_record
    from ..journal_notebook import record_notebook
    from ..recover import read_notebook
    from ..seal import seal_record
    from ..verdict import judge
    from .journal import read_journal

    events = read_journal(session.run_dir / "journal.jsonl")
    source = read_notebook(session.notebook_path)
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
