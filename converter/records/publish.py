"""Seal a record into a shared archive (``--records s3://…``): upload it, chain it there.

The record was written in the archive's local mirror (:mod:`.store`); :mod:`.remote`
uploads it and wins its place in the store's chain; then the mirror gets the same
manifest, signature, witness line and head as a local seal writes (:func:`chain.commit`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from . import chain, objectlock, remote
from .evidence import Attestation
from .manifest import check_fields
from .signing import Signer
from .store import Archive


def finalize_shared(
    archive: Archive,
    run_dir: Path,
    manifest: dict,
    signer: Signer | None = None,
    witness: str | None = None,
) -> dict:
    """Like :func:`chain.finalize_record`, with the store's chain deciding the place."""
    root = run_dir.parent.parent
    check_fields(run_dir, manifest)
    stated = objectlock.retention(objectlock.retain_days())
    if stated is not None:
        manifest = {**manifest, "retention": stated}

    def after(link: remote.Link | None) -> tuple[dict, dict]:
        head = chain.ChainHead(link.sha256, link.manifest, link.sequence) if link else None
        sealed, intent = chain.compose(root, run_dir, manifest, head, Attestation(signer, witness))
        return sealed, asdict(intent)

    record = run_dir.relative_to(root).as_posix()
    with chain.chain_lock(root):  # the mirror's files: one writer on this machine at a time
        sealed, intent = remote.seal(archive, run_dir, record, after, stated)
        chain.commit(root, chain.Intent(**intent))
    return sealed
