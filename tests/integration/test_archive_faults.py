"""Evidence you can trust (issue 9, items 3 and 7): faults the archive must survive.

Sealed means sealed (read-only files, a record notebook that refuses to run,
checkpoint copies as notes); the index is a cache (missing, corrupt, behind, old
schema: rebuilt); a corrupt journal line, a read-only archive, a full disk and a
wrong path each end in a clear outcome, never a traceback or a lost record.
Every fault test reports its trials to :mod:`reliability` (docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing, suppress
from pathlib import Path

import pytest
from reliability import record_trial
from test_archive import manifest_of, runbook, write

pytestmark = pytest.mark.integration

TOUCH = """
    ---
    id: faults-touch
    lang: en
    parameters:
      marker:
        type: str
        default: /nonexistent/marker
    ---

    # Runbook: Touch a marker

    ## Procedure

    #### 1-1. Touch

    ```bash
    echo ran >> "$marker"
    ```
"""

RUNS = 3
IN_CI = os.environ.get("CI") == "true"


def need(reason: str) -> None:
    """Fail under CI=true (the tool must be there), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


def run_touch(work: Path, records: Path, *extra: object) -> subprocess.CompletedProcess:
    return runbook(
        "run", work / "touch.md", "--records", records, "--no-progress", "--confirm", "all",
        "-p", "marker", work / "marker", *extra, cwd=work,
    )  # fmt: skip


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Three sealed runs of a runbook that appends a line to ``marker`` per run."""
    work = tmp_path_factory.mktemp("faults")
    write(work / "touch.md", TOUCH)
    records = work / "records"
    for _ in range(RUNS):
        result = run_touch(work, records)
        assert result.returncode == 0, result.stdout + result.stderr
    return work


@pytest.fixture
def work(archive, tmp_path) -> Path:
    """This test's copy of the work dir (records, touch.md, marker)."""
    copy = tmp_path / "work"
    shutil.copytree(archive, copy)
    return copy


def records_of(work: Path) -> list[Path]:
    return sorted(p.parent for p in (work / "records").glob("*/*/manifest.json"))


def listed(records: Path) -> list[str]:
    result = runbook("records", "list", "--json", "--records", records)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(row["run_id"] for row in json.loads(result.stdout))


# --------------------------------------------------------------------------- sealed means sealed


def test_sealed_files_are_read_only(work):
    for record in records_of(work):
        files = [p for p in record.rglob("*") if p.is_file()]
        assert len(files) >= 4  # a step that printed nothing leaves no log
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path


