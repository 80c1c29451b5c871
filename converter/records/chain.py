"""The hash chain of a records root: every manifest names the sha256 of the one before.

The chain head is cached in ``<records>/.chain-head`` and updated under an
exclusive ``flock`` on ``<records>/.chain.lock``, which keeps the chain linear
when many runs finish at once and makes finding "previous" O(1). The manifest
is written atomically and last, so a record with a manifest is complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecordError
from .layout import CHAIN_HEAD, CHAIN_LOCK, MANIFEST
from .manifest import RECORD_FORMAT, TMP_PREFIX, check_fields, fsync_dir, hash_file, hash_tree

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ChainHead:
    """The newest manifest of a records root, as cached in ``.chain-head``."""

    sha256: str  # of the manifest.json bytes
    path: str  # manifest path relative to the records root, posix


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
    check_fields(run_dir, manifest)
    try:
        with _chain_lock(root):
            if manifest_path.exists():
                raise RecordError(
                    "record is already finalized; records are immutable", path=str(manifest_path)
                )
            head = read_chain_head(root)
            sealed = dict(manifest)
            sealed["files"] = hash_tree(run_dir)
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
    prefix = TMP_PREFIX if path.name == MANIFEST else f".{path.name}."
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
    fsync_dir(path.parent)
