"""The top of the kernel side: ``start()`` and the :class:`Session` the generated cells call.

``start()`` (called by the generated setup cell) validates the parameters before
any step can run, opens the journal in the run's record directory and registers
the ``%%step`` magic. Everything an operator does afterwards goes through the
:class:`Session` it returns (``runbook.checklist(...)``, ``runbook.expect(...)``,
``runbook.finish()``) and is journaled as it happens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ParameterError, RecordError
from ..parameters import from_declaration, resolve, resolve_settings
from ..records import events as ev
from ..records.chain import check_chain
from ..records.evidence import Evidence
from ..records.journal import Journal, read_journal
from ..records.layout import JOURNAL
from ..records.manifest import create_record_dir
from ..records.mask import SecretMasker
from .checklists import show_checklist
from .errors import StopRun
from .expect import check_expected
from .finish import finish_run
from .magic import register_step_magic
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
    """Validate parameters, open the journal and register ``%%step``; nothing runs on failure."""
    try:
        settings = Settings.from_values(resolve_settings(namespace), timeout)
        resolved = resolve(tuple(from_declaration(d) for d in parameters), namespace)
        existing = _resumable(namespace.get("runbook"), runbook, settings, resolved.values)
        if existing is not None:
            return _resume(existing, settings)
        run_dir = _run_dir(settings, runbook)
    except (ParameterError, RecordError) as exc:
        raise StopRun(str(exc)) from None
    masker = SecretMasker(resolved.secrets)
    env = {**os.environ, **resolved.environment(), "RUNBOOK_RUN_DIR": str(run_dir)}
    session = Session(
        runbook=runbook,
        parameters=resolved,
        steps={s[0]: StepInfo(s[0], s[1], s[2], tuple(s[3])) for s in steps},
        settings=settings,
        run_dir=run_dir,
        journal=Journal(run_dir / JOURNAL, masker=masker),
        masker=masker,
        env=env,
        cwd=os.getcwd(),
        notebook_path=_notebook_path(),
        prior_checks=_prior_checks(run_dir),
    )
    session.journal.write(
        ev.SESSION_START,
        source="kernel",
        pid=os.getpid(),
        runbook=runbook,
        mode=settings.mode,
        operator=settings.operator,
        dry_run=settings.dry_run,
        rollback=settings.rollback,
        parameters=session.shown_parameters(),
        steps=[{"id": s.id, "kind": s.kind, "title": s.title} for s in session.steps.values()],
        notebook=session.notebook_path,
    )
    register_step_magic(session)
    show_start(session)
    return session


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
    session.journal.write(
        ev.SESSION_RESUME, source="kernel", pid=os.getpid(), rollback=settings.rollback
    )
    register_step_magic(session)
    show_start(session)
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


def _run_dir(settings: Settings, runbook: dict[str, Any]) -> Path:
    if settings.run_dir:
        path = Path(settings.run_dir)
        if not path.is_dir():
            raise RecordError(f"run directory {path} does not exist")
        return path
    # No evidence, no execution: the key must sign, the witness take lines, the chain be whole.
    check_chain(Path(settings.records_dir), Evidence.from_environ().open().witness)
    path, _run_id = create_record_dir(Path(settings.records_dir), str(runbook.get("id", "runbook")))
    return path
