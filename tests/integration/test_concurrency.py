"""Twenty ``runbook run``s started at once into one records directory.

Each run seals its record under the chain lock and adds its row to the SQLite
index (WAL, ``BEGIN IMMEDIATE``, retry on lock). The result must be twenty intact
records in one linear chain — walking ``previous`` from the head visits all of
them — and twenty index rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reliability import record_trial

from converter.records.layout import CHAIN_HEAD

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS = 20
RUN_TIMEOUT_S = 900  # twenty kernels on a small machine take a while

QUICK = """
    ---
    id: concurrent-quick
    lang: en
    parameters:
      n:
        type: int
        default: 0
    ---

    # Runbook: One quick step

    ## Prerequisites

    - [ ] Nothing else is running

    ## Procedure

    #### 1-1. Say the number

    ```bash
    echo "run-number-$n"
    ```
"""


def test_twenty_runs_at_once_make_one_chain(tmp_path):
    source = tmp_path / "quick.md"
    source.write_text(textwrap.dedent(QUICK).lstrip(), encoding="utf-8")
    records = tmp_path / "records"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "converter",
                "run",
                str(source),
                "--records",
                str(records),
                "--no-progress",
                "--confirm",
                "all",
                "-p",
                "n",
                str(n),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(RUNS)
    ]
    outcomes = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
            outcomes.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    failed = [(rc, out[-500:], err[-2000:]) for rc, out, err in outcomes if rc != 0]
    assert failed == [], failed
    dirs = {tmp_path / out.strip().splitlines()[-1] for _, out, _ in outcomes}
    assert len(dirs) == RUNS

    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "converter",
            "records",
            "verify",
            "--all",
            "--records",
            str(records),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{RUNS} record(s) checked, 0 problem(s)" in verified.stdout

    # One linear chain: from the head, through `previous`, every record exactly once,
    # ending at the first.
    manifests = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p for p in records.glob("*/*/manifest.json")
    }
    assert len(manifests) == RUNS
    sha, visited = (records / CHAIN_HEAD).read_text(encoding="utf-8").split()[0], []
    while sha is not None:
        path = manifests[sha]
        assert path not in visited, "the chain loops"
        visited.append(path)
        sha = json.loads(path.read_text(encoding="utf-8"))["previous"]
    assert len(visited) == RUNS
    assert {p.parent for p in visited} == dirs
    numbers = set()
    for path in visited:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert manifest["status"] == "succeeded"
        numbers.add(manifest["parameters"]["n"])
    assert numbers == set(range(RUNS))
    record_trial("20 concurrent runs into one archive", RUNS, RUNS - len(visited))

    listed = subprocess.run(
        [sys.executable, "-m", "converter", "records", "list", "--json", "--records", str(records)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == RUNS
    assert {r["run_id"] for r in rows} == {d.name for d in dirs}
    assert {r["status"] for r in rows} == {"succeeded"}
    by_path = {r["path"]: r["manifest_sha256"] for r in rows}
    for sha, path in manifests.items():
        assert by_path[path.parent.relative_to(records).as_posix()] == sha
    assert not list(Path(records).glob("*/*/.manifest.json.*")), "no temporary manifest left behind"
