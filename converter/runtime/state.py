"""The data of one run inside the kernel: settings, parameters, step results, checklist states.

Plain data at the bottom of the kernel package: every other runtime module
reads and updates a :class:`RunState`; only :mod:`.session` (at the top) binds
behaviour to it. Nothing here imports IPython or widgets.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..parameters import Resolved
from ..records.journal import Journal
from ..records.mask import SecretMasker


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
    """The (masked) output, cut at ``OUTPUT_CAP_BYTES``: all of it only in the log."""
    log: str | None = None
    """Set when ``output`` is cut: the log file holding all of it, from ``log_from`` on."""
    log_from: int = 0
    in_run: str | None = None
    """The earlier run it succeeded in, when a resumed run carried it over without running it."""


@dataclass
class CheckState:
    """One checklist item: who ticked it, when, and how."""

    id: str
    text: str
    checked: bool
    by: str | None = None
    at: str | None = None
    via: str | None = None

    def as_item(self) -> dict[str, Any]:
        """The mapping :func:`converter.records.outputs.checklist_bundle` renders."""
        return asdict(self)


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
    resume_from: str = ""
    """The record of the run this one continues (``runbook resume``), else empty."""
    plan: str = ""

    @classmethod
    def from_values(cls, values: dict[str, Any], runbook_timeout: float | None) -> Settings:
        """From :func:`converter.parameters.resolve_settings`; the runbook's own timeout wins."""
        return cls(
            dry_run=bool(values["dry_run"]),
            confirm=frozenset(values["confirm"]),
            operator=values["operator"],
            mode=values["runbook_mode"],
            rollback=bool(values["rollback"]),
            records_dir=values["records_dir"],
            run_dir=values["run_dir"],
            timeout=runbook_timeout if runbook_timeout is not None else values["step_timeout"],
            resume_from=values.get("resume_from") or "",
            plan=values.get("plan") or "",
        )


@dataclass
class RunState:
    """One run of one runbook in this kernel."""

    runbook: dict[str, Any]
    parameters: Resolved
    steps: dict[str, StepInfo]
    settings: Settings
    run_dir: Path
    journal: Journal
    masker: SecretMasker
    env: dict[str, str]
    cwd: str
    results: dict[str, StepResult] = field(default_factory=dict)
    checks: dict[str, dict[str, CheckState]] = field(default_factory=dict)
    check_views: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Each shown checklist's title and display id, to update its view when it is ticked."""
    check_steps: dict[str, str] = field(default_factory=dict)
    """The step each verification list belongs to (``--confirm all`` never ticks the list of
    a step that failed, even where it gates the next one)."""
    prior_checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Check states an earlier pass of this run journaled (the rollback pass starts from them)."""
    approved: bool = False
    """The approvals were checked (or none are needed): procedure steps may run."""
    planned_steps: dict[str, tuple[list[str], str]] | None = None
    """Each step of the plan this kernel checked, as ``%%step`` receives it (its line's words,
    its commands): from approval on, only these run. None: no plan checked here (the
    runner compared the notebook's cells with it before the kernel started)."""
    finished: bool = False
    display_seq: int = 0
    notebook_path: str | None = None
    progress_id: str | None = None
    """The display id of the counter line in the setup cell's output."""
    check_panels: dict[str, Any] = field(default_factory=dict)
    """Each shown checklist's widget panel (interactive runs), shown with its HTML state."""
    step_views: dict[str, Any] = field(default_factory=dict)
    """Each step's latest status line (a ``views.StepStatus``), to update it in place."""
    summary_ids: dict[str, str] = field(default_factory=dict)
    """Display id of each step's line in the summary, once the finish cell showed it."""
    tally: dict[str, int] = field(default_factory=dict)
    """How many steps are in each status now (the counter line, kept in O(1) per step)."""
    shown_status: dict[str, str] = field(default_factory=dict)
    """The status each step's line shows now (what :attr:`tally` counts)."""
    cell_values: dict[str, Any] | None = None
    """The parameters cell's values, once the form changed :attr:`parameters` (for resuming)."""

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
        return self.parameters.shown()
