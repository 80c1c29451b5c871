"""Walk the ``previous`` chain of a records root from its head; name every break.

Used by :mod:`.verify`. Reads only the manifests and the chain files, never the
index. When a record's ``previous`` names no manifest on disk, two things look
alike in the chain alone: the predecessor's manifest was edited, or the
predecessor was deleted (and the record before it is now the loose end). The
walk tells them apart by the loose end's manifest file: written *after* the
successor was sealed (or unreadable) means edited; otherwise the predecessor is
missing. The hint only chooses the wording; either way the run is reported.

Two things are notes, not failures: a seal a crash interrupted after its
manifest was written (``.chain-pending``; the next seal completes it) and a
repair record (``runbook records repair``), which says who recorded which gap
and when — every later verify shows it. A repair records a gap, it does not make
an altered record sound: the manifest ``.chain-head`` named when the repair was
sealed (its ``head_stated``) must still hash to what the head said.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .layout import CHAIN_HEAD, CHAIN_PENDING

GONE_BEFORE = "the record before this one is missing from the chain"
GONE_NEWEST = "newest record is missing (named by .chain-head)"
"""How the walk names a manifest the chain links to but the disk no longer has."""


@dataclass(frozen=True)
class Problem:
    """One verification failure, anchored at a path under the records root."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Entry:
    """One sealed manifest as the chain walk sees it."""

    path: str  # manifest path relative to the records root
    sha256: str
    previous: str | None
    readable: bool  # the manifest parsed as a JSON object
    order: tuple[str, str]  # (finished_at or "", path): a stable "newest" for loose ends
    mtime: float  # of manifest.json, for telling an edited manifest from a deleted record
    sequence: int | None = None
    repair: dict | None = None  # the ``repair`` table of a repair record

    @classmethod
    def from_bytes(cls, where: str, data: bytes, mtime: float, manifest: dict | None) -> Entry:
        """The entry of the manifest ``data`` found at ``<where>/manifest.json``."""
        get = manifest.get if manifest is not None else {}.get
        previous, finished, sequence = get("previous"), get("finished_at"), get("sequence")
        repair = get("repair") if get("kind") == "repair" else None
        return cls(
            f"{where}/manifest.json",
            hashlib.sha256(data).hexdigest(),
            previous if isinstance(previous, str) else None,
            manifest is not None,
            (finished if isinstance(finished, str) else "", where),
            mtime,
            sequence if isinstance(sequence, int) else None,
            {**repair, "by": get("operator"), "at": finished} if isinstance(repair, dict) else None,
        )


def walk(records: Path, entries: list[Entry]) -> tuple[list[Problem], list[Problem]]:
    """(problems, notes) of the chain made by ``entries``, starting at ``.chain-head``."""
    by_sha = {e.sha256: e for e in entries}
    by_path = {e.path: e for e in entries}
    linked = {e.previous for e in entries if e.previous}
    problems: list[Problem] = []
    notes: list[Problem] = []
    seen: set[str] = set()  # manifest hashes reached from the head
    reached: set[str] = set()  # their paths (a copied record has a reached hash but another path)

    def loose_ends(before: Entry | None) -> list[Entry]:
        """Manifests nothing links to and the walk has not reached (older than ``before``)."""
        tips = [e for e in entries if e.sha256 not in seen and e.sha256 not in linked]
        return [e for e in tips if before is None or e.order <= before.order] or tips

    def loose_end(before: Entry | None) -> Entry | None:
        """The newest loose end: where the chain continues after a gap."""
        tips = loose_ends(before)
        return max(tips, key=lambda e: e.order) if tips else None

    current = _start(records, by_sha, entries, problems, notes, loose_end)
    starts: list[Entry] = []
    while current is not None or starts:
        if current is None or current.sha256 in seen:
            current = starts.pop()
            continue
        seen.add(current.sha256)
        reached.add(current.path)
        if current.repair is not None:
            notes.append(Problem(current.path, _repair_note(current.repair)))
            problems.extend(_stated_head_altered(current, by_path))
            starts.extend(by_sha[s] for s in current.repair.get("joined", []) if s in by_sha)
        if current.previous is None:
            if current.readable:
                current = None  # the first record of the chain
                continue
            if all(p.path != current.path for p in problems):
                problems.append(
                    Problem(
                        current.path, "cannot follow the chain past this manifest: it is unreadable"
                    )
                )
            current = loose_end(current)
            continue
        before = by_sha.get(current.previous)
        if before is None:
            before = _gap(current, loose_ends(current), problems)
        current = before
    named = {p.path for p in problems}
    for entry in entries:
        if entry.path not in reached and entry.path not in named:
            problems.append(Problem(entry.path, "record is not in the chain (nothing links to it)"))
    return problems, notes


