"""Whether a process that journaled into a record may still write to it.

A journal names its writers (``run_start``, ``session_start``, ``session_resume``) by
pid, host name and boot id. A pid means something only on the machine, and the boot,
that journaled it: a records directory can be shared (NFS, Dask workers on several
machines, an S3 archive's mirror), and another host's live run must never be sealed
here as abandoned (its own seal would then fail after its steps ran). So a writer is
judged alive or dead only on its own host: another host's writer counts as alive (its
record is left alone, to be sealed by that host), and a writer on this host under an
earlier boot id is dead (the machine rebooted since). A journal written before hosts
were journaled is judged by its pids here, as it always was.

A pid counts as gone when it no longer exists, is a zombie, or now belongs to a
process started after the journal event that named it (pid reuse).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from . import events as ev

_PID_REUSE_SLACK_S = 2.0
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def this_writer() -> dict[str, Any]:
    """The fields a writer event journals about its process: ``pid``, ``host``, ``boot_id``."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": boot_id()}


@cache
def boot_id() -> str | None:
    """This machine's boot id (changes at every boot), or None without procfs."""
    try:
        return Path(_BOOT_ID).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def other_host(events: list[ev.Event]) -> str | None:
    """The host of a writer on another machine (its liveness cannot be judged here), or None."""
    here = socket.gethostname()
    for event in events:
        host = event.get("host")
        if event.get("event") in ev.WRITER_EVENTS and isinstance(host, str) and host != here:
            return host
    return None


def writer_alive(events: list[ev.Event]) -> bool:
    """Whether any process that journaled into this record may still write to it."""
    return any(
        _alive(event)
        for event in events
        if event.get("event") in ev.WRITER_EVENTS and isinstance(event.get("pid"), int)
    )


def _alive(event: ev.Event) -> bool:
    host = event.get("host")
    if host is None:  # journaled before hosts were: judged here, as before
        return pid_alive(int(event["pid"]), event.get("at"))
    if host != socket.gethostname():
        return True  # another machine's process: never judged from here
    journaled, current = event.get("boot_id"), boot_id()
    if journaled and current and journaled != current:
        return False  # this machine rebooted since: every process of that boot is gone
    return pid_alive(int(event["pid"]), event.get("at"))


def pid_alive(pid: int, since: str | None = None) -> bool:
    """``pid`` exists here, is not a zombie and (given ``since``) is no newer process reusing it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (or a race with its exit): assume alive, never seal a live run
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    started = _process_start(int(fields[19]))
    moment = _epoch(since)
    return not (
        started is not None and moment is not None and started > moment + _PID_REUSE_SLACK_S
    )


def _process_start(ticks: int) -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return None


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
