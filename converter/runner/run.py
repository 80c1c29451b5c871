"""``runbook run``: execute a runbook headless through papermill and seal its record.

One linear orchestrator, like papermill's ``execute_notebook``: load → resolve
parameters → create the record → execute (→ roll back) → judge → seal. Order
matters for evidence: parameters are validated and the record directory is
created *before* a kernel starts (no evidence, no execution); papermill writes
``record.ipynb`` into that directory; the verdict comes from the journal
(:mod:`converter.records.verdict`), not from papermill; the manifest is written
last and chained. SIGTERM/SIGINT interrupt the kernel (:mod:`.kernel`), so the
running step's process group is stopped and the record is still sealed, as
``interrupted``.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import nbformat

from ..errors import DiskFull, ParameterError, RunbookError, is_disk_full
from ..parameters import (
    DEFAULT_RECORDS,
    Resolved,
    check_text,
    from_declaration,
    operator_name,
    resolve,
)
from ..records import events as ev
from ..records import layout
from ..records.carry import claim
from ..records.chain import check_chain
from ..records.evidence import Attestation, Evidence
from ..records.faults import fault
from ..records.journal import Journal, read_journal, utc_now
from ..records.liveness import this_writer
from ..records.manifest import create_record_dir
from ..records.mask import SecretMasker
from ..records.nbjson import notebook_file_text
from ..records.plans import DEFAULT_MAX_AGE, Review, environ_allowed_signers, find_plan
from ..records.rebuild import record_notebook
from ..records.recover import finalize_abandoned, has_run, read_notebook
from ..records.seal import Seal, seal_run
from ..records.verdict import Verdict, judge
from .approvals import gate, keep, refuse
from .kernel import SignalGuard, kernel_sockets
from .progress import progress
from .source import load_notebook, notebook_sha256

EXIT_CODES = {"succeeded": 0, "failed": 1, "blocked": 3, "interrupted": 130}


@dataclass(frozen=True)
class RunOptions:
    """Everything ``runbook run`` accepts, as one value."""

    source: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    parameters_from_text: frozenset[str] = frozenset()
    dry_run: bool = False
    confirm: tuple[str, ...] = ()
    rollback_on_failure: bool = False
    records: Path = Path(DEFAULT_RECORDS)
    timeout: float | None = None
    operator: str | None = None
    progress: bool = True
    evidence: Evidence = field(default_factory=Evidence)
    """Signing key, allowed signers, witness; a signed run's operator is the key's principal."""
    resume_from: Path | None = None
    """The record of the run this one continues (``runbook resume``; see :mod:`.resume`)."""
    plan: str | None = None
    """The approved plan (id or path) a runbook that needs approvals runs by."""
    max_age: timedelta = DEFAULT_MAX_AGE
    """How old an approved plan may be."""
    fleet: dict[str, str] | None = None
    """This run is one target of a fleet: the fleet record's ``run_id`` and the ``target``."""


@dataclass(frozen=True)
class RunOutcome:
    """Where the record is and what it says."""

    status: str
    run_dir: Path
    manifest: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def run_runbook(options: RunOptions) -> RunOutcome:
    """Validate, create the record, execute, judge, optionally roll back, seal.

    Every input is checked before the record directory exists: bad input leaves no
    evidence directory (and starts no kernel).
    """
    check_text("the runbook path", str(options.source))
    nb = load_notebook(options.source)
    meta = nb.metadata["runbook"]
    attestation = options.evidence.open()  # a key that cannot sign stops the run here
    signer = attestation.signer
    operator = signer.principal if signer else operator_name(options.operator)
    check_text("the operator name (--operator / RUNBOOK_OPERATOR)", operator)
    check_text("the records directory", str(options.records))
    declared = tuple(from_declaration(d) for d in meta.get("parameters", []))
    resolved = resolve(
        declared, options.parameters, from_text=options.parameters_from_text, strict=True
    )
    _check_confirm_ids(meta, options.confirm)
    review: Review | None = None
    refused: list[str] = []
    if not options.dry_run or options.plan:  # a dry run runs nothing: it needs no approval
        review, refused = gate(
            options.source,
            nb,
            options.plan,
            records=options.records,
            parameters_shown=resolved.shown(),
            operator=operator,
            allowed_signers=environ_allowed_signers(options.evidence.allowed_signers),
            max_age=options.max_age,
            target=(options.fleet or {}).get("target"),
        )
    try:
        return _run(options, nb, resolved, operator, attestation, review, refused)
    except (OSError, RunbookError) as exc:
        # A full disk anywhere (journal, papermill's save, sealing) leaves the record unsealed
        # and its files intact; recovery seals it later from the journal, with no made-up reason.
        if is_disk_full(exc):
            raise DiskFull(str(options.records)) from exc
        if isinstance(exc, OSError):
            raise RunbookError(f"{exc.strerror or exc}", path=exc.filename) from exc
        raise


