"""The benchmark scripts still run, in a tiny configuration, so they cannot rot.

No time is asserted: the figures depend on the machine (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(*args: str, write_to: Path | None = None) -> str:
    """Run a script from benchmarks/; it writes nothing, or its document to ``write_to``."""
    result = subprocess.run(
        [sys.executable, *args, *(["--out", str(write_to)] if write_to else ["--no-write"])],
        check=False,
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_bench_execution_tiny() -> None:
    out = _run(
        "bench_execution.py", "--steps", "2", "--repeat", "1", "--big-mb", "1", "--seal-steps", "3"
    )
    assert "`%%step` printing 1 MB" in out
    assert "200,000 characters" in out  # only the capped part stays in memory
    assert "| 3 steps |" in out  # record.html of a 3-step record


def test_bench_growth_tiny() -> None:
    out = _run(
        "bench_growth.py",
        *(
            "--sizes",
            "1,2,3",
            "--interactive-sizes",
            "1,2",
            "--big-mb",
            "1",
            "--repeat",
            "1",
            "--runs",
            "1",
        ),
    )
    assert "| 1 → 2 |" in out and "| 2 → 3 |" in out  # marginal cost per step, two spans
    assert "**per step**, N = 1 → 2" in out  # the interactive path against headless
    assert "one step printing 1 MB" in out and "MiB" in out


def test_bench_convert_tiny() -> None:
    pytest.importorskip("jupytext")
    out = _run("bench_convert.py", "--repeat", "1")
    assert "jupytext" in out


def test_bench_fleet_tiny() -> None:
    pytest.importorskip("distributed")
    out = _run("bench_fleet.py", "--targets", "2")
    assert "serial (`--jobs 1`)" in out and "`--dask` (LocalCluster, 2 workers)" in out
    assert "vs serial" in out


def test_bench_records_tiny() -> None:
    out = _run("bench_records.py", "--records", "20", "--size", "small", "--repeat", "1")
    assert "`runbook records list --limit 20` (20 records, subprocess)" in out
    assert "`runbook --help`" in out


def test_run_all_tiny(tmp_path: Path) -> None:
    """The one command that regenerates docs/BENCHMARKS.md, here into a temporary file."""
    out = tmp_path / "BENCHMARKS.md"
    _run(
        *("run_all.py", "--records-n", "20", "--records-size", "small", "--steps", "2"),
        *("--repeat", "1", "--big-mb", "1", "--seal-steps", "3"),
        *("--growth-sizes", "1,2", "--interactive-sizes", "1,2"),
        write_to=out,
    )
    text = out.read_text(encoding="utf-8")
    for name in ("records", "execution", "growth", "convert"):
        assert f"<!-- bench:{name} -->" in text
