"""Run one runbook step's bash script as a child process, for the kernel-side runtime.

A step must stream live and in order, must not hang on background jobs or outlive the
kernel, and must hand its ``cd`` and ``export`` to the next step (measurements behind each
choice: ``research/papermill-pitfalls.md`` §2). ``bash --noprofile --norc -e -o pipefail
-c SCRIPT`` leads a new session and reads the prelude of :mod:`.stepstate` through
``BASH_ENV``: the script text is never pasted into other code. The prelude waits until
:mod:`.reaper` watches the new group, which it kills if the kernel dies.

A timeout or an interrupt stops the step's whole session (``timeout 60 cmd`` and ``set -m``
jobs lead groups of their own in it); at a step's normal end its group is killed, and the
rest of its session too when something there still holds the step's output open.

Limitations: a process that leaves the session (``setsid``) escapes the kills, and so
does, at a normal end, one in another group of the session with its output redirected
(only a cgroup would not); the kernel's reaper kills the announced groups only; a script
ending in ``exec cmd`` or SIGKILLed carries no state, nor does one in posix mode
(``POSIXLY_CORRECT``) that sets its own EXIT trap (there a function cannot shadow the
``trap`` builtin).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import math
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from . import reaper
from .stepstate import (
    StateDumpError,
    bash,
    read_state,
    shell_environment,
    state_dir,
    state_file,
)

FLUSH_EVERY_S = 0.1  # at most ~10 output messages a second: JupyterLab drops floods
HOLD_BYTES = 1 << 20  # ...or sooner, once this much is held (bounded memory for floods)
DRAIN_AFTER_EXIT_S = 0.2  # background jobs may hold the pipe open forever
TERM_GRACE_S = 2.0  # time for the script's own cleanup before SIGKILL
TIMEOUT_EXIT = 124  # what coreutils' timeout(1) returns, so it reads familiar
INTERRUPT_EXIT = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
NOT_STARTED_EXIT = 126  # what a shell reports for a command it found but could not execute
_POLL_S = 0.05  # how soon the leader's exit is noticed


@dataclass(frozen=True)
class ShellResult:
    """What one step's run produced; the caller turns it into a verdict and a record."""

    exit_code: int
    """bash's exit status; 124 on timeout, 130 when interrupted, 128+N if killed by N."""
    timed_out: bool
    """The step ran past its timeout and its process group was killed."""
    interrupted: bool
    """A KeyboardInterrupt (the kernel's interrupt) arrived during the run."""
    duration_s: float
    """Wall-clock seconds from start until the group was gone."""
    started_at: str
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-28T13:20:49.123Z``, for the record."""
    cwd: str
    """The script's final working directory, so the next step starts where this one ended."""
    exports: dict[str, str]
    """Exported variables that are new or changed, to pass into the next step's env."""
    output_bytes: int
    """Total bytes the step wrote to stdout and stderr."""
    unset: tuple[str, ...] = ()
    """Variables of its environment the step unset (or stopped exporting): gone for the next."""
    not_started: str | None = None
    """Why bash could not be started at all (the working directory is gone, E2BIG)."""
    state_unreadable: str | None = None
    """Why the exported variables the step left could not be read (then none are carried)."""


class _Stream:
    """Batches raw output and hands decoded text to ``on_output`` at most every 0.1 s."""

    def __init__(self, on_output: Callable[[str], None]) -> None:
        self._on_output = on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[bytes] = []
        self._held = 0
        self._last_flush = 0.0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self._pending.append(data)
        self._held += len(data)
        self.total += len(data)

    def due_in(self, now: float) -> float:
        """Seconds until pending output must go out; output after a quiet spell goes at once.

        A flood goes out every :data:`HOLD_BYTES` too, so memory stays bounded however
        fast a step prints.
        """
        if not self._pending:
            return math.inf
        return 0.0 if self._held >= HOLD_BYTES else self._last_flush + FLUSH_EVERY_S - now

    def flush(self, *, final: bool = False) -> None:
        data, self._pending, self._held = b"".join(self._pending), [], 0
        self._last_flush = time.monotonic()
        text = self._decoder.decode(data, final=final)
        if text:
            self._on_output(text)


