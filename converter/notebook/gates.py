"""Which checklists must be complete before each step may run.

A step's confirmation list (``**確認**:``) gates the next step of the same kind (the
list of a step with no command, done by hand, too);
the prerequisites' lists and the pre-execution checklist gate the first step of
the procedure. Prerequisite checks and troubleshooting commands are never gated:
they are how an operator finds out whether the gate can be ticked.
"""

from __future__ import annotations

from ..model import Runbook


def step_gates(runbook: Runbook) -> dict[str, list[str]]:
    """Map each step cell id to the checklist ids that must be complete before it runs."""
    gates: dict[str, list[str]] = {}
    pre = [c.id for c in runbook.checklists() if c.role == "pre"]
    pending: dict[str, list[str]] = {"procedure": list(pre), "rollback": []}
    for step in runbook.steps():
        if step.kind not in pending:
            continue
        # A step with no command (done by hand) still has its list gate what comes next.
        if step.shell_blocks:
            gates[step.shell_blocks[0].step_id] = pending[step.kind]
            pending[step.kind] = []
        # Every verify list of the step, not only the first (a second one gated nothing).
        pending[step.kind] = [*pending[step.kind], *(c.id for c in step.verify_lists)]
    return gates
