"""The evidence record of one run (DESIGN.md §6).

Layout::

    <records>/<runbook-id>/<yyyymmddThhmmssZ>-<8 hex>/
        record.ipynb  record.html  journal.jsonl  [logs/...]  manifest.json

``manifest.json`` is written last and lists the SHA-256 of every other file,
so changing any byte of a record is detectable. Every manifest also carries
the SHA-256 of the previous manifest in the same records root (one chain for
all runbooks), so removing a whole record is detectable too. The chain head is
cached in ``<records>/.chain-head`` and updated under an exclusive
``flock`` on ``<records>/.chain.lock``, which keeps the chain linear when many
runs finish at once and makes finding "previous" O(1).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from converter.errors import RecordError

if TYPE_CHECKING:
    import nbformat

__all__ = [
    "CHAIN_HEAD",
    "CHAIN_LOCK",
    "MANIFEST",
    "RECORD_FORMAT",
    "ChainHead",
    "Manifest",
    "create_record_dir",
    "finalize_record",
    "hash_file",
    "load_manifest",
    "manifest_sha256",
    "read_chain_head",
    "render_html",
    "sanitize_runbook_id",
]

RECORD_FORMAT = "runbook-record/1"
MANIFEST = "manifest.json"
CHAIN_LOCK = ".chain.lock"
CHAIN_HEAD = ".chain-head"
STATUSES = frozenset({"succeeded", "failed", "blocked", "interrupted"})

_TMP_PREFIX = ".manifest.json."  # in-flight temp files; never part of a record
_PROBE = ".write-probe"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_ID_LEN = 100


class RunbookRef(TypedDict):
    id: str
    title: str
    source_sha256: str


class StepResult(TypedDict):
    id: str
    title: str
    status: str
    exit_code: int | None
    duration_s: float | None


class CheckResult(TypedDict):
    id: str
    text: str
    checked: bool
    by: str | None
    at: str | None  # ISO 8601 UTC


class Manifest(TypedDict, total=False):
    """What ``manifest.json`` holds. The caller supplies everything except the
    last three keys, which :func:`finalize_record` adds.

    Timestamps are ISO 8601 UTC strings; ``parameters`` has secrets already
    masked as ``"***"``; ``failure`` and ``rollback`` are optional free-form
    objects describing what failed and what was rolled back.
    """

    run_id: str  # "<yyyymmddThhmmssZ>-<8 hex>", the record directory's name
    runbook: RunbookRef
    status: Literal["succeeded", "failed", "blocked", "interrupted"]
    dry_run: bool
    operator: str
    mode: str  # "interactive" | "headless"
    started_at: str
    finished_at: str
    parameters: dict[str, Any]
    steps: list[StepResult]
    checks: list[CheckResult]
    failure: dict[str, Any]
    rollback: dict[str, Any]
    # Added by finalize_record:
    files: dict[str, str]  # posix path relative to the record dir -> sha256
    previous: str | None  # sha256 of the previous manifest.json in the chain
    format: str  # RECORD_FORMAT


@dataclass(frozen=True)
class ChainHead:
    """The newest manifest of a records root, as cached in ``.chain-head``."""

    sha256: str  # of the manifest.json bytes
    path: str  # manifest path relative to the records root, posix


def sanitize_runbook_id(runbook_id: str) -> str:
    """Map a runbook id to one safe path component, deterministically.

    Runs of anything outside ``[A-Za-z0-9._-]`` become ``-`` and leading or
    trailing dots and dashes go, so ``..``, ``a/b`` or ``/etc`` cannot escape
    the records root and the same runbook always lands in the same directory.
    """
    text = unicodedata.normalize("NFKC", runbook_id)
    safe = _UNSAFE.sub("-", text).strip(".-")[:_MAX_ID_LEN].strip(".-")
    if not safe:
        raise RecordError(
            f"runbook id {runbook_id!r} has no letters or digits usable in a directory name; "
            "give the runbook an ASCII id"
        )
    return safe


def create_record_dir(
    records: Path, runbook_id: str, *, now: datetime | None = None
) -> tuple[Path, str]:
    """Create the record directory of a new run and prove it is writable.

    Called before anything executes ("no evidence, no execution"): if the
    record cannot be written, the run must not start. Writability is proven by
    creating and fsyncing a probe file in the new directory and by opening the
    chain lock that :func:`finalize_record` will need. Returns
    ``(run_dir, run_id)`` with ``run_id = "<yyyymmddThhmmssZ>-<8 hex>"``.
    """
    records = Path(records)
    moment = datetime.now(timezone.utc) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stamp = moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parent = records / sanitize_runbook_id(runbook_id)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.close(_open_lock(records))
        for _ in range(5):
            run_id = f"{stamp}-{secrets.token_hex(4)}"
            run_dir = parent / run_id
            try:
                run_dir.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 5 collisions of 32 random bits
            raise FileExistsError(f"could not find a free record name under {parent}")
    except OSError as exc:
        raise RecordError(
            f"cannot create the record directory: {exc.strerror or exc}; "
            "choose a writable records directory",
            path=str(records),
        ) from exc
    try:
        _probe_write(run_dir)
    except OSError as exc:
        try:
            run_dir.rmdir()
        except OSError:
            pass
        raise RecordError(
            f"cannot write into the record directory: {exc.strerror or exc}; "
            "check permissions and free space",
            path=str(run_dir),
        ) from exc
    return run_dir, run_id


def render_html(nb: nbformat.NotebookNode, *, title: str) -> str:
    """Offline, deterministic HTML of a record notebook; see :mod:`converter.html`.

    Imported lazily: nbconvert takes seconds to import, and sealing or
    verifying records must not pay for it.
    """
    from converter.html import render_html as _render

    return _render(nb, title=title)


def hash_file(path: Path) -> str:
    """SHA-256 hex of a file's bytes, read in chunks so logs of any size fit."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def finalize_record(run_dir: Path, *, manifest: dict) -> dict:
    """Seal a record: hash its files, link it into the chain, write manifest.json.

    ``manifest`` holds the caller's fields (see :class:`Manifest`); a new dict
    with ``files``, ``previous`` and ``format`` added (replacing any the caller
    passed) is written and returned. The manifest is written atomically and
    last, so a record with a manifest is complete. A record is sealed once:
    finalizing it again would orphan any record chained after it, so that
    raises :class:`RecordError`.

    ``previous`` is the SHA-256 of the chain head (the newest manifest in the
    records root ``run_dir.parent.parent``), or ``None`` for the first record.
    Reading the head, writing the manifest and advancing the head all happen
    under one exclusive lock, so concurrent runs form one line, never a fork.
    """
    run_dir = Path(run_dir)
    root = run_dir.parent.parent
    manifest_path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise RecordError("record directory does not exist", path=str(run_dir))
    _check_fields(run_dir, manifest)
    try:
        with _chain_lock(root):
            if manifest_path.exists():
                raise RecordError(
                    "record is already finalized; records are immutable", path=str(manifest_path)
                )
            head = read_chain_head(root)
            sealed = dict(manifest)
            sealed["files"] = _hash_tree(run_dir)
            sealed["previous"] = head.sha256 if head else None
            sealed["format"] = RECORD_FORMAT
            try:
                text = json.dumps(sealed, ensure_ascii=False, indent=2) + "\n"
            except (TypeError, ValueError) as exc:
                raise RecordError(f"manifest is not JSON-serialisable: {exc}") from exc
            data = text.encode("utf-8")
            _atomic_write(manifest_path, data)
            relative = manifest_path.relative_to(root).as_posix()
            head_line = f"{hashlib.sha256(data).hexdigest()} {relative}\n"
            _atomic_write(root / CHAIN_HEAD, head_line.encode("utf-8"))
    except OSError as exc:
        raise RecordError(
            f"cannot finalize the record: {exc.strerror or exc}", path=str(run_dir)
        ) from exc
    return sealed


