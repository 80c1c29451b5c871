"""The same fleet on a real ``dask.distributed.LocalCluster`` (two worker processes).

The cluster is started by the test; ``runbook run --targets … --dask ADDRESS`` only
connects to it. Every target runs in a fresh ``runbook`` process on a worker and
seals into the one records directory (the chain's lock keeps it linear).
Without dask.distributed: skipped locally, failed under ``CI=true``.
"""

from __future__ import annotations

import json
import os

import pytest
from fleettools import check_fleet, fleet_of, runbook, write_runbook, write_targets

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster with 2 worker processes, one thread each, on loopback."""
    try:
        from distributed import LocalCluster
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"dask.distributed is required under CI=true: {exc}")
        pytest.skip(f"dask.distributed is not installed: {exc}")
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # never the default 8787, which another cluster may hold
    ) as local:
        yield local


def test_the_fleet_runs_on_dask_workers(cluster, tmp_path):
    source, targets = write_runbook(tmp_path), write_targets(tmp_path, 12, failing=(5,))
    records = tmp_path / "records"
    result = runbook(
        ["run", str(source), "--targets", str(targets), "--dask", cluster.scheduler_address,
         "--rollback-on-failure", "--records", str(records), "--no-progress"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    fleet_dir, fleet = fleet_of(result.stdout)
    expected = {f"t{i:02d}": "succeeded" for i in range(1, 13)} | {"t05": "failed"}
    lines = check_fleet(records, fleet_dir, expected)
    assert lines["t05"]["rollback"] == "succeeded"
    controls = fleet["fleet"]["controls"]
    assert controls["executor"] == "dask" and controls["jobs"] == 2  # the cluster's two threads
    assert fleet["fleet"]["dask"] == cluster.scheduler_address


def test_the_canary_stops_a_dask_fleet(cluster, tmp_path):
    source, targets = write_runbook(tmp_path), write_targets(tmp_path, 4, failing=(1,))
    records = tmp_path / "records"
    result = runbook(
        ["run", str(source), "--targets", str(targets), "--dask", cluster.scheduler_address,
         "--canary", "1", "--records", str(records), "--no-progress"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    fleet_dir, _ = fleet_of(result.stdout)
    never = {f"t0{i}": "not started" for i in (2, 3, 4)}
    check_fleet(records, fleet_dir, {"t01": "failed", **never})


def test_an_unreachable_scheduler_is_bad_input(tmp_path):
    pytest.importorskip("distributed")
    source, targets = write_runbook(tmp_path), write_targets(tmp_path, 1)
    records = tmp_path / "records"
    result = runbook(
        ["run", str(source), "--targets", str(targets), "--dask", "tcp://127.0.0.1:9",
         "--records", str(records)],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot reach the scheduler" in result.stderr
    assert not list(records.glob("*/*"))  # no fleet record was opened


LOST = """\
---
id: lost-worker
lang: en
parameters:
  marks:
    type: str
    required: true
---

# Runbook: Lost worker

## Procedure

#### 1-1. Apply once

```bash
echo "attempt $$" >> "$marks"
while [ ! -e "$marks.go" ]; do sleep 0.1; done
```
"""


def test_a_target_whose_worker_is_lost_is_not_run_again(tmp_path):
    """Dask runs a task again when its worker dies; a target's run may outlive its worker
    (it has its own session) and must never be started a second time behind the operator's
    back: the fleet names the target as lost instead."""
    import signal
    import subprocess
    import time

    from clitools import cli_env, runbook_command
    from distributed import Client, LocalCluster

    source = tmp_path / "lost.md"
    source.write_text(LOST, encoding="utf-8")
    marks = tmp_path / "marks"
    (tmp_path / "targets.csv").write_text(f"target,marks\nt01,{marks}\n", encoding="utf-8")
    records = tmp_path / "records"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as local, Client(local) as client:  # fmt: skip
        fleet = subprocess.Popen(
            [*runbook_command(), "run", str(source), "--targets", str(tmp_path / "targets.csv"),
             "--dask", local.scheduler_address, "--records", str(records), "--no-progress"],
            cwd=tmp_path, env=cli_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not marks.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert marks.exists(), "the target never started"
            busy = [w for w, keys in client.processing().items() if keys]
            (pid,) = [p for w, p in client.run(os.getpid).items() if w in busy]
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while fleet.poll() is None and time.monotonic() < deadline:
                if len(marks.read_text().splitlines()) > 1:
                    break
                time.sleep(0.1)
            assert len(marks.read_text().splitlines()) == 1, "the target ran twice"
            out, err = fleet.communicate(timeout=60)
        finally:
            (tmp_path / "marks.go").touch()
            if fleet.poll() is None:
                fleet.communicate(timeout=120)
        assert fleet.returncode == 1, out + err
        _, manifest = fleet_of(out)
        (line,) = manifest["fleet"]["targets"]
        assert line["status"] == "error" and "lost with its worker" in line["error"]
        deadline = time.monotonic() + 120  # the first run still ends and seals its own record
        while (
            not list(records.glob("lost-worker/*/manifest.json"))[1:]
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        sealed = [json.loads(p.read_text()) for p in records.glob("lost-worker/*/manifest.json")]
        assert sorted(m.get("kind", "run") for m in sealed) == ["fleet", "run"]
        verified = runbook(["records", "verify", "--all", "--records", str(records)], tmp_path)
        assert verified.returncode == 0 and ", 0 problem(s)" in verified.stdout, verified.stdout
        again = runbook(["resume", manifest["run_id"], "--records", str(records), "--no-progress"],
                        tmp_path)  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr  # the lost run succeeded: carried
        assert len(marks.read_text().splitlines()) == 1
