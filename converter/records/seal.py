"""Seal a finished run: mask, stamp the verdict, render HTML, write the chained manifest, index it.

The one path by which every record is sealed — headless (the runner, after the
kernel is gone), interactive (the finish cell) and abandoned (recovery) — so
all three write the same files with the same fields. Every file is re-masked as
a last line of defence (a secret must not reach a record file in any
encoding), then hashed into ``manifest.json``, which is written last.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import layout
from .chain import finalize_record
from .events import Event
from .index import index_record
from .journal import masked_json, read_journal, utc_now
from .mask import SecretMasker
from .verdict import Verdict, final_checks


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
    resumes: str | None = None
    """The run this one resumes (``runbook resume``): the manifest names it."""

    @property
    def records(self) -> Path:
        """The records root holding this run (``<records>/<runbook>/<run>``)."""
        return self.run_dir.parent.parent


def seal_run(seal: Seal) -> dict[str, Any]:
    """Write record.html and manifest.json for a run whose notebooks and journal exist; index it."""
    run_dir = seal.run_dir
    with contextlib.suppress(FileNotFoundError):
        (run_dir / layout.STOP_FILE).unlink()
    passes = ((layout.RECORD_NOTEBOOK, seal.verdict), (layout.ROLLBACK_NOTEBOOK, seal.rollback))
    for name, verdict in passes:
        if (run_dir / name).exists():
            _stamp(run_dir / name, status=seal.status, verdict=verdict, masker=seal.masker)
    _render(run_dir, title=str(seal.runbook.get("title", "")))
    _mask_logs(run_dir, seal.masker)
    events = read_journal(run_dir / layout.JOURNAL)
    manifest = masked_json(
        _manifest(seal, events), seal.masker
    )  # a secret can hide inside any value
    sealed = finalize_record(run_dir, manifest=manifest)  # type: ignore[arg-type]
    index_record(seal.records, run_dir, sealed)
    return sealed


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
        "operator": seal.operator,
        "mode": seal.mode,
        "started_at": seal.started_at,
        "finished_at": utc_now(),
        "parameters": seal.parameters,
        "steps": manifest_steps(runbook.get("steps", []), seal.verdict, seal.rollback),
        **({"resumes": seal.resumes} if seal.resumes else {}),
        "checks": [
            {k: c.get(k) for k in ("id", "text", "checked", "by", "at")}
            for c in final_checks(events, runbook.get("checklists", []))
        ],
    }
    if seal.verdict.status != "succeeded":
        verdict = seal.verdict
        manifest["failure"] = {
            "step": verdict.failed_step,
            "reason": verdict.reason,
            "status": verdict.status,
        }
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


def _stamp(path: Path, *, status: str, verdict: Verdict | None, masker: SecretMasker) -> None:
    import nbformat  # a second to import; reading the archive never needs it

    text = masker.mask(path.read_text(encoding="utf-8"))
    nb = nbformat.reads(text, as_version=4)
    nb.metadata.setdefault("runbook", {})["verdict"] = {
        "status": status if verdict is None else verdict.status,
        "run_status": status,
        "failed_step": None if verdict is None else verdict.failed_step,
        "reason": None if verdict is None else verdict.reason,
    }
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def _mask_logs(run_dir: Path, masker: SecretMasker) -> None:
    if not masker:
        return
    for log in sorted((run_dir / layout.LOGS).glob("*.log")):
        log.write_text(
            masker.mask(log.read_text(encoding="utf-8", errors="replace")), encoding="utf-8"
        )


def _render(run_dir: Path, *, title: str) -> None:
    """``record.html``: the procedure pass, then the rollback pass's section when one ran.

    One page for an auditor: the rollback's steps and checks are part of the same
    story as the failure that started it.
    """
    import nbformat

    from .html import render_html  # nbconvert takes a second to import; only sealing needs it

    nb = nbformat.read(run_dir / layout.RECORD_NOTEBOOK, as_version=4)
    if (run_dir / layout.ROLLBACK_NOTEBOOK).exists():
        rollback = nbformat.read(run_dir / layout.ROLLBACK_NOTEBOOK, as_version=4)
        nb.cells += [
            nbformat.v4.new_markdown_cell("---\n\n## Rollback pass"),
            *_rollback_cells(rollback),
        ]
    (run_dir / layout.RECORD_HTML).write_text(render_html(nb, title=title), encoding="utf-8")


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