def test_sealed_record_refuses_to_run(work, tmp_path):
    """papermill and nbclient: one line naming the runbook, nothing executed, no new record."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    record = records_of(work)[-1]
    before = (work / "marker").read_text()
    assert before.count("ran") == RUNS
    out = tmp_path / "out.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "papermill", record / "record.ipynb", out, "-p", "marker", "x"],
        cwd=work, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SealedRecord: this is the sealed record of run" in result.stderr + result.stdout
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["SealedRecord"]
    assert errors[0].traceback == [f"SealedRecord: {errors[0].evalue}"]  # one line
    assert "touch.md" in errors[0].evalue

    nb = nbformat.read(record / "record.ipynb", as_version=4)
    with pytest.raises(CellExecutionError) as raised:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={
            "metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    assert "SealedRecord" in str(raised.value)
    tried = 2
    lost = int((work / "marker").read_text() != before) + int(len(records_of(work)) != RUNS)
    record_trial("sealed record.ipynb executed (papermill, nbclient)", tried, lost)
    assert lost == 0
    verified = runbook("records", "verify", "--all", "--records", work / "records")
    assert verified.returncode == 0, verified.stdout


def test_sealed_record_keeps_its_evidence_outputs(work):
    import nbformat

    nb = nbformat.read(records_of(work)[0] / "record.ipynb", as_version=4)
    assert nb.metadata.runbook.sealed is True
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.startswith("# runbook: sealed record")
    executed = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert len(executed) >= 3  # the cells that ran keep their counts and outputs
    html = (records_of(work)[0] / "record.html").read_text(encoding="utf-8")
    assert "sealed record" in html  # the rendering shows the same notebook
    assert not first.metadata.get("jupyter", {}).get("source_hidden")
    # the setup cell is guarded too, but its plumbing (every step listed) stays folded,
    # in JupyterLab and on the page: the refusal shows once, at the top
    setup = next(c for c in nb.cells if c.metadata.get("runbook", {}).get("role") == "setup")
    assert setup.source.startswith("# runbook: sealed record") and setup is not first
    assert setup.metadata.jupyter.source_hidden is True
    assert html.count("this is the sealed record of run") == 1


def test_checkpoints_are_notes_and_changes_still_fail(work):
    records = work / "records"
    record = records_of(work)[1]
    checkpoints = record / ".ipynb_checkpoints"
    checkpoints.mkdir()
    shutil.copyfile(record / "record.ipynb", checkpoints / "record-checkpoint.ipynb")
    verified = runbook("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
    assert "note " in verified.stdout and "record-checkpoint.ipynb" in verified.stdout
    one = runbook("records", "verify", record.name, "--records", records)
    assert one.returncode == 0 and "checkpoint" in one.stdout, one.stdout
    target = record / "record.ipynb"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes().replace(b'"ran', b'"RAN', 1) + b" ")
    failed = runbook("records", "verify", "--all", "--records", records)
    assert failed.returncode == 1 and "record.ipynb: altered" in failed.stdout, failed.stdout
    record_trial("JupyterLab checkpoint copies in a record", 1, 0)


# --------------------------------------------------------------------------- the index is a cache


def _truncate(index: Path) -> None:
    data = index.read_bytes()
    index.write_bytes(data[: max(len(data) // 2, 4096 + 100)])


def _garbage(index: Path) -> None:
    index.write_bytes(os.urandom(8192))


def _old_schema(index: Path) -> None:
    index.unlink()
    with closing(sqlite3.connect(index)) as db, db:
        db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, path TEXT)")
        db.execute("INSERT INTO runs VALUES ('old', 'x/old')")


def _drop_head_row(index: Path) -> None:
    with closing(sqlite3.connect(index)) as db, db:
        db.execute("DELETE FROM runs WHERE run_id = (SELECT max(run_id) FROM runs)")


INDEX_FAULTS = {
    "missing": lambda index: index.unlink(),
    "empty file": lambda index: index.write_bytes(b""),
    "truncated": _truncate,
    "garbage": _garbage,
    "old schema": _old_schema,
    "behind (newest row lost: killed while indexing)": _drop_head_row,
}


def _checkpoint(index: Path) -> None:
    with closing(sqlite3.connect(index)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in ("-wal", "-shm"):
        with suppress(FileNotFoundError):
            Path(f"{index}{extra}").unlink()


@pytest.mark.parametrize("fault", list(INDEX_FAULTS))
def test_index_is_rebuilt(work, fault, tmp_path):
    records = work / "records"
    index = records / "index.sqlite"
    expected = sorted(r.name for r in records_of(work))
    commands = [
        ("list",), ("show", expected[0]), ("export", expected[1], "--format", "md"),
        ("reindex",), ("list",),
    ]  # fmt: skip
    lost = 0
    for command in commands:
        _checkpoint(index) if index.exists() else None
        INDEX_FAULTS[fault](index)
        result = runbook("records", *command, "--records", records)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr
        if command[0] == "list":
            lost += len(set(expected) - set(listed(records)))
    record_trial(f"index: {fault}", len(commands), lost)
    assert lost == 0
    assert list(records.glob("index.sqlite.corrupt-*")) or fault not in ("garbage", "truncated")


def test_index_behind_in_the_middle_is_caught_by_the_next_seal(work):
    """A run killed between its manifest and its index row: the next seal marks the index."""
    records = work / "records"
    index = records / "index.sqlite"
    expected = sorted(r.name for r in records_of(work))
    with closing(sqlite3.connect(index)) as db, db:
        db.execute("DELETE FROM runs WHERE run_id = ?", (expected[-1],))
    newer = run_touch(work, records)
    assert newer.returncode == 0, newer.stdout + newer.stderr
    lost = len(set(expected) - set(listed(records)))
    record_trial("index: row lost in the middle of the chain", 1, lost)
    assert lost == 0 and len(listed(records)) == RUNS + 1


def test_run_after_a_truncated_index_prints_its_record(work):
    records = work / "records"
    index = records / "index.sqlite"
    _checkpoint(index)
    _truncate(index)
    result = run_touch(work, records)
    assert result.returncode == 0, result.stdout + result.stderr
    record = work / result.stdout.strip().splitlines()[-1]
    assert (record / "manifest.json").is_file()
    lost = RUNS + 1 - len(listed(records))
    record_trial("index: truncated, then a run", 1, lost)
    assert lost == 0


# --------------------------------------------------------------------------- corrupt journal line


def test_corrupt_journal_line_is_sealed_listed_and_reported(work):
    """An unsealed run with a corrupt journal line: sealed interrupted, listed, verify fails."""
    records = work / "records"
    source = records_of(work)[-1]
    twin = source.with_name(source.name[:-8] + "0badf00d")
    shutil.copytree(source, twin)
    for path in [twin, *twin.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for name in ("manifest.json", "record.html"):
        (twin / name).unlink()
    journal = twin / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    lines[3] = lines[3][: len(lines[3]) // 2]  # line 4: cut in half, followed by more lines
    journal.write_bytes(b"\n".join(lines))
    before = runbook("records", "verify", "--all", "--records", records)
    assert before.returncode == 1 and "journal.jsonl:4: malformed" in before.stdout, before.stdout

    assert twin.name in listed(records)
    manifest = manifest_of(twin)
    assert manifest["status"] == "interrupted"
    assert manifest["failure"]["reason"].startswith("journal line 4 is corrupt")
    assert manifest["failure"]["journal_line"] == 4
    after = runbook("records", "verify", "--all", "--records", records)
    assert after.returncode == 1, after.stdout
    assert f"{twin.name}/journal.jsonl: line 4 is corrupt" in after.stdout
    assert after.stdout.count("FAIL") == 1, after.stdout
    record_trial("journal: one corrupt line in an unsealed run", 1, 0)


# --------------------------------------------------------------------------- read-only archive


def _read_only_view(work: Path, tmp_path: Path) -> tuple[Path, object]:
    """(a read-only view of the records, an undo): a bind mount as root, else chmod."""
    records = work / "records"
    if os.geteuid() == 0:
        view = tmp_path / "ro"
        view.mkdir()
        done = subprocess.run(["mount", "--bind", records, view], capture_output=True, check=False)
        if done.returncode == 0:
            again = subprocess.run(
                ["mount", "-o", "remount,bind,ro", view], capture_output=True, check=False
            )
            if again.returncode == 0:
                return view, lambda: subprocess.run(["umount", view], check=True)
            subprocess.run(["umount", view], check=False)
        need(f"cannot make a read-only bind mount: {done.stderr!r}")
    for path in [records, *records.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    return records, lambda: None


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(root).as_posix(), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_read_only_archive_lists_shows_exports_and_verifies(work, tmp_path):
    view, undo = _read_only_view(work, tmp_path)
    try:
        before = _tree(view)
        expected = sorted(r.name for r in records_of(work))
        rows = listed(view)
        for ref in expected:
            shown = runbook("records", "show", ref, "--records", view)
            assert shown.returncode == 0, shown.stderr
            exported = runbook("records", "export", ref, "--format", "html", "--records", view)
            assert exported.returncode == 0 and "<html" in exported.stdout.lower(), exported.stderr
        verified = runbook("records", "verify", "--all", "--records", view)
        assert verified.returncode == 0, verified.stdout
        reindexed = runbook("records", "reindex", "--records", view)
        assert reindexed.returncode == 2 and "read-only" in reindexed.stderr
        after = _tree(view)
    finally:
        undo()
    assert after == before  # nothing written into the archive
    lost = len(set(expected) - set(rows))
    record_trial("read-only archive (list, show, export, verify)", 1 + 2 * len(expected) + 1, lost)
    assert lost == 0


# --------------------------------------------------------------------------- full disk

FILLER = """
    ---
    id: faults-filler
    lang: en
    parameters:
      fill:
        type: str
        default: /nonexistent/fill
    ---

    # Runbook: Fill the disk

    ## Procedure

    #### 1-1. Fill

    ```bash
    head -c 64M /dev/zero > "$fill" || true
    echo filled
    ```

    #### 1-2. After

    ```bash
    echo after-the-disk-filled
    ```
