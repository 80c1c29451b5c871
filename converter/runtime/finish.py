"""The finish cell: the summary of every step, then — for interactive runs — the record.

Headless, the runner seals the record after the kernel is gone. Interactive
(JupyterLab, plain papermill, nbval), nobody else will: finish rebuilds
``record.ipynb`` from the notebook file and the journal (so an operator who never
saves loses nothing; each step cell shows the command its last run journaled, not
the file's, which an unsaved edit left behind), then seals it through the one seal path
(:func:`converter.records.seal.seal_run`) and shows where the record is.
"""

from __future__ import annotations

import html
import os

from ..records import events as ev
from ..records import layout
from ..records.evidence import Evidence
from ..records.journal import read_journal
from ..records.nbjson import notebook_file_text
from ..records.outputs import STATUS_ICONS
from ..records.rebuild import record_notebook
from ..records.recover import declared_runbook, read_notebook
from ..records.seal import Seal, seal_run
from ..records.verdict import judge_passes
from .state import RunState
from .text import message
from .views import display_bundle, show_summary


def finish_run(session: RunState) -> None:
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
        session.journal.write(ev.SESSION_END, source="kernel", statuses=_statuses(session))
        session.finished = True
        _show_record(session, None)
        return
    if os.environ.get("JPY_SESSION_NAME") and not os.environ.get("RUNBOOK_AUTO_FINISH"):
        _finish_button(session)
        return
    _show_record(session, _close(session))


def _close(session: RunState) -> dict:
    session.journal.write(ev.SESSION_END, source="kernel", statuses=_statuses(session))
    session.finished = True
    return seal_interactive(session)


def _statuses(session: RunState) -> dict[str, str]:
    return {step_id: result.status for step_id, result in session.results.items()}


def _finish_button(session: RunState) -> None:
    import ipywidgets as widgets
    from IPython.display import display

    button = widgets.Button(
        description=message(session.lang, "finish_button"),
        button_style="success",
        icon="check",
        layout=widgets.Layout(width="auto"),
    )
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


def _show_record(session: RunState, manifest: dict | None) -> None:
    """Where the record is and its verdict: status, and where and why a run stopped."""
    path = str(session.run_dir)
    word = message(session.lang, "record_verdict")
    if manifest is None:  # headless: the runner seals it once the kernel is gone
        verdict = "sealed" if session.settings.mode != "headless" else "sealed by the runner"
        reason = ""
    else:
        verdict = str(manifest["status"])
        failure = manifest.get("failure") or {}
        reason = " — ".join(
            str(part) for part in (failure.get("step"), failure.get("reason")) if part
        )
        if manifest.get("rollback"):
            reason += f"{'; ' if reason else ''}rollback: {manifest['rollback'].get('status')}"
    icon = STATUS_ICONS.get(verdict, "")
    display_bundle(
        {
            "text/html": f'<div class="runbook-record runbook-{html.escape(verdict)}">'
            f"{icon} {word}: <code>{html.escape(path)}</code> — <b>{html.escape(verdict)}</b>"
            + (f" <small>({html.escape(reason)})</small>" if reason else "")
            + "</div>",
            "text/plain": f"{word}: {path} ({verdict}{': ' + reason if reason else ''})",
        }
    )


def seal_interactive(session: RunState) -> dict:
    """Write record.ipynb from the notebook source and the journal, then seal and index it.

    The procedure and a rollback the operator started are judged apart (the manifest's
    ``status``/``failure`` and its ``rollback``), as the runner seals its two passes.
    """
    run_dir = session.run_dir
    events = read_journal(run_dir / layout.JOURNAL)
    source = read_notebook(session.notebook_path)
    # nbformat.write's text; its validation (which only logs) is left to the page's
    rebuilt = notebook_file_text(record_notebook(run_dir, events, source))
    (run_dir / layout.RECORD_NOTEBOOK).write_text(rebuilt, encoding="utf-8")
    verdict, rollback = judge_passes(events)
    facts = ev.RunFacts.from_events(events)
    attestation = Evidence.from_environ().open()  # RUNBOOK_SIGNING_KEY, RUNBOOK_WITNESS
    session.journal.close()
    return seal_run(
        Seal(
            run_dir=run_dir,
            runbook=declared_runbook(source, facts),
            status=verdict.status,
            verdict=verdict,
            rollback=rollback,
            operator=attestation.signer.principal if attestation.signer else session.operator,
            started_at=facts.started_at,
            parameters=session.shown_parameters(),
            dry_run=session.settings.dry_run,
            masker=session.masker,
            mode=session.settings.mode,
            attestation=attestation,
            resumes=facts.resumes,
        )
    )
