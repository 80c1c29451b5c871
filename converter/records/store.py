"""Where the archive lives: a local directory, or an fsspec URL (``s3://bucket/prefix``).

A local path (or ``file://`` URL) is the records root itself, as always. Any other
URL is a *shared archive*: every command works on a local mirror of it,
``$RUNBOOK_CACHE/archives/<url slug>-<hash>/`` (default ``~/.cache/runbook``), which
is an ordinary records root with one more file (``.remote``, naming the URL):

* runs write their record there while they run, and upload it when sealed
  (:mod:`.remote`: the store's chain objects decide its place in the chain);
* ``records list|show|export`` first bring the mirror up to date from the store
  (new and changed objects are downloaded; a sealed record leaves the mirror
  only when the store holds no version of its manifest), so the index is a local
  cache of the manifests *there*;
* ``records verify`` downloads the archive into a fresh directory: what it checks
  is what the store holds now, never the cache.

Endpoint and keys come from the standard variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``) or
fsspec's own configuration, never from a runbook; no error message carries a key.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import RecordError
from .layout import ARCHIVE_CACHES, CHAIN_OBJECTS, REMOTE_MARKER, SYNC_LOCK

CACHE_ENV = "RUNBOOK_CACHE"
"""The directory holding local mirrors of shared archives (default ``~/.cache/runbook``)."""
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
_LOCAL_SCHEMES = ("", "file", "local")


def is_remote(location: str) -> bool:
    """Whether ``--records`` names a shared archive (a URL other than ``file://``)."""
    scheme, sep, _ = str(location).partition("://")
    return (
        bool(sep)
        and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) is not None
        and (scheme not in _LOCAL_SCHEMES)
    )


def local_path(location: str) -> Path:
    """A local ``--records`` value as a path (``file:///x`` is ``/x``)."""
    text = str(location)
    return Path(text[len("file://") :]) if text.startswith("file://") else Path(text)


@dataclass(frozen=True)
class Archive:
    """A shared archive: its URL, its filesystem, its root there, and its local mirror."""

    url: str
    fs: Any  # an fsspec filesystem (s3fs for s3://)
    root: str  # the URL's path as the filesystem spells it (``bucket/prefix``)
    mirror: Path

    def key(self, relative: str) -> str:
        """The filesystem path of ``relative`` (posix, under the records root)."""
        return f"{self.root}/{relative}" if relative else self.root

    @property
    def bucket(self) -> str:
        """The bucket (the first part of the root)."""
        return self.root.split("/", 1)[0]

    def object_key(self, relative: str) -> str:
        """The key of ``relative`` inside the bucket (for calls straight to the S3 API)."""
        return self.key(relative).split("/", 1)[1]


