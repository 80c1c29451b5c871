"""The hash chain of a records root: every manifest names the sha256 of the one before.

The chain head is cached in ``<records>/.chain-head`` and updated under an
exclusive ``flock`` on ``<records>/.chain.lock``, which keeps the chain linear
when many runs finish at once and makes finding "previous" O(1).

Crash safety: one commit point. A seal first writes its intent to
``.chain-pending`` (the manifest text, its signature and witness line), then
the signature, the witness line and ``manifest.json``, and commits by renaming
the new ``.chain-head`` into place. Whoever takes the lock next finds a
leftover intent and replays it — every step is idempotent and the intent says
exactly what to write — so a kill at any instruction leaves the old head (no
intent yet: the run is sealed later as ``interrupted``) or the new one, never a
fork. A head that is missing, or names a manifest that is gone or changed, is
never rebuilt: sealing refuses and ``runbook records repair``
(:mod:`.repair`) records the gap in the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RecordError
from . import remote, store
from . import witness as wit
from .evidence import Attestation
from .faults import fault
from .layout import CHAIN_HEAD, CHAIN_LOCK, CHAIN_PENDING, MANIFEST, SIGNATURE
from .manifest import RECORD_FORMAT, TMP_PREFIX, check_fields, fsync_dir, hash_tree
from .protect import write_atomic
from .unsealed import unmark as unmark_unsealed

if TYPE_CHECKING:
    from .signing import Signer

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
REPAIR_HINT = "run 'runbook records repair' to record the gap (see 'runbook records verify --all')"


@dataclass(frozen=True)
class ChainHead:
    """The newest manifest of a records root, as cached in ``.chain-head``."""

    sha256: str  # of the manifest.json bytes
    path: str  # manifest path relative to the records root, posix
    sequence: int = 0  # the manifest's place in the chain (1 for the first record)


@dataclass(frozen=True)
class Intent:
    """A seal on its way into the chain: all a replay needs to finish it (``.chain-pending``)."""

    manifest: str  # path relative to the records root
    text: str  # the manifest.json content
    previous: str | None
    signature: str | None
    witness: str | None  # the witness file
    line: str | None  # its line for this record


class ChainBrokenError(RecordError):
    """The chain head is missing or does not match the archive: nothing is sealed until repair."""


def finalize_record(
    run_dir: Path, *, manifest: dict, signer: Signer | None = None, witness: str | None = None
) -> dict:
    """Seal a record: hash its files, link it into the chain, write manifest.json.

    ``manifest`` holds the caller's fields (see :class:`Manifest`); a new dict
    with ``files``, ``previous``, ``sequence`` and ``format`` added is written,
    signed (``signer``), witnessed (``witness``) and returned. A record is sealed
    once: finalizing it again would orphan any record chained after it, so that
    raises :class:`RecordError`, as does a broken chain head (:class:`ChainBrokenError`).
    """
    run_dir = Path(run_dir)
    root = run_dir.parent.parent
    if not run_dir.is_dir():
        raise RecordError("record directory does not exist", path=str(run_dir))
    check_fields(run_dir, manifest)
    if witness:
        wit.probe(witness)
    try:
        with chain_lock(root):
            replay_pending(root)
            if (run_dir / MANIFEST).exists():
                raise RecordError(
                    "record is already finalized; records are immutable",
                    path=str(run_dir / MANIFEST),
                )
            head = checked_head(root)
            if witness:
                _check_witness_tail(witness, head)
            return seal_locked(root, run_dir, manifest, head, signer, witness)
    except OSError as exc:
        raise RecordError(
            f"cannot finalize the record: {exc.strerror or exc}", path=str(run_dir)
        ) from exc


def seal_locked(
    root: Path,
    run_dir: Path,
    manifest: dict,
    head: ChainHead | None,
    signer: Signer | None,
    witness: str | None,
) -> dict:
    """Write and commit one manifest after ``head``; the caller holds :func:`chain_lock`."""
    sealed, intent = compose(root, run_dir, manifest, head, Attestation(signer, witness))
    commit(root, intent)
    return sealed


def commit(root: Path, intent: Intent) -> None:
    """Write the intent, then what it says, and move the head (caller holds the lock)."""
    _atomic_write(root / CHAIN_PENDING, json.dumps(asdict(intent)).encode("utf-8"), "pending")
    _apply(root, intent)


def compose(
    root: Path, run_dir: Path, manifest: dict, head: ChainHead | None, attestation: Attestation
) -> tuple[dict, Intent]:
    """The sealed manifest after ``head`` (hashes, chain fields, signature) and its intent."""
    signer, witness = attestation.signer, attestation.witness
    sealed = dict(manifest)
    sealed["files"] = hash_tree(run_dir)
    sealed["previous"] = head.sha256 if head else None
    sealed["sequence"] = (head.sequence if head else 0) + 1
    sealed["format"] = RECORD_FORMAT
    if signer is not None:
        sealed["signer"] = signer.stamp()
    try:
        text = json.dumps(sealed, ensure_ascii=False, indent=2) + "\n"
    except (TypeError, ValueError) as exc:
        raise RecordError(f"manifest is not JSON-serialisable: {exc}") from exc
    data = text.encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    record = run_dir.relative_to(root).as_posix()
    line = wit.WitnessLine(sealed["sequence"], run_dir.name, record, sha, sealed["previous"])
    signature = signer.sign(data) if signer else None
    intent = Intent(
        f"{record}/{MANIFEST}",
        text,
        sealed["previous"],
        signature,
        witness,
        line.text() if witness else None,
    )
    return sealed, intent


def _apply(root: Path, intent: Intent) -> None:
    """Write what ``intent`` says, commit by moving the head, drop the intent (all idempotent)."""
    manifest = root / intent.manifest
    _drop_leftovers(root, manifest.parent)
    data = intent.text.encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    signature = manifest.with_name(SIGNATURE)
    if intent.signature is not None:
        _write_once(signature, intent.signature.encode("utf-8"), "signature")
    else:
        signature.unlink(missing_ok=True)  # left by a seal that never committed
    if intent.witness and intent.line:
        wit.append(intent.witness, intent.line)
    _write_once(manifest, data, "manifest")
    _atomic_write(root / CHAIN_HEAD, f"{sha} {intent.manifest}\n".encode(), "head")
    (root / CHAIN_PENDING).unlink()
    fsync_dir(root)
    unmark_unsealed(manifest.parent)
    fault("pending:removed")


def _check_witness_tail(witness: str, head: ChainHead | None) -> None:
    """The witness's last line must be the head: else records were cut or the head rolled back."""
    last = wit.last_line(witness)
    if last is None:
        return  # a new witness starts here
    try:
        sha = json.loads(last)["sha256"]
    except (ValueError, KeyError, TypeError):
        raise ChainBrokenError(
            f"the witness's last line is unreadable; {REPAIR_HINT}", path=witness
        ) from None
    if head is None or sha != head.sha256:
        named = head.path if head else "no record"
        raise ChainBrokenError(
            f"the witness's last record ({sha[:12]}…) is not the chain head "
            f"({named}): records were cut or the head was rolled back; "
            f"{REPAIR_HINT}",
            path=witness,
        )


