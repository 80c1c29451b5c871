"""A runner killed with SIGKILL leaves its kernel's sockets directory; the next run removes it.

``runbook run`` talks to its kernel over Unix sockets in ``$TMPDIR/runbook-kernel-<pid>-…``
(converter/runner/kernel.py). Only the directories of runners that are gone are removed.
"""

from __future__ import annotations

import os
import subprocess
import sys

from converter.runner.kernel import SOCKETS_PREFIX, _pid_namespace, kernel_sockets, sweep_sockets

OURS = f"{SOCKETS_PREFIX}{_pid_namespace()}-"


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_the_directories_of_gone_runners_are_removed(tmp_path):
    gone = tmp_path / f"{OURS}{_gone_pid()}-abc"
    (gone / "kernel-1").mkdir(parents=True)
    alive = tmp_path / f"{OURS}{os.getpid()}-def"
    alive.mkdir()
    unnamed = tmp_path / f"{SOCKETS_PREFIX}xyz"  # not one of ours (an older layout): kept
    unnamed.mkdir()
    # a runner in another PID namespace sharing this directory (a container): its pid
    # means nothing here, so it is kept even when no process here has that pid
    elsewhere = tmp_path / f"{SOCKETS_PREFIX}1{_pid_namespace()}-{_gone_pid()}-ghi"
    elsewhere.mkdir()
    a_file = tmp_path / f"{OURS}{_gone_pid()}-file"
    a_file.write_text("not a directory")
    huge = tmp_path / f"{OURS}{'9' * 30}-big"
    huge.mkdir()
    other = tmp_path / "something-else"
    other.mkdir()

    assert sweep_sockets(str(tmp_path)) == [str(gone)]
    assert not gone.exists()
    assert alive.is_dir() and unnamed.is_dir() and a_file.is_file() and huge.is_dir()
    assert elsewhere.is_dir()
    assert other.is_dir()


def test_a_run_names_its_directory_after_itself_and_sweeps_first(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    left = tmp_path / f"{OURS}{_gone_pid()}-left"
    left.mkdir()
    with kernel_sockets() as config:
        ip = config.KernelManager.ip
        assert os.path.dirname(ip).startswith(str(tmp_path / f"{OURS}{os.getpid()}-"))
        assert not left.exists()
    assert not os.path.exists(os.path.dirname(ip))
