"""Seal a finished run: mask, stamp the verdict, render HTML, write the chained manifest.

Runs after the kernel is gone, so nothing can still append. Every file is
re-masked as a last line of defence (a secret must not reach a record file in
any encoding), then hashed into ``manifest.json``, which is written last.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import nbformat

from .record import finalize_record
from .runtime.journal import masked_json, read_journal, utc_now
from .runtime.mask import SecretMasker
from .verdict import Verdict, final_checks

STOP_FILE = "STOP"


def seal_record(
    run_dir: Path, *, run_id: str, meta: dict, status: str, verdict: Verdict, rollback: Verdict | None,
    operator: str, started_at: str, parameters: dict, dry_run: bool, masker: SecretMasker,
    mode: str = "headless",
) -> dict[str, Any]:
    """Write record.html and manifest.json for a run whose notebooks and journal exist."""
    with contextlib.suppress(FileNotFoundError):
        (run_dir / STOP_FILE).unlink()
    notebooks = [p for p in (run_dir / "record.ipynb", run_dir / "rollback.ipynb") if p.exists()]
    for path in notebooks:
        _stamp(path, status=status, verdict=verdict if path.name == "record.ipynb" else rollback, masker=masker)
    _mask_logs(run_dir, masker)
    _render(run_dir, notebooks, title=str(meta.get("title", "")))
    events = read_journal(run_dir / "journal.jsonl")
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "runbook": {"id": meta.get("id"), "title": meta.get("title"), "source_sha256": meta.get("source_sha256")},
        "status": status,
        "dry_run": dry_run,
        "operator": operator,
        "mode": mode,
        "started_at": started_at,
        "finished_at": utc_now(),
        "parameters": parameters,
        "steps": manifest_steps(meta.get("steps", []), verdict, rollback),
        "checks": [{k: c.get(k) for k in ("id", "text", "checked", "by", "at")} for c in final_checks(events, meta.get("checklists", []))],
    }
    if verdict.status != "succeeded":
        manifest["failure"] = {"step": verdict.failed_step, "reason": verdict.reason, "status": verdict.status}
    if rollback is not None:
        manifest["rollback"] = {"status": rollback.status, "failed_step": rollback.failed_step, "reason": rollback.reason}
    # A secret can hide inside another value (a parameter, papermill's error text).
    return finalize_record(run_dir, manifest=masked_json(manifest, masker))  # type: ignore[arg-type]


def manifest_steps(declared: list[dict], verdict: Verdict, rollback: Verdict | None) -> list[dict[str, Any]]:
    """Every declared step with what happened to it (``not_run`` when nothing did)."""
    steps = []
    for step in declared:
        source = rollback if (rollback is not None and step["kind"] == "rollback") else verdict
        result = (source.steps if source else {}).get(step["id"], {})
        steps.append({
            "id": step["id"],
            "title": step.get("title"),
            "kind": step.get("kind"),
            "status": result.get("status", "not_run"),
            "exit_code": result.get("exit_code"),
            "duration_s": result.get("duration_s"),
        })
    return steps


def _stamp(path: Path, *, status: str, verdict: Verdict | None, masker: SecretMasker) -> None:
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
    for log in sorted((run_dir / "logs").glob("*.log")):
        log.write_text(masker.mask(log.read_text(encoding="utf-8", errors="replace")), encoding="utf-8")


def _render(run_dir: Path, notebooks: list[Path], *, title: str) -> None:
    from .html import render_html

    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = run_dir / ("record.html" if path.name == "record.ipynb" else path.with_suffix(".html").name)
        target.write_text(render_html(nb, title=title), encoding="utf-8")
