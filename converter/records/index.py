"""The records index: an SQLite table of manifests, for fast ``records list`` and lookup.

The manifests stay the source of truth; the index is a cache rebuilt from them
whenever it is missing, corrupt, behind or of an old schema (:mod:`.indexdb`
owns the file and those rules), and verification never reads it (anyone who
can edit a record can edit the index too).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecordError
from . import indexdb
from .indexdb import COLUMNS, INSERT
from .layout import JOURNAL, MANIFEST, RECORD_APPROVALS
from .listing import RunFilter, duration_s, matches, tuples, utc_bound, where_sql

if TYPE_CHECKING:
    from . import events as ev

__all__ = [
    "RunFilter",
    "add_records",
    "approvers_of",
    "duration_s",
    "find_run",
    "index_record",
    "index_row",
    "list_runs",
    "matches",
    "reindex",
    "running_row",
    "scan_rows",
    "utc_bound",
]


def index_row(
    records: Path, run_dir: Path, manifest: dict[str, Any], *, manifest_sha256: str | None = None
) -> dict[str, Any]:
    """The index row for one sealed record."""
    from .manifest import hash_file

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


def running_row(records: Path, run_dir: Path, events: list[ev.Event]) -> dict[str, Any]:
    """A ``records list`` row for a run still going (not sealed, so not in the index)."""
    from . import events as ev

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
    sql, args = where_sql(where)
    names = [c for c in COLUMNS if c != "previous"]
    query = tuples(f"SELECT {', '.join(names)} FROM runs{sql}", args)
    found = [
        dict(zip(names, row))
        for row in indexdb.read_index(records, lambda: scan_rows(records), query)
    ]
    for row in found:
        row["dry_run"] = bool(row["dry_run"])
    return found


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
    import hashlib

    from .manifest import manifest_damage

    rows = []
    for manifest_path in sorted(records.glob(f"*/*/{MANIFEST}")):
        try:
            data = manifest_path.read_bytes()
            manifest = json.loads(data)
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest_damage(manifest) is None:  # else: verify
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
