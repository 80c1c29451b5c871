"""One target's run: ``runbook run`` (or ``resume``) in a fresh process, so a fresh kernel.

The same function runs in a thread of this machine (``--jobs``) and in a Dask
worker (``--dask``): it starts the command in its own session (a Ctrl-C at the
terminal reaches the fleet, which decides), waits for it, and passes the fleet's
stop on as SIGTERM — the run then stops its step and seals its record as
``interrupted``. The record is found by the last line the command prints.

A target is started once: Dask runs a task again when it loses the task's worker, but the
run, in a session of its own, may outlive the worker and is never started behind the
operator's back a second time (the claim file says it was started).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from ..records.layout import MANIFEST

POLL_S = 0.2
"""How often a waiting worker looks for the fleet's stop file."""


STOPPED = "not started: the fleet stopped"
LOST = (
    "lost with its worker: its run was started and may still be running (see its record "
    "in runbook records list); it is never run twice"
)


def run_target(argv: list[str], *, cwd: str, stop_file: str, claim_file: str) -> dict[str, Any]:
    """Run ``argv`` to its end, SIGTERM once ``stop_file`` exists: exit code, record, error.

    Nothing is started when ``claim_file`` exists (this target was started before)."""
    if os.path.exists(stop_file):
        return {"exit_code": None, "record": None, "error": STOPPED}
    os.makedirs(os.path.dirname(claim_file), exist_ok=True)
    try:
        os.close(os.open(claim_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return {"exit_code": None, "record": None, "error": LOST}
    process = subprocess.Popen(
        argv,
        cwd=cwd if os.path.isdir(cwd) else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    signalled = False
    while True:
        try:
            out, err = process.communicate(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            if not signalled and os.path.exists(stop_file):
                process.send_signal(signal.SIGTERM)
                signalled = True
    lines = out.strip().splitlines()
    record = lines[-1].strip() if lines else ""
    found = record if record and Path(record, MANIFEST).is_file() else None
    error = "\n".join(err.strip().splitlines()[-3:]) if process.returncode and not found else None
    return {"exit_code": process.returncode, "record": found, "error": error}
