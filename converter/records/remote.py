"""The hash chain of a shared archive, kept consistent by the store's conditional writes.

Many machines seal into one archive and none of them can take a lock on another's
disk. The store decides instead: every place in the chain is an object,
``.chain/<sequence>``, created with ``PutObject`` and ``If-None-Match: *`` — the
store lets exactly one writer create it; the others get ``412 Precondition
Failed``, read the new head and try the next place. No writer ever waits on a
lock that a dead machine holds, and the chain cannot fork.

A seal (:func:`seal`) runs in this order:

1. upload the record's files (they do not depend on the chain);
2. read the head: the chain object with the highest sequence number;
3. compose the manifest after it (``previous``, ``sequence``) and create the next
   chain object holding the whole intent (manifest text, signature, witness line);
4. lost the race: back to 2. Won: write ``manifest.json`` (and its signature).

The chain object is the commit point. A writer killed between 3 and 4 leaves a
chain object whose manifest is missing; whoever reads the head next writes it
from the intent (every step is idempotent, and the manifest is created only if
absent: each is written once), like ``.chain-pending`` locally. The head is read
from the object versions (:mod:`.versions`): a place with any version or delete
marker is taken, and a newest record hidden by a delete marker stops every seal.
With ``--retain-days`` every object is written with COMPLIANCE retention
(:mod:`.objectlock`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import objectlock, versions
from .faults import fault
from .layout import CHAIN_OBJECTS, MANIFEST, PROBE_OBJECT, SIGNATURE
from .manifest import tree_files
from .store import Archive, store_error, store_errors

MAX_ATTEMPTS = 200
"""Places in the chain a seal tries before it gives up (each loss means another seal won)."""


@dataclass(frozen=True)
class Link:
    """One chain object: a sealed manifest's place in the chain and how to finish writing it."""

    sequence: int
    intent: dict[str, Any]  # the fields of chain.Intent: manifest, text, previous, signature, …

    @property
    def sha256(self) -> str:
        """The hash of the manifest this link commits."""
        return hashlib.sha256(str(self.intent["text"]).encode("utf-8")).hexdigest()

    @property
    def manifest(self) -> str:
        """The manifest's path relative to the records root."""
        return str(self.intent["manifest"])


def chain_object(sequence: int) -> str:
    """The archive-relative name of the chain object for ``sequence``."""
    return f"{CHAIN_OBJECTS}/{sequence:010d}"


def sequences(objects: dict[str, Any]) -> list[int]:
    """The sequence numbers of the chain objects in a listing, ascending."""
    found = []
    for name in objects:
        folder, _, leaf = name.partition("/")
        if folder == CHAIN_OBJECTS and leaf.isdigit():
            found.append(int(leaf))
    return sorted(found)


