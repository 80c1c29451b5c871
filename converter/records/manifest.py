"""The evidence record of one run (DESIGN.md §6).

Layout::

    <records>/<runbook-id>/<yyyymmddThhmmssZ>-<8 hex>/
        record.ipynb  record.html  journal.jsonl  [logs/...]  manifest.json

``manifest.json`` is written last and lists the SHA-256 of every other file,
so changing any byte of a record is detectable. Every manifest also carries
the SHA-256 of the previous manifest in the same records root (one chain for
all runbooks), so removing a whole record is detectable too (the chain itself
is :mod:`converter.records.chain`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypedDict

from ..errors import RecordError
from .layout import CHAIN_LOCK, MANIFEST, SIGNATURE
from .unsealed import mark as mark_unsealed

RECORD_FORMAT = "runbook-record/1"
STATUSES = frozenset({"succeeded", "failed", "blocked", "interrupted"})

TMP_PREFIX = ".manifest.json."  # in-flight temp files; never part of a record
_PROBE = ".write-probe"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_ID_LEN = 100


class RunbookRef(TypedDict):
    id: str
    title: str
    source_sha256: str


class ManifestStep(TypedDict):
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
    kind: str  # "run", or "plan" for a dry run (what it would run; nothing ran)
    operator: str
    mode: str  # "interactive" | "headless"
    started_at: str
    finished_at: str
    parameters: dict[str, Any]
    steps: list[ManifestStep]
    checks: list[CheckResult]
    failure: dict[str, Any]
    rollback: dict[str, Any]
    # Added by finalize_record:
    files: dict[str, str]  # posix path relative to the record dir -> sha256
    previous: str | None  # sha256 of the previous manifest.json in the chain
    format: str  # RECORD_FORMAT
    retention: dict[str, str]  # on a shared archive with --retain-days: {"mode", "until"}


def sanitize_runbook_id(runbook_id: str) -> str:
    """Map a runbook id to one safe path component, deterministically.

    An id made of ``[A-Za-z0-9._-]`` (not starting or ending with ``.``/``-``) is its
    own directory name, so existing records keep their place. Any other id has runs of
    other characters turned into ``-`` and a short hash of the original appended, so
    ``..``, ``a/b`` or ``/etc`` cannot escape the records root, a Japanese id still has
    a directory (``runbook-<hash>``), and two ids that sanitise alike (``a/b``, ``a b``)
    never share one.
    """
    text = unicodedata.normalize("NFKC", runbook_id)
    safe = _UNSAFE.sub("-", text).strip(".-")[:_MAX_ID_LEN].strip(".-")
    if safe == runbook_id:
        return safe
    digest = hashlib.sha256(runbook_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe[: _MAX_ID_LEN - 9].strip('.-') or 'runbook'}-{digest}"


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
        _probe_lock(records)
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
        mark_unsealed(run_dir)  # found by recovery without a walk of the archive
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


def hash_file(path: Path) -> str:
    """SHA-256 hex of a file's bytes, read in chunks so logs of any size fit."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


_REQUIRED: dict[str, type] = {"run_id": str, "status": str}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "runbook": dict,
    "steps": list,
    "operator": str,
    "mode": str,
    "started_at": str,
    "finished_at": str,
    "parameters": dict,
    "checks": list,
    "approvals": list,
    "failure": dict,
    "rollback": dict,
    "resumes": str,
    "previous": str,
    "files": dict,
    "dry_run": bool,
}
_LISTS_OF_OBJECTS = ("steps", "checks", "approvals")


def manifest_damage(manifest: dict) -> str | None:
    """What makes a parsed manifest unfit to show or index (a wrong type), or None.

    A sealed manifest is this program's: anything else was edited after sealing, which
    ``records verify`` names; reading commands say so instead of failing on it.
    """
    for name, kind in _REQUIRED.items():
        if not isinstance(manifest.get(name), kind):
            return f"'{name}' is missing or not a {kind.__name__}"
    for name, kinds in _OPTIONAL.items():
        value = manifest.get(name)
        if value is not None and not isinstance(value, kinds):
            return f"'{name}' has the wrong type"
    for name in _LISTS_OF_OBJECTS:
        if any(not isinstance(item, dict) for item in manifest.get(name) or ()):
            return f"'{name}' holds something other than objects"
    return None


def load_shown_manifest(run_dir: Path) -> dict:
    """:func:`load_manifest`, refusing a damaged one with a clear error (exit 2)."""
    manifest = load_manifest(run_dir)
    damage = manifest_damage(manifest)
    if damage is not None:
        raise RecordError(
            f"manifest is damaged: {damage} (see 'runbook records verify')",
            path=str(Path(run_dir) / MANIFEST),
        )
    return manifest


def manifest_sha256(run_dir: Path) -> str:
    """SHA-256 of the manifest.json file bytes: the value the next record's ``previous`` holds."""
    path = Path(run_dir) / MANIFEST
    try:
        return hash_file(path)
    except OSError as exc:
        raise RecordError(f"cannot read manifest: {exc.strerror or exc}", path=str(path)) from exc


def check_fields(run_dir: Path, manifest: dict) -> None:
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


def hash_tree(run_dir: Path) -> dict[str, str]:
    """{posix relative path: sha256} for every regular file but the manifest and its signature."""
    return {relative: hash_file(path) for relative, path in tree_files(run_dir)}


def tree_files(run_dir: Path) -> list[tuple[str, Path]]:
    """(posix relative path, path) of every file a manifest lists, sorted: one owner of the
    choice, so a shared archive uploads exactly what the manifest names (dot files too)."""
    files = []
    for path in run_dir.rglob("*"):
        relative = path.relative_to(run_dir).as_posix()
        skipped = relative in (MANIFEST, SIGNATURE) or relative.startswith(TMP_PREFIX)
        if not skipped and path.is_file():
            files.append((relative, path))
    return sorted(files)


def _probe_lock(records: Path) -> None:
    """Prove the chain lock can be opened (``chain.finalize_record`` will need it)."""
    path = records / CHAIN_LOCK
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
    except PermissionError:
        os.close(os.open(path, os.O_RDONLY))


def _probe_write(run_dir: Path) -> None:
    probe = run_dir / _PROBE
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b"probe\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    probe.unlink()
    fsync_dir(run_dir)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