def load_manifest(run_dir: Path) -> dict:
    """Read a record's manifest.json, with a clear error if it is missing or corrupt."""
    path = Path(run_dir) / MANIFEST
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RecordError(
            "manifest.json is missing (record never finalized?)", path=str(path)
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"cannot read manifest: {exc}", path=str(path)) from exc
    if not isinstance(value, dict):
        raise RecordError("manifest is not a JSON object", path=str(path))
    return value


def manifest_sha256(run_dir: Path) -> str:
    """SHA-256 of the manifest.json file bytes: the value the next record's ``previous`` holds."""
    path = Path(run_dir) / MANIFEST
    try:
        return hash_file(path)
    except OSError as exc:
        raise RecordError(f"cannot read manifest: {exc.strerror or exc}", path=str(path)) from exc


def read_chain_head(records: Path) -> ChainHead | None:
    """The newest manifest in a records root, from ``.chain-head``; ``None`` if no record yet.

    If ``.chain-head`` is missing while manifests exist (deleted by hand,
    or a crash between writing a manifest and the head), the head is
    recovered by a scan: the manifest no other manifest points at. A
    malformed head file is an error, not something to repair silently: it is
    part of the evidence.
    """
    path = Path(records) / CHAIN_HEAD
    try:
        line = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return _recover_head(Path(records))
    sha, _, relative = line.partition(" ")
    if not _SHA256.match(sha) or not relative:
        raise RecordError(
            "chain head is malformed (expected '<sha256> <path>'); run 'runbook records verify'",
            path=str(path),
        )
    return ChainHead(sha256=sha, path=relative)


