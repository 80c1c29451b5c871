"""Fault trials for ``docs/RELIABILITY.md``: each fault test reports what it tried and lost.

A test that injects a fault (a kill, a corrupt file, a full disk, a changed byte)
calls :func:`record_trial` with how many times it tried and how many records (or
detections) were lost. Nothing happens unless ``RUNBOOK_RELIABILITY_LOG`` names a
file; ``benchmarks/reliability.py`` sets it, runs the fault tests and writes the
table from the lines collected here. The goal in every row is ``lost == 0``; a
test asserts that too, so a row with losses means a test failed.
"""

from __future__ import annotations

import fcntl
import json
import os

LOG_ENV = "RUNBOOK_RELIABILITY_LOG"


def record_trial(fault: str, trials: int, lost: int, **detail: object) -> None:
    """Append one JSON line ``{fault, trials, lost, test}`` to ``$RUNBOOK_RELIABILITY_LOG``.

    ``fault`` is a short stable name (the row of the table, e.g. ``"index: truncated"``);
    ``trials`` how many times the fault was injected; ``lost`` how many of those
    lost evidence (a record missing, unsealed, falsely reasoned, or a change not
    detected). Safe from concurrent test processes (one locked append per line).
    """
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    entry = {"fault": fault, "trials": int(trials), "lost": int(lost), "test": test, **detail}
    line = json.dumps(entry, ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line + "\n")