@cache
def store_errors() -> tuple[type[BaseException], ...]:
    """What a store call raises when it cannot answer: OSError (s3fs's translation of S3
    errors), botocore's and aiohttp's own errors, and ValueError for a malformed answer."""
    found: list[type[BaseException]] = [OSError, ValueError, TimeoutError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        found += [BotoCoreError, ClientError]
    except ImportError:
        pass
    try:
        from aiohttp import ClientError as HttpError

        found.append(HttpError)
    except ImportError:
        pass
    return tuple(found)


def clean(text: str) -> str:
    """``text`` with any credential from the environment replaced by ``***``."""
    for name in _SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def store_error(archive_url: str, what: str, exc: BaseException) -> RecordError:
    """A :class:`RecordError` naming the URL and what failed, with no credential in it."""
    detail = clean(str(exc) or type(exc).__name__).splitlines()[0][:300]
    hint = (
        " (endpoint and keys: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_DEFAULT_REGION)"
    )
    return RecordError(f"{what}: {detail}{hint}", path=archive_url)


def open_archive(url: str) -> Archive:
    """The filesystem and mirror for ``url``; the store is proven reachable (RecordError if not)."""
    scheme, _, rest = url.partition("://")
    if not rest.strip("/"):
        raise RecordError("the records URL names no bucket (s3://bucket/prefix)", path=url)
    if "@" in rest or ":" in rest.split("/", 1)[0]:  # s3://KEY:SECRET@bucket (a secret may hold /)
        raise RecordError(
            "a records URL must not hold credentials (they would name the local mirror and "
            "show in every message): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            path=f"{scheme}://***@{rest.rpartition('@')[2]}",
        )
    archive = _open(f"{scheme}://{rest.rstrip('/')}", _settings())
    try:
        if hasattr(archive.fs, "call_s3"):
            archive.fs.call_s3("head_bucket", Bucket=archive.bucket)
        elif not archive.fs.exists(archive.bucket):
            raise FileNotFoundError(archive.bucket)
    except FileNotFoundError:
        raise RecordError(
            f"no such bucket {archive.bucket!r} (create it, with Object Lock for retention)",
            path=url,
        ) from None
    except PermissionError:
        raise RecordError(
            f"access to bucket {archive.bucket!r} denied: check the keys "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
            path=url,
        ) from None
    except store_errors() as exc:  # botocore, aiohttp and fsspec: all mean "cannot"
        raise store_error(url, "cannot reach the archive", exc) from None
    archive.mirror.mkdir(parents=True, exist_ok=True)
    marker = archive.mirror / REMOTE_MARKER
    if not marker.exists():
        marker.write_text(url.rstrip("/") + "\n", encoding="utf-8")
    return archive


def _settings() -> tuple[str, ...]:
    """What an opened archive depends on besides its URL (the cache key of :func:`_open`)."""
    names = (CACHE_ENV, "XDG_CACHE_HOME", "AWS_ENDPOINT_URL", *_SECRET_VARIABLES, "AWS_PROFILE")
    return tuple(os.environ.get(name, "") for name in names)


@cache
def _open(url: str, _settings: tuple[str, ...]) -> Archive:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with papermill
        raise RecordError("fsspec is needed for a records URL", path=url) from None
    try:
        fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True, use_listings_cache=False)
    except ImportError as exc:
        raise RecordError(
            f"cannot open the records URL: {exc} (for s3://: pip install 'runbook-notebooks[s3]')",
            path=url,
        ) from None
    except store_errors() as exc:
        raise store_error(url, "not a records URL fsspec can open", exc) from None
    root = str(root).rstrip("/")
    if not root:
        raise RecordError("the records URL names no bucket (s3://bucket/prefix)", path=url)
    return Archive(url, fs, root, mirror_directory(url))


def mirror_directory(url: str) -> Path:
    """The local mirror of ``url``: one per URL, under ``$RUNBOOK_CACHE`` or the user cache."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "runbook"
    )
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", url.split("://", 1)[-1]).strip("-.")[:60]
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    return Path(base).expanduser().resolve() / ARCHIVE_CACHES / f"{slug}-{digest}"


def archive_of(records: Path) -> Archive | None:
    """The shared archive a records root mirrors (its ``.remote`` file), or ``None``."""
    try:
        url = (Path(records) / REMOTE_MARKER).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror or exc}", path=str(records)) from None
    return _open(url, _settings())


def listing(archive: Archive) -> dict[str, dict[str, Any]]:
    """{relative path: object info} for every object of the archive (chain objects too)."""
    try:
        found = archive.fs.find(archive.root, detail=True)
    except FileNotFoundError:
        return {}
    except store_errors() as exc:
        raise store_error(archive.url, "cannot list the archive", exc) from None
    prefix = archive.root + "/"
    return {
        name[len(prefix) :]: info
        for name, info in found.items()
        if name.startswith(prefix) and info.get("type", "file") == "file"
    }


def is_record_object(relative: str) -> bool:
    """Whether an object is part of a record (``<runbook>/<run>/…``), not a chain object."""
    return relative.count("/") >= 2 and not relative.startswith((f"{CHAIN_OBJECTS}/", "."))


def etag_of(info: dict[str, Any]) -> str:
    """An object's ETag without quotes (the MD5 of its bytes for a single-part upload)."""
    return str(info.get("ETag") or info.get("etag") or "").strip('"')


def md5_of(path: Path) -> str | None:
    """The MD5 of a local file (to compare with an ETag), ``None`` when it is not there."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return digest.hexdigest()


def download(archive: Archive, relative: str, target: Path) -> None:
    """Fetch one object into ``target`` (atomically; read-only, like a sealed file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = archive.fs.cat_file(archive.key(relative))
    except store_errors() as exc:
        raise store_error(archive.url, f"cannot read {relative}", exc) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)


def sync_lock_path(mirror: Path) -> Path:
    """The lock serialising syncs of one mirror (two commands on one machine)."""
    return mirror / SYNC_LOCK