def _run(
    options: RunOptions,
    nb: nbformat.NotebookNode,
    resolved: Any,
    operator: str,
    attestation: Attestation,
    review: Review | None = None,
    refused: list[str] | None = None,
) -> RunOutcome:
    meta = nb.metadata["runbook"]
    if options.records.is_dir():
        # A broken chain head, or one the witness disagrees with: refuse (records repair).
        check_chain(options.records, attestation.witness)
        finalize_abandoned(options.records, attestation)  # seal runs killed before they could
    resumes = options.resume_from.name if options.resume_from else None
    masker = SecretMasker(resolved.secrets)
    # Guarded from before the record exists: a signal at any point ends in a sealed record.
    with SignalGuard() as guard:
        started = utc_now()
        run_dir, journal = _open_record(options, nb, resolved, masker, operator)
        guard.journal_path = journal.path
        if refused:  # a wrong plan: blocked before any step, no kernel started
            blocked = refuse(nb, run_dir, journal, str(options.plan), refused, options.resume_from)
            verdict, rollback = blocked, None
        else:
            if review is not None and options.plan is not None:
                plan_dir = find_plan(options.records, options.plan)
                keep(review, plan_dir, run_dir, journal, meta, operator)
            verdict, rollback = _execute(options, nb, resolved, operator, run_dir, journal, guard)
        status = "interrupted" if guard.interrupted else verdict.status
        journal.write(ev.RUN_END, source="runner", status=status)
        journal.close()
        manifest = seal_run(
            Seal(
                run_dir=run_dir,
                runbook=dict(meta),
                status=status,
                verdict=verdict,
                rollback=rollback,
                operator=operator,
                started_at=started,
                parameters=resolved.shown(),
                dry_run=options.dry_run,
                mode="headless",
                masker=masker,
                attestation=attestation,
                resumes=resumes,
                fleet=options.fleet,
            )
        )
    return RunOutcome(status, run_dir, manifest)


def _execute(
    options: RunOptions,
    nb: nbformat.NotebookNode,
    resolved: Resolved,
    operator: str,
    run_dir: Path,
    journal: Journal,
    guard: SignalGuard,
) -> tuple[Verdict, Verdict | None]:
    """The main pass and, when it failed and was asked for, the rollback pass."""
    # Secrets are not papermill parameters (papermill writes those into the notebook):
    # the kernel reads them from RUNBOOK_SECRET_<NAME> itself.
    parameters = {
        **resolved.public(),
        "dry_run": options.dry_run,
        "confirm": list(options.confirm),
        "operator": operator,
        "runbook_mode": "headless",
        "records_dir": str(options.records),
        "run_dir": str(run_dir),
        "step_timeout": options.timeout,
        "resume_from": str(options.resume_from or ""),
        "plan": options.plan or "",
    }
    verdict = _execute_pass(
        nb,
        run_dir / layout.RECORD_NOTEBOOK,
        {**parameters, "rollback": False},
        journal,
        "main",
        guard,
        options,
    )
    rollback = None
    if (
        verdict.status == "failed"
        and options.rollback_on_failure
        and not guard.interrupted
        and _changed_anything(journal)
    ):
        rollback = _execute_pass(
            nb,
            run_dir / layout.ROLLBACK_NOTEBOOK,
            {**parameters, "rollback": True, "resume_from": ""},  # continues this record
            journal,
            "rollback",
            guard,
            options,
        )
    return verdict, rollback


def _changed_anything(journal: Journal) -> bool:
    """Whether a procedure step started: a run that failed at a prerequisite (or before
    its approvals let any step run) changed nothing, and has nothing to roll back."""
    return any(
        e.get("event") == ev.STEP_START and e.get("kind") == "procedure"
        for e in read_journal(journal.path)
    )


