"""The history of a shared archive's objects: a record is written once, so one version each.

On a versioned bucket (every bucket with Object Lock) a DELETE without a version id
leaves a delete marker in front of the locked version, and an overwrite adds a
newer version. The latest versions alone can then show a sound chain that is one
record shorter, or one whose newest record was rewritten together with its chain
object. The history cannot hide either: :func:`history` lists every version and
delete marker under a prefix (one paginated ``ListObjectVersions``), and
:func:`judge` names each chain object, manifest or signature that has a delete
marker or more than one version. A bucket without versioning keeps no history
(each object is one ``null`` version): there a deletion is final and not seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .layout import CHAIN_OBJECTS, MANIFEST, SIGNATURE
from .store import Archive, is_record_object, store_error, store_errors

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Version:
    """One version of an object, or a delete marker."""

    version_id: str
    deleted: bool  # a delete marker
    latest: bool
    modified: datetime


def history(archive: Archive, under: str = "") -> dict[str, list[Version]]:
    """{relative path: its versions and delete markers, oldest first} under ``under``."""
    inside = archive.root.split("/", 1)[1] if "/" in archive.root else ""
    prefix = f"{inside}/{under}" if inside else under
    found: dict[str, list[Version]] = {}
    markers: dict[str, str] = {}
    while True:
        try:
            page = archive.fs.call_s3(
                "list_object_versions", Bucket=archive.bucket, Prefix=prefix, **markers
            )
        except store_errors() as exc:
            raise store_error(
                archive.url,
                "cannot list the object versions (read-only keys need s3:ListBucketVersions)",
                exc,
            ) from None
        for item, deleted in _items(page):
            key = str(item.get("Key", ""))
            relative = key[len(inside) + 1 :] if inside else key
            if inside and not key.startswith(f"{inside}/"):
                continue
            when = item.get("LastModified")
            found.setdefault(relative, []).append(
                Version(
                    str(item.get("VersionId") or "null"),
                    deleted,
                    bool(item.get("IsLatest")),
                    when if isinstance(when, datetime) else _EPOCH,
                )
            )
        after = {
            "KeyMarker": str(page.get("NextKeyMarker") or ""),
            "VersionIdMarker": str(page.get("NextVersionIdMarker") or ""),
        }
        if not page.get("IsTruncated") or not after["KeyMarker"] or after == markers:
            break
        markers = after
    for versions in found.values():
        versions.sort(key=lambda v: (v.modified, v.latest))
    return found


def _items(page: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    return [(v, False) for v in page.get("Versions") or []] + [
        (m, True) for m in page.get("DeleteMarkers") or []
    ]


def watched(relative: str) -> bool:
    """The objects written exactly once by a seal: chain objects, manifests, signatures."""
    folder, _, leaf = relative.partition("/")
    if folder == CHAIN_OBJECTS and leaf.isdigit():
        return True
    return is_record_object(relative) and relative.endswith((f"/{MANIFEST}", f"/{SIGNATURE}"))


def hidden(versions: list[Version]) -> bool:
    """Whether the latest entry is a delete marker (the object looks gone, its versions stay)."""
    return bool(versions) and versions[-1].deleted


def judge(found: dict[str, list[Version]]) -> list[tuple[str, str]]:
    """(object, problem) for every watched object deleted or written more than once."""
    problems: list[tuple[str, str]] = []
    for relative, versions in sorted(found.items()):
        if watched(relative):
            problems.extend((relative, message) for message in _history_problems(versions))
    return problems


def _history_problems(versions: list[Version]) -> list[str]:
    kept = [v.version_id for v in versions if not v.deleted]
    markers = ", ".join(v.version_id for v in versions if v.deleted)
    found = []
    if hidden(versions):
        what = f"version {kept[0]}" if len(kept) == 1 else f"versions {', '.join(kept) or '(none)'}"
        found.append(
            f"deleted: a delete marker ({markers}) hides {what} (removing the marker restores it)"
        )
    elif markers:
        found.append(f"deleted and written again: delete marker {markers} in its history")
    if len(kept) > 1:
        found.append(
            f"overwritten: {len(kept)} versions ({', '.join(kept)}, oldest first; "
            "a record is written once, and verify read the latest)"
        )
    return found
