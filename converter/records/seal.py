"""Seal a finished run: mask, stamp the verdict, render HTML, write the chained manifest, index it.

The one path by which every record is sealed — headless (the runner, after the
kernel is gone), interactive (the finish cell) and abandoned (recovery) — so
all three write the same files with the same fields, signed and witnessed
alike (:mod:`.evidence`). Every file is re-masked as
a last line of defence (a secret must not reach a record file in any
encoding), then hashed into ``manifest.json``, which is written last. Then the
files are made read-only and the notebooks refuse to run (:mod:`.protect`).

A seal that cannot write (a full disk) raises :class:`DiskFull` and leaves the
record unsealed with its files intact (every rewrite is atomic), so recovery
seals it later with what the journal says. A failure to index does not fail
the seal: the index is a cache that the next reader rebuilds.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DiskFull, RecordError, is_disk_full
from . import layout
from .chain import finalize_record
from .events import APPROVALS, Event
from .evidence import Attestation, Evidence
from .heap import frozen_heap
from .index import index_record
from .journal import masked_json, read_journal, read_journal_prefix, utc_now
from .mask import SecretMasker
from .nbjson import notebook_file_text
from .protect import guard_cells, make_read_only, refusal, write_atomic
from .publish import finalize_shared
from .statuslines import settle_status_lines
from .store import archive_of
from .verdict import Verdict, final_checks

PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
"""papermill tags the banner cells it inserts when a cell raised (papermill.execute)."""


@dataclass(frozen=True)
class Seal:
    """Everything a sealed record states about its run."""

    run_dir: Path
    runbook: dict[str, Any]
    """The declared runbook: id, title, source_sha256, steps and checklists (notebook metadata)."""
    status: str
    verdict: Verdict
    rollback: Verdict | None
    operator: str
    started_at: str
    parameters: dict[str, Any]
    """Values as shown in a record: secrets already ``***``."""
    dry_run: bool
    mode: str
    masker: SecretMasker
    corrupt_journal_line: int | None = None
    """Set by recovery when a journal line is corrupt: only the events before it are read."""
    attestation: Attestation | None = None
    """Signer and witness; ``None``: from RUNBOOK_SIGNING_KEY / RUNBOOK_WITNESS, proven now."""
    resumes: str | None = None
    """The run this one resumes (``runbook resume``): the manifest names it."""
    kind: str | None = None
    """``fleet`` for a fleet's own record; else ``plan`` (a dry run) or ``run``."""
    fleet: dict[str, Any] | None = None
    """A target's run: its fleet's ``run_id`` and ``target``; a fleet record: targets, controls."""
    finished_at: str | None = None
    """When the run ended; ``None``: now. Recovery gives the last journaled event's time: a
    record sealed days after its runner was killed did not run until then."""
    sealed_later: str | None = None
    """Set by recovery for a run that ended (``run_end``) but whose own seal did not complete:
    the manifest says why it was sealed by someone else, later."""

    @property
    def records(self) -> Path:
        """The records root holding this run (``<records>/<runbook>/<run>``)."""
        return self.run_dir.parent.parent


def seal_run(seal: Seal) -> dict[str, Any]:
    """Write record.html and manifest.json for a run whose notebooks and journal exist; index it."""
    run_dir = seal.run_dir
    try:
        with frozen_heap():  # what the process holds is no garbage: 0.1 ms per step in a runner
            sealed = _write_record(seal)
    except (OSError, RecordError) as exc:
        if is_disk_full(exc):
            raise DiskFull(str(seal.records)) from exc
        if isinstance(exc, RecordError):
            raise
        raise RecordError(
            f"cannot seal the record: {exc.strerror or exc}", path=str(run_dir)
        ) from exc
    try:
        index_record(seal.records, run_dir, sealed)
    except RecordError:
        pass  # the index is a cache: the next reader finds this record missing and rebuilds it
    make_read_only(run_dir)
    return sealed


