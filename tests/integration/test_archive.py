"""The evidence archive from the outside: ``runbook records list|show|export|reindex``.

Real ``runbook run``s (kernel, papermill, bash) make the records once per module;
every test works on its own copy of the records directory, so listing (which
seals abandoned runs and may rebuild the index) cannot leak between tests. The
interrupted-run test makes its own records: it SIGKILLs a runner mid-step.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from html.parser import HTMLParser
from pathlib import Path

import pytest
from reliability import record_trial

from converter.records.journal import read_journal

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SQLITE_EXAMPLE = REPO / "templates" / "sqlite-phone-number.ja.md"
RUN_TIMEOUT_S = 300
SECRET = "hunter2-archive-secret-value"

SMALL = """
    ---
    id: archive-small
    lang: en
    parameters:
      token:
        type: str
        secret: true
      fail_with:
        type: int
        default: 0
    ---

    # Runbook: Archive demo

    ## Procedure

    #### 1-1. Greet

    ```bash
    echo "greeting-output-marker token=$token"
    ```

    **Verify**:
    - [ ] The greeting was printed

    #### 1-2. Finish

    ```bash
    echo "second-output-marker"
    exit "$fail_with"
    ```
"""

SLEEPER = """
    ---
    id: archive-sleeper
    lang: en
    ---

    # Runbook: Killed mid-step

    ## Procedure

    #### 1-1. Quick

    ```bash
    echo "quick-step-done"
    ```

    #### 1-2. Sleep

    ```bash
    echo "sleeping-now"
    sleep 300
    ```
