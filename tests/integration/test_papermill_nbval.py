"""A generated notebook outside ``runbook run``: plain papermill CLI and ``pytest --nbval-lax``.

The kernel-side runtime must journal on its own (``RUNBOOK_RECORDS`` says where), a
failing step must fail papermill, and nbval's lax mode must pass on the runnable
example. Each run gets its own temporary directory, so ``./demo.db`` lands there.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "sqlite-phone-number.ja.ipynb"
RUN_TIMEOUT_S = 180.0


def child_env(**extra: str) -> dict[str, str]:
    """Our environment without RUNBOOK_* or pytest settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "PYTEST_"))}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def papermill_argv(*args: str) -> list[str]:
    exe = shutil.which("papermill")
    return [*([exe] if exe else [sys.executable, "-m", "papermill"]), *args]


def journal_events(records: Path) -> list[dict]:
    """The one run's journal under ``records`` (asserting there is exactly one)."""
    journals = sorted(records.glob("sqlite-phone-number/*/journal.jsonl"))
    assert len(journals) == 1, f"one run, one record: {journals}"
    lines = journals[0].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def columns(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as con:
        return [row[1] for row in con.execute("PRAGMA table_info(users)")]


def step_ends(events: list[dict]) -> dict[str, str]:
    return {e["step"]: e["status"] for e in events if e["event"] == "step_end"}


def test_plain_papermill_runs_the_generated_notebook_and_the_kernel_journals(tmp_path):
    db = tmp_path / "demo.db"
    records = tmp_path / "records"
    result = run(
        papermill_argv(
            str(NOTEBOOK), "out.ipynb", "-p", "db_path", str(db), "-p", "confirm", "all"
        ),
        cwd=tmp_path,
        env=child_env(RUNBOOK_RECORDS=str(records)),
    )

    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "out.ipynb").exists()
    events = journal_events(records)
    assert step_ends(events) == {s: "succeeded" for s in ("pre-1", "1-1", "2-1", "3-1")}
    assert events[-1]["event"] == "session_end"
    (start,) = [e for e in events if e["event"] == "session_start"]
    assert start["parameters"]["db_path"] == str(db)
    assert "phone_number" in columns(db)


def test_plain_papermill_exits_1_when_a_step_fails(tmp_path):
    db = tmp_path / "demo.db"
    records = tmp_path / "records"
    result = run(
        papermill_argv(
            str(NOTEBOOK),
            "out.ipynb",
            "-p",
            "db_path",
            str(db),
            "-p",
            "confirm",
            "all",
            "-p",
            "column_name",
            "email",  # exists already: ALTER TABLE fails
        ),
        cwd=tmp_path,
        env=child_env(RUNBOOK_RECORDS=str(records)),
    )

    assert result.returncode == 1, result.stderr[-4000:]
    assert "StepFailed" in result.stderr
    events = journal_events(records)
    assert step_ends(events) == {"pre-1": "succeeded", "1-1": "succeeded", "2-1": "failed"}
    assert not any(e["event"] == "session_end" for e in events)

    # Nobody ran the finish cell: once the kernel is gone the record is sealed,
    # keeping the failure it shows (not a generic "interrupted").
    listing = run(
        [sys.executable, "-m", "converter", "records", "list", "--json", "--records", str(records)],
        cwd=tmp_path,
        env=child_env(),
    )
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [(r["status"], r["failed_step"]) for r in rows] == [("failed", "2-1")]


def test_nbval_lax_passes_on_the_runnable_example(tmp_path):
    # nbval starts the kernel in the notebook's directory: a copy in tmp_path keeps
    # the default ./demo.db (and everything else the run writes) out of the repository.
    notebook = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not the repo's config
    records = tmp_path / "records"
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            notebook.name,
            "-c",
            "pytest.ini",
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=tmp_path,
        env=child_env(RUNBOOK_CONFIRM="all", RUNBOOK_RECORDS=str(records)),
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert "phone_number" in columns(tmp_path / "demo.db")
    events = journal_events(records)
    assert step_ends(events) == {s: "succeeded" for s in ("pre-1", "1-1", "2-1", "3-1")}
    assert events[-1]["event"] == "session_end"
