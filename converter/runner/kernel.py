"""The runner's side of a kernel: private sockets, and signals that stop it cleanly.

papermill starts the kernel; this module decides how the runner talks to it
(Unix sockets in a private directory) and what a SIGTERM/SIGINT does to it
(interrupt the running step's process group, then kill the kernel if it does
not stop), so that a signal still ends in a sealed record.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import events as ev
from ..records.journal import read_journal
from ..records.layout import STOP_FILE

if TYPE_CHECKING:
    from traitlets.config import Config


SOCKETS_PREFIX = "runbook-kernel-"
"""The sockets directory's name: this prefix, ``<pid namespace>-<runner pid>-``, a random part."""


@contextlib.contextmanager
def kernel_sockets() -> Iterator[Config]:
    """Kernel channels on Unix sockets in a private directory, not TCP ports.

    jupyter_client picks free TCP ports and releases them before the kernel binds,
    so runs started together can collide ("Address already in use"; seen with 20
    concurrent runs). Sockets in a per-run directory cannot, and no other local user
    can connect to them. A runner killed with SIGKILL cannot remove its directory: the
    next one does (:func:`sweep_sockets`).
    """
    from traitlets.config import Config

    sweep_sockets()
    prefix = f"{SOCKETS_PREFIX}{_pid_namespace() or 0}-{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix) as private:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(private, "kernel")}})


def sweep_sockets(parent: str | None = None) -> list[str]:
    """Remove the sockets directories of runners that are gone; return their paths.

    Only this user's directories named after a runner of this PID namespace (the temporary
    directory may be shared with containers, whose pids this one cannot see) that no longer
    exists: a live process with that pid, even another program, keeps its directory. Where
    the namespace cannot be read, nothing is removed.
    """
    import shutil

    namespace = _pid_namespace()
    if namespace is None:
        return []
    parent = parent or tempfile.gettempdir()
    removed = []
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            owner, _, pid = entry.name[len(SOCKETS_PREFIX) :].partition("-")
            pid = pid.partition("-")[0]
            if not (
                entry.name.startswith(SOCKETS_PREFIX)
                and owner == namespace
                and pid.isdigit()
                and len(pid) < 10
            ):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
                    continue
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
            except OSError:  # EPERM: another user's process is alive with that pid
                continue
    return removed


def _pid_namespace() -> str | None:
    """This process's PID namespace (``/proc/self/ns/pid``: ``pid:[4026531836]``), digits only."""
    try:
        link = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    digits = "".join(c for c in link if c.isdigit())
    return digits or None


class SignalGuard:
    """SIGTERM/SIGINT → interrupt the kernel (it stops the step's process group), mark interrupted.

    If the kernel does not stop within a few seconds it is killed; its steps die
    with it (``runtime.reaper``), so no process outlives the run. A ``STOP`` file in the
    record stops any step not yet started (the kernel may not be up yet). Outside a
    pass (before the kernel starts, while sealing) a signal is only noted: no pass
    starts after it, and the record is still sealed, as ``interrupted``.
    """

    def __init__(self, journal_path: Path | None = None):
        self.journal_path = journal_path
        """The run's journal, once its record exists (set by the runner)."""
        self.interrupted = False
        self.armed = False  # a pass is inside papermill.execute_notebook
        self.killing: set[int] = set()  # kernels given a few seconds before SIGKILL
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:  # noqa: PYI034
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: Any) -> None:
        repeated, self.interrupted = self.interrupted, True
        if not self.armed or self.journal_path is None:
            return  # no pass runs: the next one checks `interrupted`, sealing goes on
        (self.journal_path.parent / STOP_FILE).touch()  # checked by %%step before each step
        pid = self._kernel_pid()
        if pid is None:
            # The kernel is not up yet: its first step finds STOP and the pass ends in order.
            # Raising here could cut papermill's save of record.ipynb in half, so only a
            # second signal forces it.
            if repeated:
                raise KeyboardInterrupt
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        if pid not in self.killing:
            self.killing.add(pid)
            threading.Thread(target=_kill_later, args=(pid,), daemon=True).start()

    def _kernel_pid(self) -> int | None:
        """The current pass's kernel: a session_start after the last pass_start."""
        pid = None
        for event in read_journal(self.journal_path) if self.journal_path else []:
            if event.get("event") == ev.PASS_START:
                pid = None
            elif event.get("event") == ev.SESSION_START:
                pid = event.get("pid")
        return pid


def _kill_later(pid: int, grace: float = 5.0) -> None:
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
