"""``runbook records verify``: recompute every hash, walk the chain, check signatures and witness.

Reads only the record directories, ``.chain-head`` and the witness — never the
SQLite index, which anyone able to edit a record could edit too. Each problem
names what is wrong: an altered or missing file, a manifest whose hash no
longer matches its successor's ``previous``, a record missing from the chain
(:mod:`.walk`), a signature that does not verify against the allowed signers
(:mod:`.signing`), a record the witness disagrees with (:mod:`.witness`).

Speed: one directory scan, every file read once, hashing (and ssh-keygen, when
signatures are checked) spread over a few threads, so ``verify --all`` checks
thousands of records a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .damage import ended_unsealed, is_checkpoint, sealed_damage
from .layout import JOURNAL, MANIFEST, RECORD_APPROVALS, RECORD_PLAN, SIGNATURE
from .manifest import sanitize_runbook_id
from .plans import verify_approvals
from .signing import check_signature
from .walk import Entry, Problem, pending_sha, walk
from .witness import Sealed, check_witness, read_witness

__all__ = [
    "Problem",
    "Report",
    "VerifyOptions",
    "verify_all",
    "verify_archive",
    "verify_chain",
    "verify_record",
    "verify_run",
]


@dataclass(frozen=True)
class VerifyOptions:
    """What to check beyond hashes and the chain."""

    allowed_signers: str | None = None
    """OpenSSH allowed_signers file: every signature is checked against it."""
    require_signatures: bool = False
    """An unsigned record is a problem."""
    witness: str | None = None
    """The witness file to compare the archive with."""

    @property
    def checks_signatures(self) -> bool:
        return bool(self.allowed_signers) or self.require_signatures


@dataclass
class Report:
    """What ``verify`` found."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    """Not failures: repairs on record, interrupted seals, records older than the witness."""
    signed: list[Problem] = field(default_factory=list)
    """One per verified signature: the record and its signer's principal."""
    unsealed: list[str] = field(default_factory=list)


def verify_record(
    records: Path, run_dir: Path, options: VerifyOptions | None = None
) -> list[Problem]:
    """Check one record's files (and signature) against its manifest."""
    return _check_record(Path(records), Path(run_dir), options or VerifyOptions())[0]


def verify_chain(records: Path) -> list[Problem]:
    """Walk from the chain head back to the first record; name every break."""
    records = Path(records)
    sealed, _ = _scan(records)
    entries = [e for e in (_entry_only(records, d) for d in sealed) if e is not None]
    return walk(records, entries)[0]


def verify_run(records: Path, run_dir: Path, options: VerifyOptions | None = None) -> Report:
    """One record's files and signature, the chain it is in and — as ``options`` ask — the
    witness, which is checked against the whole archive as ``--all`` does (a record the
    witness saw deleted or rewritten is no less so when one run is asked about)."""
    records, options = Path(records), options or VerifyOptions()
    found, _entry, signer = _check_record(records, Path(run_dir), options)
    entries = [e for e in (_entry_only(records, d) for d in _scan(records)[0]) if e is not None]
    report = Report(checked=1, problems=found, signed=[signer] if signer is not None else [])
    problems, notes = walk(records, entries)
    report.problems.extend(problems)
    report.notes.extend(notes)
    if options.witness:
        _check_witness(records, options.witness, entries, report)
    return report


def verify_all(
    records: Path, *, workers: int | None = None
) -> tuple[int, list[Problem], list[str]]:
    """Every sealed record's files plus the chain: (records checked, problems, unfinalized dirs)."""
    report = verify_archive(records, workers=workers)
    return report.checked, report.problems, report.unsealed


