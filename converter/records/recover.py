"""Finalize records whose run ended without sealing them (SIGKILL, abandoned JupyterLab run).

Such a record has a journal but no manifest. Once no process that wrote it is
alive, it is sealed as ``interrupted`` with everything the journal shows, and
enters the chain like any other record. ``records list``, ``records reindex`` and
every new run call this, so no evidence stays unsealed for long.

Two rules keep this from damaging a record that is being sealed normally:

* the writers are checked *before* the manifest: a writer that is gone can no
  longer seal, so "gone and still no manifest" really is abandoned (checking in
  the other order races with a run that seals and exits in between);
* recoverers serialise on ``<records>/.recover.lock``, so two ``records list``
  started at once never both seal (and stamp) the same record.

Whether a writer is gone is :mod:`.liveness`'s to say, and only on its own host: a
run of another machine sharing the directory is left alone, for that machine to seal.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecordError
from . import events as ev
from . import layout
from .chain import check_chain
from .journal import read_journal_prefix
from .liveness import writer_alive
from .unsealed import unsealed_records
from .verdict import Verdict, judge

if TYPE_CHECKING:
    import nbformat

    from .evidence import Attestation

ABANDONED = "its processes ended before the record was sealed (killed, or crashed)"
"""The reason recovery states: it cannot know a signal did it (a crash or full disk looks alike)."""
SEALED_LATER = "sealed later: its own seal did not complete"
"""What recovery states of a run whose journal ends with ``run_end``: its work ended, and how
is the runner's to say (not ``interrupted``); only the seal was lost (a kill, a full disk)."""


def settle(
    records: Path, attestation: Attestation | None = None
) -> tuple[list[Path], list[tuple[Path, list[dict[str, Any]]]]]:
    """Seal every abandoned record; return (sealed dirs, still-running dirs with their events).

    A seal a crash interrupted is finished first (its record is not abandoned, only
    uncommitted); ``attestation`` signs and witnesses (default: the environment's).
    """
    sealed: list[Path] = []
    running: list[tuple[Path, list[dict[str, Any]]]] = []
    if not os.access(records, os.W_OK):  # a read-only archive (an auditor's mount): seal nothing
        for run_dir in unsealed_records(records):
            with suppress(RecordError):
                events = read_journal_prefix(run_dir / layout.JOURNAL)[0]
                if events and writer_alive(events):
                    running.append((run_dir, events))
        return sealed, running
    try:
        check_chain(records)
    except RecordError:
        pass  # a broken head: nothing can be sealed; `verify` and `run` say to repair
    candidates = unsealed_records(records)
    if not candidates:
        return sealed, running
    with _recover_lock(records):
        for run_dir in candidates:
            try:
                events, damage = read_journal_prefix(run_dir / layout.JOURNAL)
            except RecordError:
                continue  # gone meanwhile
            if not events and damage is None:
                continue  # created this instant and not yet journaled
            if writer_alive(events):
                running.append((run_dir, events))
                continue
            if (run_dir / layout.MANIFEST).exists():
                continue  # sealed by its own writer before it went away
            try:
                # everything the writer wrote before it went (up to a corrupt line, if any)
                events, damage = read_journal_prefix(run_dir / layout.JOURNAL)
                line = damage[0] if damage else None
                finalize_interrupted(
                    records, run_dir, events, attestation, corrupt_journal_line=line
                )
            except (RecordError, OSError):
                continue  # e.g. a full disk: it stays unsealed until a later settle can write
            sealed.append(run_dir)
    return sealed, running


def finalize_abandoned(records: Path, attestation: Attestation | None = None) -> list[Path]:
    """Seal every unsealed record whose writers are gone; returns the sealed directories."""
    return settle(records, attestation)[0]