"""


@pytest.fixture
def small_fs(tmp_path):
    """A real 3 MiB filesystem (tmpfs), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        need("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mount], capture_output=True, check=False
    )
    if done.returncode != 0:
        need(f"cannot mount a tmpfs: {done.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_full_disk_says_so_and_loses_nothing(small_fs, tmp_path):
    source = write(tmp_path / "filler.md", FILLER)
    fill = small_fs / "fill"
    result = runbook(
        "run", source, "--records", "records", "--no-progress", "--confirm", "all",
        "-p", "fill", fill, cwd=small_fs,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == "records: no space left on device"
    records = small_fs / "records"
    still_full = runbook("records", "list", "--json", "--records", records)
    assert still_full.returncode == 0, still_full.stderr
    assert "Traceback" not in still_full.stderr
    fill.unlink()
    rows = json.loads(runbook("records", "list", "--json", "--records", records).stdout)
    assert len(rows) == 1, rows
    manifest = manifest_of(records / rows[0]["path"])
    reason = (manifest.get("failure") or {}).get("reason") or ""
    assert "signal" not in reason, manifest
    verified = runbook("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
    later = runbook(
        "run", source, "--records", "records", "--no-progress", "--confirm", "all",
        "-p", "fill", small_fs / "nofill" / "x", cwd=small_fs,
    )  # fmt: skip
    assert later.returncode in (0, 1), later.stdout + later.stderr
    assert len(json.loads(runbook("records", "list", "--json", "--records", records).stdout)) == 2
    record_trial("full disk during a run (3 MiB tmpfs)", 1, 0)


# --------------------------------------------------------------------------- wrong paths


@pytest.mark.parametrize(
    "command",
    [("list",), ("verify", "--all"), ("verify",), ("show", "last"), ("export", "last")]
    + [("reindex",)],
)
def test_missing_or_non_directory_records_exit_2(tmp_path, command):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for where in (tmp_path / "no" / "such" / "dir", a_file):
        result = runbook("records", *command, "--records", where)
        assert result.returncode == 2, f"{command} {where}: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(str(where))