def _write_record(seal: Seal) -> dict[str, Any]:
    run_dir = seal.run_dir
    with contextlib.suppress(FileNotFoundError):
        (run_dir / layout.STOP_FILE).unlink()
    shutil.rmtree(run_dir / layout.TARGET_CLAIMS, ignore_errors=True)  # a fleet's
    message = refusal(seal.runbook, run_dir.name)
    # A headless rollback pass ran in rollback.ipynb; an interactive one in record.ipynb.
    separate = (run_dir / layout.ROLLBACK_NOTEBOOK).exists()
    passes = (
        (layout.RECORD_NOTEBOOK, seal.verdict, None if separate else seal.rollback),
        (layout.ROLLBACK_NOTEBOOK, seal.rollback, None),
    )
    stamped = {
        name: _stamp(
            run_dir / name,
            steps=seal.runbook.get("steps", []),
            status=seal.status,
            verdict=verdict,
            rollback=rollback,
            masker=seal.masker,
            refusal=message,
        )
        for name, verdict, rollback in passes
        if (run_dir / name).exists()
    }
    _mask_logs(run_dir, seal.masker)
    if seal.corrupt_journal_line is None:
        events = read_journal(run_dir / layout.JOURNAL)
    else:
        events = read_journal_prefix(run_dir / layout.JOURNAL)[0]
    manifest = masked_json(_manifest(seal, events), seal.masker)  # a secret can hide anywhere
    _render(run_dir, stamped, title=str(seal.runbook.get("title", "")), header=manifest)  # type: ignore[arg-type]
    attestation = seal.attestation or Evidence.from_environ().open()
    shared = archive_of(seal.records)
    if shared is not None:  # --records s3://…: upload, and let the store's chain decide
        shown: dict[str, Any] = manifest  # type: ignore[assignment]
        return finalize_shared(shared, run_dir, shown, attestation.signer, attestation.witness)
    return finalize_record(
        run_dir,
        manifest=manifest,  # type: ignore[arg-type]
        signer=attestation.signer,
        witness=attestation.witness,
    )


def _manifest(seal: Seal, events: list[Event]) -> dict[str, Any]:
    runbook = seal.runbook
    manifest: dict[str, Any] = {
        "run_id": seal.run_dir.name,
        "runbook": {
            "id": runbook.get("id"),
            "title": runbook.get("title"),
            "source_sha256": runbook.get("source_sha256"),
        },
        "status": seal.status,
        "dry_run": seal.dry_run,
        "kind": seal.kind or ("plan" if seal.dry_run else "run"),
        "operator": seal.operator,
        "mode": seal.mode,
        "started_at": seal.started_at,
        "finished_at": seal.finished_at or utc_now(),
        "parameters": seal.parameters,
        "steps": manifest_steps(runbook.get("steps", []), seal.verdict, seal.rollback),
        **({"resumes": seal.resumes} if seal.resumes else {}),
        **({"fleet": seal.fleet} if seal.fleet else {}),
        **({"sealed_later": seal.sealed_later} if seal.sealed_later else {}),
        "checks": [
            {k: c.get(k) for k in ("id", "text", "checked", "by", "at")}
            for c in final_checks(events, runbook.get("checklists", []))
        ],
    }
    approved = [e for e in events if e.get("event") == APPROVALS]
    if approved:  # the plan this run ran by, and each approval (signatures: approvals.json)
        manifest["plan"] = approved[-1].get("plan")
        manifest["approvals"] = list(approved[-1].get("approvals") or [])
    if seal.verdict.status != "succeeded":
        verdict = seal.verdict
        manifest["failure"] = {
            "step": verdict.failed_step,
            "reason": verdict.reason,
            "status": verdict.status,
        }
        if seal.corrupt_journal_line is not None:
            manifest["failure"]["journal_line"] = seal.corrupt_journal_line
    if seal.rollback is not None:
        rollback = seal.rollback
        manifest["rollback"] = {
            "status": rollback.status,
            "failed_step": rollback.failed_step,
            "reason": rollback.reason,
        }
    return manifest


def manifest_steps(
    declared: list[dict], verdict: Verdict, rollback: Verdict | None
) -> list[dict[str, Any]]:
    """Every declared step with what happened to it (``not_run`` when nothing did)."""
    steps = []
    for step in declared:
        source = rollback if (rollback is not None and step.get("kind") == "rollback") else verdict
        result = (source.steps if source else {}).get(step["id"], {})
        steps.append(
            {
                "id": step["id"],
                "title": step.get("title"),
                "kind": step.get("kind", "procedure"),
                "status": result.get("status", "not_run"),
                "exit_code": result.get("exit_code"),
                "duration_s": result.get("duration_s"),
                **({"in": result["in"]} if result.get("in") else {}),
            }
        )
    return steps


