"""``runbook records verify``: recompute every hash and walk the ``previous`` chain.

Reads only the record directories and ``.chain-head`` — never the SQLite index,
which anyone able to edit a record could edit too. Each problem names what is
wrong: an altered or missing file, a manifest whose hash no longer matches its
successor's ``previous``, a record missing from the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .record import CHAIN_HEAD, MANIFEST, hash_file


@dataclass(frozen=True)
class Problem:
    """One verification failure, anchored at a path under the records root."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class _Entry:
    path: str  # manifest path relative to the records root
    sha256: str
    previous: str | None


def verify_record(records: Path, run_dir: Path) -> list[Problem]:
    """Check one record's files against its manifest."""
    where = run_dir.relative_to(records).as_posix()
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except FileNotFoundError:
        return [Problem(where, "no manifest.json: the record was never finalized (run 'runbook records reindex')")]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [Problem(f"{where}/{MANIFEST}", f"manifest is unreadable: {exc}")]
    problems = []
    for name, expected in sorted(files.items()):
        path = run_dir / name
        if not path.is_file():
            problems.append(Problem(f"{where}/{name}", "file listed in the manifest is missing"))
        elif hash_file(path) != expected:
            problems.append(Problem(f"{where}/{name}", "altered: sha256 differs from the manifest"))
    listed = set(files) | {MANIFEST}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        name = path.relative_to(run_dir).as_posix()
        if name not in listed:
            problems.append(Problem(f"{where}/{name}", "file not listed in the manifest (added after sealing)"))
    return problems


def verify_chain(records: Path) -> list[Problem]:
    """Walk from the chain head back to the first record; name every break."""
    entries = _entries(records)
    by_sha = {e.sha256: e for e in entries}
    problems: list[Problem] = []
    head = _head(records)
    if head is None:
        return [Problem(p.path, "record is not in the chain (no chain head)") for p in entries] if entries else []
    head_sha, head_path = head
    current = by_sha.get(head_sha)
    if current is None:
        present = next((e for e in entries if e.path == head_path), None)
        if present is None:
            problems.append(Problem(head_path, "newest record is missing (named by .chain-head)"))
        else:
            problems.append(Problem(head_path, "manifest altered: its sha256 no longer matches .chain-head"))
        current = present or _successor_of_missing(entries, by_sha, set())
    seen: set[str] = set()
    while current is not None and current.sha256 not in seen:
        seen.add(current.sha256)
        if current.previous is None:
            break
        before = by_sha.get(current.previous)
        if before is None:
            orphan = _unreached_predecessor(entries, seen, by_sha)
            if orphan is not None:
                problems.append(Problem(orphan.path, f"manifest altered: its sha256 no longer matches the 'previous' of {current.path}"))
            else:
                problems.append(Problem(current.path, f"the record before this one is missing from the chain (previous {current.previous[:12]}…)"))
            before = orphan
        current = before
    for entry in entries:
        if entry.sha256 not in seen and not any(p.path == entry.path for p in problems):
            problems.append(Problem(entry.path, "record is not in the chain (nothing links to it)"))
    return problems


def verify_all(records: Path) -> tuple[int, list[Problem], list[str]]:
    """Every sealed record's files plus the chain: (records checked, problems, unfinalized dirs).

    A record with a journal but no manifest is a run still going, or one that was
    killed and not yet finalized (``records reindex`` or the next run does that);
    it is reported, not counted as tampering.
    """
    problems: list[Problem] = []
    sealed = sorted(p.parent for p in records.glob(f"*/*/{MANIFEST}"))
    for run_dir in sealed:
        problems.extend(verify_record(records, run_dir))
    problems.extend(verify_chain(records))
    unsealed = sorted(
        p.parent.relative_to(records).as_posix()
        for p in records.glob("*/*/journal.jsonl")
        if not (p.parent / MANIFEST).exists()
    )
    return len(sealed), problems, unsealed


def _entries(records: Path) -> list[_Entry]:
    entries = []
    for path in sorted(records.glob(f"*/*/{MANIFEST}")):
        data = path.read_bytes()
        try:
            previous = json.loads(data).get("previous")
        except (ValueError, AttributeError):
            previous = None
        entries.append(_Entry(path.relative_to(records).as_posix(), hashlib.sha256(data).hexdigest(),
                              previous if isinstance(previous, str) else None))
    return entries


def _head(records: Path) -> tuple[str, str] | None:
    try:
        sha, _, path = (records / CHAIN_HEAD).read_text(encoding="utf-8").strip().partition(" ")
    except FileNotFoundError:
        return None
    return sha, path


def _unreached_predecessor(entries: list[_Entry], seen: set[str], by_sha: dict[str, _Entry]) -> _Entry | None:
    """An altered manifest: not reached, and no reached manifest links to it, but it links onward."""
    linked = {e.previous for e in entries if e.previous}
    candidates = [e for e in entries if e.sha256 not in seen and e.sha256 not in linked]
    return candidates[-1] if len(candidates) == 1 else None


def _successor_of_missing(entries: list[_Entry], by_sha: dict[str, _Entry], seen: set[str]) -> _Entry | None:
    """When the head is gone, continue from the newest manifest nothing links to."""
    linked = {e.previous for e in entries if e.previous}
    tips = [e for e in entries if e.sha256 not in linked]
    return tips[-1] if tips else None
