"""``runbook run`` end to end: real CLI, real kernel, papermill and bash; the record as evidence.

Each ``runbook run`` costs a kernel start (~3 s), so runs that several assertions
can share are module-scoped fixtures; every test still gets its own records dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest

from converter.records.journal import read_journal

pytestmark = pytest.mark.integration

MANIFEST_KEYS = {
    "run_id",
    "runbook",
    "status",
    "dry_run",
    "operator",
    "started_at",
    "finished_at",
    "parameters",
    "steps",
    "checks",
    "files",
    "previous",
}
OPERATOR = {"RUNBOOK_OPERATOR": "integration-tester"}


# --------------------------------------------------------------------------- helpers


def run_args(source: Path, records: Path, *extra: object) -> list[str]:
    return [
        "run",
        str(source),
        "--records",
        str(records),
        "--no-progress",
        *(str(e) for e in extra),
    ]


def manifest_of(record: Path) -> dict:
    return json.loads((record / "manifest.json").read_text(encoding="utf-8"))


def steps_by_id(manifest: dict) -> dict[str, dict]:
    return {step["id"]: step for step in manifest["steps"]}


def cell_outputs(cell) -> str:
    """Everything a cell shows: streams, text/plain and text/html, error lines."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result", "update_display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")))
            parts.append(str(out.get("data", {}).get("text/html", "")))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n" + "\n".join(out.traceback))
    return "\n".join(parts)


def notebook_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(cell.source + "\n" + cell_outputs(cell) for cell in nb.cells)


def step_cell_output(path: Path, step_id: str) -> str:
    """Stream output of the ``%%step STEP_ID`` cell."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        first = cell.source.splitlines()[0] if cell.source else ""
        if cell.cell_type == "code" and first.split()[:2] == ["%%step", step_id]:
            return "".join(o.text for o in cell.get("outputs", []) if o.output_type == "stream")
    raise AssertionError(f"no %%step {step_id} cell in {path}")


def is_utc_iso(text: str) -> bool:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return False
    return moment.utcoffset() == timedelta(0)


def schema(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()


def create_demo_db(db: Path) -> None:
    """The same database the example's pre-1 creates when it is absent."""
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        con.executemany(
            "INSERT INTO users (email) VALUES (?)",
            [("alice@example.com",), ("bob@example.com",), ("carol@example.com",)],
        )


def started_steps(record: Path) -> list[str]:
    return [
        e["step"] for e in read_journal(record / "journal.jsonl") if e.get("event") == "step_start"
    ]


def run_dirs(records: Path) -> list[Path]:
    return sorted(p for p in records.glob("*/*") if p.is_dir()) if records.exists() else []


def process_gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (PID 1 of a container may not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return process_gone(pid)


# --------------------------------------------------------------------------- SQLite example


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory, sqlite_example):
    """A work dir with a copy of the example and one records dir shared by the SQLite runs."""
    work = tmp_path_factory.mktemp("sqlite")
    source = work / sqlite_example.name
    shutil.copyfile(sqlite_example, source)
    return work, source, work / "records"


@pytest.fixture(scope="module")
def happy(sqlite_env, run_cli):
    """The example run with --confirm all on a fresh database (first record of the chain)."""
    work, source, records = sqlite_env
    db = work / "demo.db"
    result = run_cli(
        run_args(source, records, "--confirm", "all", "-p", "db_path", db), cwd=work, env=OPERATOR
    )
    assert result.rc == 0, result.stdout + result.stderr
    manifest_bytes = (result.record_dir / "manifest.json").read_bytes()
    return result, db, manifest_bytes


@pytest.fixture(scope="module")
def rolled_back(sqlite_env, happy, run_inprocess):
    """The example failing at 2-1 (column exists), --rollback-on-failure; 2nd in the chain."""
    work, source, records = sqlite_env
    db = work / "rollback.db"
    create_demo_db(db)
    original = schema(db)
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT * FROM users ORDER BY id").fetchall()
    result = run_inprocess(
        run_args(
            source,
            records,
            "--confirm",
            "all",
            "-p",
            "db_path",
            db,
            "-p",
            "column_name",
            "email",
            "--rollback-on-failure",
        ),
        cwd=work,
        env=OPERATOR,
    )
    return result, db, original, rows


