"""A session that continues an earlier one: ``runbook resume``, a rollback pass, a kernel restart.

Three ways a kernel starts from what a journal already says happened:

* ``runbook resume`` (setting ``resume_from``: the earlier record): a new record
  that journals every earlier success as ``step_carried`` and every tick as
  ``check_carried`` (facts of the earlier run: its ``by`` and ``at``), restores
  the exported variables and the working directory, and runs from the first step
  that did not succeed;
* the rollback pass of ``--rollback-on-failure``: the same record; the rollback
  steps start from the shell state the procedure's successes left;
* JupyterLab, kernel restarted: the new kernel finds the unsealed record of the
  same notebook, operator and parameters whose kernel is gone and continues it
  (``session_resume`` with its pid, journaled under the recovery lock so
  ``records list`` does not seal it meanwhile), instead of opening another record.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecordError
from ..parameters import Resolved
from ..records import events as ev
from ..records.carry import (
    ResumePoint,
    continuable,
    journal_carried,
    recovery_paused,
    resume_point,
)
from ..records.chain import check_chain
from ..records.evidence import Evidence
from ..records.journal import Journal
from ..records.layout import JOURNAL
from ..records.liveness import this_writer
from ..records.manifest import create_record_dir
from ..records.mask import SecretMasker
from .state import RunState, Settings, StepResult
from .text import message
from .views import display_bundle


@dataclass(frozen=True)
class Opened:
    """The record a starting kernel writes into, and how it came to it."""

    run_dir: Path
    journal: Journal
    continued: bool
    """A JupyterLab session the new kernel continues (its ``session_resume`` is journaled)."""
    resumes: ResumePoint | None
    """Where the run ``runbook resume`` continues stood."""


def open_record(
    settings: Settings,
    runbook: dict[str, Any],
    resolved: Resolved,
    masker: SecretMasker,
    notebook: str | None,
) -> Opened:
    """The run directory given by the runner, the session to continue, or a new record."""
    resumes = None
    if settings.resume_from:
        earlier = Path(settings.resume_from)
        if not (earlier / JOURNAL).is_file():
            raise RecordError(f"the run to resume has no journal: {earlier}")
        resumes = resume_point(earlier)
    if settings.run_dir:
        path = Path(settings.run_dir)
        if not path.is_dir():
            raise RecordError(f"run directory {path} does not exist")
        return Opened(path, Journal(path / JOURNAL, masker=masker), False, resumes)
    records = Path(settings.records_dir)
    if notebook and settings.mode == "interactive" and records.is_dir():
        match = {
            "notebook": notebook,
            "operator": settings.operator,
            "dry_run": settings.dry_run,
            "parameters": resolved.shown(),
        }
        with recovery_paused(records):
            found = continuable(records, str(runbook.get("id", "runbook")), match)
            if found is not None:
                journal = Journal(found / JOURNAL, masker=masker)
                journal.write(
                    ev.SESSION_RESUME,
                    source="kernel",
                    **this_writer(),
                    rollback=settings.rollback,
                    reason="kernel restarted",
                )
                return Opened(found, journal, True, None)
    # No evidence, no execution: the key must sign, the witness take lines, the chain be whole.
    check_chain(records, Evidence.from_environ().open().witness)
    path, _run_id = create_record_dir(records, str(runbook.get("id", "runbook")))
    return Opened(path, Journal(path / JOURNAL, masker=masker), False, resumes)


def take_over(session: RunState, point: ResumePoint) -> None:
    """``runbook resume``: journal the earlier successes and ticks as this record's own facts."""
    journal_carried(session.journal, point, session.steps)
    restore(session, point, carried=True)


def restore(session: RunState, point: ResumePoint, *, carried: bool) -> None:
    """Start from the successes of ``point``: their results, exported variables and directory.

    ``carried`` marks them as done in an earlier run (a resumed run skips them
    headless); otherwise they are this run's own (a restarted kernel asks
    before running them again, as in one kernel).
    """
    env, lost = point.environment(session.parameters.secret_environment())
    cwd = point.cwd
    if cwd and not os.path.isdir(cwd):
        if carried:  # running the rest elsewhere could touch the wrong files
            raise RecordError(
                f"the directory the earlier steps left, {cwd}, is gone; "
                "recreate it or start a new run"
            )
        cwd = None  # a rollback must still run: from where this kernel started
    session.env.update(env)
    unset = point.unset()
    for name in unset:
        session.env.pop(name, None)
    session.cwd = cwd or session.cwd
    for step in point.steps.values():
        if step.id not in session.steps:
            continue
        session.results[step.id] = StepResult(
            "succeeded",
            step.exit_code,
            step.duration_s,
            step.started_at,
            reason=f"in {step.run_id}" if carried else None,
            output=step.output(session.run_dir.parent),  # its expected result is checked again
            in_run=step.run_id if carried else None,
        )
    if lost:
        print(message(session.lang, "not_restored", names=", ".join(lost)), file=sys.stderr)
    session.journal.write(
        ev.STATE_RESTORED,
        source="kernel",
        origin=point.run_id,
        cwd=session.cwd,
        exported=sorted(env),
        **({"unset": unset} if unset else {}),
        not_restored=lost,
        steps=list(point.steps),
    )


def close_abandoned(session: RunState, events: list[ev.Event]) -> None:
    """Steps the dead kernel left running did not finish: say so before anything else runs."""
    for step_id in ev.open_steps(events):
        session.journal.write(
            ev.STEP_ABANDONED,
            step=step_id,
            reason="the kernel stopped while the step was running",
        )


def show_continuation(session: RunState) -> None:
    """Tell the operator which steps already succeeded, where, and which one is next."""
    done = [s for s, r in session.results.items() if r.status == "succeeded"]
    if not done:
        return
    pending = [
        info.id
        for info in session.steps.values()
        if info.kind in ("prerequisite", "procedure") and info.id not in done
    ]
    origin = {r.in_run for r in session.results.values() if r.in_run}
    where = f" (in {', '.join(sorted(origin))})" if origin else ""
    lang = session.lang
    text = message(
        lang, "continuing", run_id=session.run_dir.name, where=where, done=", ".join(done)
    ) + (
        message(lang, "continuing_next", step=pending[0])
        if pending
        else message(lang, "continuing_done")
    )
    display_bundle(
        {
            "text/plain": text,
            "text/html": f'<div class="runbook-continuation"><b>{_escape(text)}</b></div>',
        }
    )


def _escape(text: str) -> str:
    import html

    return html.escape(text)
