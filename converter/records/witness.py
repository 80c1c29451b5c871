"""The witness: an append-only file outside the archive, one fsynced line per sealed record.

Anyone who can write the records directory can rewrite a record and recompute
every later hash, or delete the newest records and the chain head: the chain
alone then still looks whole. The witness lives elsewhere (another disk, a log
shipper's input, a file only ``chattr +a`` lets grow), so such edits disagree
with it. Each line is a JSON object::

    {"seq": 7, "run_id": "20261128T133448Z-0510fea1", "record": "<runbook>/<run_id>",
     "sha256": "<manifest sha256>", "previous": "<previous manifest sha256 or null>"}

:func:`check_witness` compares the archive with it: a witnessed manifest that is
gone (deleted) or hashes differently (rewritten), two lines following the same
manifest (a fork), and sealed records the witness never saw.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecordError
from .faults import fault


@dataclass(frozen=True)
class WitnessLine:
    """One witnessed seal."""

    seq: int
    run_id: str
    record: str
    """The record directory relative to the records root (posix)."""
    sha256: str
    previous: str | None

    def text(self) -> str:
        """The line as written (compact JSON and a newline)."""
        return (
            json.dumps(
                {
                    "seq": self.seq,
                    "run_id": self.run_id,
                    "record": self.record,
                    "sha256": self.sha256,
                    "previous": self.previous,
                },
                separators=(",", ":"),
                ensure_ascii=False,
            )
            + "\n"
        )


@dataclass(frozen=True)
class Sealed:
    """What the archive holds for one record, as the witness check needs it."""

    record: str
    sha256: str
    sequence: int | None


def probe(path: str) -> None:
    """Prove the witness can be appended to (before a run starts), or raise RecordError."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        raise RecordError(
            f"cannot append to the witness: {exc.strerror or exc} (--witness / RUNBOOK_WITNESS)",
            path=path,
        ) from None


def append(path: str, line: str) -> None:
    """Append ``line`` and fsync it, unless it is already the last line (a replayed seal)."""
    if last_line(path) == line:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        data = line.encode("utf-8")
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to the witness {path}")
        fault("witness:appended")
        os.fsync(fd)
        fault("witness:synced")
    finally:
        os.close(fd)


def read_witness(path: str) -> tuple[list[WitnessLine], list[str]]:
    """(lines, problems) of a witness file; an unreadable line is a problem, not skipped."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(f"cannot read the witness: {exc.strerror or exc}", path=path) from None
    lines, problems = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            item = json.loads(raw)
            lines.append(
                WitnessLine(
                    int(item["seq"]),
                    str(item["run_id"]),
                    str(item["record"]),
                    str(item["sha256"]),
                    item.get("previous"),
                )
            )
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number} is not a witness line: {raw[:60]!r}")
    return lines, problems


def check_witness(
    lines: list[WitnessLine], sealed: list[Sealed], pending: set[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(problems, notes) as (record, message) pairs: the archive against its witness.

    ``pending`` holds manifest hashes of seals a crash interrupted, which the next
    seal completes (they may be on either side only).
    """
    by_sha = {s.sha256: s for s in sealed}
    by_record = {s.record: s for s in sealed}
    witnessed = {w.sha256 for w in lines}
    problems: list[tuple[str, str]] = []
    newest = max((w.seq for w in lines), default=0)
    for w in lines:
        if w.sha256 in by_sha or w.sha256 in pending:
            continue
        present = by_record.get(w.record)
        if present is not None:
            problems.append(
                (
                    w.record,
                    (
                        f"rewritten: the witness holds manifest sha256 "
                        f"{w.sha256[:12]}… (seq {w.seq}); the archive's hashes "
                        f"to {present.sha256[:12]}…"
                    ),
                )
            )
        else:
            which = "newest record" if w.seq == newest else "record"
            problems.append(
                (
                    w.record,
                    (
                        f"deleted: {which} witnessed as seq {w.seq} (run "
                        f"{w.run_id}) is missing from the archive"
                    ),
                )
            )
    problems.extend(_forks([w for w in lines if w.sha256 in by_sha]))  # a deleted side: named
    first = min((w.seq for w in lines), default=None)
    older = 0
    named = {record for record, _ in problems}
    for s in sealed:
        if s.sha256 in witnessed or s.sha256 in pending or s.record in named:
            continue
        if first is not None and s.sequence is not None and s.sequence < first:
            older += 1
            continue
        problems.append(
            (
                s.record,
                (
                    "not in the witness: sealed without it, or its line was "
                    "removed (history rewritten?)"
                ),
            )
        )
    notes = [("witness", f"{older} record(s) predate the witness's first line (seq {first})")]
    return problems, notes if older else []


def _forks(lines: list[WitnessLine]) -> list[tuple[str, str]]:
    """Two present records witnessed after the same manifest."""
    after: dict[str | None, WitnessLine] = {}
    problems = []
    for w in lines:
        other = after.setdefault(w.previous, w)
        if other.sha256 != w.sha256:
            problems.append(
                (
                    w.record,
                    (
                        f"fork: follows the same manifest as {other.record} "
                        f"(seq {other.seq} and {w.seq} share previous "
                        f"{str(w.previous)[:12]}…)"
                    ),
                )
            )
    return problems


def last_line(path: str) -> str | None:
    """The witness's last line (with its newline), read from the file's tail; None when empty."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            tail = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    lines = tail.splitlines(keepends=True)
    return lines[-1] if lines else None
