"""How ``records show`` tells a fleet: its controls and one line per target.

A fleet's record (``kind: fleet``) has no steps or checks of its own; what an
auditor asks of it is which targets ran, how each ended and where its record is.
A target's own record names its fleet, so ``show`` links both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .layout import RECORD_NOTEBOOK

__all__ = ["fleet_lines", "member_line"]


def member_line(manifest: dict[str, Any]) -> list[str]:
    """``fleet  RUN (target NAME)`` for a run that was one target of a fleet, else nothing."""
    member = manifest.get("fleet") or {}
    if manifest.get("kind") == "fleet" or not member.get("run_id"):
        return []
    return [f"fleet      {member['run_id']} (target {member.get('target')})"]


def fleet_lines(manifest: dict[str, Any]) -> list[str]:
    """The controls, each target's status, rollback and record, and the targets never started."""
    fleet = manifest.get("fleet") or {}
    controls = fleet.get("controls") or {}
    used = ", ".join(f"{k}={v}" for k, v in controls.items() if v not in (None, False, 0))
    lines = ["", f"controls   {used or '(defaults)'}", "", "targets"]
    for t in fleet.get("targets", []):
        rollback = f"rollback {t['rollback']}" if t.get("rollback") else ""
        row = f"  {t['target']:<14} {t.get('status')!s:<12} {rollback:<20} {t.get('record') or '-'}"
        lines.append(row.rstrip())
    if fleet.get("not_started"):
        lines.append(f"  never started: {', '.join(fleet['not_started'])}")
    if fleet.get("stopped"):
        lines.append(f"  stopped: {fleet['stopped']}")
    return lines


def write_fleet_summary(
    fleet_dir: Path,
    runbook: dict[str, Any],
    results: list[dict[str, Any]],
    status: str,
    reason: str | None = None,
) -> None:
    """A fleet's ``record.ipynb``: one Markdown cell, its summary (the HTML renders it).

    Written when the fleet opens (running, no targets yet) and when it is sealed, by its
    controller or, when that died, by recovery: every file then tells the same story.
    """
    import nbformat

    lines = [
        f"# Fleet: {runbook.get('title') or runbook['id']}",
        "",
        f"status: **{status}**" + (f" ({reason})" if reason else ""),
        "",
        "| target | status | rollback | run |",
        "|---|---|---|---|",
    ]
    for r in results:
        cells = [r["target"], r["status"], r.get("rollback") or "", r.get("run_id") or ""]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_markdown_cell("\n".join(lines))
    cell.id = "fleet-summary"
    nb.cells = [cell]
    nb.metadata["runbook"] = {"id": runbook["id"], "title": runbook.get("title"), "kind": "fleet"}
    nbformat.write(nb, fleet_dir / RECORD_NOTEBOOK)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
