"""The same fleet on a real ``dask.distributed.LocalCluster`` (two worker processes).

The cluster is started by the test; ``runbook run --targets … --dask ADDRESS`` only
connects to it. Every target runs in a fresh ``runbook`` process on a worker and
seals into the one records directory (the chain's lock keeps it linear).
Without dask.distributed: skipped locally, failed under ``CI=true``.
"""

from __future__ import annotations

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
