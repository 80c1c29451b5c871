"""``runbook records verify``: recompute every hash and walk the ``previous`` chain.

Reads only the record directories and ``.chain-head`` — never the SQLite index,
which anyone able to edit a record could edit too. Each problem names what is
wrong: an altered or missing file, a manifest whose hash no longer matches its
successor's ``previous``, a record missing from the chain.

When a record's ``previous`` names no manifest on disk, two things look alike
in the chain alone: the predecessor's manifest was edited, or the predecessor
was deleted (and the record before it is now the loose end). Verification tells
them apart by the loose end's manifest file: written *after* the successor was
sealed (or unreadable) means edited; otherwise the predecessor is missing. The
hint only chooses the wording; either way the run is reported as broken.

Speed: one directory scan, every file read once, hashing spread over a few
threads (hashlib and file reads release the GIL), so ``verify --all`` checks
thousands of records a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .layout import CHAIN_HEAD, JOURNAL, MANIFEST


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
    readable: bool  # the manifest parsed as a JSON object
    order: tuple[str, str]  # (finished_at or "", path): a stable "newest" for loose ends
    mtime: float  # of manifest.json, for telling an edited manifest from a deleted record


def verify_record(records: Path, run_dir: Path) -> list[Problem]:
    """Check one record's files against its manifest."""
    return _check_record(Path(records), Path(run_dir))[0]


def verify_chain(records: Path) -> list[Problem]:
    """Walk from the chain head back to the first record; name every break."""
    records = Path(records)
    sealed, _ = _scan(records)
    entries = [e for e in (_entry_only(records, d) for d in sealed) if e is not None]
    return _walk(records, entries)


def verify_all(
    records: Path, *, workers: int | None = None
) -> tuple[int, list[Problem], list[str]]:
    """Every sealed record's files plus the chain: (records checked, problems, unfinalized dirs).

    A record with a journal but no manifest is a run still going, or one that was
    killed and not yet finalized (``records list``, ``records reindex`` or the next
    run does that); it is reported, not counted as tampering.
    """
    records = Path(records)
    sealed, unsealed = _scan(records)
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    problems: list[Problem] = []
    entries: list[_Entry] = []
    if workers > 1 and len(sealed) > 16:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda d: _check_record(records, d), sealed, chunksize=32))
    else:
        results = [_check_record(records, d) for d in sealed]
    for found, entry in results:
        problems.extend(found)
        if entry is not None:
            entries.append(entry)
    problems.extend(_walk(records, entries))
    return len(sealed), problems, [d.relative_to(records).as_posix() for d in unsealed]


# --------------------------------------------------------------------------- one record


def _check_record(records: Path, run_dir: Path) -> tuple[list[Problem], _Entry | None]:
    """Problems of one record's files, and its chain entry. Plain ``str`` paths: the hot loop."""
    where = run_dir.relative_to(records).as_posix()
    base = str(run_dir)
    try:
        data, mtime = _read_manifest(os.path.join(base, MANIFEST))
    except FileNotFoundError:
        return [
            Problem(
                where,
                "no manifest.json: the record was never finalized (run 'runbook records reindex')",
            )
        ], None
    except OSError as exc:
        return [Problem(f"{where}/{MANIFEST}", f"manifest is unreadable: {exc}")], None
    manifest = _parse(data)
    entry = _Entry(
        f"{where}/{MANIFEST}",
        hashlib.sha256(data).hexdigest(),
        _previous(manifest),
        manifest is not None,
        _order(manifest, where),
        mtime,
    )
    files = manifest.get("files") if manifest is not None else None
    if not isinstance(files, dict):
        why = "not a JSON object" if manifest is None else "it has no 'files' table"
        return [Problem(f"{where}/{MANIFEST}", f"manifest is unreadable: {why}")], entry
    problems = []
    for name, expected in sorted(files.items()):
        try:
            actual = _sha256_file(os.path.join(base, name))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            problems.append(Problem(f"{where}/{name}", "file listed in the manifest is missing"))
            continue
        except OSError as exc:
            problems.append(Problem(f"{where}/{name}", f"cannot read: {exc.strerror or exc}"))
            continue
        if actual != expected:
            problems.append(Problem(f"{where}/{name}", "altered: sha256 differs from the manifest"))
    for name in sorted(_tree(base, "")):
        if name not in files and name != MANIFEST:
            problems.append(
                Problem(f"{where}/{name}", "file not listed in the manifest (added after sealing)")
            )
    return problems, entry


def _read_manifest(path: str) -> tuple[bytes, float]:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        mtime = os.fstat(fd).st_mtime
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), mtime
    finally:
        os.close(fd)


def _entry_only(records: Path, run_dir: Path) -> _Entry | None:
    where = run_dir.relative_to(records).as_posix()
    try:
        data = (run_dir / MANIFEST).read_bytes()
        mtime = (run_dir / MANIFEST).stat().st_mtime
    except OSError:
        return None
    manifest = _parse(data)
    return _Entry(
        f"{where}/{MANIFEST}",
        hashlib.sha256(data).hexdigest(),
        _previous(manifest),
        manifest is not None,
        _order(manifest, where),
        mtime,
    )


