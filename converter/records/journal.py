"""The append-only event log of a run (``journal.jsonl``): evidence that survives a crash.

Why it is built this way:

* One JSON object per line, written with a single ``os.write`` on a descriptor opened
  with ``O_APPEND``.  The kernel positions every such write at the current end of file,
  so the runner and the kernel process can append to the same journal without their
  lines interleaving.
* No user-space buffer: a SIGKILL of the kernel or the runner loses no written event,
  whether or not it was fsynced (the bytes are in the OS page cache).
* ``fsync`` after every *decisive* event (a step's end, a block, a check ticked, the
  run's start and end, ...), not after the few in :data:`DEFERRED_SYNC` (a step's start,
  a skip, a dry-run step): one fsync per step instead of two (each costs milliseconds
  on a real disk, 2.7 ms on the benchmark machine).  The trade-off: only a *host*
  crash (power loss, kernel panic) can lose a deferred event, and only one written
  after the last fsync; the next decisive event's fsync makes it durable too, since an
  fsync covers the whole file.  So after a host crash mid-step the journal may not show
  that the step had started; a process crash never loses it.
* Every string (keys included, at any depth) goes through the ``SecretMasker`` first,
  because the journal is a record file and secrets must never reach one.
* ``read_journal`` tolerates exactly one kind of damage, the one a kill mid-write can
  cause: an unterminated last line.  Any other malformed line is an error, because
  silently dropping the middle of an evidence log would hide tampering.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RecordError
from .mask import SecretMasker

if TYPE_CHECKING:
    from typing_extensions import Self

RESERVED = ("event", "at", "seq")

DEFERRED_SYNC = frozenset({"step_start", "step_skipped", "step_dry_run"})
"""Events written without their own fsync: the step's end (or the next decisive event)
follows at once and its fsync covers them (see the module docstring)."""

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def utc_now() -> str:
    """Current time as ISO 8601 UTC with milliseconds and a ``Z`` suffix."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def masked_json(value: object, masker: SecretMasker | None) -> object:
    """A JSON-ready copy of ``value`` with every string masked (objects become strings)."""
    if isinstance(value, str):
        return masker.mask(value) if masker else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        # NaN/Infinity are not JSON; keep the line parseable by any reader.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {_clean_key(k, masker): masked_json(v, masker) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [masked_json(item, masker) for item in value]
    return masked_json(str(value), masker)


def _clean_key(key: object, masker: SecretMasker | None) -> str:
    text = key if isinstance(key, str) else str(key)
    return masker.mask(text) if masker else text


class Journal:
    """Append-only JSON-lines event log: unbuffered (survives a SIGKILL), fsynced when decisive."""

    def __init__(self, path: Path, *, masker: SecretMasker | None = None) -> None:
        self.path = Path(path)
        self.masker = masker
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
        )
        self._lock = threading.Lock()

    def write(self, event: str, **fields: object) -> dict:
        """Append one event and return it as written (masked, with event/at/seq first)."""
        clash = [name for name in RESERVED if name in fields]
        if clash:
            raise ValueError(f"journal fields {clash} are reserved")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"journal {self.path} is closed")
            with _seq_lock:
                seq = next(_seq)
            record: dict = masked_json(
                {"event": event, "at": utc_now(), "seq": seq, **fields}, self.masker
            )  # type: ignore[assignment]
            line = _json_line(record)
            written = os.write(self._fd, line)
            while written < len(line):  # only on a full disk or a signal; keep the bytes
                written += os.write(self._fd, line[written:])
            if event not in DEFERRED_SYNC:
                os.fsync(self._fd)
        return record

    def close(self) -> None:
        """Close the file; further writes raise ``ValueError``.  Safe to call twice."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_line(record: dict) -> bytes:
    """One event as a line of UTF-8 JSON.

    A value read from the shell (an exported variable, a directory name) may hold bytes
    that are not UTF-8, decoded as lone surrogates (``os.fsdecode``). Such a line is
    written with JSON's ``\\uXXXX`` escapes: still valid UTF-8 and JSON, and reading it
    back gives the same string, so resume hands the shell the same bytes.
    """
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record) + "\n").encode("ascii")


def read_journal(path: Path) -> list[dict]:
    """All events in file order; an unterminated last line (a kill mid-write) is ignored.

    Any other malformed line raises :class:`RecordError` with its line number.
    """
    events, damage = read_journal_prefix(path)
    if damage is not None:
        line, message = damage
        raise RecordError(message, path=str(path), line=line)
    return events


def read_journal_prefix(path: Path) -> tuple[list[dict], tuple[int, str] | None]:
    """The events before the first corrupt line, and (line number, what is wrong) or None.

    Used to seal a run whose journal was damaged: what came before the damage is
    still evidence, and the damage itself is stated in the record.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecordError("journal not found", path=str(path)) from None
    lines = data.split(b"\n")
    events: list[dict] = []
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)  # text after the final newline, usually empty
        if not raw.strip():
            continue
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if last:
                break
            return events, (number, "malformed journal line")
        if not isinstance(event, dict):
            if last:
                break
            return events, (number, "journal line is not a JSON object")
        events.append(event)
    return events, None