def run_bash(
    script: str,
    *,
    env: dict[str, str],
    cwd: str,
    timeout: float | None,
    on_output: Callable[[str], None],
    on_tick: Callable[[float], None] | None = None,
    allow_failure: bool = False,
) -> ShellResult:
    """Run ``script`` under ``bash -e -o pipefail`` and stream its merged output live.

    Parameters reach the script only through ``env`` (never pasted into its text). A
    nonzero exit is returned, not raised: the caller decides what a failure means, and
    ``allow_failure`` (a step's ``continue_on_error``) does not change how bash runs. A
    KeyboardInterrupt is absorbed into ``interrupted=True`` so the caller can record it.
    ``on_tick`` is called with the seconds since the start each time the output pump wakes
    (at least every 50 ms while the step runs), from this thread.
    """
    del allow_failure  # accepted so call sites read like the fence; see docstring
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    start = time.monotonic()
    deadline = math.inf if timeout is None else start + timeout
    sent_env = {**env, "PYTHONUNBUFFERED": "1"}
    stream = _Stream(on_output)
    directory = state_dir()
    with state_file(directory) as state_path:
        try:
            proc, fd, watcher = _spawn(script, sent_env, cwd, directory, state_path)
        except (OSError, ValueError) as exc:
            reason = _why_not_started(exc, cwd, sent_env)
            on_output(f"runbook: {reason}\n")
            return ShellResult(
                exit_code=NOT_STARTED_EXIT,
                timed_out=False,
                interrupted=False,
                duration_s=time.monotonic() - start,
                started_at=started_at,
                cwd=cwd,
                exports={},
                output_bytes=0,
                not_started=reason,
            )
        timed_out = interrupted = False
        try:
            timed_out = _pump(proc, fd, stream, deadline, _ticks(on_tick, start))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            _stop_group(proc, graceful=timed_out or interrupted)
            with contextlib.suppress(OSError):  # a helper killed meanwhile forgets it anyway
                watcher.release(proc.pid)
            if not _drain(proc, fd, stream):  # a process that left the group holds the output
                _stop_session(proc, graceful=False)
                _drain(proc, fd, stream)
            _reap(proc)
        stream.flush(final=True)
        unreadable: str | None = None
        try:
            final_cwd, exports, unset = read_state(state_path, sent_env, cwd)
        except StateDumpError as exc:  # carry nothing rather than a value read wrongly
            final_cwd, exports, unset, unreadable = cwd, {}, (), str(exc)
    code = TIMEOUT_EXIT if timed_out else INTERRUPT_EXIT if interrupted else proc.returncode
    return ShellResult(
        exit_code=code if code >= 0 else 128 - code,
        timed_out=timed_out,
        interrupted=interrupted,
        duration_s=time.monotonic() - start,
        started_at=started_at,
        cwd=final_cwd,
        exports=exports,
        output_bytes=stream.total,
        unset=unset,
        state_unreadable=unreadable,
    )


def _why_not_started(exc: Exception, cwd: str, env: dict[str, str]) -> str:
    """A one-line cause for a step that never started, naming what is missing or too big."""
    if not os.path.isdir(cwd):
        return f"working directory {cwd} does not exist (was it deleted or unmounted?)"
    if isinstance(exc, OSError) and exc.errno == errno.E2BIG:
        sizes = {k: len(os.fsencode(k)) + len(os.fsencode(v)) + 2 for k, v in env.items()}
        largest = max(sizes, key=sizes.__getitem__)
        return (
            f"the environment is too large to start bash (E2BIG): {sum(sizes.values())} bytes "
            f"in all; the largest is {largest} ({sizes[largest]} bytes; one holds at most 128 KiB)"
        )
    if isinstance(exc, ValueError):
        return f"cannot start bash: {exc} (a parameter or exported value holds a NUL byte?)"
    return f"cannot start bash: {exc.strerror if isinstance(exc, OSError) else exc}"


