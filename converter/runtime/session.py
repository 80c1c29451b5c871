"""The state of one run inside the kernel: parameters, journal, step results, checklists.

``start()`` (called by the generated setup cell) validates the parameters before
any step can run, opens the journal in the run's record directory and registers
the ``%%step`` magic. Everything an operator does afterwards goes through the
:class:`Session` it returns and is journaled as it happens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ParameterError, RecordError
from ..model import Parameter
from ..params import coerce, to_environment
from ..runparams import declaration, operator_name
from .errors import StepBlocked, StepFailed, StopRun
from .journal import Journal
from .mask import SecretMasker

SETTINGS = ("dry_run", "confirm", "operator", "runbook_mode", "rollback", "records_dir", "run_dir")


@dataclass(frozen=True)
class StepInfo:
    """What the setup cell declares about a step cell."""

    id: str
    kind: str
    title: str
    gate: tuple[str, ...]


@dataclass
class StepResult:
    """What happened to a step in this run (also what the summary shows)."""

    status: str
    exit_code: int | None = None
    duration_s: float | None = None
    started_at: str | None = None
    reason: str | None = None
    output: str = ""


@dataclass
class CheckState:
    """One checklist item: who ticked it, when, and how."""

    id: str
    text: str
    checked: bool
    by: str | None = None
    at: str | None = None
    via: str | None = None


@dataclass
class Settings:
    """Run settings from the parameters cell (or injected by papermill / runbook run)."""

    dry_run: bool = False
    confirm: frozenset[str] = frozenset()
    operator: str = ""
    mode: str = "interactive"
    rollback: bool = False
    records_dir: str = ""
    run_dir: str = ""
    timeout: float | None = None


@dataclass
class Session:
    """One run of one runbook in this kernel."""

    runbook: dict[str, Any]
    declarations: tuple[Parameter, ...]
    values: dict[str, Any]
    steps: dict[str, StepInfo]
    settings: Settings
    run_dir: Path
    journal: Journal
    masker: SecretMasker
    env: dict[str, str]
    cwd: str
    results: dict[str, StepResult] = field(default_factory=dict)
    checks: dict[str, dict[str, CheckState]] = field(default_factory=dict)
    finished: bool = False
    display_seq: int = 0
    notebook_path: str | None = None
    progress_id: str | None = None

    def new_display_id(self, prefix: str) -> str:
        """A display id unique in this kernel, so status lines update in place."""
        self.display_seq += 1
        return f"runbook-{prefix}-{os.getpid()}-{self.display_seq}"

    @property
    def lang(self) -> str:
        return str(self.runbook.get("lang", "en"))

    @property
    def operator(self) -> str:
        return self.settings.operator

    def shown_parameters(self) -> dict[str, Any]:
        """Parameter values as they may appear in a record: secrets as ``***``."""
        return {p.name: ("***" if p.secret else self.values.get(p.name)) for p in self.declarations}

    # The checklist, expect, step and finish APIs live in their own modules;
    # they are bound here so generated cells read ``runbook.checklist(...)``.
    def checklist(self, list_id: str, title: str, items: list, *, role: str = "info") -> None:
        """Show a checklist cell's widgets (see :mod:`converter.runtime.checklists`)."""
        from .checklists import show_checklist

        show_checklist(self, list_id, title, items, role=role)

    def expect(self, step_id: str, *, match: str, text: str) -> None:
        """Check a step's output against its expected result (see :mod:`.expect`)."""
        from .expect import check_expected

        check_expected(self, step_id, match=match, text=text)

    def rollback_panel(self) -> None:
        """Explain rollback mode and offer a button that starts it (see :mod:`.rollback`)."""
        from .rollback import rollback_panel

        rollback_panel(self)

    def finish(self) -> None:
        """Show the summary and close the run (see :mod:`.finish`)."""
        from .finish import finish_run

        finish_run(self)


