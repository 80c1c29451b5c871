"""The SQLite file behind the records index, opened so that no state of it stops a reader.

The index is a cache of the manifests (:mod:`.index`), never a source of truth:

* missing, or of another schema (``PRAGMA user_version``): (re)created, then filled;
* corrupt (``sqlite3.DatabaseError``: truncated, overwritten): moved aside as
  ``index.sqlite.corrupt-<time>`` and rebuilt;
* behind (a sealed record not in it): rebuilt. Detecting that stays cheap: the
  manifest named by ``.chain-head`` must be in the index, and a seal that finds
  its predecessor missing (a run killed between its manifest and its index row)
  leaves a ``behind`` mark for the next reader;
* unwritable (a read-only mount, a full disk): readers get a private in-memory
  index built from the manifests, and nothing is written into the archive.

Concurrent runs write safely: WAL journal, one short ``BEGIN IMMEDIATE``
transaction per record, and a busy timeout so a writer waits for the lock.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DiskFull, RecordError, is_disk_full
from .layout import CHAIN_HEAD, CORRUPT_INDEX, INDEX, INDEX_LOCK, MANIFEST

T = TypeVar("T")
Rows = Callable[[], list[dict[str, Any]]]
"""Every index row, read from the manifests on disk (the truth the cache is rebuilt from)."""

SCHEMA_VERSION = 5  # 3: resumes (runbook resume); 5: what `records list` shows (no manifest reads)
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
    previous TEXT,
    resumes TEXT,
    kind TEXT,
    rollback TEXT,
    approvers TEXT,
    duration_s REAL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at DESC);
CREATE INDEX IF NOT EXISTS runs_runbook ON runs (runbook_id, started_at DESC);
CREATE INDEX IF NOT EXISTS runs_manifest ON runs (manifest_sha256);
CREATE INDEX IF NOT EXISTS runs_resumes ON runs (resumes);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
COLUMNS = (
    "run_id", "runbook_id", "title", "status", "operator", "mode", "dry_run",
    "started_at", "finished_at", "failed_step", "path", "manifest_sha256", "previous", "resumes",
    "kind", "rollback", "approvers", "duration_s",
)  # fmt: skip
"""``approvers``: JSON list of ``[principal, role]`` of the valid approvals; ``rollback``: its
outcome, NULL when no rollback ran."""
INSERT = (
    f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
)
BEHIND = "behind"
"""``meta`` key set by a seal whose predecessor is not indexed; a rebuild clears it."""


def require_directory(records: Path) -> None:
    """A records root must be an existing directory (a typo must not look like an empty archive)."""
    if not records.exists():
        raise RecordError("no such records directory", path=str(records))
    if not records.is_dir():
        raise RecordError("not a directory (give the records directory)", path=str(records))


def is_writable(records: Path) -> bool:
    """Whether the index may be written here (not a read-only mount or directory)."""
    return os.access(records, os.W_OK)


def is_corrupt(exc: BaseException) -> bool:
    """An SQLite error that says the file is damaged (not a lock, not a full disk)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or name.startswith("SQLITE_CORRUPT"):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def read_index(records: Path, rows: Rows, query: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``query`` on an index that holds every sealed record, whatever state the file is in."""
    require_directory(records)
    if is_writable(records):
        for _ in range(3):
            try:
                with _current(records, rows) as db:
                    return query(db)
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc):
                    break  # full disk, I/O error: read from memory below
                move_aside(records)
            except RecordError:
                break
    with memory_index(rows) as db:
        return query(db)


@contextmanager
def memory_index(rows: Rows) -> Iterator[sqlite3.Connection]:
    """A private index in memory, built from the manifests (read-only archive, full disk)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.executescript(SCHEMA)
        db.executemany(INSERT, [tuple(row[c] for c in COLUMNS) for row in rows()])
        yield db
    finally:
        db.close()


@contextmanager
def connect(records: Path) -> Iterator[sqlite3.Connection]:
    """Open the index file for writing: created, or moved aside and recreated, when unusable."""
    for attempt in range(3):
        try:
            db = _open(records)
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc) or attempt == 2:
                raise index_error(records, exc) from None
            move_aside(records)
            continue
        try:
            yield db
            return
        finally:
            db.close()