def _spawn(
    script: str, env: dict[str, str], cwd: str, state_dir: str, state_path: str
) -> tuple[subprocess.Popen[bytes], int, reaper.Reaper]:
    """Start the step's bash as leader of a new session, watched by this kernel's reaper.

    Returns it, its merged output fd and the reaper to tell when its group is gone. The
    shell waits at the prelude's gate until the reaper has been told, so a kernel dying
    at any moment leaves no step running unwatched (the gate's end of file stops it).
    """
    reaper.reaper()  # started before the step: a failure here starts nothing
    gate, go = os.pipe()
    try:
        proc = subprocess.Popen(
            [
                bash(),
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                script,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=shell_environment(env, state_dir, state_path, gate),
            cwd=cwd,
            start_new_session=True,
            pass_fds=(gate,),
        )
    except BaseException:
        os.close(go)
        raise
    finally:
        os.close(gate)
    assert proc.stdout is not None  # stdout=PIPE
    try:
        helper = reaper.watch(proc.pid)
        os.write(go, b"\n")
    except BaseException:
        os.close(go)  # end of file at the gate: the shell exits before the script runs
        proc.wait()
        proc.stdout.close()
        raise
    os.close(go)
    return proc, proc.stdout.fileno(), helper


def _ticks(on_tick: Callable[[float], None] | None, start: float) -> Callable[[float], None]:
    if on_tick is None:
        return lambda _now: None
    return lambda now: on_tick(now - start)


def _pump(
    proc: subprocess.Popen[bytes],
    fd: int,
    stream: _Stream,
    deadline: float,
    tick: Callable[[float], None],
) -> bool:
    """Stream output until the leader has exited and the pipe is drained; True on timeout.

    The leader's exit is watched through a pidfd in the same selector, so a step
    whose output ends before its process does is noticed at once, not at the next
    poll (a 50 ms sleep per step under load; measured in docs/BENCHMARKS.md).
    """
    eof, exited_at = False, math.inf
    pidfd = _pidfd(proc)
    with selectors.DefaultSelector() as sel, contextlib.ExitStack() as cleanup:
        sel.register(fd, selectors.EVENT_READ, "output")
        if pidfd is not None:
            cleanup.callback(os.close, pidfd)
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        while (now := time.monotonic()) < deadline:
            if exited_at == math.inf and _has_exited(proc):
                exited_at = now
                if pidfd is not None:
                    sel.unregister(pidfd)  # stays readable: keep it out of the next selects
                    pidfd = None
            if exited_at <= now and (eof or now - exited_at >= DRAIN_AFTER_EXIT_S):
                return False
            wait = max(0.0, min(_POLL_S, stream.due_in(now), deadline - now))
            if not sel.get_map():
                time.sleep(wait)  # output closed and no pidfd: poll the leader
            for key, _ in sel.select(wait) if sel.get_map() else ():
                if key.data == "output":
                    data = os.read(fd, 65536)
                    eof = not data
                    stream.feed(data)
                    if eof:
                        sel.unregister(fd)
            if stream.due_in(now := time.monotonic()) <= 0:
                stream.flush()
            tick(now)
    return True


def _pidfd(proc: subprocess.Popen[bytes]) -> int | None:
    """A pidfd for the leader (Linux ≥ 5.3); None where unsupported, and we poll instead."""
    try:
        return os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return None


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the leader exited, without reaping it: its pid stays the group's id."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # someone else reaped it
        return True


def _stop_group(proc: subprocess.Popen[bytes], *, graceful: bool) -> None:
    """If ``graceful`` (a timeout, an interrupt), stop the step's whole session: SIGTERM,
    time to clean up, SIGKILL. Otherwise (the step ended) SIGKILL what is left of its group.

    One TERM to each group reaches every process once, so a script's own TERM trap runs
    once; the wait is for the step's shell, the leader.
    """
    if graceful:
        _stop_session(proc, graceful=True)
    _signal_group(proc.pid, signal.SIGKILL)


def _stop_session(proc: subprocess.Popen[bytes], *, graceful: bool) -> None:
    """Signal every process group of the step's session (its leader is the step's shell):
    ``timeout 60 cmd`` and ``set -m`` jobs make groups of their own in it, which a signal
    to the step's group misses. Read from ``/proc`` (nothing to find elsewhere), only when
    a step is stopped or its output is still held open after its group was killed, so a
    step pays nothing."""
    sid = proc.pid
    if graceful:
        for group in {sid, *_session_groups(sid)}:
            _signal_group(group, signal.SIGTERM)
        try:
            proc.wait(TERM_GRACE_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass
    for group in {sid, *_session_groups(sid)}:
        _signal_group(group, signal.SIGKILL)


def _session_groups(sid: int) -> set[int]:
    """The process groups of the processes in session ``sid`` (Linux ``/proc``)."""
    groups = set()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:  # gone meanwhile
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()  # state ppid pgrp session …
            if len(fields) > 3 and int(fields[3]) == sid:
                groups.add(int(fields[2]))
    return groups


def _signal_group(group: int, sig: int) -> None:
    """Signal every process left in ``group``, if any."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _drain(proc: subprocess.Popen[bytes], fd: int, stream: _Stream) -> bool:
    """Keep what is still in the pipe once the group is dead; True at end of file."""
    deadline = time.monotonic() + DRAIN_AFTER_EXIT_S
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and sel.select(left):
            if not (data := os.read(fd, 65536)):
                return True
            stream.feed(data)
    return False


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Close the output and reap the leader (not communicate(): a process that left the
    session may hold the pipe forever)."""
    if proc.stdout:
        proc.stdout.close()
    proc.wait()