def test_happy_path_changes_the_database(happy):
    result, db, _ = happy
    assert result.rc == 0
    with closing(sqlite3.connect(db)) as con:
        columns = {row[1]: row[2] for row in con.execute("PRAGMA table_info(users)")}
        indexes = {row[1] for row in con.execute("PRAGMA index_list(users)")}
        indexed = [row[2] for row in con.execute("PRAGMA index_info('idx_users_phone')")]
    assert columns.get("phone_number") == "TEXT"
    assert "idx_users_phone" in indexes
    assert indexed == ["phone_number"]


def test_happy_path_prints_record_dir_last(happy, sqlite_env):
    result, _, _ = happy
    _, _, records = sqlite_env
    last = result.stdout.strip().splitlines()[-1]
    assert result.record_dir is not None, result.stdout
    assert Path(last).resolve() == result.record_dir.resolve()
    assert result.record_dir.parent.parent.resolve() == records.resolve()
    assert result.record_dir.parent.name == "sqlite-phone-number"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", result.record_dir.name)
    for name in ("record.ipynb", "record.html", "journal.jsonl", "manifest.json"):
        assert (result.record_dir / name).is_file(), name
    assert list((result.record_dir / "logs").glob("*.log"))


def test_happy_path_manifest_fields(happy, sqlite_env):
    result, db, _ = happy
    _, source, _ = sqlite_env
    manifest = manifest_of(result.record_dir)
    assert MANIFEST_KEYS <= set(manifest), MANIFEST_KEYS - set(manifest)
    assert manifest["run_id"] == result.record_dir.name
    assert manifest["runbook"]["id"] == "sqlite-phone-number"
    assert manifest["runbook"]["title"].startswith("ランブック")
    assert manifest["runbook"]["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert manifest["status"] == "succeeded"
    assert manifest["dry_run"] is False
    assert manifest["operator"] == "integration-tester"
    assert is_utc_iso(manifest["started_at"]) and is_utc_iso(manifest["finished_at"])
    assert manifest["started_at"] <= manifest["finished_at"]
    assert manifest["parameters"] == {
        "db_path": str(db),
        "column_name": "phone_number",
        "index_name": "idx_users_phone",
    }
    assert manifest["previous"] is None  # first record of a fresh records dir


def test_happy_path_manifest_steps(happy):
    result, _, _ = happy
    manifest = manifest_of(result.record_dir)
    for step in manifest["steps"]:
        assert {"id", "title", "status", "exit_code", "duration_s"} <= set(step), step
    steps = steps_by_id(manifest)
    for step_id in ("pre-1", "1-1", "2-1", "3-1"):
        assert steps[step_id]["status"] == "succeeded", steps[step_id]
        assert steps[step_id]["exit_code"] == 0
        assert (
            isinstance(steps[step_id]["duration_s"], (int, float))
            and steps[step_id]["duration_s"] >= 0
        )
    assert steps["1-1"]["title"] == "バックアップ取得"
    for step_id in ("rollback-1", "rollback-2", "trouble-1", "trouble-2"):
        assert steps[step_id]["status"] in ("not_run", "skipped", "manual"), steps[step_id]
        assert steps[step_id]["exit_code"] is None


def test_happy_path_manifest_checks(happy):
    result, _, _ = happy
    checks = {c["id"]: c for c in manifest_of(result.record_dir)["checks"]}
    for check in checks.values():
        assert {"id", "text", "checked", "by", "at"} <= set(check), check
    # every gate before a step that ran was confirmed via --confirm all, by the operator
    for item in (
        "prerequisites-1.1",
        "prerequisites-1.2",
        "checklists-1.1",
        "1-1.verify.1",
        "2-1.verify.2",
    ):
        assert checks[item]["checked"] is True, checks[item]
        assert checks[item]["by"] == "integration-tester"
        assert is_utc_iso(checks[item]["at"])
    assert checks["1-1.verify.1"]["text"].startswith("バックアップファイル")


def test_happy_path_file_hashes(happy):
    result, _, _ = happy
    record = result.record_dir
    files = manifest_of(record)["files"]
    on_disk = {p.relative_to(record).as_posix() for p in record.rglob("*") if p.is_file()} - {
        "manifest.json"
    }
    assert set(files) == on_disk
    for name, digest in files.items():
        assert hashlib.sha256((record / name).read_bytes()).hexdigest() == digest, name


def test_record_notebook_holds_each_cell_once(happy):
    """papermill is given the record's own file, not the notebook: handed a NotebookNode, it
    copies every cell into ``metadata.papermill.input_path``, doubling record.ipynb."""
    result, _, _ = happy
    path = result.record_dir / "record.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.papermill.input_path == nb.metadata.papermill.output_path
    assert Path(nb.metadata.papermill.input_path).name == "record.ipynb"
    step = next(c for c in nb.cells if c.source.startswith("%%step"))
    assert path.read_text(encoding="utf-8").count(step.source.splitlines()[0]) == 1


def test_papermill_visits_only_the_code_cells(happy, failed_run):
    """converter/runner/engine.py: papermill's loop opens and closes no Markdown cell (a step
    heading each), yet still marks them completed; a failure still stops at its cell."""
    for record, last in ((happy[0].record_dir, None), (failed_run[0].record_dir, "1-2")):
        nb = nbformat.read(record / "record.ipynb", as_version=4)
        markdown = [c.metadata.papermill for c in nb.cells if c.cell_type == "markdown"]
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert markdown and all(m.start_time is None for m in markdown)
        ran = [c for c in code if c.metadata.papermill.start_time is not None]
        assert ran and ran[0] is code[0]
        if last is None:
            assert ran == code
            assert {m.status for m in markdown} == {"completed"}
        else:  # nothing after the failed step's cell ran
            assert ran[-1].metadata.get("runbook", {}).get("step_id") == last


def test_a_sealed_record_runs_nothing_and_makes_no_record(happy, tmp_path, run_inprocess):
    result, _db, _ = happy
    records = tmp_path / "records"
    again = run_inprocess(
        ["run", str(result.record_dir / "record.ipynb"), "--records", str(records)], cwd=tmp_path
    )
    assert again.rc == 2 and "a sealed record runs nothing" in again.stderr, again.stderr
    assert not records.exists()


def test_a_notebook_without_kernelspec_still_runs(tmp_path, run_inprocess):
    """A hand-made or stripped notebook: papermill would fail on 'No language found'."""
    source = tmp_path / "t.md"
    source.write_text("# T\n\n```bash\necho hi\n```\n", encoding="utf-8")
    assert run_inprocess(["convert", str(source)], cwd=tmp_path).rc == 0
    notebook = tmp_path / "t.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("kernelspec", None)
    nb.metadata.pop("language_info", None)
    nbformat.write(nb, notebook)
    ran = run_inprocess(
        ["run", str(notebook), "--records", str(tmp_path / "records"), "--no-progress"],
        cwd=tmp_path,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr


def test_second_run_chains_to_the_first(happy, rolled_back):
    _, _, first_manifest = happy
    result = rolled_back[0]
    assert manifest_of(result.record_dir)["previous"] == hashlib.sha256(first_manifest).hexdigest()


def test_rollback_after_failure_restores_the_database(rolled_back):
    result, db, original, rows = rolled_back
    assert result.rc == 1, result.stdout + result.stderr
    manifest = manifest_of(result.record_dir)
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "2-1"
    assert manifest["rollback"]["status"] == "succeeded"
    steps = steps_by_id(manifest)
    assert steps["rollback-1"]["status"] == "succeeded" and steps["rollback-1"]["exit_code"] == 0
    assert steps["rollback-2"]["status"] == "succeeded" and steps["rollback-2"]["exit_code"] == 0
    assert steps["3-1"]["status"] == "not_run"
    assert schema(db) == original
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT * FROM users ORDER BY id").fetchall() == rows
    # the rollback landed in the same record, its output included
    record = result.record_dir
    assert (
        (record / "logs" / "rollback-1.log")
        .read_text(encoding="utf-8")
        .strip()
        .endswith("復元完了")
    )
    rollback_notebooks = [p for p in record.glob("*.ipynb") if "復元完了" in notebook_text(p)]
    assert rollback_notebooks, sorted(p.name for p in record.iterdir())
    events = read_journal(record / "journal.jsonl")
    assert [e["step"] for e in events if e.get("event") == "step_start"][-2:] == [
        "rollback-1",
        "rollback-2",
    ]
    assert "rollback: succeeded" in result.stdout


def test_blocked_example_leaves_the_database_unchanged(sqlite_env, run_inprocess, tmp_path):
    _, source, _ = sqlite_env
    db = tmp_path / "blocked.db"
    create_demo_db(db)
    before = db.read_bytes()
    result = run_inprocess(
        run_args(source, tmp_path / "records", "-p", "db_path", db), cwd=tmp_path
    )
    assert result.rc == 3, result.stdout + result.stderr
    manifest = manifest_of(result.record_dir)
    assert manifest["status"] == "blocked"
    assert manifest["failure"]["step"] == "1-1"
    shown = result.stdout + result.stderr
    for item in ("prerequisites-1.1", "prerequisites-1.2", "checklists-1.1", "checklists-1.2"):
        assert item in shown, item
    assert db.read_bytes() == before
    assert not Path(f"{db}.bak").exists()
    assert started_steps(result.record_dir) == ["pre-1"]  # tool checks are never gated
    steps = steps_by_id(manifest)
    assert steps["1-1"]["status"] == "blocked"
    assert steps["2-1"]["status"] == "not_run" and steps["3-1"]["status"] == "not_run"


# --------------------------------------------------------------------------- failing step

FAILING = """
    ---
    id: failing-step
    lang: en
    parameters:
      marker:
        type: str
        required: true
    ---

    # Runbook: A step that fails

    ## Procedure

    #### 1-1. Works

    ```bash
    echo "first step ran"
    ```

    #### 1-2. Breaks

    ```bash
    echo "about to fail"
    echo "BOOM-stderr-marker: the disk is on fire" >&2
    exit 7
    ```

    #### 1-3. Never runs

    ```bash
    touch -- "$marker"
    ```
"""


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory, run_inprocess, write_runbook):
    work = tmp_path_factory.mktemp("failing")
    source = write_runbook(work, FAILING)
    marker = work / "side-effect-of-1-3"
    result = run_inprocess(run_args(source, work / "records", "-p", "marker", marker), cwd=work)
    return result, marker


def test_failing_step_fails_the_run(failed_run):
    result, marker = failed_run
    assert result.rc == 1, result.stdout + result.stderr
    assert result.record_dir is not None
    manifest = manifest_of(result.record_dir)
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "1-2"
    steps = steps_by_id(manifest)
    assert steps["1-1"]["status"] == "succeeded"
    assert steps["1-2"]["status"] == "failed" and steps["1-2"]["exit_code"] == 7
    assert steps["1-3"]["status"] == "not_run"
    assert not marker.exists()
    assert "Traceback" not in result.stderr


def test_failing_step_stderr_is_in_the_record(failed_run):
    result, _ = failed_run
    record = result.record_dir
    assert "BOOM-stderr-marker: the disk is on fire" in step_cell_output(
        record / "record.ipynb", "1-2"
    )
    assert "BOOM-stderr-marker: the disk is on fire" in (record / "logs" / "1-2.log").read_text(
        encoding="utf-8"
    )
    assert "BOOM-stderr-marker" in (record / "record.html").read_text(encoding="utf-8")
    assert started_steps(record) == ["1-1", "1-2"]


# --------------------------------------------------------------------------- blocked gate

GATED = """
    ---
    id: gated
    lang: en
    parameters:
      out:
        type: str
        required: true
    ---

    # Runbook: Gated steps

    ## Prerequisites

    - [ ] VPN is connected
    - [ ] The ticket is approved

    ## Procedure

    #### 1-1. Stop the job

    ```bash
    touch -- "$out/ran-1-1"
    ```

    **Verify**:
    - [ ] The job no longer appears in the scheduler

    #### 1-2. Start the job

    ```bash
    touch -- "$out/ran-1-2"
    ```
"""


@pytest.fixture(scope="module")
def gated(tmp_path_factory, write_runbook):
    return write_runbook(tmp_path_factory.mktemp("gated"), GATED)


def test_blocked_without_confirm(gated, run_inprocess, tmp_path):
    source = gated
    result = run_inprocess(
        run_args(source, tmp_path / "records", "-p", "out", tmp_path), cwd=tmp_path
    )
    assert result.rc == 3, result.stdout + result.stderr
    manifest = manifest_of(result.record_dir)
    assert manifest["status"] == "blocked"
    shown = result.stdout + result.stderr
    assert "prerequisites-1.1" in shown and "prerequisites-1.2" in shown
    assert not (tmp_path / "ran-1-1").exists() and not (tmp_path / "ran-1-2").exists()
    assert started_steps(result.record_dir) == []
    assert steps_by_id(manifest)["1-1"]["status"] == "blocked"


def test_confirming_only_the_first_gate_blocks_at_the_next(gated, run_inprocess, tmp_path):
    source = gated
    result = run_inprocess(
        run_args(
            source, tmp_path / "records", "-p", "out", tmp_path, "--confirm", "prerequisites-1"
        ),
        cwd=tmp_path,
    )
    assert result.rc == 3, result.stdout + result.stderr
    manifest = manifest_of(result.record_dir)
    assert manifest["status"] == "blocked"
    assert (tmp_path / "ran-1-1").exists()
    assert not (tmp_path / "ran-1-2").exists()
    assert "1-1.verify.1" in result.stdout + result.stderr
    assert "prerequisites-1.1" not in result.stdout
    steps = steps_by_id(manifest)
    assert steps["1-1"]["status"] == "succeeded" and steps["1-2"]["status"] == "blocked"
    checks = {c["id"]: c for c in manifest["checks"]}
    assert checks["prerequisites-1.1"]["checked"] and checks["prerequisites-1.2"]["checked"]
    assert not checks["1-1.verify.1"]["checked"]


def test_unknown_confirm_id_is_bad_input(gated, run_inprocess, tmp_path):
    source = gated
    result = run_inprocess(
        run_args(source, tmp_path / "records", "-p", "out", tmp_path, "--confirm", "nope"),
        cwd=tmp_path,
    )
    assert result.rc == 2, result.stdout + result.stderr
    assert "nope" in result.stderr
    assert run_dirs(tmp_path / "records") == []


# --------------------------------------------------------------------------- dry run

DRY = """
    ---
    id: dry
    lang: en
    parameters:
      target:
        type: str
        required: true
      label:
        type: str
        default: dry-label-value
    ---

    # Runbook: Dry run

    ## Procedure

    #### 1-1. Create the file

    ```bash
    echo "creating for $label"
    touch -- "$target"
    ```
"""


def test_dry_run_runs_nothing(run_inprocess, write_runbook, tmp_path):
    source = write_runbook(tmp_path, DRY)
    target = tmp_path / "would-be-created"
    result = run_inprocess(
        run_args(source, tmp_path / "records", "--dry-run", "-p", "target", target), cwd=tmp_path
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert not target.exists()
    manifest = manifest_of(result.record_dir)
    assert manifest["dry_run"] is True
    assert manifest["status"] == "succeeded"
    assert steps_by_id(manifest)["1-1"]["status"] == "dry_run"
    assert started_steps(result.record_dir) == []
    shown = step_cell_output(result.record_dir / "record.ipynb", "1-1")
    assert 'touch -- "$target"' in shown
    assert str(target) in shown and "dry-label-value" in shown


# --------------------------------------------------------------------------- timeout

TIMEOUT_ATTR = """
    ---
    id: timeout-attr
    lang: en
    parameters:
      pidfile:
        type: str
        required: true
    ---

    # Runbook: Timeout

    ## Procedure

    #### 1-1. Hangs with a background child

    ```bash {timeout=2}
    (sleep 300 & echo $! > "$pidfile"; wait)
    ```

    #### 1-2. After

    ```bash
    echo after
    ```
"""

TIMEOUT_CLI = """
    ---
    id: timeout-cli
    lang: en
    ---

    # Runbook: Timeout from the command line

    ## Procedure

    #### 1-1. Hangs

    ```bash
    sleep 60
    ```
"""


def test_step_timeout_kills_background_grandchild(run_inprocess, write_runbook, tmp_path):
    source = write_runbook(tmp_path, TIMEOUT_ATTR)
    pidfile = tmp_path / "sleep.pid"
    started = time.monotonic()
    result = run_inprocess(
        run_args(source, tmp_path / "records", "-p", "pidfile", pidfile), cwd=tmp_path
    )
    assert time.monotonic() - started < 60
    assert result.rc == 1, result.stdout + result.stderr
    manifest = manifest_of(result.record_dir)
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "1-1"
    assert "timed out" in manifest["failure"]["reason"]
    step = steps_by_id(manifest)["1-1"]
    assert step["status"] == "failed" and step["exit_code"] == 124
    assert step["duration_s"] < 30
    assert steps_by_id(manifest)["1-2"]["status"] == "not_run"
    pid = int(pidfile.read_text().strip())
    assert wait_gone(pid, 3.0), f"background sleep {pid} survived the timeout"


def test_cli_timeout_applies_to_steps_without_attribute(run_inprocess, write_runbook, tmp_path):
    source = write_runbook(tmp_path, TIMEOUT_CLI)
    result = run_inprocess(run_args(source, tmp_path / "records", "--timeout", "2"), cwd=tmp_path)
    assert result.rc == 1, result.stdout + result.stderr
    manifest = manifest_of(result.record_dir)
    assert "timed out" in manifest["failure"]["reason"]
    step = steps_by_id(manifest)["1-1"]
    assert step["exit_code"] == 124 and step["duration_s"] < 30


# ------------------------------------------------------------ carried state, order, Japanese

CARRY = """
    ---
    id: carry
    lang: en
    parameters:
      greeting:
        type: str
        default: hello
    ---

    # Runbook: Carried state

    ## Procedure

    #### 1-1. Export and change directory

    ```bash
    export CARRIED_VALUE="carried across steps"
    mkdir -p sub/dir
    cd sub/dir
    ```

    #### 1-2. Use them

    ```bash
    printf '%s' "$CARRIED_VALUE" > carried.txt
    echo "pwd is $PWD"
    ```

    #### 1-3. Interleave stdout and stderr

    ```bash
    for i in $(seq 1 200); do
      if (( i % 2 )); then echo "line $i out"; else echo "line $i err" >&2; fi
    done
    ```

    #### 1-4. Japanese output

    ```bash
    echo "日本語の出力: $greeting"
    echo "完了しました"
    ```
"""
GREETING = "こんにちは、世界（テスト）"


@pytest.fixture(scope="module")
def carried(tmp_path_factory, run_inprocess, write_runbook):
    work = tmp_path_factory.mktemp("carry")
    source = write_runbook(work, CARRY)
    result = run_inprocess(run_args(source, work / "records", "-p", "greeting", GREETING), cwd=work)
    assert result.rc == 0, result.stdout + result.stderr
    return work, result


def test_export_and_cd_carry_to_next_step(carried):
    work, result = carried
    assert (work / "sub" / "dir" / "carried.txt").read_text(
        encoding="utf-8"
    ) == "carried across steps"
    assert not (work / "carried.txt").exists()
    shown = step_cell_output(result.record_dir / "record.ipynb", "1-2")
    assert f"pwd is {work / 'sub' / 'dir'}" in shown


def test_stdout_stderr_order_kept(carried):
    _, result = carried
    shown = step_cell_output(result.record_dir / "record.ipynb", "1-3")
    lines = re.findall(r"line (\d+) (out|err)", shown)
    assert [int(n) for n, _ in lines] == list(range(1, 201))
    assert all((kind == "out") == (int(n) % 2 == 1) for n, kind in lines)


def test_japanese_output_and_parameter_preserved(carried):
    _, result = carried
    record = result.record_dir
    expected = f"日本語の出力: {GREETING}"
    assert expected in step_cell_output(record / "record.ipynb", "1-4")
    assert "完了しました" in step_cell_output(record / "record.ipynb", "1-4")
    raw = (record / "record.ipynb").read_text(encoding="utf-8")
    assert expected in raw or json.dumps(expected)[1:-1] in raw
    html = (record / "record.html").read_text(encoding="utf-8")
    assert expected in html
    assert GREETING in html.replace(expected, "")  # the parameter value is shown on its own too
    assert manifest_of(record)["parameters"]["greeting"] == GREETING


# --------------------------------------------------------------------------- parameters

PARAMS = """
    ---
    id: params
    lang: en
    parameters:
      version:
        type: str
        default: "0.0"
      ticket:
        type: str
        default: "000"
      from_file:
        type: str
        default: unset
      count:
        type: int
        default: 1
      color:
        type: str
        default: red
        pattern: '^[a-z]+$'
      marker:
        type: str
        default: marker-file
    ---

    # Runbook: Typed parameters

    ## Procedure

    #### 1-1. Write them

    ```bash
    printf '%s' "$version" > version.out
    printf '%s' "$ticket" > ticket.out
    printf '%s' "$from_file" > from_file.out
    printf '%s' "$count" > count.out
    touch -- "$marker"
    ```
"""


@pytest.fixture(scope="module")
def params_source(tmp_path_factory, write_runbook):
    return write_runbook(tmp_path_factory.mktemp("params"), PARAMS)


def test_str_parameters_keep_their_text_and_file_works(params_source, run_inprocess, tmp_path):
    values = tmp_path / "params.yaml"
    values.write_text("from_file: 0.50\ncount: 42\nversion: overridden-by-p\n", encoding="utf-8")
    result = run_inprocess(
        run_args(
            params_source,
            tmp_path / "records",
            "-f",
            values,
            "-p",
            "version",
            "1.10",
            "-p",
            "ticket",
            "007",
        ),
        cwd=tmp_path,
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert (tmp_path / "version.out").read_text() == "1.10"
    assert (tmp_path / "ticket.out").read_text() == "007"
    assert (tmp_path / "from_file.out").read_text() == "0.50"
    assert (tmp_path / "count.out").read_text() == "42"
    parameters = manifest_of(result.record_dir)["parameters"]
    assert parameters["version"] == "1.10" and parameters["ticket"] == "007"
    assert parameters["count"] == 42


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["-p", "count", "abc"], "count"),
        (["-p", "color", "RED; touch pwned"], "color"),
        (["-p", "no_such_param", "1"], "no_such_param"),
    ],
    ids=["int-given-text", "pattern-violation", "unknown-parameter"],
)
def test_bad_parameter_is_exit_2_and_nothing_runs(
    params_source, run_inprocess, tmp_path, args, named
):
    records = tmp_path / "records"
    result = run_inprocess(run_args(params_source, records, *args), cwd=tmp_path)
    assert result.rc == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "marker-file").exists()
    assert not (tmp_path / "version.out").exists()
    for record in run_dirs(records):  # a record, if any, shows no step started
        assert started_steps(record) == []


def test_records_dir_not_writable_is_exit_2(params_source, run_cli, tmp_path):
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a directory\n")
    result = run_cli(run_args(params_source, blocker / "records"), cwd=tmp_path)
    assert result.rc == 2, result.stdout + result.stderr
    assert "record" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "marker-file").exists()
    assert not (tmp_path / "version.out").exists()
    assert blocker.read_text() == "not a directory\n"
