"""The records index: an SQLite table of manifests, for fast ``records list`` and lookup.

The manifests stay the source of truth; the index is a cache that
``runbook records reindex`` rebuilds from them, and verification never reads it
(anyone who can edit a record can edit the index too). Concurrent runs update it
safely: WAL journal, one short ``BEGIN IMMEDIATE`` transaction per record, and a
busy timeout so a writer waits for the lock instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import events as ev
from .layout import INDEX, JOURNAL, MANIFEST
from .manifest import hash_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    runbook_id TEXT NOT NULL,
    title TEXT,
    status TEXT NOT NULL,
    operator TEXT,
    mode TEXT,
    dry_run INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    finished_at TEXT,
    failed_step TEXT,
    path TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    resumes TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at DESC);
CREATE INDEX IF NOT EXISTS runs_runbook ON runs (runbook_id, started_at DESC);
"""
COLUMNS = (
    "run_id",
    "runbook_id",
    "title",
    "status",
    "operator",
    "mode",
    "dry_run",
    "started_at",
    "finished_at",
    "failed_step",
    "path",
    "manifest_sha256",
    "resumes",
)
INSERT = (
    f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
)


@dataclass(frozen=True)
class RunFilter:
    """What ``records list`` narrows by; ``None`` means any."""

    runbook: str | None = None
    status: str | None = None
    operator: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None


@contextmanager
def connect(records: Path) -> Iterator[sqlite3.Connection]:
    """Open (and create) the index with WAL and a generous busy timeout."""
    records.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(records / INDEX, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise RecordError(
            f"cannot open the records index: {exc}", path=str(records / INDEX)
        ) from None
    try:
        db.row_factory = sqlite3.Row
        _retry(lambda: db.execute("PRAGMA journal_mode=WAL"))
        _retry(lambda: db.executescript(SCHEMA))
        _retry(lambda: _add_resumes_column(db))
        yield db
    finally:
        db.close()


def _add_resumes_column(db: sqlite3.Connection) -> None:
    """Indexes built before ``runbook resume`` lack the column (another process may add it)."""
    if "resumes" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
        try:
            db.execute("ALTER TABLE runs ADD COLUMN resumes TEXT")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise


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
        "resumes": manifest.get("resumes"),
    }


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
    """Insert or replace rows in one transaction (retried while another writer holds the lock)."""
    if not rows:
        return
    with connect(records) as db:
        _retry(
            lambda: _transaction(
                db, lambda: db.executemany(INSERT, [tuple(row[c] for c in COLUMNS) for row in rows])
            )
        )


def index_record(records: Path, run_dir: Path, manifest: dict[str, Any]) -> None:
    """Add one sealed record to the index."""
    add_records(records, [index_row(records, run_dir, manifest)])


def list_runs(records: Path, where: RunFilter) -> list[dict[str, Any]]:
    """Index rows matching ``where``, newest first (the index is rebuilt first if it is missing).

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
    sql += " ORDER BY started_at DESC, run_id DESC" + (
        f" LIMIT {int(where.limit)}" if where.limit else ""
    )
    if not (records / INDEX).exists():
        if not any(records.glob(f"*/*/{MANIFEST}")):
            return []
        reindex(records)  # deleted or never built: the manifests are the truth
    with connect(records) as db:
        rows = [dict(row) for row in db.execute(sql, args)]
    for row in rows:
        row["dry_run"] = bool(row["dry_run"])
    return rows


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
    if ref == "last":
        newest = max(
            (p.parent for p in records.glob(f"*/*/{JOURNAL}")), key=lambda d: d.name, default=None
        )
        if newest is None:
            raise RecordError("no records yet", path=str(records))
        return newest
    given = Path(ref)
    if given.is_dir() and ((given / MANIFEST).exists() or (given / JOURNAL).exists()):
        return given
    matches: list[str] = []
    if (records / INDEX).exists():
        with connect(records) as db:
            matches = [
                r["path"]
                for r in db.execute("SELECT path FROM runs WHERE run_id LIKE ? || '%'", (ref,))
            ]
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


def reindex(records: Path) -> int:
    """Rebuild the index from every manifest on disk; returns the number of records."""
    import hashlib

    rows = []
    for manifest_path in sorted(records.glob(f"*/*/{MANIFEST}")):
        try:
            data = manifest_path.read_bytes()
            manifest = json.loads(data)
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict):
            rows.append(
                index_row(
                    records,
                    manifest_path.parent,
                    manifest,
                    manifest_sha256=hashlib.sha256(data).hexdigest(),
                )
            )
    found = {row["path"] for row in rows}
    with connect(records) as db:

        def rebuild() -> (
            None
        ):  # one transaction: a concurrent reader sees the old index or the new one
            # Rows of records gone from disk go; a row a run added after our scan stays.
            stale = [
                (r["path"],)
                for r in db.execute("SELECT path FROM runs")
                if r["path"] not in found and not (records / r["path"] / MANIFEST).exists()
            ]
            db.executemany("DELETE FROM runs WHERE path = ?", stale)
            db.executemany(INSERT, [tuple(row[c] for c in COLUMNS) for row in rows])

        _retry(lambda: _transaction(db, rebuild))
    return len(rows)


def _transaction(db: sqlite3.Connection, body: Callable[[], object]) -> None:
    """Run ``body`` in one ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        body()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _retry(action, attempts: int = 50):
    """Run ``action``; on "database is locked" wait and retry (busy_timeout covers most cases)."""
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                raise RecordError(f"records index: {exc}") from None
            time.sleep(0.05 * (attempt + 1))
    return None