def read_link(archive: Archive, sequence: int) -> Link:
    """The chain object for ``sequence``; an unreadable one is a broken chain (RecordError)."""
    name = chain_object(sequence)
    try:
        intent = json.loads(archive.fs.cat_file(archive.key(name)))
        if not isinstance(intent, dict) or "text" not in intent or "manifest" not in intent:
            raise ValueError("not a chain object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"unreadable chain object: {exc}", path=f"{archive.url}/{name}") from None
    except store_errors() as exc:
        raise store_error(archive.url, f"cannot read {name}", exc) from None
    return Link(sequence, intent)


def head(archive: Archive) -> Link | None:
    """The newest link, its manifest written (finished from the intent when a writer died).

    The chain's places are read from the object versions: a place with any version or
    delete marker is taken, so no writer takes a deleted record's place. A newest chain
    object or manifest hidden by a delete marker stops every seal (RecordError): a
    record sealed after it would make the deletion look like the chain's history.
    """
    chain = versions.history(archive, f"{CHAIN_OBJECTS}/")
    numbers = sequences(chain)
    if not numbers:
        return None
    newest = chain_object(numbers[-1])
    if versions.hidden(chain[newest]):
        raise _deleted_error(archive, newest)
    link = read_link(archive, numbers[-1])
    data = str(link.intent["text"]).encode("utf-8")
    try:
        present = archive.fs.cat_file(archive.key(link.manifest))
    except FileNotFoundError:
        present = None
    except store_errors() as exc:
        raise store_error(archive.url, f"cannot read {link.manifest}", exc) from None
    if present is None:
        if versions.history(archive, link.manifest).get(link.manifest):
            raise _deleted_error(archive, link.manifest)
        _commit(archive, link.intent)  # a writer died after winning its place: finish its seal
    elif present != data:
        raise RecordError(
            f"the newest manifest does not match chain object {chain_object(link.sequence)} "
            "(run 'runbook records verify --all')",
            path=f"{archive.url}/{link.manifest}",
        )
    return link


def _deleted_error(archive: Archive, name: str) -> RecordError:
    return RecordError(
        f"{name} was deleted (a delete marker hides it): nothing is sealed after a hidden "
        "record; removing the delete marker restores it ('runbook records verify --all' "
        "names what is hidden)",
        path=archive.url,
    )


Compose = Callable[[Link | None], tuple[dict[str, Any], dict[str, Any]]]
"""Given the head, the sealed manifest and the intent (chain.Intent fields) after it."""


def seal(
    archive: Archive, run_dir: Path, record: str, compose: Compose, stated: dict | None
) -> tuple[dict, dict]:
    """Upload a record, win the next place in the chain, write its manifest (see module doc).

    ``stated`` is the retention the manifest states (``compose`` puts it there); every
    object is written with it.
    """
    head(archive)  # first finish a seal a dead writer left (it may be this very record's)
    existing = _sealed_already(archive, record)
    if existing is not None:
        return existing
    lock = objectlock.put_arguments(stated)
    for relative, path in tree_files(run_dir):  # what the manifest will list, no more or less
        _put(archive, f"{record}/{relative}", path.read_bytes(), lock)
    for _ in range(MAX_ATTEMPTS):
        link = head(archive)
        sealed, intent = compose(link)
        fault("remote:composed")
        sequence = (link.sequence if link else 0) + 1
        body = json.dumps(intent, ensure_ascii=False).encode("utf-8")
        if _put(archive, chain_object(sequence), body, lock, create=True):
            fault("remote:claimed")
            _commit(archive, intent, lock)
            return sealed, intent
        fault("remote:lost")
    raise RecordError(
        f"could not win a place in the chain after {MAX_ATTEMPTS} tries", path=archive.url
    )


def _sealed_already(archive: Archive, record: str) -> tuple[dict, dict] | None:
    """A record whose manifest is in the store already (a crash after the commit)."""
    try:
        text = archive.fs.cat_file(archive.key(f"{record}/{MANIFEST}")).decode("utf-8")
    except FileNotFoundError:
        return None
    except store_errors() as exc:
        raise store_error(archive.url, f"cannot read {record}/{MANIFEST}", exc) from None
    try:
        signature = archive.fs.cat_file(archive.key(f"{record}/{SIGNATURE}")).decode("utf-8")
    except FileNotFoundError:
        signature = None
    sealed = json.loads(text)
    intent = {
        "manifest": f"{record}/{MANIFEST}",
        "text": text,
        "previous": sealed.get("previous"),
        "signature": signature,
        "witness": None,
        "line": None,
    }
    return sealed, intent


def _commit(archive: Archive, intent: dict[str, Any], lock: dict[str, Any] | None = None) -> None:
    """Write the manifest (and signature) a chain object commits, once: a writer finishing a
    dead writer's seal may race the seal's own writer, and the loser leaves the first
    version alone (each is written once; see :mod:`.versions`)."""
    if lock is None:
        lock = objectlock.put_arguments(_stated(intent))
    manifest = str(intent["manifest"])
    if intent.get("signature") is not None:
        signature = manifest.rsplit("/", 1)[0] + f"/{SIGNATURE}"
        _put(archive, signature, str(intent["signature"]).encode("utf-8"), lock, create=True)
    _put(archive, manifest, str(intent["text"]).encode("utf-8"), lock, create=True)


def _stated(intent: dict[str, Any]) -> dict[str, str] | None:
    try:
        stated = json.loads(intent["text"]).get("retention")
    except (ValueError, AttributeError):
        return None
    return stated if isinstance(stated, dict) else None


def _put(
    archive: Archive, relative: str, data: bytes, lock: dict[str, Any], *, create: bool = False
) -> bool:
    """Write an object (``create``: only if it does not exist yet, else ``False``: another
    writer created it first)."""
    condition = {"IfNoneMatch": "*"} if create else {}
    try:
        archive.fs.call_s3(
            "put_object",
            Bucket=archive.bucket,
            Key=archive.object_key(relative),
            Body=data,
            ContentMD5=_content_md5(data),
            **condition,
            **lock,
        )
    except store_errors() as exc:
        if create and _is_precondition_failure(exc):
            return False
        raise store_error(archive.url, f"cannot upload {relative}", exc) from None
    return True


def _is_precondition_failure(exc: BaseException) -> bool:
    """412 Precondition Failed (or 409 ConditionalRequestConflict): someone else won."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = str((response.get("Error") or {}).get("Code", ""))
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return True
        seen = seen.__cause__ or seen.__context__
    return "pre-condition" in str(exc) or "precondition" in str(exc).lower()


def _content_md5(data: bytes) -> str:
    """The Content-MD5 header: S3 requires it on a PutObject with Object Lock retention."""
    import base64

    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def prepare_writes(archive: Archive) -> None:
    """Before a run starts ("no evidence, no execution"): prove the archive takes writes, the
    bucket locks objects when retention is asked for, and the chain head is sound."""
    _put(archive, PROBE_OBJECT, b"probe\n", {})
    try:
        archive.fs.rm_file(archive.key(PROBE_OBJECT))
    except store_errors() as exc:
        raise store_error(archive.url, "cannot delete the write probe", exc) from None
    if objectlock.retain_days() is not None:
        objectlock.require_lock(archive.fs, archive.bucket, archive.url)
    head(archive)


def check_links(
    archive: Archive, objects: dict[str, Any], found: dict[str, list[versions.Version]]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(problems, notes) as (object, message): chain objects against each other and the
    manifests (``objects``: the latest versions; ``found``: every version, see
    :mod:`.versions`). The newest link without its manifest, and no version of that
    manifest ever written, is a seal in flight (a note)."""
    problems: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []
    numbers = sequences(objects)
    previous: Link | None = None
    for expected, number in enumerate(numbers, 1):
        name = chain_object(number)
        if number != expected:
            problems.append((name, f"chain objects {expected}…{number - 1} are missing"))
        link = read_link(archive, number)
        stated = link.intent.get("previous")
        if previous is not None and number == previous.sequence + 1 and stated != previous.sha256:
            problems.append((name, "does not follow the chain object before it (a fork)"))
        if link.manifest not in objects and number == numbers[-1] and not found.get(link.manifest):
            notes.append((name, f"{IN_FLIGHT}; the next seal writes {link.manifest}"))
        elif link.manifest not in objects:
            problems.append((name, f"names {link.manifest}, which is not in the archive"))
        previous = link
    return problems + versions.judge(found), notes


IN_FLIGHT = "sealing was interrupted after this record won its place in the chain"