def _stamp(
    path: Path,
    *,
    steps: list[dict[str, Any]],
    status: str,
    verdict: Verdict | None,
    rollback: Verdict | None,
    masker: SecretMasker,
    refusal: str,
) -> Any:
    """Mask, settle the status lines, mark sealed and guard the notebook at ``path``; return it.

    ``steps`` are the run's declared steps; ``verdict`` is the pass the notebook ran;
    ``rollback`` the rollback pass's when it ran in the same notebook (interactive).

    Not validated here: papermill (or JupyterLab) wrote the file through nbformat, and the
    page rendered from what this returns is validated (:func:`_render`, nbconvert raises on
    an invalid notebook); validating on read and write as well cost 0.1 ms per step.
    """
    import nbformat  # a second to import; reading the archive never needs it

    text = masker.mask(path.read_text(encoding="utf-8"))
    nb = nbformat.v4.reads(text)  # nbformat.reads without validating or converting
    # papermill's red "An Exception was encountered" banner and its anchor: the failing
    # step's own status line (and its one-line error) already says what failed and why.
    nb.cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.metadata.get("tags", [])]
    settle_status_lines(nb, steps, verdict, rollback, masker)
    nb.metadata.setdefault("runbook", {})["verdict"] = {
        "status": status if verdict is None else verdict.status,
        "run_status": status,
        "failed_step": None if verdict is None else verdict.failed_step,
        "reason": None if verdict is None else verdict.reason,
    }
    nb.metadata["runbook"]["sealed"] = True
    guard_cells(nb, refusal)
    write_atomic(path, notebook_file_text(nb))  # nbformat.write's text, unvalidated
    return nb


def _mask_logs(run_dir: Path, masker: SecretMasker) -> None:
    if not masker:
        return
    for log in sorted((run_dir / layout.LOGS).glob("*.log")):
        write_atomic(log, masker.mask(log.read_text(encoding="utf-8", errors="replace")))


def _render(run_dir: Path, stamped: dict[str, Any], *, title: str, header: dict[str, Any]) -> None:
    """``record.html``: the procedure pass, then the rollback pass's section when one ran.

    One page for an auditor: the rollback's steps and checks are part of the same
    story as the failure that started it. ``stamped`` holds the notebooks just written
    (by file name), so the page is made from what the files say without reading them again;
    nothing uses them after the page, which adds the rollback section to them in place.
    """
    import nbformat

    from .html import render_html  # nbconvert takes a second to import; only sealing needs it

    nb = stamped.get(layout.RECORD_NOTEBOOK)
    if nb is None:  # none was written: fail as reading it does
        nb = nbformat.read(run_dir / layout.RECORD_NOTEBOOK, as_version=4)
    if layout.ROLLBACK_NOTEBOOK in stamped:
        nb.cells += [
            nbformat.v4.new_markdown_cell("---\n\n## Rollback pass"),
            *_rollback_cells(stamped[layout.ROLLBACK_NOTEBOOK]),
        ]
    write_atomic(
        run_dir / layout.RECORD_HTML, render_html(nb, title=title, header=header, disposable=True)
    )


def _rollback_cells(nb: Any) -> list[Any]:
    """The rollback section as the rollback pass ran it: from its panel to its last step or list."""
    roles = [c.metadata.get("runbook", {}) for c in nb.cells]
    starts = [i for i, meta in enumerate(roles) if meta.get("role") == "rollback-panel"]
    ends = [
        i
        for i, meta in enumerate(roles)
        if meta.get("kind") == "rollback"
        or str(meta.get("checklist_id", "")).startswith("rollback-")
    ]
    if starts and ends:
        cells = list(nb.cells[starts[0] : ends[-1] + 1])
    else:
        cells = [c for c, meta in zip(nb.cells, roles) if meta.get("kind") == "rollback"]
    for cell in cells:
        cell.id = f"rollback-pass-{cell.id}"  # the page holds both passes: ids must stay unique
    return cells