def finalize_interrupted(
    records: Path,
    run_dir: Path,
    events: list[ev.Event],
    attestation: Attestation | None = None,
    *,
    corrupt_journal_line: int | None = None,
) -> dict[str, Any]:
    """Seal one abandoned record (and index it).

    A run that stopped at a failed or blocked step (plain papermill stops there and
    nobody runs the finish cell) keeps that verdict; anything else — a kill
    mid-step, an operator who walked away — is ``interrupted``. So is a run whose
    journal has a corrupt line: ``events`` are those before it, and the reason
    names the line. A run killed during its rollback pass is ``interrupted``: its
    main pass keeps the verdict it ended with, the rollback pass gets its own, as
    the runner would have sealed them. A run whose runner journaled ``run_end`` and then
    failed to seal (killed mid-seal, a full disk) is sealed with the status it journaled,
    and the manifest says it was sealed later (:data:`SEALED_LATER`).
    """
    import nbformat  # a second to import: `records list` pays it only when something needs sealing

    from .fleetview import write_fleet_summary
    from .mask import SecretMasker
    from .rebuild import record_notebook
    from .seal import Seal, seal_run  # sealing's imports, only when something needs sealing

    facts = ev.RunFacts.from_events(events)
    source = read_notebook(facts.notebook)
    saved = read_notebook(run_dir / layout.RECORD_NOTEBOOK)
    is_fleet = facts.runner.get("kind") == "fleet"  # a fleet's record ran no notebook itself
    main, rolled = _passes(events)
    why = None
    if corrupt_journal_line is not None:
        why = f"journal line {corrupt_journal_line} is corrupt (sealed with the events before it)"
    ended = _journaled_end(events) if why is None else None
    if ended is not None:  # its work ended and its runner said how: only its seal is missing
        status = ended
        verdict = _ended_verdict(main, status, is_fleet)
        rollback = None if rolled is None else judge(rolled)
    else:
        verdict = _left_verdict(main, why, ended=rolled is not None)
        rollback = (
            None
            if rolled is None
            else _left_verdict(
                rolled, why, ended=any(e.get("event") == ev.PASS_END for e in rolled)
            )
        )
        status = verdict.status if rollback is None else "interrupted"
    # The runner writes each pass's notebook before running it and again at its end;
    # killed in between, the outputs are in the journal and logs/, so rebuild from those.
    passes = [(layout.RECORD_NOTEBOOK, layout.PARTIAL_NOTEBOOK, main, verdict)]
    if rolled is not None and rollback is not None:
        passes.append(
            (layout.ROLLBACK_NOTEBOOK, layout.PARTIAL_ROLLBACK_NOTEBOOK, rolled, rollback)
        )
    fleet = ev.fleet_results(events) or facts.runner.get("fleet") or None
    if is_fleet and fleet is not None and ended is not None:  # it stopped by its own account
        fleet["stopped"] = _last(events, ev.FLEET_STOP).get("reason")
    if is_fleet and fleet is not None:  # the summary its controller left says "running"
        write_fleet_summary(
            run_dir, declared_runbook(saved or source, facts), fleet["targets"], status,
            fleet.get("stopped"),
        )  # fmt: skip
    for name, partial, slice_, judged in passes:
        path = run_dir / name
        written = read_notebook(path)
        if written is None or not (has_run(written) or is_fleet):
            if written is None and path.exists():
                path.rename(run_dir / partial)
            nbformat.write(
                record_notebook(run_dir, slice_, written or saved or source, judged), path
            )
    return seal_run(
        Seal(
            run_dir=run_dir,
            runbook=declared_runbook(saved or source, facts),
            status=status,
            verdict=verdict,
            rollback=rollback,
            operator=facts.operator,
            started_at=facts.started_at,
            parameters=facts.parameters,
            dry_run=facts.dry_run,
            mode=facts.mode or "headless",
            masker=SecretMasker([]),
            corrupt_journal_line=corrupt_journal_line,
            attestation=attestation,
            resumes=facts.resumes,
            kind="fleet" if is_fleet else None,
            fleet=fleet,
            finished_at=str(events[-1].get("at")) if events and events[-1].get("at") else None,
            sealed_later=SEALED_LATER if ended is not None else None,
        )
    )


def _passes(events: list[ev.Event]) -> tuple[list[ev.Event], list[ev.Event] | None]:
    """The main pass's events and, when one started, the rollback pass's (from its start)."""
    for index, event in enumerate(events):
        if event.get("event") == ev.PASS_START and event.get("name") == "rollback":
            return events[:index], events[index:]
    return events, None


def _journaled_end(events: list[ev.Event]) -> str | None:
    """The status its runner (or fleet) journaled at ``run_end``, when it got that far."""
    status = _last(events, ev.RUN_END).get("status")
    return status if isinstance(status, str) else None


def _ended_verdict(events: list[ev.Event], status: str, is_fleet: bool) -> Verdict:
    """The verdict of a pass whose runner ended it with ``status`` (its own seal then failed)."""
    if is_fleet:  # no steps of its own: the fleet's end says why it did not succeed
        return Verdict(status, None, _last(events, ev.FLEET_END).get("reason"))
    verdict = judge(events, interrupted=status == "interrupted")
    if verdict.status == status:
        return verdict
    return Verdict(status, verdict.failed_step, verdict.reason, verdict.steps)


def _last(events: list[ev.Event], name: str) -> ev.Event:
    return next((e for e in reversed(events) if e.get("event") == name), {})


def _left_verdict(events: list[ev.Event], why: str | None, *, ended: bool) -> Verdict:
    """The verdict of a pass its runner left: one that stopped at a failed or blocked step
    (or ended before a rollback pass began) keeps it; anything else — a kill mid-step, an
    operator who walked away — is ``interrupted``, and so is one with a corrupt journal line."""
    verdict = judge(events)
    if why is not None:
        return judge(events, interrupted=True, why=why)
    if ended or (
        verdict.status in ("failed", "blocked")
        and verdict.failed_step is not None
        and not ev.open_steps(events)
    ):
        return verdict
    return judge(events, interrupted=True, why=ABANDONED)


def declared_runbook(nb: nbformat.NotebookNode | None, facts: ev.RunFacts) -> dict[str, Any]:
    """The declared runbook (id, title, steps, checklists): the notebook's, else the journal's."""
    meta = nb.metadata.get("runbook") if nb is not None else None
    declared = dict(meta) if isinstance(meta, dict) else {}
    runbook = {"id": facts.runbook.get("id") or declared.get("id"), **facts.runbook, **declared}
    steps = declared.get("steps") or facts.steps
    runbook["steps"] = [{**s, "kind": s.get("kind", "procedure")} for s in steps]
    runbook.setdefault("checklists", [])
    return runbook


def has_run(nb: Any) -> bool:
    """Whether any code cell of the notebook ran (papermill's final save happened)."""
    return any(
        c.get("execution_count") is not None for c in nb.cells if c.get("cell_type") == "code"
    )


@contextmanager
def _recover_lock(records: Path) -> Iterator[None]:
    try:
        fd = os.open(records / layout.RECOVER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        fd = os.open(records / layout.RECOVER_LOCK, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


recover_lock = _recover_lock
"""Held by recovery while it seals; a kernel continuing a record journals its pid under it."""


def read_notebook(path: str | Path | None) -> nbformat.NotebookNode | None:
    """The notebook at ``path``, or None when it is missing or unreadable (a partial save)."""
    if not path or not Path(path).is_file():
        return None
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a partial save can be broken in any way
        return None
