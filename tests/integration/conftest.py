"""Shared helpers for integration tests: run ``runbook`` for real, write small runbooks.

The helpers are exposed as session-scoped fixtures returning plain functions, so
module-scoped fixtures (one expensive run shared by several assertions) can use
them too::

    def test_x(run_cli, write_runbook, tmp_path):
        src = write_runbook(tmp_path, RUNBOOK)
        rc, out, err, record = run_cli(["run", str(src), "--records", str(tmp_path / "records")],
                                       cwd=tmp_path)

``run_inprocess`` has the same signature and result but calls the CLI entry point in
this process (same kernel, papermill and bash; no ~2 s of imports per run).

Every child gets the test process's environment minus any ``RUNBOOK_*`` variable
(so an operator's shell settings cannot leak into a test), plus ``env``.
"""

from __future__ import annotations

import io
import os
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

import pytest
from clitools import cli_env, runbook_command

REPO = Path(__file__).resolve().parents[2]
SQLITE_EXAMPLE = REPO / "templates" / "sqlite-phone-number.ja.md"
CLI_TIMEOUT_S = 180.0


class CliResult(NamedTuple):
    """What one ``runbook`` invocation produced; unpacks as a 4-tuple."""

    rc: int
    stdout: str
    stderr: str
    record_dir: Path | None  # the last stdout line, when it names an existing directory


def record_dir_from(stdout: str, cwd: Path | str | None = None) -> Path | None:
    """The record directory printed as the last line of stdout, if it exists."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    path = Path(lines[-1].strip())
    if not path.is_absolute() and cwd is not None:
        path = Path(cwd) / path
    return path if path.is_dir() else None


def _run_cli(
    args: list[str],
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    *,
    timeout: float = CLI_TIMEOUT_S,
) -> CliResult:
    """Run ``runbook ARGS`` to completion; never raises on a non-zero exit."""
    proc = subprocess.run(
        [*runbook_command(), *[str(a) for a in args]],
        cwd=str(cwd) if cwd is not None else None,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    stdout = proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    return CliResult(proc.returncode, stdout, stderr, record_dir_from(stdout, cwd))


@contextmanager
def _process_state(cwd: Path | str | None, env: dict[str, str] | None) -> Iterator[None]:
    """Temporarily give this process the cwd and environment a child ``runbook`` would get."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    child = cli_env(env)  # read before clearing: it starts from this process's environment
    os.environ.clear()
    os.environ.update(child)
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _run_inprocess(
    args: list[str], cwd: Path | str | None = None, env: dict[str, str] | None = None
) -> CliResult:
    """Like :func:`_run_cli`, but through ``converter.cli.main`` in this process.

    Same entry point, same exit codes, same real kernel/papermill/bash, without
    paying ~2 s of imports per run. The kernel inherits ``cwd`` and ``env``.
    """
    from converter.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc = 0
    with _process_state(cwd, env), redirect_stdout(out), redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    stdout = out.getvalue()
    return CliResult(rc, stdout, err.getvalue(), record_dir_from(stdout, cwd))


def _start_cli(
    args: list[str], cwd: Path | str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start ``runbook ARGS`` without waiting (for signal tests); pipes for stdout/stderr."""
    return subprocess.Popen(
        [*runbook_command(), *[str(a) for a in args]],
        cwd=str(cwd) if cwd is not None else None,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _write_runbook(tmp_path: Path, text: str, name: str = "runbook.md") -> Path:
    """Write a (dedented) Markdown runbook into ``tmp_path`` and return its path."""
    path = Path(tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(args, cwd=None, env=None, *, timeout=180) -> CliResult``."""
    return _run_cli


@pytest.fixture(scope="session")
def run_inprocess():
    """``run_inprocess(args, cwd=None, env=None) -> CliResult`` (no subprocess for the runner)."""
    return _run_inprocess


@pytest.fixture(scope="session")
def start_cli():
    """``start_cli(args, cwd=None, env=None) -> subprocess.Popen``."""
    return _start_cli


@pytest.fixture(scope="session")
def write_runbook():
    """``write_runbook(tmp_path, text, name="runbook.md") -> Path``."""
    return _write_runbook


@pytest.fixture(scope="session")
def sqlite_example() -> Path:
    """The runnable SQLite example runbook (Japanese)."""
    return SQLITE_EXAMPLE


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory):
    """One SeaweedFS ``weed mini`` per session (tests/s3store.py); each test makes its bucket.

    Skips when it cannot start, fails under CI=true.
    """
    from s3store import start_store

    store = start_store(tmp_path_factory.mktemp("s3store"))
    try:
        yield store
    finally:
        store.stop()
