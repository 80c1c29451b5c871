"""Bring a local copy of a shared archive up to date: the mirror, or a fresh copy for verify.

The store holds the truth (:mod:`.store`). :func:`refresh` makes the mirror (the
records root every command works in) follow it: objects that are new or whose
ETag (the MD5 of a single-part upload) differs from the local file are downloaded,
a sealed record leaves the mirror only when the store holds no version of its
manifest at all (a delete marker does not count: the copy is kept), and ``.chain-head``
is written from the newest chain object. Records still being written here (no
manifest yet) are never touched. :func:`snapshot` builds a fresh copy in another
directory, reusing the mirror's files only when their MD5 equals the store's
ETag, so ``records verify`` checks the store's bytes and never the cache's.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import objectlock, remote, versions
from .layout import CHAIN_HEAD, MANIFEST
from .store import (
    Archive,
    download,
    etag_of,
    is_record_object,
    listing,
    md5_of,
    store_error,
    store_errors,
    sync_lock_path,
)


@dataclass
class Snapshot:
    """What a copy of the archive was made from."""

    objects: dict[str, dict[str, Any]]
    downloaded: int = 0
    retention: dict[str, str] = field(default_factory=dict)
    """record path -> what the store says about its manifest's lock."""
    short: list[str] = field(default_factory=list)
    """Records whose manifest the store keeps for less than the manifest states."""


def refresh(archive: Archive) -> Snapshot:
    """Bring the mirror up to date with the store (under the mirror's sync lock)."""
    with _sync_lock(archive.mirror):
        listed_at = time.time()
        snap = _copy(archive, archive.mirror, reuse=None)
        _drop_gone(archive, snap.objects, listed_at)
        if snap.downloaded or not (archive.mirror / CHAIN_HEAD).exists():
            _write_head(archive, snap.objects, archive.mirror)
    return snap


def snapshot(archive: Archive, target: Path) -> Snapshot:
    """A fresh copy of the archive in ``target``, with each record's retention as found."""
    target.mkdir(parents=True, exist_ok=True)
    snap = _copy(archive, target, reuse=archive.mirror)
    _write_head(archive, snap.objects, target)
    for relative in sorted(snap.objects):
        if is_record_object(relative) and relative.endswith(f"/{MANIFEST}"):
            record = relative.rsplit("/", 1)[0]
            head = _head_object(archive, relative)
            snap.retention[record] = objectlock.found(head)
            stated = _stated_retention(target / relative)
            if objectlock.shorter_than_stated(head, stated):
                snap.short.append(record)
    return snap


def _copy(archive: Archive, target: Path, reuse: Path | None) -> Snapshot:
    objects = listing(archive)
    snap = Snapshot(objects)
    for relative, info in sorted(objects.items()):
        if not is_record_object(relative):
            continue
        local = target / relative
        etag = etag_of(info)
        if md5_of(local) == etag:
            continue
        if reuse is not None and md5_of(reuse / relative) == etag:
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(reuse / relative, local)
            os.chmod(local, 0o444)
            continue
        download(archive, relative, local)
        snap.downloaded += 1
    return snap


def _drop_gone(archive: Archive, objects: dict[str, Any], listed_at: float) -> None:
    """A record whose manifest the store no longer holds in any version leaves the mirror.

    A manifest hidden by a delete marker, or one whose versions the store still lists,
    is kept: the mirror's copy may be the only readable one (``records verify`` names
    the deletion). A manifest written here since the listing began is a seal that just
    committed (the store has it; the listing may not): it stays.
    """
    for manifest in archive.mirror.glob(f"*/*/{MANIFEST}"):
        relative = manifest.relative_to(archive.mirror).as_posix()
        try:
            fresh = manifest.stat().st_mtime >= listed_at - 1.0
        except FileNotFoundError:
            continue
        if relative in objects or fresh or versions.history(archive, relative).get(relative):
            continue
        shutil.rmtree(manifest.parent, ignore_errors=True)


def _write_head(archive: Archive, objects: dict[str, Any], target: Path) -> None:
    """``.chain-head`` from the newest chain object whose manifest is in the store.

    (The newest one may lack it for a moment: a seal in flight, see :mod:`.remote`.)
    """
    numbers = remote.sequences(objects)
    path = target / CHAIN_HEAD
    for number in reversed(numbers[-2:]):
        link = remote.read_link(archive, number)
        if link.manifest in objects:
            tmp = path.with_name(f".{CHAIN_HEAD}.sync.tmp")
            tmp.write_text(f"{link.sha256} {link.manifest}\n", encoding="utf-8")
            os.replace(tmp, path)
            return
    path.unlink(missing_ok=True)


def _head_object(archive: Archive, relative: str) -> dict[str, Any]:
    try:
        return dict(
            archive.fs.call_s3(
                "head_object", Bucket=archive.bucket, Key=archive.object_key(relative)
            )
        )
    except store_errors() as exc:
        raise store_error(archive.url, f"cannot read {relative}", exc) from None


def _stated_retention(path: Path) -> Any:
    import json

    try:
        return json.loads(path.read_bytes()).get("retention")
    except (OSError, ValueError, AttributeError):
        return None


@contextmanager
def _sync_lock(mirror: Path) -> Iterator[None]:
    fd = os.open(sync_lock_path(mirror), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
