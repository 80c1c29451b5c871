"""Helpers for tests that watch real processes: are they gone, who is in a group, waiting."""

from __future__ import annotations

import os
import time
from pathlib import Path


def is_gone(pid: int) -> bool:
    """No such process, or only a zombie nobody has reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return proc_stat(pid).get("state") in (None, "Z")


def proc_stat(pid: int | str) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return {}
    fields = raw.rsplit(")", 1)[1].split()
    return {"state": fields[0], "pgrp": fields[2], "session": fields[3]}


def live_members(pgrp: int) -> list[int]:
    return [
        int(p)
        for p in os.listdir("/proc")
        if p.isdigit() and proc_stat(p).get("pgrp") == str(pgrp) and proc_stat(p)["state"] != "Z"
    ]


def wait_until(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
