"""The records index: an SQLite table of manifests, for fast ``records list`` and lookup.

The manifests stay the source of truth; the index is a cache rebuilt from them
whenever it is missing, corrupt, behind or of an old schema (:mod:`.indexdb`
owns the file and those rules), and verification never reads it (anyone who
can edit a record can edit the index too).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import events as ev
from . import indexdb
from .indexdb import COLUMNS, INSERT
from .layout import JOURNAL, MANIFEST, RECORD_APPROVALS
from .manifest import hash_file


@dataclass(frozen=True)
class RunFilter:
    """What ``records list`` narrows by; ``None`` means any."""

    runbook: str | None = None
    status: str | None = None
    operator: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None


def index_row(
    records: Path, run_dir: Path, manifest: dict[str, Any], *, manifest_sha256: str | None = None
) -> dict[str, Any]:
    """The index row for one sealed record."""
    failure = manifest.get("failure") or {}
    return {
        "run_id": manifest.get("run_id") or run_dir.name,
        "runbook_id": (manifest.get("runbook") or {}).get("id") or run_dir.parent.name,
        "title": (manifest.get("runbook") or {}).get("title"),
        "status": manifest.get("status"),
        "operator": manifest.get("operator"),
        "mode": manifest.get("mode"),
        "dry_run": int(bool(manifest.get("dry_run"))),
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "failed_step": failure.get("step"),
        "path": run_dir.relative_to(records).as_posix(),
        "manifest_sha256": manifest_sha256 or hash_file(run_dir / MANIFEST),
        "previous": manifest.get("previous") if isinstance(manifest.get("previous"), str) else None,
        "resumes": manifest.get("resumes"),
        # what `records list` shows beyond the above, so listing reads no manifest
        "kind": manifest.get("kind") or ("plan" if manifest.get("dry_run") else "run"),
        "rollback": (manifest.get("rollback") or {}).get("status"),
        "approvers": json.dumps(approvers_of(run_dir, manifest), ensure_ascii=False),
        "duration_s": duration_s(manifest.get("started_at"), manifest.get("finished_at")),
    }


def approvers_of(run_dir: Path, manifest: dict[str, Any]) -> list[list[str]]:
    """``[principal, role]`` of each valid approval of the run.

    From the manifest, or from ``approvals.json`` for records sealed before the
    manifest named them.
    """
    approvals = manifest.get("approvals")
    if approvals is None and (run_dir / RECORD_APPROVALS).is_file():
        try:
            approvals = json.loads((run_dir / RECORD_APPROVALS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            approvals = None
    return [
        [str(a.get("principal")), str(a.get("role"))]
        for a in (approvals if isinstance(approvals, list) else [])
        if isinstance(a, dict) and a.get("valid")
    ]


def duration_s(started: Any, finished: Any) -> float | None:
    """Seconds between two ISO times (``None`` when either is missing or unreadable)."""
    from datetime import datetime

    if not started or not finished:
        return None
    try:
        start = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(finished).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((end - start).total_seconds(), 3)


def running_row(records: Path, run_dir: Path, events: list[ev.Event]) -> dict[str, Any]:
    """A ``records list`` row for a run still going (not sealed, so not in the index)."""
    facts = ev.RunFacts.from_events(events)
    runbook = facts.runbook
    return {
        "run_id": run_dir.name,
        "runbook_id": runbook.get("id") or run_dir.parent.name,
        "title": runbook.get("title"),
        "status": "running",
        "operator": facts.operator or None,
        "mode": facts.mode,
        "dry_run": facts.dry_run,
        "started_at": facts.started_at or None,
        "finished_at": None,
        "failed_step": None,
        "path": run_dir.relative_to(records).as_posix(),
        "manifest_sha256": None,
        "resumes": facts.resumes,
    }


def add_records(records: Path, rows: list[dict[str, Any]]) -> None:
    """Insert or replace rows in one transaction (retried while another writer holds the lock).

    A row whose ``previous`` manifest is not indexed (its run was killed between
    sealing and indexing) marks the index ``behind``: the next reader rebuilds it.
    """
    if not rows:
        return
    values = [tuple(row[c] for c in COLUMNS) for row in rows]

    def body(db: sqlite3.Connection) -> None:
        db.executemany(INSERT, values)
        for row in rows:
            previous = row.get("previous")
            if (
                previous
                and not db.execute(
                    "SELECT 1 FROM runs WHERE manifest_sha256 = ?", (previous,)
                ).fetchone()
            ):
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", (indexdb.BEHIND, row["run_id"])
                )

    with indexdb.connect(records) as db:
        indexdb.write(records, lambda: indexdb.transaction(db, lambda: body(db)))


def index_record(records: Path, run_dir: Path, manifest: dict[str, Any]) -> None:
    """Add one sealed record to the index."""
    add_records(records, [index_row(records, run_dir, manifest)])


def list_runs(records: Path, where: RunFilter) -> list[dict[str, Any]]:
    """Index rows matching ``where``, newest first (the index is brought up to date first).

    A run that a later run resumes is left out: a resume chain is listed once, by
    its latest run (its ``resumes`` names the one before).
    """
    clauses = ["run_id NOT IN (SELECT resumes FROM runs WHERE resumes IS NOT NULL)"]
    args = []
    for column, value in (
        ("runbook_id", where.runbook),
        ("status", where.status),
        ("operator", where.operator),
    ):
        if value:
            clauses.append(f"{column} = ?")
            args.append(value)
    if where.since:
        clauses.append("started_at >= ?")
        args.append(utc_bound(where.since))
    if where.until:
        clauses.append("started_at < ?")
        args.append(utc_bound(where.until))
    sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(clauses) if clauses else "")
    sql += " ORDER BY started_at DESC, run_id DESC"
    sql += f" LIMIT {int(where.limit)}" if where.limit else ""
    found = indexdb.read_index(
        records, lambda: scan_rows(records), lambda db: [dict(r) for r in db.execute(sql, args)]
    )
    for row in found:
        row["dry_run"] = bool(row["dry_run"])
        row.pop("previous", None)
    return found


def matches(row: dict[str, Any], where: RunFilter) -> bool:
    """Whether a row (e.g. of a run still going, not in the index) passes ``where``."""
    started = str(row.get("started_at") or "")
    return (
        (not where.runbook or row.get("runbook_id") == where.runbook)
        and (not where.status or row.get("status") == where.status)
        and (not where.operator or row.get("operator") == where.operator)
        and (not where.since or started >= utc_bound(where.since))
        and (not where.until or started < utc_bound(where.until))
    )


def utc_bound(text: str) -> str:
    """A ``--since``/``--until`` value as a string comparable with the stored ISO UTC times.

    A bare date (``2026-11-28``) or a naive time is taken as UTC; a time with an
    offset is converted. Stored times look like ``2026-11-28T13:41:17.530Z``.
    """
    from datetime import datetime, timezone

    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise RecordError(
            f"not an ISO date or time: {text!r} (e.g. 2026-11-28 or 2026-11-28T13:00)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def find_run(records: Path, ref: str) -> Path:
    """The record directory for a run id or unique prefix (index first, then the tree).

    The record directory itself (as ``runbook run`` prints it) is accepted too, and
    ``last`` names the newest record (run ids start with their UTC start time).
    """
    given = Path(ref)
    if given.is_dir() and ((given / MANIFEST).exists() or (given / JOURNAL).exists()):
        return given
    indexdb.require_directory(records)
    if ref == "last":
        newest = max(
            (p.parent for p in records.glob(f"*/*/{JOURNAL}")), key=lambda d: d.name, default=None
        )
        if newest is None:
            raise RecordError("no records yet", path=str(records))
        return newest
    matches: list[str] = []
    if indexdb.is_writable(records):  # read-only: the tree below answers without a scan
        matches = indexdb.read_index(
            records,
            lambda: scan_rows(records),
            lambda db: [
                r["path"]
                for r in db.execute("SELECT path FROM runs WHERE run_id LIKE ? || '%'", (ref,))
            ],
        )
    if not matches:
        matches = sorted(
            {p.parent.relative_to(records).as_posix() for p in records.glob(f"*/{ref}*/{JOURNAL}")}
        )
    if not matches:
        raise RecordError(f"no record matches '{ref}'", path=str(records))
    if len(matches) > 1:
        shown = ", ".join(Path(m).name for m in matches[:5])
        raise RecordError(
            f"'{ref}' matches {len(matches)} records ({shown}…); give more of the run id"
        )
    return records / matches[0]


def scan_rows(records: Path) -> list[dict[str, Any]]:
    """An index row for every readable manifest on disk (the truth the index caches)."""
    rows = []
    for manifest_path in sorted(records.glob(f"*/*/{MANIFEST}")):
        try:
            data = manifest_path.read_bytes()
            manifest = json.loads(data)
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict):
            sha = hashlib.sha256(data).hexdigest()
            rows.append(index_row(records, manifest_path.parent, manifest, manifest_sha256=sha))
    return rows


def reindex(records: Path) -> int:
    """Rebuild the index from every manifest on disk; returns the number of records."""
    indexdb.require_directory(records)
    if not indexdb.is_writable(records):
        raise RecordError(
            "the records directory is read-only: nothing to reindex "
            "(list, show, export and verify work without writing)",
            path=str(records),
        )
    with indexdb.connect(records) as db:
        return indexdb.rebuild(records, db, lambda: scan_rows(records))
