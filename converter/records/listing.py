"""``records list``: which runs the index holds, and the table or JSON that shows them.

Kept light on purpose (``sqlite3`` and the index file, ``json`` only when a value
needs it): ``runbook records list --limit 20`` imports this and little else. Rows
travel as tuples in :data:`LISTED` order, straight from SQLite, and the output
is formatted in one pass; 50,000 rows of dicts reshaped twice were most of the
command. :func:`list_rows` and :func:`list_table` are the same views over dict
rows (the index rows of :func:`.index.list_runs`, or of a run still going).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import RecordError
from . import indexdb

Row = tuple[Any, ...]
"""One listed run: its values in :data:`LISTED` order."""

LISTED = (
    "run_id", "runbook_id", "title", "status", "operator", "mode", "dry_run", "started_at",
    "finished_at", "failed_step", "path", "manifest_sha256", "resumes",
    "kind", "stopped_at", "rollback", "approvers", "duration_s",
)  # fmt: skip
"""What ``records list --json`` shows of a run, in its key order (the index's columns first)."""
(RUN_ID, RUNBOOK_ID, _, STATUS, OPERATOR, _, DRY_RUN, STARTED_AT, FINISHED_AT, _, _, _,
 RESUMES, KIND, STOPPED_AT, ROLLBACK, APPROVERS, DURATION_S) = range(len(LISTED))  # fmt: skip

_COMPUTED = {
    "kind": "coalesce(nullif(kind, ''), CASE WHEN dry_run THEN 'plan' ELSE 'run' END)",
    "stopped_at": "CASE WHEN status <> 'succeeded' THEN failed_step END",
}
"""``kind`` and ``stopped_at`` in SQL, as :func:`list_rows` makes them."""
_SELECT = f"SELECT {', '.join(_COMPUTED.get(key, key) for key in LISTED)} FROM runs"
_TABLE_SELECT = (
    "SELECT "
    + ", ".join(
        "NULL"
        if key in ("title", "mode", "dry_run", "path", "manifest_sha256")
        else _COMPUTED.get(key, key)
        for key in LISTED
    )
    + " FROM runs"
)
"""The same, without the values the table does not show (fewer Python objects to make)."""


class RunFilter(NamedTuple):
    """What ``records list`` narrows by; ``None`` means any."""

    runbook: str | None = None
    status: str | None = None
    operator: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None


def where_sql(where: RunFilter) -> tuple[str, list[str]]:
    """The ``WHERE … ORDER BY … LIMIT`` part of a listing query, and its arguments.

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
    sql = " WHERE " + " AND ".join(clauses) + " ORDER BY started_at DESC, run_id DESC"
    return sql + (f" LIMIT {int(where.limit)}" if where.limit else ""), args


def listed_runs(
    records: Path, where: RunFilter, rows: indexdb.Rows, *, for_table: bool = False
) -> list[Row]:
    """Index rows matching ``where`` as :data:`LISTED` tuples, newest first.

    ``rows`` reads every manifest, for an index that must be rebuilt first;
    ``for_table`` leaves out (as ``None``) what :func:`table_text` does not show.
    """
    sql, args = where_sql(where)
    query = tuples((_TABLE_SELECT if for_table else _SELECT) + sql, args)
    found = indexdb.read_index(records, rows, query)
    return [
        r if r[DURATION_S] is not None or r[FINISHED_AT] is None else _with_duration(r)
        for r in found
    ]


def tuples(sql: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], list[Row]]:
    """A query for :func:`.indexdb.read_index` whose rows are plain tuples, not ``Row`` objects."""

    def query(db: sqlite3.Connection) -> list[Row]:
        cursor = db.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, args).fetchall()

    return query


def listed_json(records: Path, where: RunFilter, rows: indexdb.Rows) -> Iterator[str]:
    """:func:`json_text` of :func:`listed_runs` in pieces of about a megabyte (to write
    as they come), with SQLite writing most of each object.

    SQLite writes each object up to ``duration_s`` (a float: Python writes it) with
    ``json_quote``; an object with a backslash in it (a string escaped: SQLite
    and Python might spell it differently) or with approvers is written by
    :func:`json_text` instead.
    """
    import json

    if sqlite3.sqlite_version_info < (3, 38):  # JSON functions built in since 3.38
        yield json_text(listed_runs(records, where, rows))
        return
    sql, args = where_sql(where)

    def query(db: Any) -> tuple[list[Row], dict[int, Row]]:
        cursor = db.cursor()
        cursor.row_factory = None
        cursor.execute("BEGIN")  # one snapshot for both queries
        try:
            found = cursor.execute(_JSON_SELECT + sql, args).fetchall()
            odd = [rowid for text, _, rowid in found if text is None or "\\" in text]
            full: dict[int, Row] = {}
            for start in range(0, len(odd), 500):
                chunk = odd[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                select = f"SELECT rowid, {_SELECT[len('SELECT ') :]} WHERE rowid IN ({marks})"
                full.update((row[0], row[1:]) for row in cursor.execute(select, chunk))
            return found, full
        finally:
            cursor.execute("COMMIT")

    found, full = indexdb.read_index(records, rows, query)
    if not found:
        yield "[]"
        return
    ends = [",\n"] * len(found)
    ends[-1] = "\n]"
    texts = [text for text, _, _ in found]
    tails = [
        duration + "\n  }" + end
        for duration, end in zip(_encoded(json, [row[1] for row in found]), ends)
    ]
    for i, (_, _, rowid) in enumerate(found):
        if rowid in full:
            texts[i], tails[i] = _object(full[rowid]), ends[i]
    yield "[\n"
    for start in range(0, len(found), 2000):
        end = start + 2000
        yield "".join(chain.from_iterable(zip(texts[start:end], tails[start:end])))


def _object(row: Row) -> str:
    """One run as an element of ``json.dumps(rows, indent=2)``."""
    return json_text([row])[2:-2]


def _json_select() -> str:
    values, form = [], "  {\n"
    for key in LISTED[:-1]:
        if key == "dry_run":
            values.append("CASE WHEN dry_run THEN 'true' ELSE 'false' END")
        elif key == "approvers":
            values.append("'[]'")
        else:
            values.append(f"json_quote({_COMPUTED.get(key, key)})")
        form += f'    "{key}": %s,\n'
    form += '    "duration_s": '
    text = f"printf('{form}', {', '.join(values)})"
    when = "coalesce(approvers, '[]') = '[]'"
    return f"SELECT CASE WHEN {when} THEN {text} END, duration_s, rowid FROM runs"


_JSON_SELECT = _json_select()


def merge_running(rows: list[Row], running: list[Row], limit: int | None) -> list[Row]:
    """Index rows and runs still going, newest first; a run a running one resumes goes."""
    resumed = {row[RESUMES] for row in running}  # a chain shows once: its latest run
    merged = [row for row in rows if row[RUN_ID] not in resumed] + running
    merged.sort(key=lambda r: (str(r[STARTED_AT] or ""), r[RUN_ID]), reverse=True)
    return merged[:limit] if limit else merged


def as_listed(rows: Iterable[dict[str, Any]]) -> list[Row]:
    """Dict rows (as :func:`list_rows` returns them) as :data:`LISTED` tuples."""
    return [tuple(row.get(key) for key in LISTED) for row in rows]


def list_rows(records: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Index rows as ``records list`` shows them, from the index alone (no manifest is read).

    Adds ``kind`` (``run`` or ``plan`` for a dry run), ``stopped_at`` (the step
    where a failed, blocked or interrupted run stopped), ``rollback`` (its
    outcome, or ``None`` when none ran), ``approvers`` (``principal`` and
    ``role`` of each valid approval) and ``duration_s``.
    """
    out = []
    for row in rows:
        base = {k: v for k, v in row.items() if k not in _PLACED}
        kind = row.get("kind") or ("plan" if row.get("dry_run") else "run")  # running: no kind
        duration = row.get("duration_s")
        if duration is None:
            duration = duration_s(row.get("started_at"), row.get("finished_at"))
        stopped = row.get("failed_step") if row.get("status") != "succeeded" else None
        out.append(
            {
                **base,
                "kind": kind,
                "stopped_at": stopped,
                "rollback": row.get("rollback"),
                "approvers": approvers(row.get("approvers")),
                "duration_s": duration,
            }
        )
    return out


_PLACED = ("kind", "rollback", "approvers", "duration_s")
"""Index columns that :func:`list_rows` places itself (the ``--json`` key order stays put)."""


def approvers(value: Any) -> list[dict[str, str]]:
    """``principal`` and ``role`` of each approval: from the index's ``approvers`` column
    (JSON ``[[principal, role], …]``), or as :func:`list_rows` already made them."""
    if not value or value == "[]":
        return []
    if isinstance(value, list) and all(isinstance(a, dict) for a in value):
        return value
    import json

    try:
        pairs = json.loads(value) if isinstance(value, str) else value
        return [{"principal": str(p), "role": str(r)} for p, r in pairs]
    except (ValueError, TypeError):
        return []


def list_table(rows: list[dict[str, Any]]) -> str:
    """The ``records list`` table of dict rows (as :func:`list_rows` returns them)."""
    return table_text(as_listed(rows))


_LINE = "%-26s %-24.24s %-12s %-12.12s %-10s %-12.12s %-24s %9s"


def table_text(rows: Sequence[Row]) -> str:
    """The ``records list`` table: one line per run, newest first, dry runs named as such."""
    named = {i: approvers(r[APPROVERS]) for i, r in enumerate(rows) if r[APPROVERS] not in _NONE}
    shown = any(named.values())
    head = ("RUN", "RUNBOOK", "STATUS", "STOPPED AT", "ROLLBACK", "OPERATOR", "STARTED", "DURATION")
    lines = [_LINE % head + ("  APPROVERS" if shown else "")]
    line = _LINE.__mod__
    for i, r in enumerate(rows):
        status = r[STATUS]
        if r[KIND] == "plan":
            status = "dry run" if status == "succeeded" else f"dry run: {status}"
        seconds = r[DURATION_S]
        text = line(
            (
                r[RUN_ID], r[RUNBOOK_ID], status, r[STOPPED_AT] or "-", r[ROLLBACK] or "-",
                r[OPERATOR], r[STARTED_AT],
                "-" if seconds is None else f"{seconds:.1f}s" if seconds < 60 else _long(seconds),
            )
        )  # fmt: skip
        if shown:
            text += "  " + (
                ", ".join(f"{a['principal']} ({a['role']})" for a in named.get(i, ())) or "-"
            )
        if r[RESUMES]:
            text += f"  (resumes {r[RESUMES]})"
        lines.append(text.rstrip().translate(_ONE_LINE))
    return "\n".join(lines)


# Control characters, shown as \xNN: an escape sequence in a record (an operator name, a
# step's output) would otherwise move the cursor, retitle the window or write the
# clipboard of whoever reads it, and a carriage return would hide what precedes it.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}
_ONE_LINE = {**_CONTROLS, 0x09: "\\t", 0x0A: "\\n"}  # a table row stays one row


def printable(text: str) -> str:
    """``text`` for a terminal: control characters but tab and newline shown as ``\\xNN``."""
    return text.translate(_CONTROLS)


_NONE = (None, "", "[]")


def _long(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def json_text(rows: Sequence[Row]) -> str:
    """``json.dumps`` of the rows as :func:`list_rows` dicts with ``indent=2``, made column
    by column with the C encoder (the indenting encoder is pure Python and slow)."""
    import json

    if not rows:
        return "[]"
    columns: list[Sequence[Any]] = list(zip(*rows))
    columns[DRY_RUN] = list(map(bool, columns[DRY_RUN]))
    values = [_encoded(json, column) for column in columns]
    values[APPROVERS] = [
        "[]" if v in _NONE else _nested(json, approvers(v)) for v in columns[APPROVERS]
    ]
    keys = [json.dumps(key, ensure_ascii=False) for key in LISTED]
    row = "  {\n" + ",\n".join(f"    {key}: %s" for key in keys) + "\n  }"
    return "[\n" + ",\n".join(map(row.__mod__, zip(*values))) + "\n]"


def _encoded(json: Any, column: Sequence[Any]) -> list[str]:
    """Each value as ``json.dumps`` writes it (no raw NUL can occur in JSON text)."""
    text = json.dumps(list(column), ensure_ascii=False, separators=("\0", ":"))
    return text[1:-1].split("\0")


def _nested(json: Any, value: list[dict[str, str]]) -> str:
    """A non-empty list as ``indent=2`` writes it two levels down (JSON text has no raw newline)."""
    if not value:
        return "[]"
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n    ")


def _with_duration(row: Row) -> Row:
    return (*row[:DURATION_S], duration_s(row[STARTED_AT], row[FINISHED_AT]))


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
