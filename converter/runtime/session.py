"""The top of the kernel side: ``start()`` and the :class:`Session` the generated cells call.

``start()`` (called by the generated setup cell) validates the parameters before
any step can run, opens the journal in the run's record directory and registers
the ``%%step`` magic. Everything an operator does afterwards goes through the
:class:`Session` it returns (``runbook.checklist(...)``, ``runbook.expect(...)``,
``runbook.finish()``) and is journaled as it happens.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ParameterError, RecordError
from ..parameters import (
    Resolved,
    from_declaration,
    is_secret_variable,
    resolve,
    resolve_settings,
)
from ..records import events as ev
from ..records.carry import resume_point
from ..records.evidence import Evidence
from ..records.journal import read_journal
from ..records.layout import JOURNAL
from ..records.liveness import this_writer
from ..records.mask import SecretMasker
from .checklists import show_checklist
from .errors import StopRun
from .expect import check_expected
from .finish import finish_run
from .magic import register_step_magic
from .resume import Opened, close_abandoned, open_record, restore, show_continuation, take_over
from .rollback import rollback_panel
from .state import RunState, Settings, StepInfo
from .views import show_start


class Session(RunState):
    """One run in this kernel, with the calls the generated cells make."""

    def checklist(
        self,
        list_id: str,
        title: str,
        items: list,
        *,
        role: str = "info",
        step: str | None = None,
        section: str | None = None,
    ) -> None:
        """Show a checklist cell's widgets (see :mod:`converter.runtime.checklists`)."""
        show_checklist(self, list_id, title, items, role=role, step=step, section=section)

    def expect(self, step_id: str, *, match: str, text: str) -> None:
        """Check a step's output against its expected result (see :mod:`.expect`)."""
        check_expected(self, step_id, match=match, text=text)

    def rollback_panel(self) -> None:
        """Explain rollback mode and offer a button that starts it (see :mod:`.rollback`)."""
        rollback_panel(self)

    def finish(self) -> None:
        """Show the summary and close the run (see :mod:`.finish`)."""
        finish_run(self)


def start(
    namespace: dict[str, Any],
    *,
    runbook: dict,
    parameters: list[dict],
    steps: list,
    timeout: float | None,
) -> Session:
    """Validate parameters, open the journal and register ``%%step``; nothing runs on failure.

    The record is a new one, the runner's (``run_dir``), or the one this kernel
    continues (:mod:`.resume`: ``runbook resume``, a restarted JupyterLab kernel).
    """
    try:
        settings = Settings.from_values(resolve_settings(namespace), timeout)
        settings.operator = _signed_operator(settings)
        resolved = resolve(tuple(from_declaration(d) for d in parameters), namespace)
        existing = _resumable(namespace.get("runbook"), runbook, settings, resolved.values)
        if existing is not None:
            return _resume(existing, settings)
        masker = SecretMasker(resolved.secrets)
        opened = open_record(settings, runbook, resolved, masker, _notebook_path())
        session = _session(runbook, resolved, steps, settings, opened, masker)
        if opened.continued:  # a restarted kernel: the same operator session goes on
            close_abandoned(session, read_journal(opened.run_dir / JOURNAL))
            restore(session, resume_point(opened.run_dir), carried=False)
        else:
            _journal_start(session, opened)
            if settings.rollback and settings.run_dir:  # rollback pass: the procedure's state
                restore(session, resume_point(opened.run_dir), carried=False)
                session.results.clear()  # its steps are the procedure pass's, not this pass's
            elif opened.resumes is not None:  # runbook resume
                take_over(session, opened.resumes)
        session.prior_checks = _prior_checks(opened.run_dir)
    except (ParameterError, RecordError) as exc:
        raise StopRun(str(exc)) from None
    register_step_magic(session)
    if settings.mode == "headless":
        _quiet_shutdown_interrupt()
    show_start(session)
    show_continuation(session)
    return session


def _signed_operator(settings: Settings) -> str:
    """Who runs this: with a signing key (``RUNBOOK_SIGNING_KEY``), its principal, as
    ``runbook run`` has it and as the sealed record will name them.

    The kernel compares approvers with this name: the ``operator`` setting alone let an
    approver run (and seal, as themselves) the run they approved. Headless, the runner
    already passed the principal. A key that cannot sign stops the run here, before any
    step, as ``runbook run`` refuses it.
    """
    if settings.mode == "headless":
        return settings.operator
    signer = Evidence.from_environ().open().signer
    return signer.principal if signer is not None else settings.operator


