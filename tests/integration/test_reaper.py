"""The reaper and the prelude's gate, with real processes: what dies with the kernel, and when."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from processes import is_gone, wait_until

from converter.runtime import reaper
from converter.runtime.shell import run_bash
from converter.runtime.stepstate import shell_environment, state_dir, state_file

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# A stand-in kernel: starts two step-like groups, announces both, withdraws the second,
# prints their pids, then waits to be killed.
KERNEL = """
import subprocess, sys, time
from converter.runtime import reaper
groups = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(2)]
helper = reaper.watch(groups[0].pid)
reaper.watch(groups[1].pid)
helper.release(groups[1].pid)
print(helper.pid, *(g.pid for g in groups), flush=True)
time.sleep(300)
"""


def test_a_dead_kernels_watched_groups_are_killed_and_released_ones_spared():
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    watched = released = None
    try:
        helper, watched, released = map(int, kernel.stdout.readline().split())
        assert not is_gone(watched) and not is_gone(released)
        kernel.kill()
        kernel.wait()
        assert wait_until(lambda: is_gone(watched), 3), "the watched group outlived its kernel"
        assert wait_until(lambda: is_gone(helper), 3), "the reaper stays after its work"
        assert not is_gone(released), "a released group (its pid may be reused) was killed"
    finally:
        kernel.kill()
        kernel.wait()
        kernel.stdout.close()
        for pid in (watched, released):
            if pid is not None and not is_gone(pid):
                os.killpg(pid, signal.SIGKILL)


def test_a_step_runs_nothing_if_its_gate_closes_unopened(tmp_path):
    """The kernel died between starting the shell and the reaper watching it."""
    marker = tmp_path / "ran"
    gate, go = os.pipe()
    with state_file(state_dir()) as state_path:
        env = shell_environment(dict(os.environ), state_dir(), state_path, gate)
        shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-e", "-c", f"touch {marker}"],
            env=env,
            pass_fds=(gate,),
        )
        os.close(gate)
        os.close(go)  # what the kernel's death does to its end
        assert shell.wait(10) == 126
    assert not marker.exists()


def test_a_step_runs_once_the_gate_opens_and_does_not_keep_it(tmp_path):
    result = run_bash(
        "ls /proc/$$/fd | tr '\\n' ' '",
        env=dict(os.environ),
        cwd=str(tmp_path),
        timeout=10,
        on_output=(chunks := []).append,
    )
    assert result.exit_code == 0
    assert sorted(map(int, "".join(chunks).split())) == [0, 1, 2]


def test_a_killed_reaper_is_replaced_at_the_next_step(tmp_path):
    first = reaper.reaper().pid
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: is_gone(first), 3)
    result = run_bash(
        "echo ok", env=dict(os.environ), cwd=str(tmp_path), timeout=10, on_output=print
    )
    assert result.exit_code == 0
    assert reaper.reaper().pid != first
    assert not is_gone(reaper.reaper().pid)
