"""Two fleets written at once, from two machines, into one shared archive on S3.

The store is SeaweedFS ``weed mini`` with Object Lock (tests/s3store.py); each
"machine" is its own ``RUNBOOK_CACHE`` (local mirror), so the two fleet
controllers and their target processes share nothing but the store. Afterwards an
auditor on a third machine lists and verifies the archive from its URL, and the
store refuses to delete a locked fleet record.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from clitools import cli_env, runbook_command
from fleettools import FLEET_TIMEOUT_S, manifest, runbook, write_runbook, write_targets

pytestmark = [pytest.mark.integration, pytest.mark.s3, pytest.mark.slow]


def _machine(store, tmp_path: Path, name: str) -> dict[str, str]:
    """One machine's variables: the store's, and its own cache (local mirror)."""
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return {**store.env(), "RUNBOOK_CACHE": str(tmp_path / name / "cache")}


def test_two_fleets_at_once_share_one_chain_on_s3(s3_store, tmp_path):
    bucket = s3_store.make_bucket(f"fleets-{int(time.time())}", object_lock=True)
    url = f"s3://{bucket}/ops"
    source = write_runbook(tmp_path)
    targets = write_targets(tmp_path, 3, failing=(2,))
    command = [
        *runbook_command(),
        *["run", str(source), "--targets", str(targets), "--records", url],
        *["--retain-days", "1", "--jobs", "2", "--rollback-on-failure", "--no-progress"],
    ]
    fleets = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env=cli_env(_machine(s3_store, tmp_path, host)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for host in ("host-a", "host-b")
    ]
    fleet_ids = []
    for proc in fleets:
        out, err = proc.communicate(timeout=FLEET_TIMEOUT_S)
        assert proc.returncode == 1, out + err  # target t02 fails in both fleets
        assert "did not succeed: t02" in out
        fleet_dir = Path(out.strip().splitlines()[-1])
        fleet = manifest(fleet_dir)
        assert fleet["kind"] == "fleet" and fleet["retention"]["mode"] == "COMPLIANCE"
        mirror = fleet_dir.parent.parent
        for line in fleet["fleet"]["targets"]:  # each target's record is locked too
            assert manifest(mirror / line["record"])["retention"]["mode"] == "COMPLIANCE"
        fleet_ids.append(fleet["run_id"])

    auditor = _machine(s3_store, tmp_path, "auditor")
    listed = runbook(["records", "list", "--records", url, "--json"], tmp_path, auditor)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["run_id"] for r in rows if r["run_id"] in fleet_ids) == sorted(fleet_ids)
    assert len(rows) == 2 * (3 + 1)  # every target's record and both fleet records
    assert sorted(r["status"] for r in rows).count("failed") == 4  # t02 twice, both fleets

    verified = runbook(["records", "verify", "--all", "--records", url], tmp_path, auditor)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "8 record(s) checked, 0 problem(s)" in verified.stdout
    assert "retention: COMPLIANCE until" in verified.stdout
    fs = s3_store.filesystem()
    chain = sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{bucket}/ops/.chain"))
    assert chain == [f"{n:010d}" for n in range(1, 9)]  # one place each, no fork

    key = next(p for p in fs.find(f"{bucket}/ops") if fleet_ids[0] in p and p.endswith(".json"))
    key = key.removeprefix(f"{bucket}/")
    versions = fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key)["Versions"]
    version = next(v for v in versions if v["Key"] == key)
    with pytest.raises(PermissionError):
        fs.call_s3("delete_object", Bucket=bucket, Key=key, VersionId=version["VersionId"])