def _recover_head(records: Path) -> ChainHead | None:
    candidates: dict[str, tuple[str, str]] = {}  # sha -> (finished_at, relative path)
    referenced: set[str] = set()
    for path in sorted(records.glob(f"*/*/{MANIFEST}")):
        sha = hash_file(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        if isinstance(data.get("previous"), str):
            referenced.add(data["previous"])
        candidates[sha] = (str(data.get("finished_at", "")), path.relative_to(records).as_posix())
    tips = {sha: key for sha, key in candidates.items() if sha not in referenced} or candidates
    if not tips:
        return None
    sha = max(tips, key=lambda s: tips[s])
    return ChainHead(sha256=sha, path=tips[sha][1])


def _check_fields(run_dir: Path, manifest: dict) -> None:
    """Catch caller mistakes that would make the record lie about itself."""
    if not isinstance(manifest, dict):
        raise RecordError("manifest must be a dict", path=str(run_dir))
    status = manifest.get("status")
    if status not in STATUSES:
        raise RecordError(
            f"manifest status {status!r} is not one of {sorted(STATUSES)}", path=str(run_dir)
        )
    run_id = manifest.get("run_id")
    if run_id != run_dir.name:
        raise RecordError(
            f"manifest run_id {run_id!r} does not match the record directory {run_dir.name!r}",
            path=str(run_dir),
        )


def _hash_tree(run_dir: Path) -> dict[str, str]:
    """{posix relative path: sha256} for every regular file except the manifest itself."""
    files: dict[str, str] = {}
    for path in run_dir.rglob("*"):
        relative = path.relative_to(run_dir).as_posix()
        if relative == MANIFEST or relative.startswith(_TMP_PREFIX) or not path.is_file():
            continue
        files[relative] = hash_file(path)
    return dict(sorted(files.items()))


def _open_lock(root: Path) -> int:
    """Open (creating if needed) the chain lock file.

    flock needs no write access, so a lock file created by another operator
    with a restrictive umask is opened read-only rather than failing.
    """
    path = root / CHAIN_LOCK
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


@contextmanager
def _chain_lock(root: Path) -> Iterator[None]:
    fd = _open_lock(root)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a torn one, even after a crash."""
    prefix = _TMP_PREFIX if path.name == MANIFEST else f".{path.name}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _probe_write(run_dir: Path) -> None:
    probe = run_dir / _PROBE
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b"probe\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    probe.unlink()
    _fsync_dir(run_dir)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