"""

# name -> (runbook, extra arguments, operator)
RUNS = {
    "succeeded": ("small", ["--confirm", "all"], "alice"),
    "failed": ("small", ["--confirm", "all", "-p", "fail_with", "3"], "bob"),
    "blocked": ("small", [], "alice"),
    "dry_run": ("small", ["--dry-run", "--confirm", "all"], "bob"),
    "rolled_back": (
        "sqlite",
        ["--confirm", "all", "-p", "column_name", "email", "--rollback-on-failure"],
        "carol",
    ),
}


# --------------------------------------------------------------------------- helpers


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    env.update(extra or {})
    return env


def runbook(
    *args: object,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> subprocess.CompletedProcess:
    """``runbook ARGS`` through this interpreter (works in a venv).

    The caller's RUNBOOK_* variables are not passed on.
    """
    return subprocess.run(
        [sys.executable, "-m", "converter", *map(str, args)],
        cwd=cwd,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_runbook(*args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "converter", *map(str, args)],
        cwd=cwd,
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def manifest_of(record: Path) -> dict:
    return json.loads((record / "manifest.json").read_text(encoding="utf-8"))


def list_json(records: Path, *args: object, env: dict[str, str] | None = None) -> list[dict]:
    result = runbook(
        "records", "list", "--json", *(("--records", records) if records else ()), *args, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def process_gone(pid: int) -> bool:
    """No such process, or a zombie (PID 1 of a container may never reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def wait_for(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


# --------------------------------------------------------------------------- the archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    """Five real runs into one records dir, started together.

    Returns {name: record dir}, plus the records dir.
    """
    work = tmp_path_factory.mktemp("archive")
    records = work / "records"
    sources = {"small": write(work / "small.md", SMALL), "sqlite": work / SQLITE_EXAMPLE.name}
    shutil.copyfile(SQLITE_EXAMPLE, sources["sqlite"])
    db = work / "rollback.db"
    with closing(sqlite3.connect(db)) as con, con:  # the column "email" exists: adding it fails
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        con.execute("INSERT INTO users (email) VALUES ('alice@example.com')")
    procs = {}
    for name, (source, extra, operator) in RUNS.items():
        args = [
            "run",
            sources[source],
            "--records",
            records,
            "--no-progress",
            "--operator",
            operator,
            *extra,
        ]
        if source == "sqlite":
            args += ["-p", "db_path", db]
        procs[name] = start_runbook(*args, cwd=work, env={"RUNBOOK_SECRET_TOKEN": SECRET})
    made = {}
    expected_rc = {"succeeded": 0, "failed": 1, "blocked": 3, "dry_run": 0, "rolled_back": 1}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
        assert proc.returncode == expected_rc[name], f"{name}: {out}{err}"
        made[name] = work / out.strip().splitlines()[-1]
        assert (made[name] / "manifest.json").is_file(), name
    return {"records": records, "runs": made}


@pytest.fixture
def records(archive, tmp_path) -> Path:
    """This test's own copy of the archive."""
    copy = tmp_path / "records"
    shutil.copytree(archive["records"], copy)
    return copy


@pytest.fixture
def runs(archive, records) -> dict[str, Path]:
    """The five record dirs inside this test's copy."""
    return {
        name: records / path.relative_to(archive["records"])
        for name, path in archive["runs"].items()
    }


# --------------------------------------------------------------------------- list


def test_list_table_newest_first(records, runs):
    result = runbook("records", "list", "--records", records)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "RUN",
        "RUNBOOK",
        "STATUS",
        "STOPPED",
        "AT",
        "ROLLBACK",
        "OPERATOR",
        "STARTED",
        "DURATION",
    ]
    shown = [line.split()[0] for line in lines[1:] if re.match(r"\d{8}T\d{6}Z-", line)]
    newest_first = sorted(
        runs.values(), key=lambda d: (manifest_of(d)["started_at"], d.name), reverse=True
    )
    assert shown == [d.name for d in newest_first]
    row = next(line for line in lines if line.startswith(runs["failed"].name))
    assert "failed" in row and "bob" in row and "1-2" in row


def test_list_json_has_the_fields(records, runs):
    rows = list_json(records)
    assert len(rows) == 5
    for row in rows:
        assert {
            "run_id",
            "runbook_id",
            "title",
            "status",
            "operator",
            "mode",
            "dry_run",
            "started_at",
            "finished_at",
            "failed_step",
            "path",
        } <= set(row), row
    assert [r["started_at"] for r in rows] == sorted((r["started_at"] for r in rows), reverse=True)
    by_id = {r["run_id"]: r for r in rows}
    for name, record in runs.items():
        row, manifest = by_id[record.name], manifest_of(record)
        assert row["status"] == manifest["status"]
        assert row["operator"] == manifest["operator"] == RUNS[name][2]
        assert row["runbook_id"] == manifest["runbook"]["id"]
        assert (
            row["started_at"] == manifest["started_at"]
            and row["finished_at"] == manifest["finished_at"]
        )
        assert (records / row["path"]).resolve() == record.resolve()
    assert by_id[runs["dry_run"].name]["dry_run"] is True
    assert by_id[runs["succeeded"].name]["dry_run"] is False
    assert by_id[runs["failed"].name]["failed_step"] == "1-2"


def ids(rows: list[dict]) -> set[str]:
    return {r["run_id"] for r in rows}


def test_list_filters(records, runs):
    name_of = {d.name: n for n, d in runs.items()}

    def names(*args: object) -> set[str]:
        return {name_of[i] for i in ids(list_json(records, *args))}

    assert names("--runbook", "archive-small") == {"succeeded", "failed", "blocked", "dry_run"}
    assert names("--runbook", "sqlite-phone-number") == {"rolled_back"}
    assert names("--runbook", "no-such-runbook") == set()
    assert names("--status", "failed") == {"failed", "rolled_back"}
    assert names("--status", "blocked") == {"blocked"}
    assert names("--status", "succeeded") == {"succeeded", "dry_run"}
    assert names("--status", "interrupted") == set()
    assert names("--operator", "alice") == {"succeeded", "blocked"}
    assert names("--operator", "bob") == {"failed", "dry_run"}
    assert names("--operator", "bob", "--status", "failed") == {"failed"}
    assert len(list_json(records, "--limit", "2")) == 2


def test_list_since_until(records, runs):
    started = {n: manifest_of(d)["started_at"] for n, d in runs.items()}
    middle = sorted(started.values())[2]
    since = {n for n, t in started.items() if t >= middle}
    until = {n for n, t in started.items() if t < middle}
    name_of = {d.name: n for n, d in runs.items()}
    assert {name_of[i] for i in ids(list_json(records, "--since", middle))} == since
    assert {name_of[i] for i in ids(list_json(records, "--until", middle))} == until
    day = middle[:10]
    assert len(list_json(records, "--since", day)) == 5
    assert list_json(records, "--until", day) == []
    assert list_json(records, "--since", "2999-01-01") == []
    bad = runbook("records", "list", "--records", records, "--since", "yesterday-ish")
    assert bad.returncode == 2 and "yesterday-ish" in bad.stderr


def test_list_honours_RUNBOOK_RECORDS(records, runs, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = runbook(
        "records", "list", "--json", cwd=elsewhere, env={"RUNBOOK_RECORDS": str(records)}
    )
    assert result.returncode == 0, result.stderr
    assert ids(json.loads(result.stdout)) == {d.name for d in runs.values()}
    shown = runbook(
        "records", "show", runs["failed"].name, cwd=elsewhere, env={"RUNBOOK_RECORDS": str(records)}
    )
    assert shown.returncode == 0 and runs["failed"].name in shown.stdout
    verified = runbook(
        "records", "verify", "--all", cwd=elsewhere, env={"RUNBOOK_RECORDS": str(records)}
    )
    assert verified.returncode == 0, verified.stdout
    # without it, ./records of the working directory is used: there is none, and a typo
    # must not look like an empty archive
    missing = runbook("records", "list", "--json", cwd=elsewhere)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == "records: no such records directory\n"


def test_reindex_rebuilds_the_index_from_the_manifests(records, runs):
    index = records / "index.sqlite"
    before = list_json(records)
    index.unlink()
    for extra in ("index.sqlite-wal", "index.sqlite-shm"):
        (records / extra).unlink(missing_ok=True)
    result = runbook("records", "reindex", "--records", records)
    assert result.returncode == 0, result.stderr
    assert "indexed 5 record(s)" in result.stdout
    assert list_json(records) == before
    index.unlink()
    assert list_json(records) == before  # list rebuilds a missing index by itself


def test_index_row_holds_the_manifest_hash(records, runs):
    rows = {r["run_id"]: r for r in list_json(records)}
    for record in runs.values():
        digest = hashlib.sha256((record / "manifest.json").read_bytes()).hexdigest()
        assert rows[record.name]["manifest_sha256"] == digest


# --------------------------------------------------------------------------- show


def show(records: Path, ref: str) -> str:
    result = runbook("records", "show", ref, "--records", records)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def assert_show_matches_manifest(text: str, manifest: dict) -> None:
    assert re.search(rf"^status\s+{re.escape(manifest['status'])}\b", text, re.MULTILINE), text
    assert manifest["run_id"] in text
    lines = text.splitlines()
    for step in manifest["steps"]:
        line = next((ln for ln in lines if ln.split()[:1] == [step["id"]]), None)
        assert line is not None, f"step {step['id']} missing from:\n{text}"
        assert step["status"] in line, line
        if step["exit_code"] is not None:
            assert f"exit {step['exit_code']}" in line, line
    for check in manifest["checks"]:
        line = next((ln for ln in lines if f"{check['id']}:" in ln), None)
        assert line is not None, f"check {check['id']} missing from:\n{text}"
        assert ("[x]" if check["checked"] else "[ ]") in line
        if check["checked"]:
            assert check["by"] in line and check["at"] in line, line
    if manifest.get("failure"):
        failure = next(ln for ln in lines if ln.startswith("failure"))
        assert manifest["failure"]["status"] in failure
        if manifest["failure"]["step"]:
            assert manifest["failure"]["step"] in failure
    assert SECRET not in text


def test_show_failed(records, runs):
    text = show(records, runs["failed"].name[:-2])  # a unique prefix is enough
    manifest = manifest_of(runs["failed"])
    assert_show_matches_manifest(text, manifest)
    assert re.search(r"^\s+1-2\s+failed\s+exit 3", text, re.MULTILINE), text
    assert re.search(r"^failure\s+failed at 1-2", text, re.MULTILINE), text
    assert re.search(r"^operator\s+bob$", text, re.MULTILINE)
    assert re.search(r"^\s+token = \*\*\*$", text, re.MULTILINE), text
    assert re.search(r"^\s+fail_with = 3$", text, re.MULTILINE), text


def test_show_rolled_back(records, runs):
    text = show(records, runs["rolled_back"].name)
    manifest = manifest_of(runs["rolled_back"])
    assert manifest["rollback"]["status"] == "succeeded"
    assert_show_matches_manifest(text, manifest)
    assert re.search(r"^\s+2-1\s+failed\s+exit 1", text, re.MULTILINE), text
    assert re.search(r"^\s+rollback-1\s+succeeded\s+exit 0", text, re.MULTILINE), text
    assert re.search(r"^rollback\s+succeeded", text, re.MULTILINE), text
    assert re.search(r"^\s+column_name = email$", text, re.MULTILINE)


def test_show_blocked(records, runs):
    text = show(records, runs["blocked"].name)
    manifest = manifest_of(runs["blocked"])
    assert manifest["status"] == "blocked"
    assert_show_matches_manifest(text, manifest)
    assert re.search(r"^\s+1-1\s+succeeded\s+exit 0", text, re.MULTILINE), text
    assert re.search(r"^\s+1-2\s+blocked", text, re.MULTILINE), text
    assert re.search(r"^\s+\[ \] 1-1\.verify\.1: The greeting was printed$", text, re.MULTILINE), (
        text
    )
    assert re.search(r"^failure\s+blocked at 1-2: .*1-1\.verify\.1", text, re.MULTILINE), text


def test_show_dry_run(records, runs):
    text = show(records, runs["dry_run"].name)
    manifest = manifest_of(runs["dry_run"])
    assert_show_matches_manifest(text, manifest)
    assert re.search(r"^status\s+succeeded\s+\(dry run\)", text, re.MULTILINE), text
    assert re.search(r"^\s+1-1\s+dry_run", text, re.MULTILINE) and re.search(
        r"^\s+1-2\s+dry_run", text, re.MULTILINE
    ), text


def test_show_accepts_the_record_path_and_rejects_unknown_runs(records, runs):
    assert runs["failed"].name in show(records, str(runs["failed"]))
    missing = runbook("records", "show", "19990101T", "--records", records)
    assert missing.returncode == 2 and "no record matches" in missing.stderr
    ambiguous = runbook("records", "show", "2", "--records", records)
    assert ambiguous.returncode == 2 and "matches 5 records" in ambiguous.stderr
    newest = max(runs.values(), key=lambda d: d.name)
    assert f"run        {newest.name}" in show(records, "last")


# --------------------------------------------------------------------------- export


def test_export_html_is_offline_and_complete(records, runs, tmp_path):
    target = tmp_path / "report.html"
    result = runbook(
        "records",
        "export",
        runs["succeeded"].name,
        "--format",
        "html",
        "-o",
        target,
        "--records",
        records,
    )
    assert result.returncode == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    collector = TagCollector()
    collector.feed(page)
    tags = collector.tags
    assert not [t for t in tags if t[0] == "script"], "the report must run no script"
    remote = [
        (t, a)
        for t, a in tags
        if (t == "script" and "http" in (a.get("src") or ""))
        or (t == "link" and "http" in (a.get("href") or ""))
    ]
    assert remote == []
    assert "<script" not in page.lower()
    for text in (
        "greeting-output-marker token=***",
        "second-output-marker",
        "The greeting was printed",
        "alice",
        "echo &quot;greeting-output-marker token=$token&quot;",
    ):
        assert text in page, text
    check = manifest_of(runs["succeeded"])["checks"][0]
    assert check["by"] == "alice" and check["at"] in page
    assert SECRET not in page


def test_export_html_of_a_failure_to_stdout(records, runs):
    result = runbook(
        "records", "export", runs["failed"].name, "--format", "html", "--records", records
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().lower().startswith("<!doctype html>")
    assert (
        "failed" in result.stdout
        and "exit 3" in result.stdout
        and "second-output-marker" in result.stdout
    )
    assert SECRET not in result.stdout


def test_export_markdown(records, runs):
    result = runbook(
        "records", "export", runs["failed"].name, "--format", "md", "--records", records
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("# Run record: Runbook: Archive demo")
    for fragment in (
        "greeting-output-marker token=***",
        "second-output-marker",
        'echo "second-output-marker"',
        "The greeting was printed",
        "bob",
        "status: failed, exit 3",
    ):
        assert fragment in text, fragment
    assert SECRET not in text


def test_export_of_the_rolled_back_run_has_both_passes(records, runs):
    text = runbook(
        "records", "export", runs["rolled_back"].name, "--format", "md", "--records", records
    ).stdout
    assert "### 2-1" in text and "### rollback-1" in text and "### rollback-2" in text
    assert "rollback   succeeded" in text


# --------------------------------------------------------------------------- interrupted run


def test_sigkilled_run_is_listed_interrupted_and_chains(tmp_path):
    records = tmp_path / "records"
    source = write(tmp_path / "sleeper.md", SLEEPER)
    runner = start_runbook(
        "run", source, "--records", records, "--no-progress", "--operator", "dora", cwd=tmp_path
    )
    kernel = None
    try:

        def journal() -> list[dict]:
            found = list(records.glob("*/*/journal.jsonl"))
            return read_journal(found[0]) if found else []

        wait_for(
            lambda: any(
                e.get("event") == "step_start" and e.get("step") == "1-2" for e in journal()
            ),
            120,
            "step 1-2 to start",
        )
        kernel = next(e["pid"] for e in journal() if e.get("event") == "session_start")
        while_running = list_json(records)
        assert [r["status"] for r in while_running] == ["running"]
        runner.send_signal(signal.SIGKILL)
        runner.communicate(timeout=30)
        wait_for(lambda: process_gone(kernel), 60, f"kernel {kernel} to go")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
        if kernel is not None and not process_gone(kernel):
            os.kill(kernel, signal.SIGKILL)
    record = next(records.glob("*/*/journal.jsonl")).parent
    assert not (record / "manifest.json").exists()

    rows = list_json(records)  # list seals it: its writers are gone
    assert [(r["run_id"], r["status"], r["operator"]) for r in rows] == [
        (record.name, "interrupted", "dora")
    ]
    manifest = manifest_of(record)
    assert manifest["status"] == "interrupted"
    steps = {s["id"]: s for s in manifest["steps"]}
    assert steps["1-1"]["status"] == "succeeded" and steps["1-2"]["status"] == "interrupted"

    text = show(records, record.name)
    assert re.search(r"^status\s+interrupted", text, re.MULTILINE), text
    assert re.search(r"^\s+1-2\s+interrupted\s+Sleep", text, re.MULTILINE), text
    assert re.search(r"^failure\s+interrupted at 1-2", text, re.MULTILINE), text
    exported = runbook(
        "records", "export", record.name, "--format", "md", "--records", records
    ).stdout
    assert "quick-step-done" in exported and "sleeping-now" in exported

    verified = runbook("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
    assert "1 record(s) checked, 0 problem(s)" in verified.stdout

    after = runbook(
        "run",
        write(tmp_path / "small.md", SMALL),
        "--records",
        records,
        "--no-progress",
        "--confirm",
        "all",
        cwd=tmp_path,
    )
    assert after.returncode == 0, after.stdout + after.stderr
    following = tmp_path / after.stdout.strip().splitlines()[-1]
    assert (
        manifest_of(following)["previous"]
        == hashlib.sha256((record / "manifest.json").read_bytes()).hexdigest()
    )
    verified = runbook("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
    assert "2 record(s) checked, 0 problem(s)" in verified.stdout
    assert [r["status"] for r in list_json(records)] == ["succeeded", "interrupted"]
    record_trial("SIGKILL of the runner mid-step, sealed by records list", 1, 0)