def verify_archive(
    records: Path, options: VerifyOptions | None = None, *, workers: int | None = None
) -> Report:
    """Every sealed record's files, the chain, and — as ``options`` ask — signatures and witness.

    A record with a journal but no manifest is a run still going, or one that was
    killed and not yet finalized (``records list``, ``records reindex`` or the next
    run does that); it is reported, not counted as tampering.
    """
    records = Path(records)
    options = options or VerifyOptions()
    sealed, unsealed = _scan(records)
    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    report = Report(
        checked=len(sealed), unsealed=[d.relative_to(records).as_posix() for d in unsealed]
    )
    if workers > 1 and len(sealed) > (4 if options.checks_signatures else 16):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(
                pool.map(lambda d: _check_record(records, d, options), sealed, chunksize=32)
            )
    else:
        results = [_check_record(records, d, options) for d in sealed]
    entries: list[Entry] = []
    for found, entry, signer in results:
        report.problems.extend(found)
        if entry is not None:
            entries.append(entry)
        if signer is not None:
            report.signed.append(signer)
    problems, notes = walk(records, entries)
    ended, lost, left = ended_unsealed(records, unsealed, problems)
    report.unsealed = [u for u, d in zip(report.unsealed, unsealed) if d not in ended]
    report.problems.extend(problems + lost)
    report.notes.extend(notes + left)
    if options.witness:
        _check_witness(records, options.witness, entries, report)
    return report


def _check_witness(records: Path, path: str, entries: list[Entry], report: Report) -> None:
    lines, unreadable = read_witness(path)
    report.problems.extend(Problem(path, message) for message in unreadable)
    sealed = [Sealed(e.path.rsplit("/", 1)[0], e.sha256, e.sequence) for e in entries]
    pending = {sha} if (sha := pending_sha(records)) else set()
    problems, notes = check_witness(lines, sealed, pending)
    report.problems.extend(Problem(where, message) for where, message in problems)
    report.notes.extend(Problem(where, message) for where, message in notes)


# --------------------------------------------------------------------------- one record


def _check_record(
    records: Path, run_dir: Path, options: VerifyOptions
) -> tuple[list[Problem], Entry | None, Problem | None]:
    """Problems of one record, its chain entry, its verified signer. The hot loop: ``str`` paths."""
    where = run_dir.relative_to(records).as_posix()
    base = str(run_dir)
    try:
        data, mtime = _read_manifest(os.path.join(base, MANIFEST))
    except FileNotFoundError:
        return (
            [
                Problem(
                    where,
                    "no manifest.json: the record was never finalized "
                    "(run 'runbook records reindex')",
                )
            ],
            None,
            None,
        )
    except OSError as exc:
        return [Problem(f"{where}/{MANIFEST}", f"manifest is unreadable: {exc}")], None, None
    manifest = _parse(data)
    entry = Entry.from_bytes(where, data, mtime, manifest)
    files = manifest.get("files") if manifest is not None else None
    if not isinstance(files, dict):
        why = "not a JSON object" if manifest is None else "it has no 'files' table"
        return [Problem(f"{where}/{MANIFEST}", f"manifest is unreadable: {why}")], entry, None
    problems = _misfiled(where, run_dir, manifest or {})
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
    present, odd = _tree(base, "")
    for name in sorted(present):
        if name not in files and name not in (MANIFEST, SIGNATURE) and not is_checkpoint(name):
            problems.append(
                Problem(f"{where}/{name}", "file not listed in the manifest (added after sealing)")
            )
    problems.extend(
        Problem(
            f"{where}/{name}", "not a regular file (a link or a special file, put in after sealing)"
        )
        for name in sorted(odd)
    )
    stamp = (manifest or {}).get("signer")
    if isinstance(stamp, dict) and not os.path.exists(os.path.join(base, SIGNATURE)):
        problems.append(
            Problem(
                f"{where}/{SIGNATURE}",
                f"missing: the manifest says {stamp.get('principal')!r} signed it",
            )
        )
    problems.extend(Problem(path, message) for path, message in sealed_damage(where, manifest))
    signer = None
    if options.checks_signatures:
        signer = _check_signature(where, base, data, manifest or {}, options, problems)
    if options.allowed_signers and RECORD_APPROVALS in files:
        problems.extend(_check_approvals(where, base, options.allowed_signers))
    return problems, entry, signer


