"""``runbook resume``: continue a failed, blocked or interrupted headless run where it stopped.

The earlier record says everything needed (its ``run_start``: the runbook's
source, the notebook's sha256, the parameters, the names of the secrets that
were set, the confirmations, the step timeout). This module checks that
continuing is sound, then hands :func:`converter.runner.run.run_runbook` the
same parameters, the confirmations of the earlier run plus the new ones, and
``resume_from``; the kernel takes over the successes, the ticks and the shell
state from the earlier journal (:mod:`converter.records.carry`).

Refused (exit 2, nothing runs) when the run succeeded, is still running, was a
dry run, was rolled back, is already resumed by another run, or when the
runbook's source or notebook changed since (sha256), or a secret it had is not
set now.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import nbformat

from ..errors import ParameterError, RecordError
from ..parameters import DEFAULT_RECORDS, secret_variable
from ..records import events as ev
from ..records import layout
from ..records.carry import resume_chain, resume_point
from ..records.evidence import Evidence
from ..records.index import find_run
from ..records.journal import read_journal
from ..records.manifest import load_manifest
from ..records.plans import DEFAULT_MAX_AGE
from ..records.recover import finalize_abandoned
from .run import RunOptions, RunOutcome, run_runbook
from .source import load_notebook, notebook_sha256

RESUMABLE = ("failed", "blocked", "interrupted")


@dataclass(frozen=True)
class ResumeOptions:
    """Everything ``runbook resume`` accepts, as one value."""

    run: str
    """A run id, unique prefix, record directory or ``last``."""
    confirm: tuple[str, ...] = ()
    rollback_on_failure: bool = False
    records: Path = Path(DEFAULT_RECORDS)
    operator: str | None = None
    progress: bool = True
    plan: str | None = None
    """The approved plan a run blocked on approvals continues with."""
    max_age: timedelta = DEFAULT_MAX_AGE
    evidence: Evidence = field(default_factory=Evidence)
    fleet: dict[str, str] | None = None
    """The fleet (``run_id``, ``target``) that resumes this run as one of its targets."""


def resume_runbook(options: ResumeOptions) -> RunOutcome:
    """Check the earlier run can be continued, then run the rest in a new, linked record."""
    if options.records.is_dir():
        finalize_abandoned(options.records)  # an earlier run killed outright is sealed first
    run_dir = find_run(options.records, options.run)
    runner = _check_resumable(run_dir)
    source = Path(str(runner.get("runbook_source")))
    if not source.is_file():
        raise RecordError(f"the runbook of run {run_dir.name} is gone: {source}")
    nb = load_notebook(source)
    _check_unchanged(run_dir, source, nb, runner)
    declared = {p["name"]: p for p in nb.metadata["runbook"].get("parameters", [])}
    for name in runner.get("secrets_set") or []:
        if not os.environ.get(secret_variable(name)):
            raise ParameterError(
                f"parameter '{name}' is secret and was set in run {run_dir.name}: "
                f"set {secret_variable(name)} in the environment again"
            )
    shown = runner.get("parameters") or {}
    public = {k: v for k, v in shown.items() if k in declared and not declared[k].get("secret")}
    point = resume_point(run_dir)
    if point.cwd and not os.path.isdir(point.cwd):
        raise RecordError(
            f"the directory the succeeded steps of run {run_dir.name} left, {point.cwd}, "
            "is gone; recreate it or start a new run"
        )
    return run_runbook(
        RunOptions(
            source=source,
            parameters=public,
            confirm=tuple(dict.fromkeys([*(runner.get("confirm") or []), *options.confirm])),
            rollback_on_failure=options.rollback_on_failure,
            records=run_dir.parent.parent,
            timeout=runner.get("timeout"),
            operator=options.operator,
            progress=options.progress,
            resume_from=run_dir,
            plan=options.plan,
            max_age=options.max_age,
            evidence=options.evidence,
            fleet=options.fleet,
        )
    )


def _check_resumable(run_dir: Path) -> dict:
    """The earlier run's ``run_start``, when the run may be continued; else a clear refusal."""
    name = run_dir.name
    if not (run_dir / layout.MANIFEST).exists():
        raise RecordError(f"run {name} is still running (its record is not sealed yet)")
    manifest = load_manifest(run_dir)
    status = manifest.get("status")
    if status == "succeeded":
        raise RecordError(f"run {name} succeeded: there is nothing to resume")
    if status not in RESUMABLE:
        raise RecordError(f"run {name} is {status}: only {', '.join(RESUMABLE)} runs resume")
    if manifest.get("dry_run"):
        raise RecordError(f"run {name} was a dry run: it ran nothing to continue from")
    if manifest.get("rollback"):
        raise RecordError(f"run {name} was rolled back: what succeeded was undone; start a new run")
    from ..records.verify import verify_record

    altered = verify_record(run_dir.parent.parent, run_dir)
    if altered:  # its journal says what succeeded and what the shell carried
        raise RecordError(
            f"run {name} does not verify ({altered[0].path}: {altered[0].message}): resuming "
            "would trust what changed after it was sealed; see 'runbook records verify'"
        )
    chain = resume_chain(run_dir)
    if chain[-1] != run_dir:
        raise RecordError(
            f"run {name} is already resumed by {chain[chain.index(run_dir) + 1].name}; "
            f"resume the latest run of the chain instead: runbook resume {chain[-1].name}"
        )
    runner = ev.RunFacts.from_events(read_journal(run_dir / layout.JOURNAL)).runner
    if not runner.get("runbook_source"):
        raise RecordError(
            f"run {name} was not started by runbook run (or by an older version): "
            "an interactive run continues when its notebook is opened again in JupyterLab"
        )
    return runner


def _check_unchanged(run_dir: Path, source: Path, nb: nbformat.NotebookNode, runner: dict) -> None:
    recorded = (load_manifest(run_dir).get("runbook") or {}).get("source_sha256")
    now = nb.metadata["runbook"].get("source_sha256")
    if recorded != now:
        raise RecordError(
            f"the runbook changed since run {run_dir.name} (source sha256 {str(recorded)[:12]}… "
            f"then, {str(now)[:12]}… now): resuming would run steps it never checked; "
            "start a new run",
            path=str(source),
        )
    if runner.get("notebook_sha256") != notebook_sha256(source, nb):
        raise RecordError(
            f"the notebook changed since run {run_dir.name} (sha256 differs): start a new run",
            path=str(source),
        )


def resume_hint(outcome: RunOutcome, records: Path) -> str | None:
    """The command that continues a run that stopped (blocked: with what to confirm)."""
    if outcome.status not in RESUMABLE or outcome.manifest.get("dry_run"):
        return None
    if outcome.manifest.get("rollback"):
        return None
    words = ["runbook", "resume", outcome.run_dir.name]
    if outcome.status == "blocked":
        events = read_journal(outcome.run_dir / layout.JOURNAL)
        blocked = [e for e in events if e.get("event") == ev.BLOCKED]
        for gate in (blocked[-1].get("gate") or []) if blocked else []:
            # blocked on approvals: continue with an approved plan (runbook plan, approve)
            words += ["--plan", "PLAN"] if gate == "approval" else ["--confirm", str(gate)]
    plan = outcome.manifest.get("plan")
    if plan and "--plan" not in words:  # it ran by an approved plan: the resume must too
        words += ["--plan", str(plan)]
    if records != Path(DEFAULT_RECORDS):
        words += ["--records", str(records)]
    return " ".join(shlex.quote(w) for w in words)
