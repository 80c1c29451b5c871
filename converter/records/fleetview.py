"""How ``records show`` tells a fleet: its controls and one line per target.

A fleet's record (``kind: fleet``) has no steps or checks of its own; what an
auditor asks of it is which targets ran, how each ended and where its record is.
A target's own record names its fleet, so ``show`` links both ways.
"""

from __future__ import annotations

from typing import Any

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
