"""Recovery judges a journaled writer only on its own host and boot.

A records directory can be shared by several machines (NFS, Dask workers): a pid
journaled by another host means nothing here, and sealing that host's live run as
``interrupted`` made its own seal fail after its steps ran. Real processes stand in
for the writers; "another host" is a journal whose host name (or boot id) is not ours.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter.records import events as ev
from converter.records.journal import Journal
from converter.records.layout import JOURNAL, MANIFEST
from converter.records.liveness import boot_id, this_writer
from converter.records.manifest import create_record_dir
from converter.records.recover import settle


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process running on this host for the whole test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def dead_pid() -> int:
    """A pid whose process ended (and was reaped) here."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(records: Path, **writer: object) -> Path:
    """An unsealed record whose runner journaled ``writer`` (pid, host, boot id) and began."""
    run_dir, run_id = create_record_dir(records, "db")
    journal = Journal(run_dir / JOURNAL)
    journal.write(
        ev.RUN_START,
        source="runner",
        run_id=run_id,
        operator="alice",
        runbook={"id": "db", "title": "DB", "source_sha256": "0" * 64},
        **writer,
    )
    return run_dir


def _status(run_dir: Path) -> str | None:
    if not (run_dir / MANIFEST).exists():
        return None
    return json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))["status"]


def test_a_writer_journals_its_host_and_boot() -> None:
    me = this_writer()
    assert me["host"] == socket.gethostname()
    assert me["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert me["boot_id"] == boot_id()


def test_another_hosts_run_is_never_sealed_here(tmp_path: Path, dead_pid: int) -> None:
    records = tmp_path / "records"
    theirs = _run(records, pid=dead_pid, host="worker-2.example", boot_id="f" * 32)
    sealed, running = settle(records)
    assert sealed == [] and [d for d, _ in running] == [theirs]
    assert _status(theirs) is None  # left for its own host to seal


def test_a_dead_writer_of_this_host_and_boot_is_sealed(tmp_path: Path, dead_pid: int) -> None:
    records = tmp_path / "records"
    ours = _run(records, pid=dead_pid, host=socket.gethostname(), boot_id=boot_id())
    assert settle(records)[0] == [ours]
    assert _status(ours) == "interrupted"


def test_a_live_writer_of_this_host_is_left_running(tmp_path: Path, live_pid: int) -> None:
    records = tmp_path / "records"
    ours = _run(records, **{**this_writer(), "pid": live_pid})
    sealed, running = settle(records)
    assert sealed == [] and [d for d, _ in running] == [ours]


def test_a_writer_of_an_earlier_boot_of_this_host_is_gone(tmp_path: Path, live_pid: int) -> None:
    records = tmp_path / "records"  # the pid is alive now, but the machine rebooted since
    ours = _run(records, pid=live_pid, host=socket.gethostname(), boot_id="0" * 32)
    assert settle(records)[0] == [ours]
    assert _status(ours) == "interrupted"


def test_a_journal_without_hosts_is_judged_here_as_before(
    tmp_path: Path, dead_pid: int, live_pid: int
) -> None:
    records = tmp_path / "records"
    old = _run(records, pid=dead_pid)
    going = _run(records, pid=live_pid)
    sealed, running = settle(records)
    assert sealed == [old] and [d for d, _ in running] == [going]