class _ShutdownInterrupt(logging.Filter):
    """Drops ipykernel's "KeyboardInterrupt caught in kernel" line (see below)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("KeyboardInterrupt caught in kernel")


def _quiet_shutdown_interrupt() -> None:
    """Headless: keep ipykernel's "KeyboardInterrupt caught in kernel." off the terminal.

    papermill asks for ``kernel_info`` after the last cell, and jupyter_client interrupts a
    kernel (SIGINT) before shutting it down; when the signal lands while the kernel is
    still finishing that request, ipykernel logs this line at ERROR level, so a run that
    succeeded could end with an error on the operator's terminal (3 of 50 here). Nothing of a
    step is lost to it: a step the runner interrupts is journaled by ``%%step`` itself.
    """
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    log = getattr(kernel, "log", None)
    if isinstance(log, logging.Logger) and not any(
        isinstance(f, _ShutdownInterrupt) for f in log.filters
    ):
        log.addFilter(_ShutdownInterrupt())


# Set in the kernel's os.environ by ipykernel (colours forced on, pagers off, matplotlib,
# the debugger) and jupyter_client (JPY_*): settings for the kernel's own output, not the
# operator's. A step forced into colour writes escape codes into its log and its checks.
_KERNEL_SETTINGS = (
    "TERM",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    "PAGER",
    "GIT_PAGER",
    "MPLBACKEND",
    "PYDEVD_USE_FRAME_EVAL",
    "JPY_PARENT_PID",
    "JPY_SESSION_NAME",
)


def _operator_environment() -> dict[str, str]:
    """The environment steps start from: the kernel's, with the settings ipykernel and
    jupyter_client made for the kernel itself put back as the kernel was started with them
    (``/proc/self/environ``, which ``os.environ`` changes do not touch), or removed.

    No ``RUNBOOK_SECRET_*`` variable: a declared secret reaches a step only as the
    parameter it feeds (:meth:`Resolved.environment`), and one of another runbook not at
    all (``env`` printed it, unmasked, into every record file)."""
    env = {name: value for name, value in os.environ.items() if not is_secret_variable(name)}
    initial: dict[str, str] = {}
    try:
        with open("/proc/self/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                name, sep, value = os.fsdecode(item).partition("=")
                if sep:
                    initial[name] = value
    except OSError:
        pass
    for name in _KERNEL_SETTINGS:
        env.pop(name, None)
        if name in initial and not name.startswith("JPY_"):
            env[name] = initial[name]
    return env


def _session(
    runbook: dict,
    resolved: Resolved,
    steps: list,
    settings: Settings,
    opened: Opened,
    masker: SecretMasker,
) -> Session:
    # Absolute: a step that cds elsewhere still finds its record directory.
    run_dir = os.path.abspath(opened.run_dir)
    env = {**_operator_environment(), **resolved.environment(), "RUNBOOK_RUN_DIR": run_dir}
    return Session(
        runbook=runbook,
        parameters=resolved,
        steps={s[0]: StepInfo(s[0], s[1], s[2], tuple(s[3])) for s in steps},
        settings=settings,
        run_dir=opened.run_dir,
        journal=opened.journal,
        masker=masker,
        env=env,
        cwd=os.getcwd(),
        notebook_path=_notebook_path(),
    )


def _journal_start(session: Session, opened: Opened) -> None:
    settings = session.settings
    session.journal.write(
        ev.SESSION_START,
        source="kernel",
        **this_writer(),
        runbook=session.runbook,
        mode=settings.mode,
        operator=settings.operator,
        dry_run=settings.dry_run,
        rollback=settings.rollback,
        parameters=session.shown_parameters(),
        steps=[{"id": s.id, "kind": s.kind, "title": s.title} for s in session.steps.values()],
        notebook=session.notebook_path,
        cwd=session.cwd,
        resumes=opened.resumes.run_id if opened.resumes else None,
    )


def _resumable(
    previous: Any, runbook: dict, settings: Settings, values: dict[str, Any]
) -> Session | None:
    """The unfinished interactive session to continue when the setup cell runs again.

    "Run All" re-runs the setup cell; starting a new record each time would split
    one operation over many records and forget which steps already succeeded.
    """
    if not isinstance(previous, Session) or previous.finished or settings.mode == "headless":
        return None
    cell = previous.cell_values if previous.cell_values is not None else previous.parameters.values
    same = previous.runbook.get("id") == runbook.get("id") and cell == values
    return previous if same and previous.settings.dry_run == settings.dry_run else None


def _resume(session: Session, settings: Settings) -> Session:
    session.settings.rollback, session.settings.confirm = settings.rollback, settings.confirm
    session.settings.plan = settings.plan  # a plan id pasted into the parameters cell
    session.journal.write(
        ev.SESSION_RESUME, source="kernel", **this_writer(), rollback=settings.rollback
    )
    register_step_magic(session)
    show_start(session)
    show_continuation(session)
    return session


def _prior_checks(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Check states already journaled in this record (the rollback pass continues the run)."""
    journal = run_dir / JOURNAL
    return ev.check_states(read_journal(journal)) if journal.exists() else {}


def _notebook_path() -> str | None:
    """The notebook file this kernel runs, when known (for rebuilding the record)."""
    explicit = os.environ.get("RUNBOOK_NOTEBOOK")
    if explicit:
        return os.path.abspath(explicit)
    session_name = os.environ.get("JPY_SESSION_NAME")  # set by jupyter_server to the notebook path
    if session_name:
        for candidate in (Path(session_name), Path.cwd() / Path(session_name).name):
            if candidate.is_file():
                return str(candidate.resolve())
    return None
