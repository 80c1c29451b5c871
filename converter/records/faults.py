"""Fault injection for the crash-safety tests: die at a named point of sealing (or of a run:
``run:started``, once its journal exists and before its notebook or kernel does).

``RUNBOOK_FAULT=seal:<point>`` makes the process that reaches ``<point>`` exit at
once with status 137 (what a SIGKILL looks like to a parent), skipping every
``finally`` and ``atexit`` — the closest a test can get to pulling the plug
between two instructions. Unset, a fault point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time

FAULT_ENV = "RUNBOOK_FAULT"

SEAL_POINTS: tuple[str, ...] = (
    "pending:written",
    "pending:renamed",
    "signature:written",
    "signature:renamed",
    "witness:appended",
    "witness:synced",
    "manifest:written",
    "manifest:renamed",
    "head:written",
    "head:renamed",
    "pending:removed",
)
"""Every point of :func:`converter.records.chain.finalize_record`'s commit, in order."""


def fault(point: str) -> None:
    """Exit with 137 right here when ``RUNBOOK_FAULT`` names ``seal:<point>``.

    ``wait:<point>:<file>`` instead holds the process at ``<point>`` until ``<file>``
    exists, the first time only (the race tests line up two writers this way).
    """
    value = os.environ.get(FAULT_ENV)
    if value == f"seal:{point}":
        os._exit(137)
    if value and value.startswith(f"wait:{point}:"):
        os.environ.pop(FAULT_ENV)
        barrier = value[len(f"wait:{point}:") :]
        while not os.path.exists(barrier):
            time.sleep(0.01)