def _start(
    records: Path,
    by_sha: dict[str, Entry],
    entries: list[Entry],
    problems: list[Problem],
    notes: list[Problem],
    loose_end: Callable[[Entry | None], Entry | None],
) -> Entry | None:
    """Where the walk begins: the head's manifest (or an interrupted seal after it)."""
    head = read_head(records)
    pending = _pending(records, by_sha)
    if pending is not None and pending.previous == (head[0] if isinstance(head, tuple) else None):
        notes.append(
            Problem(
                pending.path,
                "sealing was interrupted after this manifest was "
                "written; the next run or 'runbook records list' completes it",
            )
        )
        return pending
    if head is None:
        if not entries:
            return None
        problems.append(
            Problem(
                CHAIN_HEAD,
                "missing: the newest record cannot be confirmed "
                "(run 'runbook records repair' to record the gap)",
            )
        )
        return loose_end(None)
    if isinstance(head, str):  # "malformed"
        problems.append(Problem(CHAIN_HEAD, "malformed (expected '<sha256> <path>')"))
        return loose_end(None)
    head_sha, head_path = head
    current = by_sha.get(head_sha)
    if current is not None:
        return current
    present = next((e for e in entries if e.path == head_path), None)
    if present is not None:
        problems.append(
            Problem(head_path, "manifest altered: its sha256 no longer matches .chain-head")
        )
        return present
    problems.append(Problem(head_path, GONE_NEWEST))
    return loose_end(None)


def _gap(current: Entry, tips: list[Entry], problems: list[Problem]) -> Entry | None:
    """Name the break before ``current``; return where the chain continues."""
    # An unreadable loose end, or one written after its would-be successor, is the edited
    # predecessor; otherwise the predecessor is gone and the newest loose end comes next.
    edited = [e for e in tips if not e.readable] or [e for e in tips if e.mtime > current.mtime]
    if edited:
        before = max(edited, key=lambda e: e.order)
        problems.append(
            Problem(
                before.path,
                "manifest altered: its sha256 no longer matches the "
                f"'previous' of its successor {current.path}",
            )
        )
        return before
    problems.append(
        Problem(
            current.path,
            f"{GONE_BEFORE} (its 'previous' {str(current.previous)[:12]}… names no manifest "
            "on disk)",
        )
    )
    return max(tips, key=lambda e: e.order) if tips else None


def _stated_head_altered(repair: Entry, by_path: dict[str, Entry]) -> list[Problem]:
    """The manifest the head named when ``repair`` was sealed, if it no longer hashes to what
    the head said: a repair records a gap, it does not make an altered record sound."""
    stated = (repair.repair or {}).get("head_stated")
    if not isinstance(stated, dict):
        return []  # the head was missing or malformed: nothing was stated
    found = by_path.get(str(stated.get("path")))
    if found is None or found.sha256 == stated.get("sha256"):
        return []  # gone (the repair's note says so), or as the head stated
    return [
        Problem(
            found.path,
            "manifest altered: its sha256 no longer matches the .chain-head "
            f"that the repair record {repair.path} found",
        )
    ]


def _repair_note(repair: dict) -> str:
    return (
        f"chain repaired by {repair.get('by')} at {repair.get('at')}: "
        f"{repair.get('summary', 'no summary')}"
    )


def _pending(records: Path, by_sha: dict[str, Entry]) -> Entry | None:
    """The manifest of an interrupted seal, when it was written (see :mod:`.chain`)."""
    sha = pending_sha(records)
    return by_sha.get(sha) if sha else None


def pending_sha(records: Path) -> str | None:
    """The manifest hash an interrupted seal will commit, if one is pending."""
    try:
        text = json.loads((records / CHAIN_PENDING).read_text(encoding="utf-8"))["text"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()


def read_head(records: Path) -> tuple[str, str] | str | None:
    """(sha256, manifest path) from ``.chain-head``; ``"malformed"``; ``None`` when absent."""
    try:
        line = (records / CHAIN_HEAD).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "malformed"
    sha, _, path = line.partition(" ")
    if len(sha) != 64 or not path:
        return "malformed"
    return sha, path
