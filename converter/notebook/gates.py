"""Which checklists must be complete before each step may run.

A step's confirmation list (``**確認**:``) gates the next step of the same kind;
the prerequisites' lists and the pre-execution checklist gate the first step of
the procedure. Prerequisite checks and troubleshooting commands are never gated:
they are how an operator finds out whether the gate can be ticked.
"""

from __future__ import annotations

from ..model import Runbook, Step


def step_gates(runbook: Runbook) -> dict[str, list[str]]:
    """Map each step cell id to the checklist ids that must be complete before it runs."""
    gates: dict[str, list[str]] = {}
    pre = [c.id for c in runbook.checklists() if c.role == "pre"]
    previous: dict[str, Step] = {}
    for step in runbook.steps():
        if step.kind not in ("procedure", "rollback"):
            continue
        blocks = step.shell_blocks
        if not blocks:
            continue
        before = previous.get(step.kind)
        if before is None:
            gate = pre if step.kind == "procedure" else []
        else:
            gate = [before.verify.id] if before.verify is not None else []
        gates[blocks[0].step_id] = list(gate)
        previous[step.kind] = step
    return gates