def read_pending(records: Path) -> Intent | None:
    """The seal a crash interrupted, if any (``.chain-pending``)."""
    path = Path(records) / CHAIN_PENDING
    try:
        return Intent(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ChainBrokenError(
            f"unreadable interrupted seal: {exc}; {REPAIR_HINT}", path=str(path)
        ) from None


def replay_pending(root: Path) -> str | None:
    """Finish a seal a crash interrupted (caller holds the lock); the manifest it completed."""
    intent = read_pending(root)
    if intent is None:
        return None
    sha = hashlib.sha256(intent.text.encode("utf-8")).hexdigest()
    head = _read_head_line(root)
    current = head.sha256 if isinstance(head, ChainHead) else None
    if current == sha:  # committed; only the intent was left
        (root / CHAIN_PENDING).unlink()
        return intent.manifest
    if current != intent.previous or not (root / intent.manifest).parent.is_dir():
        raise ChainBrokenError(
            f"an interrupted seal of {intent.manifest} no longer follows "
            f"the chain head; {REPAIR_HINT}",
            path=str(root / CHAIN_PENDING),
        )
    _apply(root, intent)
    return intent.manifest


def check_chain(records: Path, witness: str | None = None) -> ChainHead | None:
    """Finish an interrupted seal, then prove the head matches the archive and the witness."""
    records = Path(records)
    if not records.is_dir():
        return None
    shared = store.archive_of(records)
    if shared is not None:  # the store's chain objects are the truth; the mirror follows them
        link = remote.head(shared)
        return ChainHead(link.sha256, link.manifest, link.sequence) if link else None
    with chain_lock(records):
        replay_pending(records)
        head = checked_head(records)
        if witness:
            _check_witness_tail(witness, head)
        return head


def checked_head(records: Path) -> ChainHead | None:
    """The head, proven to name an existing manifest with its hash; ``None`` for an empty archive.

    Raises :class:`ChainBrokenError` naming ``runbook records repair`` otherwise:
    a lost head is never guessed from the records left (that is how deleting the
    newest record and the head would go unnoticed).
    """
    head = _read_head_line(records)
    if head is None:
        if next(iter(Path(records).glob(f"*/*/{MANIFEST}")), None) is not None:
            raise ChainBrokenError(
                f"the chain head is missing but records exist; {REPAIR_HINT}",
                path=str(Path(records) / CHAIN_HEAD),
            )
        return None
    if isinstance(head, str):
        raise ChainBrokenError(
            f"the chain head is malformed: {head}; {REPAIR_HINT}",
            path=str(Path(records) / CHAIN_HEAD),
        )
    path = Path(records) / head.path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ChainBrokenError(
            f"the newest record named by the chain head is missing; {REPAIR_HINT}", path=head.path
        ) from None
    if hashlib.sha256(data).hexdigest() != head.sha256:
        raise ChainBrokenError(
            f"the newest manifest no longer matches the chain head; {REPAIR_HINT}", path=head.path
        )
    return ChainHead(head.sha256, head.path, manifest_sequence(data))


def read_chain_head(records: Path) -> ChainHead | None:
    """The head as ``.chain-head`` states it; ``None`` when there is none. Malformed: an error."""
    head = _read_head_line(records)
    if isinstance(head, str):
        raise RecordError(
            "chain head is malformed (expected '<sha256> <path>'); run 'runbook records verify'",
            path=str(Path(records) / CHAIN_HEAD),
        )
    return head


def manifest_sequence(data: bytes) -> int:
    """A manifest's ``sequence`` (0 when it predates sequence numbers or is unreadable)."""
    try:
        value = json.loads(data).get("sequence")
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) else 0


