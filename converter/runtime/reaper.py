"""Kill the steps' process groups when the process that started them dies.

A step leads a session of its own (so a timeout or an interrupt can kill all of it), which
also means nothing kills it when the kernel dies: SIGKILLed, out of memory, or its
runner killed. One helper bash per kernel process, in a session of its own, reads a pipe
whose write end only the kernel holds. The kernel writes ``+PID`` when a step's group
starts and ``-PID`` once that group is gone (before the leader is reaped, so the number
cannot be reused meanwhile). End of file means the kernel exited, however it exited: the
helper then SIGKILLs every group still announced and removes the kernel's private state
directory (:func:`.stepstate.state_dir`: the prelude, a dump not read yet), which a killed
kernel's ``atexit`` never removes. A step's shell waits at a gate (see :mod:`.stepstate`)
until its announcement is written, so no step runs unwatched.

This replaces ``setpriv --pdeathsig`` and a wrapper bash leading each step's group, which
cost 3.5 ms CPU per step (measured in docs/BENCHMARKS.md) and followed the kernel's
*thread*, not its process. Limitations: a process that leaves the group (``setsid``) is
not killed; a process forked from the kernel without ``exec`` keeps the pipe open, so the
helper waits for it too.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import threading

from .stepstate import STATE_DIR_PREFIX, bash, state_dir

CLOSE_WAIT_S = 2.0  # how long a normally exiting kernel waits for the helper to finish

# Builtins only until the end, which execs ``rm`` ($2) on the state directory ($1): no fork,
# the helper is done. HUP and INT are ignored: the helper outlives a terminal or a Ctrl-C
# aimed at the kernel's process group, which is exactly when it is needed.
_HELPER = r"""
trap '' HUP INT
declare -A groups
while IFS= read -r line; do
  case $line in
    +[0-9]*) groups[${line#+}]=1 ;;
    -[0-9]*) unset "groups[${line#-}]" ;;
  esac
done
for pid in "${!groups[@]}"; do builtin kill -KILL -- "-$pid"; done 2>/dev/null
[[ ${1##*/} == "$3"* && -d $1 && -n $2 ]] && exec "$2" -rf -- "$1"
"""


class Reaper:
    """The kernel's end of one helper: announce a step's group, withdraw it, or close."""

    def __init__(self) -> None:
        read_end, self._write_end = os.pipe()  # both close-on-exec: no step inherits them
        try:
            self._helper = subprocess.Popen(
                [
                    bash(),
                    "--noprofile",
                    "--norc",
                    "-c",
                    _HELPER,
                    "runbook-reaper",
                    state_dir(),
                    shutil.which("rm") or "",
                    STATE_DIR_PREFIX,
                ],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                cwd="/",  # holds no step's directory busy
                start_new_session=True,  # a kill aimed at the kernel's group spares it
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    @property
    def pid(self) -> int:
        return self._helper.pid

    def watch(self, pid: int) -> None:
        """Kill group ``pid`` if this process dies before :meth:`release` (raises if gone)."""
        os.write(self._write_end, b"+%d\n" % pid)  # one write under PIPE_BUF: atomic

    def release(self, pid: int) -> None:
        """Group ``pid`` is gone: forget it (call before reaping its leader)."""
        os.write(self._write_end, b"-%d\n" % pid)

    def close(self) -> None:
        """End of file for the helper: it kills what is still announced, then exits."""
        os.close(self._write_end)
        try:
            self._helper.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            pass


_lock = threading.Lock()
_reapers: dict[int, Reaper] = {}  # pid → this process's helper (a forked child needs its own)


def reaper(*, fresh: bool = False) -> Reaper:
    """This process's helper, started on first use; ``fresh`` replaces one that died."""
    with _lock:
        current = _reapers.get(os.getpid())
        if current is None or fresh:
            if current is not None:
                atexit.unregister(current.close)
                current.close()
            current = _reapers[os.getpid()] = Reaper()
            atexit.register(current.close)
        return current


def watch(pid: int) -> Reaper:
    """Announce group ``pid`` to this process's helper (a new one if the old one died)."""
    helper = reaper()
    try:
        helper.watch(pid)
    except OSError:  # EPIPE: someone killed the helper
        helper = reaper(fresh=True)
        helper.watch(pid)
    return helper