def _open_record(
    options: RunOptions,
    nb: nbformat.NotebookNode,
    resolved: Resolved,
    masker: SecretMasker,
    operator: str,
) -> tuple[Path, Journal]:
    """Create the record and journal ``run_start`` (a resumed run claims its run first)."""
    resumes = options.resume_from
    with claim(options.records, resumes) if resumes else nullcontext():
        run_dir, run_id = create_record_dir(options.records, str(nb.metadata["runbook"]["id"]))
        journal = Journal(run_dir / layout.JOURNAL, masker=masker)
        journal.write(
            ev.RUN_START,
            source="runner",
            **this_writer(),
            run_id=run_id,
            operator=operator,
            dry_run=options.dry_run,
            parameters=resolved.shown(),
            confirm=list(options.confirm),
            # what `runbook resume` needs to continue this run (secret values are never kept)
            resumes=resumes.name if resumes else None,
            runbook_source=str(options.source.resolve()),
            # what recovery seals if the runner dies before the kernel journals its own view
            runbook=ev.runbook_facts(nb.metadata["runbook"]),
            notebook_sha256=notebook_sha256(options.source, nb),
            secrets_set=sorted(resolved.secret_environment()),
            timeout=options.timeout,
            cwd=os.getcwd(),
            fleet=options.fleet,
        )
    fault("run:started")  # the crash tests' kill before any notebook or kernel exists
    return run_dir, journal


def _execute_pass(
    nb: nbformat.NotebookNode,
    output: Path,
    parameters: dict,
    journal: Journal,
    name: str,
    guard: SignalGuard,
    options: RunOptions,
) -> Verdict:
    """One papermill execution; its journal slice decides its verdict."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .engine import ENGINE_NAME

    journal.write(ev.PASS_START, source="runner", name=name)
    # Killed before papermill's first save, recovery fills this in. papermill reads it back as
    # its input: given the notebook itself, it would copy every cell into the record's
    # metadata (``papermill.input_path``), doubling record.ipynb and every pass over it.
    # nbformat.write without validating: it would only log, and papermill validates it next.
    output.write_text(notebook_file_text(nb), encoding="utf-8")
    first = len(read_journal(journal.path))
    stopped = None
    executed = None  # what papermill wrote last, when it returned
    with (
        progress(journal.path, nb, enabled=options.progress, name=name),
        kernel_sockets() as sockets,
    ):
        try:
            guard.armed = True  # from here a signal stops the kernel; KeyboardInterrupt is caught
            try:
                executed = papermill.execute_notebook(
                    _literal_path(output),
                    _literal_path(output),
                    parameters=parameters,
                    kernel_name="python3",
                    engine_name=ENGINE_NAME,
                    # Saving the whole notebook around every cell cost ~90 ms a step and grew with
                    # the notebook (docs/BENCHMARKS.md); the fsynced journal and logs/ are the live
                    # evidence, and papermill still writes the notebook when the pass ends.
                    progress_bar=False,
                    request_save_on_cell_execute=False,
                    log_output=False,
                    # Signalled before the kernel started: run nothing, keep the notebook as record.
                    prepare_only=guard.interrupted,
                    config=sockets,
                )
            finally:
                guard.armed = False
        except PapermillExecutionError as exc:
            stopped = f"{exc.ename}: {exc.evalue}"
        except KeyboardInterrupt:
            guard.interrupted = True
        except Exception as exc:  # noqa: BLE001 - papermill's dead-kernel and timeout paths raise plain errors
            stopped = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    events = read_journal(journal.path)[first:]
    verdict = judge(events, interrupted=guard.interrupted, stopped=stopped)
    _fill_unsaved(output, events, nb, executed, verdict)
    journal.write(
        ev.PASS_END,
        source="runner",
        name=name,
        status=verdict.status,
        failed_step=verdict.failed_step,
        reason=verdict.reason,
    )
    return verdict


def _literal_path(path: Path) -> str:
    """``path`` as papermill must be given it: it runs its paths through ``str.format`` with
    the parameters, so a records directory named ``ops{db_path}`` would name another file."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _fill_unsaved(
    output: Path,
    events: list[ev.Event],
    nb: nbformat.NotebookNode,
    executed: nbformat.NotebookNode | None,
    verdict: Verdict,
) -> None:
    """papermill skips its final save when the kernel dies: rebuild the outputs from the journal.

    ``executed`` is what ``papermill.execute_notebook`` returned, which it wrote to ``output``
    just before returning; without it (papermill raised), the file says what was saved.
    """
    saved = read_notebook(output) if executed is None else executed
    if saved is None or not has_run(saved):
        nbformat.write(record_notebook(output.parent, events, nb, verdict), output)


def _check_confirm_ids(meta: dict, confirm: tuple[str, ...]) -> None:
    known = {"all"}
    for checklist in meta.get("checklists", []):
        known.add(checklist["id"])
        known.update(item["id"] for item in checklist["items"])
    unknown = [c for c in confirm if c not in known]
    if unknown:
        lists = ", ".join(c["id"] for c in meta.get("checklists", [])) or "(none)"
        raise ParameterError(
            f"--confirm {unknown[0]!r} names no checklist or item; checklists: {lists}"
        )