def start(namespace: dict[str, Any], *, runbook: dict, parameters: list[dict], steps: list, timeout: float | None) -> Session:
    """Validate parameters, open the journal and register ``%%step``; nothing runs on failure."""
    try:
        settings = _settings(namespace, timeout)
        declarations = tuple(declaration(d) for d in parameters)
        values, secrets = _values(namespace, declarations)
        existing = _resumable(namespace.get("runbook"), runbook, settings, values)
        if existing is not None:
            return _resume(existing, settings)
        run_dir = _run_dir(settings, runbook)
    except (ParameterError, RecordError) as exc:
        raise StopRun(str(exc)) from None
    masker = SecretMasker(secrets)
    journal = Journal(run_dir / "journal.jsonl", masker=masker)
    env = dict(os.environ)
    env.update({p.name: to_environment(values.get(p.name)) for p in declarations})
    env["RUNBOOK_RUN_DIR"] = str(run_dir)
    session = Session(
        runbook=runbook,
        declarations=declarations,
        values=values,
        steps={s[0]: StepInfo(s[0], s[1], s[2], tuple(s[3])) for s in steps},
        settings=settings,
        run_dir=run_dir,
        journal=journal,
        masker=masker,
        env=env,
        cwd=os.getcwd(),
        notebook_path=_notebook_path(),
    )
    journal.write(
        "session_start",
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
    from .magic import register_step_magic
    from .views import show_start

    register_step_magic(session)
    show_start(session)
    return session


def _resumable(previous: Any, runbook: dict, settings: Settings, values: dict[str, Any]) -> Session | None:
    """The unfinished interactive session to continue when the setup cell runs again.

    "Run All" re-runs the setup cell; starting a new record each time would split
    one operation over many records and forget which steps already succeeded.
    """
    if not isinstance(previous, Session) or previous.finished or settings.mode == "headless":
        return None
    same = previous.runbook.get("id") == runbook.get("id") and previous.values == values
    return previous if same and previous.settings.dry_run == settings.dry_run else None


def _resume(session: Session, settings: Settings) -> Session:
    from .magic import register_step_magic
    from .views import show_start

    session.settings.rollback, session.settings.confirm = settings.rollback, settings.confirm
    session.journal.write("session_resume", source="kernel", pid=os.getpid(), rollback=settings.rollback)
    register_step_magic(session)
    show_start(session)
    return session


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


def _settings(namespace: dict[str, Any], timeout: float | None) -> Settings:
    confirm = namespace.get("confirm") or os.environ.get("RUNBOOK_CONFIRM", "")
    if isinstance(confirm, str):
        confirm = [c.strip() for c in confirm.split(",") if c.strip()]
    operator = operator_name(str(namespace.get("operator") or ""))
    cli_timeout = os.environ.get("RUNBOOK_TIMEOUT")
    return Settings(
        dry_run=bool(namespace.get("dry_run", False)),
        confirm=frozenset(str(c) for c in confirm),
        operator=operator,
        mode=str(namespace.get("runbook_mode") or os.environ.get("RUNBOOK_MODE") or "interactive"),
        rollback=bool(namespace.get("rollback", False)),
        records_dir=str(namespace.get("records_dir") or os.environ.get("RUNBOOK_RECORDS") or "records"),
        run_dir=str(namespace.get("run_dir") or os.environ.get("RUNBOOK_RUN_DIR_OVERRIDE") or ""),
        timeout=timeout if timeout is not None else (float(cli_timeout) if cli_timeout else None),
    )


def _values(namespace: dict[str, Any], declarations: tuple[Parameter, ...]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for p in declarations:
        if p.secret:
            if namespace.get(p.name) not in (None, ""):
                raise ParameterError(
                    f"parameter '{p.name}' is secret: set RUNBOOK_SECRET_{p.name.upper()} in the environment "
                    "instead of passing it as a notebook parameter"
                )
            value = os.environ.get(f"RUNBOOK_SECRET_{p.name.upper()}")
            if value:
                secrets.append(value)
        else:
            value = namespace.get(p.name, p.default)
        if value in (None, "") and p.required:
            where = f"RUNBOOK_SECRET_{p.name.upper()}" if p.secret else f"-p {p.name} VALUE"
            raise ParameterError(f"parameter '{p.name}' is required: give it with {where}")
        values[p.name] = None if value is None else coerce(p, value)
    return values, secrets


def _run_dir(settings: Settings, runbook: dict[str, Any]) -> Path:
    if settings.run_dir:
        path = Path(settings.run_dir)
        if not path.is_dir():
            raise RecordError(f"run directory {path} does not exist")
        return path
    from ..record import create_record_dir

    path, _run_id = create_record_dir(Path(settings.records_dir), str(runbook.get("id", "runbook")))
    return path


__all__ = ["Session", "StepBlocked", "StepFailed", "StopRun", "start"]