def _read_head_line(records: Path) -> ChainHead | str | None:
    path = Path(records) / CHAIN_HEAD
    try:
        line = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return f"unreadable ({exc})"
    sha, _, relative = line.partition(" ")
    if not _SHA256.match(sha) or not relative:
        return "expected '<sha256> <path>'"
    return ChainHead(sha256=sha, path=relative)


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
def chain_lock(root: Path) -> Iterator[None]:
    """Hold the records root's exclusive chain lock."""
    fd = _open_lock(root)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _drop_leftovers(root: Path, run_dir: Path) -> None:
    """Temp files of a seal killed before its rename (caller holds the lock: nobody writes them)."""
    for pattern, where in (
        (f"{TMP_PREFIX}*.tmp", run_dir),
        (f".{CHAIN_HEAD}.*.tmp", root),
        (f".{CHAIN_PENDING}.*.tmp", root),
    ):
        for leftover in where.glob(pattern):
            leftover.unlink(missing_ok=True)


def _write_once(path: Path, data: bytes, label: str) -> None:
    """Write ``data`` unless the file already holds exactly it (a replay)."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    _atomic_write(path, data, label)


def _atomic_write(path: Path, data: bytes, label: str) -> None:
    """Readers see the old file or the new one, never a torn one, even after a crash."""
    prefix = TMP_PREFIX if path.name == MANIFEST else None
    write_atomic(path, data, prefix=prefix, before_replace=lambda: fault(f"{label}:written"))
    fault(f"{label}:renamed")
    fsync_dir(path.parent)