def transaction(db: sqlite3.Connection, body: Callable[[], object]) -> None:
    """Run ``body`` in one ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front).

    On a full disk SQLite has already rolled back when the error arrives; the
    ROLLBACK's own "no transaction is active" must not hide the real error.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        body()
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def write(records: Path, action: Callable[[], T], attempts: int = 50) -> T:
    """Run a write; wait and retry while another writer holds the lock; errors → RecordError."""
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or attempt == attempts - 1:
                raise index_error(records, exc) from None
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def index_error(records: Path, exc: BaseException) -> RecordError:
    """A RecordError that names the real cause (a full disk says so)."""
    if is_disk_full(exc):
        return DiskFull(str(records))
    return RecordError(f"records index: {exc}", path=str(records / INDEX))


def is_behind(records: Path, db: sqlite3.Connection) -> bool:
    """Whether a sealed record is missing from the index (cheap: no scan of the records)."""
    if db.execute("SELECT 1 FROM meta WHERE key = ?", (BEHIND,)).fetchone():
        return True
    head = head_sha256(records)
    if head is None:  # no chain head: only an empty index next to manifests is known stale
        empty = db.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None
        return empty and next(iter(records.glob(f"*/*/{MANIFEST}")), None) is not None
    found = db.execute("SELECT 1 FROM runs WHERE manifest_sha256 = ?", (head,))
    return found.fetchone() is None


def head_sha256(records: Path) -> str | None:
    """The sha256 in ``.chain-head`` (the newest manifest), or None when there is none."""
    try:
        sha = (records / CHAIN_HEAD).read_text(encoding="utf-8").split(" ", 1)[0]
    except (OSError, UnicodeDecodeError):
        return None
    return sha if len(sha) == 64 else None


def move_aside(records: Path) -> None:
    """Move a corrupt index out of the way (one process does it; the others find it done)."""
    with index_lock(records):
        path = records / INDEX
        try:
            probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if probe.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                    return  # replaced by another process meanwhile
            finally:
                probe.close()
        except sqlite3.Error:
            pass
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        with suppress(FileNotFoundError):
            os.replace(path, records / CORRUPT_INDEX.format(stamp=stamp))
        for suffix in ("-wal", "-shm", "-journal"):
            with suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")


@contextmanager
def index_lock(records: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``.index.lock`` (replacing the file is rare and quick)."""
    fd = os.open(records / INDEX_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- internals


def _open(records: Path) -> sqlite3.Connection:
    """The index file with WAL, the current schema and a generous busy timeout."""
    db = sqlite3.connect(records / INDEX, timeout=30, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            write(records, lambda: _recreate(records, db))
        write(records, lambda: db.execute("PRAGMA journal_mode=WAL"))
        return db
    except BaseException:
        db.close()
        raise


def _recreate(records: Path, db: sqlite3.Connection) -> None:
    """A missing or old-schema index: current tables, marked behind until a rebuild fills them."""
    with index_lock(records):
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return  # another process did it while we waited

        def body() -> None:
            db.execute("DROP TABLE IF EXISTS runs")
            db.execute("DROP TABLE IF EXISTS meta")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (BEHIND, "new"))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        transaction(db, body)


@contextmanager
def _current(records: Path, rows: Rows) -> Iterator[sqlite3.Connection]:
    with connect(records) as db:
        if is_behind(records, db):
            rebuild(records, db, rows)
        yield db


def rebuild(records: Path, db: sqlite3.Connection, rows: Rows) -> int:
    """Refill the index from the manifests in one transaction; returns the number of records.

    A concurrent reader sees the old index or the new one. Rows of records gone
    from disk go; a row a run added after the scan stays; the ``behind`` mark is
    cleared only if no seal set it again while we scanned.
    """
    mark = db.execute("SELECT value FROM meta WHERE key = ?", (BEHIND,)).fetchone()
    found = rows()
    paths = {row["path"] for row in found}

    def body() -> None:
        stale = [
            (r["path"],)
            for r in db.execute("SELECT path FROM runs")
            if r["path"] not in paths and not (records / r["path"] / MANIFEST).exists()
        ]
        db.executemany("DELETE FROM runs WHERE path = ?", stale)
        db.executemany(INSERT, [tuple(row[c] for c in COLUMNS) for row in found])
        if mark is not None:
            db.execute("DELETE FROM meta WHERE key = ? AND value = ?", (BEHIND, mark[0]))

    write(records, lambda: transaction(db, body))
    return len(found)
