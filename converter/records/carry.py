"""What a run takes over from an earlier run of the same operation: successes, shell state, ticks.

A resumed run (``runbook resume``), a rollback pass and a kernel restarted in
JupyterLab all continue from what a journal says already happened. The journal
keeps, at every ``step_end`` of ``%%step``:

* ``cwd``: the directory the step ended in;
* ``exports``: ``{NAME: value}`` for the variables it exported (new or changed);
* ``unset``: the names it unset (only when there are some).
  A value holding a secret parameter is kept as a list of parts, text and
  ``{"secret": PARAM}``, and restored from the secret read again from the
  environment; a value holding a secret in another encoding (base64, URL, …)
  is ``{"masked": true}``, and a variable whose name says it is a credential
  (``PGPASSWORD``, ``API_TOKEN``, …) but holds no declared secret is
  ``{"withheld": true}``: a secret fetched by a step (from a vault, a file) must
  not enter an immutable record either. Neither can be restored; a resumed
  session names them (``state_restored.not_restored``) so the operator exports
  them again.

A resumed run journals ``step_carried`` for every step it takes over (with the
run it succeeded in, ``in``, its shell state, its exit code and duration) and
``check_carried`` for every tick (who, when, via what, in which run), so its own
journal is enough to resume it again: every record of a chain stands alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import events as ev
from . import layout
from .indexdb import connect
from .journal import Journal, read_journal
from .mask import SecretMasker

CREDENTIAL_NAME = re.compile(
    r"PASS(WORD|WD|PHRASE)?($|_)|SECRET|TOKEN|CREDENTIAL|PRIVATE|(^|_)API_?KEY|ACCESS_KEY",
    re.IGNORECASE,
)
"""Names of variables whose values are never journaled unless they hold a declared secret."""


def exports_field(
    exports: Mapping[str, str], secrets: Mapping[str, str], masker: SecretMasker
) -> dict[str, Any]:
    """The ``exports`` of a ``step_end``: values as text, secrets as references to their name."""
    by_value = {value: name for name, value in secrets.items() if value}
    kept: dict[str, Any] = {}
    for name, value in exports.items():
        spans = masker.spans(value) if masker else []
        if not spans:
            kept[name] = {"withheld": True} if CREDENTIAL_NAME.search(name) else value
            continue
        parts: list[Any] = []
        cursor = 0
        for start, end in spans:
            secret = by_value.get(value[start:end])
            if secret is None:  # an encoded spelling: cannot be rebuilt from the secret
                parts = [{"masked": True}]
                break
            parts += [value[cursor:start], {"secret": secret}]
            cursor = end
        else:
            parts.append(value[cursor:])
        kept[name] = parts[0] if parts == [{"masked": True}] else [p for p in parts if p != ""]
    return kept


def restore_value(kept: Any, secrets: Mapping[str, str]) -> str | None:
    """An export's value from its journaled form (None when it cannot be restored)."""
    if isinstance(kept, str):
        return kept
    if not isinstance(kept, list):
        return None
    text = []
    for part in kept:
        if isinstance(part, str):
            text.append(part)
        elif isinstance(part, dict) and part.get("secret") in secrets:
            text.append(secrets[part["secret"]])
        else:
            return None
    return "".join(text)


@dataclass(frozen=True)
class CarriedStep:
    """A step that succeeded in a run of the chain and is not run again."""

    id: str
    kind: str
    title: str
    run_id: str
    """The run it ran and succeeded in."""
    exit_code: int | None = None
    duration_s: float | None = None
    started_at: str | None = None
    cwd: str | None = None
    exports: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    log: str | None = None
    """Its full output, relative to the record of the run it ran in."""

    def output(self, records_of_runbook: Path) -> str:
        """Its (masked) output, from the log in its own record ("" when the log is gone)."""
        if not self.log:
            return ""
        path = records_of_runbook / self.run_id / self.log
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def event_fields(self) -> dict[str, Any]:
        """The fields of its ``step_carried`` event."""
        return {
            "step": self.id,
            "kind": self.kind,
            "title": self.title,
            "status": "succeeded",
            "in": self.run_id,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "started_at": self.started_at,
            "cwd": self.cwd,
            "exports": self.exports,
            **({"unset": list(self.unset)} if self.unset else {}),
            "log": self.log,
        }