def _check_approvals(where: str, base: str, allowed_signers: str) -> list[Problem]:
    """Re-verify every approval kept in the record against the allowed signers."""
    try:
        with open(os.path.join(base, RECORD_PLAN), encoding="utf-8") as f:
            plan = json.load(f)
        with open(os.path.join(base, RECORD_APPROVALS), encoding="utf-8") as f:
            approvals = json.load(f)
    except (OSError, ValueError) as exc:
        return [Problem(f"{where}/{RECORD_APPROVALS}", f"unreadable: {exc}")]
    return [
        Problem(
            f"{where}/{RECORD_APPROVALS}",
            f"approval of {a.get('role')} by {a.get('principal')} does not verify: {a['problem']}",
        )
        for a in verify_approvals(plan, approvals, allowed_signers)
        if not a["valid"]
    ]


def _check_signature(
    where: str,
    base: str,
    data: bytes,
    manifest: dict,
    options: VerifyOptions,
    problems: list[Problem],
) -> Problem | None:
    """Verify ``manifest.json.sig``: the signer as a note, or None (and a problem)."""
    signature = os.path.join(base, SIGNATURE)
    if not os.path.exists(signature):
        if options.require_signatures:
            problems.append(Problem(f"{where}/{MANIFEST}", "unsigned (--require-signatures)"))
        return None
    if not options.allowed_signers:
        return Problem(where, "signed (not checked: no --allowed-signers)")
    principal, why = check_signature(data, signature, options.allowed_signers)
    if principal is None:
        problems.append(Problem(f"{where}/{SIGNATURE}", why))
        return None
    stamp = manifest.get("signer")
    claimed = stamp.get("principal") if isinstance(stamp, dict) else None
    if claimed is not None and claimed != principal:
        problems.append(
            Problem(
                f"{where}/{MANIFEST}",
                f"names signer {claimed!r}, but the allowed signers say the key is {principal!r}",
            )
        )
    return Problem(where, f"signed by {principal}")


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


def _entry_only(records: Path, run_dir: Path) -> Entry | None:
    where = run_dir.relative_to(records).as_posix()
    try:
        data = (run_dir / MANIFEST).read_bytes()
        mtime = (run_dir / MANIFEST).stat().st_mtime
    except OSError:
        return None
    return Entry.from_bytes(where, data, mtime, _parse(data))


def _parse(data: bytes) -> dict | None:
    try:
        value = json.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


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


def _misfiled(where: str, run_dir: Path, manifest: dict) -> list[Problem]:
    """A record is filed under its runbook's id and its run id: renamed or swapped
    directories would make ``records show RUN`` print another run."""
    problems = []
    run_id = manifest.get("run_id")
    if run_id != run_dir.name:
        problems.append(Problem(where, f"holds run {run_id!r}: the directory was renamed or moved"))
    runbook = manifest.get("runbook")
    runbook_id = runbook.get("id") if isinstance(runbook, dict) else None
    if isinstance(runbook_id, str) and sanitize_runbook_id(runbook_id) != run_dir.parent.name:
        problems.append(
            Problem(where, f"holds a run of runbook {runbook_id!r}: it was moved from its folder")
        )
    return problems


def _tree(directory: str, prefix: str) -> tuple[list[str], list[str]]:
    """(regular files, anything else but directories: links, fifos…) under ``directory``,
    as posix paths relative to the record; a sealed record holds only the former."""
    files, odd = [], []
    with os.scandir(directory) as it:
        for item in it:
            name = f"{prefix}{item.name}"
            if item.is_symlink():
                odd.append(name)
            elif item.is_dir(follow_symlinks=False):
                more, strange = _tree(item.path, f"{name}/")
                files.extend(more)
                odd.extend(strange)
            elif item.is_file(follow_symlinks=False):
                files.append(name)
            else:
                odd.append(name)
    return files, odd


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
