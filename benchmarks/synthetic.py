"""Synthetic sealed records, for benchmarks and tests of the archive at scale.

Each record is real as far as the archive can tell: its directory comes from
``converter.records.manifest.create_record_dir``, it holds ``journal.jsonl``, ``logs/``,
``record.ipynb`` and ``record.html``, and it is sealed by
``converter.records.chain.finalize_record``, so the files are hashed into a manifest and
every manifest is chained to the one before. Only the contents are made up
(no kernel runs), which makes 10,000 records a matter of seconds.

Two sizes:

* ``realistic`` (default) — as large as a record of the bundled SQLite example:
  a ~100 KB notebook and a ~340 KB ``record.html`` (nbconvert's lab CSS is most
  of it; rendered once with :func:`converter.records.html.render_html`, then varied per
  record so that every file has its own hash);
* ``small`` — a few KB per record, no nbconvert; for tests.

Usage::

    from synthetic import generate
    generate(Path("/tmp/records"), 10_000)          # sealed, chained and indexed

or ``python benchmarks/synthetic.py /tmp/records 10000 [--small]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nbformat

from converter.records.chain import finalize_record
from converter.records.index import add_records, index_row
from converter.records.manifest import create_record_dir

RUNBOOKS = (
    ("db-add-column", "Runbook: add a column to a production table"),
    ("cert-renew", "Runbook: renew the TLS certificate"),
    ("disk-cleanup", "Runbook: free disk space on a full volume"),
    ("deploy-api", "Runbook: deploy the API service"),
)
OPERATORS = ("alice", "bob", "carol", "dave")
# Mostly successes, as in real life; every status appears.
STATUSES = ("succeeded",) * 14 + ("failed", "failed", "blocked", "interrupted")
STEPS = (
    ("pre-1", "prerequisite", "Tools"),
    ("1-1", "procedure", "Back up"),
    ("2-1", "procedure", "Change"),
    ("3-1", "procedure", "Check the result"),
    ("rollback-1", "rollback", "Restore the backup"),
)
CHECKLISTS = (
    ("prerequisites-1", 2),
    ("1-1.verify", 2),
    ("2-1.verify", 2),
    ("3-1.verify", 2),
    ("approval", 2),
)
MARK = "@@RUNBOOK-SYNTHETIC@@"
START = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


def generate(
    records: Path,
    count: int,
    *,
    size: str = "realistic",
    seed: int = 1,
    index: bool = True,
    start: datetime = START,
    spacing: timedelta = timedelta(minutes=7),
    durable: bool = False,
) -> list[Path]:
    """Create ``count`` sealed, chained records under ``records``.

    Returns their directories (oldest first).

    Run ids are spaced ``spacing`` apart from ``start`` so ``--since/--until``
    filters have something to select; runbook, operator and status cycle through
    small fixed sets (deterministic for a given ``seed``). With ``index`` the
    rows are added to the SQLite index in one transaction at the end.

    Unless ``durable``, ``fsync`` is skipped while generating (6 per record, ~4 ms
    each on this disk, would dominate): made-up records need not survive a power
    cut, and the bytes, hashes and chain are the same either way.
    """
    if size not in ("realistic", "small"):
        raise ValueError("size must be 'realistic' or 'small'")
    records = Path(records)
    rng = random.Random(seed)
    notebook_text, html_text = _templates(size)
    made: list[Path] = []
    rows: list[dict[str, Any]] = []
    with contextlib.nullcontext() if durable else _no_fsync():
        for number in range(count):
            _one(
                records,
                number,
                start + number * spacing,
                rng,
                notebook_text,
                html_text,
                made,
                rows if index else None,
            )
    if index:
        add_records(records, rows)
    return made


def _one(
    records: Path,
    number: int,
    moment: datetime,
    rng: random.Random,
    notebook_text: str,
    html_text: str,
    made: list[Path],
    rows: list[dict[str, Any]] | None,
) -> None:
    """Create, fill and seal one record."""
    runbook_id, title = RUNBOOKS[number % len(RUNBOOKS)]
    run_dir, run_id = create_record_dir(records, runbook_id, now=moment)
    status = STATUSES[rng.randrange(len(STATUSES))]
    operator = OPERATORS[rng.randrange(len(OPERATORS))]
    events, steps, checks, failure = _story(
        run_id, runbook_id, title, operator, status, moment, rng
    )
    (run_dir / "logs").mkdir()
    for step in steps:
        if step["exit_code"] is not None:
            (run_dir / "logs" / f"{step['id']}.log").write_text(
                _log(step, run_id), encoding="utf-8"
            )
    (run_dir / "journal.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8"
    )
    unique = f"{run_id} {status} {operator}"
    (run_dir / "record.ipynb").write_text(notebook_text.replace(MARK, unique), encoding="utf-8")
    (run_dir / "record.html").write_text(html_text.replace(MARK, unique), encoding="utf-8")
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "runbook": {
            "id": runbook_id,
            "title": title,
            "source_sha256": f"{rng.getrandbits(256):064x}",
        },
        "status": status,
        "dry_run": number % 50 == 49,
        "operator": operator,
        "mode": "headless",
        "started_at": _iso(moment),
        "finished_at": _iso(moment + timedelta(seconds=9)),
        "parameters": {
            "db_path": f"/srv/db/{runbook_id}.db",
            "column_name": "phone_number",
            "token": "***",
        },
        "steps": steps,
        "checks": checks,
    }
    if failure:
        manifest["failure"] = failure
    sealed = finalize_record(run_dir, manifest=manifest)
    made.append(run_dir)
    if rows is not None:
        rows.append(index_row(records, run_dir, sealed))


@contextlib.contextmanager
def _no_fsync() -> Iterator[None]:
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def _story(
    run_id: str,
    runbook_id: str,
    title: str,
    operator: str,
    status: str,
    moment: datetime,
    rng: random.Random,
) -> tuple[list[dict], list[dict], list[dict], dict | None]:
    """Journal events, manifest steps and checks, and the failure, consistent with ``status``."""
    stop_at = {"succeeded": None, "failed": "2-1", "blocked": "2-1", "interrupted": "3-1"}[status]
    clock = moment
    seq = 0

    def event(name: str, /, **fields: Any) -> dict:
        nonlocal clock, seq
        clock += timedelta(milliseconds=rng.randrange(20, 400))
        seq += 1
        return {"event": name, "at": _iso(clock), "seq": seq, **fields}

    events = [
        event(
            "run_start",
            source="runner",
            pid=1,
            run_id=run_id,
            operator=operator,
            dry_run=False,
            parameters={"db_path": f"/srv/db/{runbook_id}.db"},
            confirm=["all"],
        ),
        event(
            "session_start",
            source="kernel",
            pid=2,
            runbook={"id": runbook_id, "title": title},
            mode="headless",
            operator=operator,
            steps=[{"id": s, "kind": k, "title": t} for s, k, t in STEPS],
        ),
    ]
    steps, checks, failure, stopped = [], [], None, False
    for (step_id, kind, step_title), (list_id, items) in zip(STEPS, CHECKLISTS):
        result = {
            "id": step_id,
            "title": step_title,
            "kind": kind,
            "status": "not_run",
            "exit_code": None,
            "duration_s": None,
        }
        if kind == "rollback":
            result["status"] = "skipped"
        elif stopped:
            pass
        elif step_id == stop_at and status == "blocked":
            events.append(
                event("blocked", step=step_id, unchecked=[f"{list_id}.1"], gate=[list_id])
            )
            result["status"], stopped = "blocked", True
            failure = {"step": step_id, "reason": f"unchecked: {list_id}.1", "status": "blocked"}
        else:
            events.append(
                event(
                    "step_start",
                    step=step_id,
                    kind=kind,
                    title=step_title,
                    code='sqlite3 "$db_path" .schema\n',
                )
            )
            if step_id == stop_at and status == "interrupted":
                result["status"], stopped = "interrupted", True
                failure = {
                    "step": step_id,
                    "reason": "interrupted by a signal",
                    "status": "interrupted",
                }
            else:
                code = 1 if step_id == stop_at else 0
                duration = round(rng.uniform(0.05, 2.0), 3)
                events.append(
                    event(
                        "step_end",
                        step=step_id,
                        status="failed" if code else "succeeded",
                        exit_code=code,
                        duration_s=duration,
                        log=f"logs/{step_id}.log",
                    )
                )
                result.update(
                    status="failed" if code else "succeeded", exit_code=code, duration_s=duration
                )
                if code:
                    stopped = True
                    failure = {
                        "step": step_id,
                        "reason": "exited with status 1",
                        "status": "failed",
                    }
        for item in range(1, items + 1):
            ticked = not stopped or result["status"] in ("failed", "interrupted")
            check = {
                "id": f"{list_id}.{item}",
                "text": f"Item {item} of {list_id} is confirmed",
                "checked": ticked,
                "by": operator if ticked else None,
                "at": None,
            }
            if ticked:
                tick = event(
                    "check",
                    id=check["id"],
                    text=check["text"],
                    checked=True,
                    by=operator,
                    via="parameter",
                )
                events.append(tick)
                check["at"] = tick["at"]
            checks.append(check)
        steps.append(result)
    if status == "succeeded":
        events.append(
            event("session_end", source="kernel", statuses={s["id"]: s["status"] for s in steps})
        )
    events.append(event("run_end", source="runner", status=status))
    return events, steps, checks, failure


def _log(step: dict, run_id: str) -> str:
    lines = [f"[{run_id}] {step['title']}"] + [
        f"users|{n}|user{n}@example.com|+81-90-0000-{n:04d}" for n in range(20)
    ]
    return "\n".join(lines) + "\n"


def _templates(size: str) -> tuple[str, str]:
    """(record.ipynb text, record.html text), each containing ``MARK`` once or more."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["runbook"] = {
        "id": "synthetic",
        "title": "Synthetic record",
        "steps": [],
        "checklists": [],
    }
    cells = 60 if size == "realistic" else 4
    for number in range(cells):
        nb.cells.append(
            nbformat.v4.new_markdown_cell(
                f"#### {number}. A step of the procedure\n\nWhat it does and why."
            )
        )
        cell = nbformat.v4.new_code_cell(
            f"%%step {number}\nsqlite3 \"$db_path\" 'SELECT count(*) FROM users;'"
        )
        cell.outputs = [
            nbformat.v4.new_output(
                "display_data",
                data={
                    "text/plain": f"[{number}] succeeded (exit 0, 0.2 s) {MARK}",
                    "text/html": (
                        '<div class="runbook-status runbook-succeeded">'
                        f"[{number}] succeeded {MARK}</div>"
                    ),
                },
            ),
            nbformat.v4.new_output(
                "stream",
                name="stdout",
                text="".join(f"row {n}|user{n}@example.com\n" for n in range(12)),
            ),
        ]
        nb.cells.append(cell)
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    notebook_text = nbformat.writes(nb) + "\n"
    if size == "small":
        page = "".join(f"<h3>{c.source.splitlines()[0]}</h3><pre>{MARK}</pre>" for c in nb.cells)
        return notebook_text, f"<!DOCTYPE html><html><body><h1>{MARK}</h1>{page}</body></html>\n"
    from converter.records.html import render_html

    return notebook_text, render_html(nb, title="Synthetic record")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument(
        "--small", action="store_true", help="a few KB per record instead of a realistic size"
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    generate(args.records, args.count, size="small" if args.small else "realistic")
    print(f"{args.count} records in {time.perf_counter() - began:.1f} s under {args.records}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