def _parse(data: bytes) -> dict | None:
    try:
        value = json.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


def _previous(manifest: dict | None) -> str | None:
    value = manifest.get("previous") if manifest is not None else None
    return value if isinstance(value, str) else None


def _order(manifest: dict | None, where: str) -> tuple[str, str]:
    finished = manifest.get("finished_at") if manifest is not None else None
    return (finished if isinstance(finished, str) else "", where)


def _sha256_file(path: str) -> str:
    """SHA-256 of a file: raw ``os.read`` in 4 MiB pieces (a record file is usually one piece)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 22):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def _tree(directory: str, prefix: str) -> list[str]:
    """Every regular file under ``directory`` as a posix path relative to the record."""
    names = []
    with os.scandir(directory) as it:
        for item in it:
            if item.is_dir(follow_symlinks=False):
                names.extend(_tree(item.path, f"{prefix}{item.name}/"))
            elif item.is_file():
                names.append(f"{prefix}{item.name}")
    return names


def _scan(records: Path) -> tuple[list[Path], list[Path]]:
    """(sealed record dirs, journal-only record dirs), sorted, from one scandir pass."""
    sealed, unsealed = [], []
    try:
        runbooks = sorted(
            e.path
            for e in os.scandir(records)
            if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
        )
    except FileNotFoundError:
        return [], []
    for runbook in runbooks:
        try:
            runs = sorted(os.listdir(runbook))
        except OSError:
            continue
        for name in runs:
            run_dir = os.path.join(runbook, name)
            if os.path.exists(os.path.join(run_dir, MANIFEST)):
                sealed.append(Path(run_dir))
            elif os.path.exists(os.path.join(run_dir, JOURNAL)):
                unsealed.append(Path(run_dir))
    return sealed, unsealed


# --------------------------------------------------------------------------- the chain


def _walk(records: Path, entries: list[_Entry]) -> list[Problem]:
    by_sha = {e.sha256: e for e in entries}
    linked = {e.previous for e in entries if e.previous}
    problems: list[Problem] = []
    seen: set[str] = set()  # manifest hashes reached from the head
    reached: set[str] = set()  # their paths (a copied record has a reached hash but another path)

    def loose_ends(before: _Entry | None) -> list[_Entry]:
        """Manifests nothing links to and the walk has not reached (older than ``before``)."""
        tips = [e for e in entries if e.sha256 not in seen and e.sha256 not in linked]
        return [e for e in tips if before is None or e.order <= before.order] or tips

    def loose_end(before: _Entry | None) -> _Entry | None:
        """The newest loose end: where the chain continues after a gap."""
        tips = loose_ends(before)
        return max(tips, key=lambda e: e.order) if tips else None

    head = _head(records)
    if head is None:
        if not entries:
            return []
        problems.append(
            Problem(
                CHAIN_HEAD,
                "missing: the newest record cannot be confirmed "
                "(it names the last manifest of the chain)",
            )
        )
        current = loose_end(None)
    elif isinstance(head, str):  # "malformed"
        problems.append(Problem(CHAIN_HEAD, "malformed (expected '<sha256> <path>')"))
        current = loose_end(None)
    else:
        head_sha, head_path = head
        current = by_sha.get(head_sha)
        if current is None:
            present = next((e for e in entries if e.path == head_path), None)
            if present is not None:
                problems.append(
                    Problem(head_path, "manifest altered: its sha256 no longer matches .chain-head")
                )
                current = present
            else:
                problems.append(
                    Problem(head_path, "newest record is missing (named by .chain-head)")
                )
                current = loose_end(None)
    while current is not None and current.sha256 not in seen:
        seen.add(current.sha256)
        reached.add(current.path)
        if current.previous is None:
            if current.readable:
                break  # the first record of the chain
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
            # An unreadable loose end, or one written after its would-be successor, is the edited
            # predecessor; otherwise the predecessor is gone and the newest loose end comes next.
            tips = loose_ends(current)
            edited = [e for e in tips if not e.readable] or [
                e for e in tips if e.mtime > current.mtime
            ]
            if edited:
                before = max(edited, key=lambda e: e.order)
                problems.append(
                    Problem(
                        before.path,
                        "manifest altered: its sha256 no longer matches the "
                        f"'previous' of its successor {current.path}",
                    )
                )
            else:
                before = max(tips, key=lambda e: e.order) if tips else None
                problems.append(
                    Problem(
                        current.path,
                        "the record before this one is missing from the chain "
                        f"(its 'previous' {current.previous[:12]}… names no manifest on disk)",
                    )
                )
        current = before
    named = {p.path for p in problems}
    for entry in entries:
        if entry.path not in reached and entry.path not in named:
            problems.append(Problem(entry.path, "record is not in the chain (nothing links to it)"))
    return problems


def _head(records: Path) -> tuple[str, str] | str | None:
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