@dataclass(frozen=True)
class ResumePoint:
    """Where a run stood: the steps that succeeded (in order), its shell state and its ticks."""

    run_id: str
    steps: dict[str, CarriedStep]
    start_cwd: str | None
    checks: dict[str, ev.Event]
    """The ticked items, as :func:`converter.records.events.check_states` reads them."""

    @classmethod
    def from_events(cls, run_id: str, events: list[ev.Event]) -> ResumePoint:
        """Fold a journal: the last success of every non-rollback step, in the order it happened.

        A step that succeeded and was then run again and failed (or failed its
        expected result) did not succeed.
        """
        steps: dict[str, CarriedStep] = {}
        started: dict[str, ev.Event] = {}
        start_cwd = restored_cwd = None
        for event in events:
            kind, step = event.get("event"), str(event.get("step"))
            if kind == ev.SESSION_START and start_cwd is None:
                start_cwd = event.get("cwd")
            elif kind == ev.STATE_RESTORED and restored_cwd is None:
                restored_cwd = event.get("cwd")  # a resumed run started where its earlier one was
            elif kind == ev.STEP_START:
                started[step] = event
            elif kind == ev.STEP_CARRIED:
                steps.pop(step, None)
                steps[step] = _carried(event, event, str(event.get("in") or run_id))
            elif kind == ev.STEP_END:
                steps.pop(step, None)
                begun = started.get(step, {})
                if event.get("status") == "succeeded" and begun.get("kind") != "rollback":
                    steps[step] = _carried(event, begun, run_id)
        checks = {k: e for k, e in ev.check_states(events).items() if e.get("checked")}
        return cls(run_id, steps, restored_cwd or start_cwd, checks)

    @property
    def cwd(self) -> str | None:
        """The directory the last step that succeeded left (else where the run started)."""
        found = [s.cwd for s in self.steps.values() if s.cwd]
        return found[-1] if found else self.start_cwd

    def environment(self, secrets: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        """Every variable the successes exported, in order; and the names not restorable."""
        env: dict[str, str] = {}
        lost: list[str] = []
        for step in self.steps.values():
            for name, kept in step.exports.items():
                value = restore_value(kept, secrets)
                if value is None:
                    lost.append(name)
                    env.pop(name, None)
                else:
                    env[name] = value
                    lost = [n for n in lost if n != name]
            for name in step.unset:
                env.pop(name, None)
                lost = [n for n in lost if n != name]
        return env, lost

    def unset(self) -> list[str]:
        """The variables the successes left unset: unset by one, not exported again later."""
        gone: dict[str, None] = {}
        for step in self.steps.values():
            for name in step.exports:
                gone.pop(name, None)
            gone.update(dict.fromkeys(step.unset))
        return list(gone)

    def check_fields(self) -> list[dict[str, Any]]:
        """The fields of one ``check_carried`` event per ticked item (facts of the earlier run)."""
        return [
            {
                "id": item_id,
                "text": state.get("text"),
                "checked": True,
                "by": state.get("by"),
                "checked_at": state.get("at"),
                "via": state.get("via"),
                "in": state.get("in") or self.run_id,
            }
            for item_id, state in self.checks.items()
        ]


def _carried(event: ev.Event, begun: ev.Event, run_id: str) -> CarriedStep:
    return CarriedStep(
        id=str(event.get("step")),
        kind=str(begun.get("kind") or "procedure"),
        title=str(begun.get("title") or ""),
        run_id=run_id,
        exit_code=event.get("exit_code"),
        duration_s=event.get("duration_s"),
        started_at=event.get("started_at"),
        cwd=event.get("cwd"),
        exports=dict(event.get("exports") or {}),
        unset=tuple(event.get("unset") or ()),
        log=event.get("log") or begun.get("log"),
    )


def journal_carried(
    journal: Journal, point: ResumePoint, steps: Container[str] | None = None
) -> None:
    """Journal the earlier run's successes (those in ``steps``, if given) and ticks as this
    record's own facts, so the next resume continues from this record alone."""
    for step in point.steps.values():
        if steps is None or step.id in steps:
            journal.write(ev.STEP_CARRIED, **step.event_fields())
    for fields in point.check_fields():
        journal.write(ev.CHECK_CARRIED, **fields)


def resume_point(run_dir: Path) -> ResumePoint:
    """The resume point of the record in ``run_dir`` (from its journal)."""
    return ResumePoint.from_events(run_dir.name, read_journal(run_dir / layout.JOURNAL))


# --------------------------------------------------------------------------- the chain


def resumes_of(run_dir: Path) -> str | None:
    """The run id the record in ``run_dir`` resumes (manifest, else its journal), if any."""
    manifest = run_dir / layout.MANIFEST
    if manifest.is_file():
        with contextlib.suppress(OSError, ValueError):
            value = json.loads(manifest.read_text(encoding="utf-8"))
            return value.get("resumes") if isinstance(value, dict) else None
    journal = run_dir / layout.JOURNAL
    if journal.is_file():
        with contextlib.suppress(RecordError):
            return ev.RunFacts.from_events(read_journal(journal)).resumes
    return None


def resumed_by(run_dir: Path) -> Path | None:
    """The record that resumes ``run_dir`` (records of a runbook share one directory).

    Only records started in the same second or later can; unsealed ones are read
    from their journals, sealed ones from the index when there is one (reading
    every manifest of a large archive would make ``records show`` slow).
    """
    stamp = run_dir.name[:16]  # yyyymmddThhmmssZ
    later = [
        p for p in run_dir.parent.iterdir() if p.name[:16] >= stamp and p != run_dir and p.is_dir()
    ]
    sealed = {p for p in later if (p / layout.MANIFEST).exists()}
    found = [p for p in later if p not in sealed and resumes_of(p) == run_dir.name]
    indexed = _indexed_resumers(run_dir)
    if indexed is None:
        found += [p for p in sealed if resumes_of(p) == run_dir.name]
    else:
        found += [p for p in sealed if p.name in indexed]
    return min(found, key=lambda p: p.name) if found else None


def _indexed_resumers(run_dir: Path) -> set[str] | None:
    """Run ids the index says resume ``run_dir``; None when there is no index to ask."""
    records = run_dir.parent.parent
    if not (records / layout.INDEX).exists():
        return None
    try:
        with connect(records) as db:
            rows = db.execute("SELECT run_id FROM runs WHERE resumes = ?", (run_dir.name,))
            return {str(row["run_id"]) for row in rows}
    except (RecordError, sqlite3.Error):  # an index of an older schema, or damaged: scan instead
        return None


def resume_chain(run_dir: Path) -> list[Path]:
    """Every record of ``run_dir``'s resume chain, first run first."""
    chain = [run_dir]
    seen = {run_dir.name}
    while (earlier := resumes_of(chain[0])) and earlier not in seen:
        path = run_dir.parent / earlier
        if not path.is_dir():
            break
        chain.insert(0, path)
        seen.add(earlier)
    while (later := resumed_by(chain[-1])) is not None and later.name not in seen:
        chain.append(later)
        seen.add(later.name)
    return chain


@contextlib.contextmanager
def claim(records: Path, run_dir: Path) -> Iterator[None]:
    """Hold the resume lock while a new run checks ``run_dir`` is not resumed yet and says so.

    The body must journal the new run's ``resumes`` before it ends: two resumes
    started at once then cannot both continue the same run.
    """
    path = records / layout.RESUME_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        later = resumed_by(run_dir)
        if later is not None:
            raise RecordError(
                f"run {run_dir.name} is already resumed by {later.name}; "
                f"resume the latest run of the chain instead: runbook resume "
                f"{resume_chain(later)[-1].name}"
            )
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- JupyterLab


def continuable(records: Path, runbook_id: str, match: Mapping[str, Any]) -> Path | None:
    """The newest unsealed interactive record of this notebook whose kernel is gone.

    ``match`` holds the ``session_start`` fields that must agree (notebook,
    operator, parameters, dry run). A record whose session ended, or that
    another live kernel still writes, is never continued.
    """
    from .liveness import writer_alive
    from .manifest import sanitize_runbook_id

    folder = records / sanitize_runbook_id(runbook_id)
    if not folder.is_dir():
        return None
    for run_dir in sorted(folder.iterdir(), reverse=True):
        if (run_dir / layout.MANIFEST).exists() or not (run_dir / layout.JOURNAL).is_file():
            continue
        try:
            events = read_journal(run_dir / layout.JOURNAL)
        except RecordError:
            continue
        facts = ev.RunFacts.from_events(events)
        if facts.runner or facts.mode != "interactive":
            continue
        if any(e.get("event") == ev.SESSION_END for e in events) or writer_alive(events):
            continue
        if all(facts.session.get(k) == v for k, v in match.items()):
            return run_dir
    return None


@contextlib.contextmanager
def recovery_paused(records: Path) -> Iterator[None]:
    """Hold the recovery lock: ``records list`` seals no abandoned record meanwhile.

    A new kernel continuing a record journals its own pid under this lock, so
    recovery sees a live writer from then on and never seals the record under it.
    """
    from .recover import recover_lock

    with recover_lock(records):
        yield
