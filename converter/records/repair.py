"""``runbook records repair``: record a gap at the head of the chain, in the chain.

A chain head that is missing, malformed, or names a manifest that is gone or
changed stops every seal (:class:`~converter.records.chain.ChainBrokenError`):
rebuilding it silently is how deleting the newest records would go unnoticed.
Repair does not hide the gap, it signs for it: a repair record
(``<records>/chain-repair/<run id>/manifest.json``, ``kind: "repair"``) says who
repaired, when, what the head said and what was found instead, and links the
chain's loose ends (every manifest nothing points at: the newest becomes its
``previous``, the others are ``joined``). It is sealed, signed and witnessed like
any record, and ``records verify`` shows it as a note from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import chain
from .evidence import Attestation
from .index import index_record
from .journal import utc_now
from .layout import CHAIN_PENDING, MANIFEST, REPAIRS
from .manifest import create_record_dir, hash_file


@dataclass(frozen=True)
class Repair:
    """What ``records repair`` did."""

    run_dir: Path
    summary: str
    manifest: dict[str, Any]


def repair_chain(records: Path, *, operator: str, attestation: Attestation) -> Repair | None:
    """Seal a repair record for a broken head; ``None`` when the head is sound."""
    records = Path(records)
    if not records.is_dir():
        return None
    with chain.chain_lock(records):
        dropped = _replay_or_drop(records)
        try:
            head = chain.checked_head(records)
        except chain.ChainBrokenError as exc:
            broken = exc.message
        else:
            if dropped is None:
                return None
            broken = f"{dropped}; the chain head was sound"
        stated = _stated_head(records)
        tips = _loose_ends(records)
        newest = tips[0] if tips else None
        head = (
            chain.ChainHead(newest["sha256"], newest["path"], newest["sequence"])
            if newest
            else None
        )
        summary = _summary(broken, stated, newest, len(tips), dropped)
        run_dir, run_id = create_record_dir(records, REPAIRS)
        now = utc_now()
        manifest = {
            "run_id": run_id,
            "kind": "repair",
            "status": "repaired",
            "runbook": {"id": REPAIRS, "title": "Chain repair", "source_sha256": None},
            "operator": operator,
            "mode": "repair",
            "dry_run": False,
            "started_at": now,
            "finished_at": now,
            "repair": {
                "summary": summary,
                "problem": broken,
                "head_stated": None
                if stated is None
                else {"sha256": stated.sha256, "path": stated.path},
                "resumed_after": newest,
                "joined": [t["sha256"] for t in tips[1:]],
                "dropped_seal": dropped,
            },
        }
        sealed = chain.seal_locked(
            records, run_dir, manifest, head, attestation.signer, attestation.witness
        )
    index_record(records, run_dir, sealed)
    return Repair(run_dir, summary, sealed)


def _stated_head(records: Path) -> chain.ChainHead | None:
    try:
        return chain.read_chain_head(records)
    except RecordError:
        return None  # malformed: the problem text says so


def _replay_or_drop(records: Path) -> str | None:
    """Finish an interrupted seal; one that cannot be finished is dropped and described."""
    try:
        chain.replay_pending(records)
        return None
    except chain.ChainBrokenError:
        intent = _pending_manifest(records)
        (records / CHAIN_PENDING).unlink(missing_ok=True)
        return f"an interrupted seal of {intent} could not be completed and was dropped"


def _pending_manifest(records: Path) -> str:
    try:
        return str(json.loads((records / CHAIN_PENDING).read_text(encoding="utf-8"))["manifest"])
    except (OSError, ValueError, KeyError, TypeError):
        return "an unreadable record"


def _loose_ends(records: Path) -> list[dict[str, Any]]:
    """Manifests no other manifest names as ``previous``, newest first."""
    found: dict[str, dict[str, Any]] = {}
    linked: set[str] = set()
    for path in records.glob(f"*/*/{MANIFEST}"):
        data = path.read_bytes()
        try:
            manifest = json.loads(data)
        except ValueError:
            manifest = {}
        manifest = manifest if isinstance(manifest, dict) else {}
        if isinstance(manifest.get("previous"), str):
            linked.add(manifest["previous"])
        found[hash_file(path)] = {
            "path": path.relative_to(records).as_posix(),
            "sha256": hash_file(path),
            "sequence": chain.manifest_sequence(data),
            "finished_at": str(manifest.get("finished_at", "")),
        }
    tips = [t for sha, t in found.items() if sha not in linked]
    return sorted(tips, key=lambda t: (t["finished_at"], t["path"]), reverse=True)


def _summary(
    broken: str, stated: chain.ChainHead | None, newest: dict | None, tips: int, dropped: str | None
) -> str:
    what = broken.split(f"; {chain.REPAIR_HINT}")[0]
    named = f" (.chain-head named {stated.path}, sha256 {stated.sha256[:12]}…)" if stated else ""
    after = f"; chain resumed after {newest['path']}" if newest else "; no records were left"
    joined = f"; {tips - 1} other loose end(s) joined" if tips > 1 else ""
    return f"{what}{named}{after}{joined}" + (
        f"; {dropped}" if dropped and dropped not in what else ""
    )
