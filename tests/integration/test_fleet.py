"""``runbook run --targets``: one runbook over many targets, a record each, plus a fleet record.

Real ``runbook`` processes, kernels, papermill and bash; one records directory per
test. A target fails when its ``fail`` column says so (``fleettools.RUNBOOK``).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from clitools import cli_env, runbook_command
from fleettools import (
    check_fleet,
    fleet_of,
    manifest,
    runbook,
    write_runbook,
    write_targets,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    """12 targets, --jobs 3, target 5 fails and rolls back."""
    work = tmp_path_factory.mktemp("fleet12")
    source, targets = write_runbook(work), write_targets(work, 12, failing=(5,))
    records = work / "records"
    result = runbook(
        ["run", str(source), "--targets", str(targets), "--jobs", "3", "--rollback-on-failure",
         "--records", str(records), "--operator", "fleet-tester", "--no-progress"],
        work,
    )  # fmt: skip
    return result, records


def test_twelve_targets_each_have_a_record_and_the_fleet_record_names_them(twelve):
    result, records = twelve
    assert result.returncode == 1, result.stdout + result.stderr
    fleet_dir, fleet = fleet_of(result.stdout)
    expected = {f"t{i:02d}": "succeeded" for i in range(1, 13)} | {"t05": "failed"}
    lines = check_fleet(records, fleet_dir, expected)
    assert lines["t05"]["rollback"] == "succeeded"
    assert all(lines[name]["rollback"] is None for name in expected if name != "t05")
    assert fleet["status"] == "failed" and fleet["operator"] == "fleet-tester"
    assert fleet["fleet"]["controls"]["jobs"] == 3
    assert fleet["fleet"]["controls"]["rollback_on_failure"] is True
    assert fleet["fleet"]["not_started"] == []
    assert lines["t07"]["parameters"] == {"region": "region-7", "fail": False, "gate": ""}
    # each target ran with its own row: its log says so
    for name, line in lines.items():
        log = (records / line["record"] / "logs" / "1-1.log").read_text(encoding="utf-8")
        assert f"applied to region-{int(name[1:])}" in log
    failed = records / lines["t05"]["record"]
    assert manifest(failed)["steps"][0]["status"] == "failed"
    assert "reverted region-5" in (failed / "logs" / "rollback-1.log").read_text(encoding="utf-8")


def test_the_summary_names_the_failed_target_and_the_record_last(twelve):
    result, _ = twelve
    out = result.stdout.splitlines()
    assert out[0].split() == ["TARGET", "STATUS", "ROLLBACK", "RUN"]
    assert out[5].split()[:3] == ["t05", "failed", "succeeded"]
    assert "did not succeed: t05" in out
    assert "never started: none" in out
    assert out[-1].endswith(fleet_of(result.stdout)[1]["run_id"])


@pytest.mark.parametrize(
    ("controls", "failing", "ran", "stopped"),
    [
        (["--canary", "2", "--jobs", "2"], (1,), {"t01": "failed", "t02": "succeeded"},
         "the canary did not succeed"),
        (["--max-failures", "2"], (1, 2), {"t01": "failed", "t02": "failed"},
         "max failures reached"),
    ],
    ids=["canary", "max-failures"],
)  # fmt: skip
def test_the_controls_stop_the_fleet(tmp_path, controls, failing, ran, stopped):
    """A failed canary, or F failures: targets 3-5 never start."""
    source, targets = write_runbook(tmp_path), write_targets(tmp_path, 5, failing=failing)
    records = tmp_path / "records"
    result = runbook(
        ["run", str(source), "--targets", str(targets), *controls,
         "--records", str(records), "--no-progress"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    fleet_dir, fleet = fleet_of(result.stdout)
    never = {"t03": "not started", "t04": "not started", "t05": "not started"}
    check_fleet(records, fleet_dir, {**ran, **never})
    assert fleet["fleet"]["stopped"] == stopped
    assert fleet["fleet"]["not_started"] == ["t03", "t04", "t05"]
    assert "never started: t03, t04, t05" in result.stdout


def test_a_bad_row_refuses_the_whole_fleet_at_its_line(tmp_path):
    source = write_runbook(tmp_path)
    targets = tmp_path / "targets.csv"
    targets.write_text("target,region\nok1,eu\nbad,EU WEST\nok2,us\n", encoding="utf-8")
    records = tmp_path / "records"
    result = runbook(
        ["run", str(source), "--targets", str(targets), "--records", str(records)], tmp_path
    )
    assert result.returncode == 2
    assert f"{targets}:3: target 'bad': parameter 'region'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not records.exists()  # nothing started, no record


def gated_fleet(tmp_path, prefix: str, count: int):
    """A fleet (``--jobs 2``) whose targets wait in step 1-1 until the gate file exists."""
    source, records = write_runbook(tmp_path), tmp_path / "records"
    gate = tmp_path / "gate"
    targets = tmp_path / "targets.csv"
    rows = [f"{prefix}{i},region-{i},{gate}" for i in range(1, count + 1)]
    targets.write_text("target,region,gate\n" + "\n".join(rows) + "\n", encoding="utf-8")
    fleet = subprocess.Popen(
        [*runbook_command(), "run", str(source), "--targets", str(targets), "--jobs", "2",
         "--records", str(records), "--no-progress"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return records, gate, fleet


def test_sigterm_mid_fleet_then_resume(tmp_path):
    """Two targets wait on a gate file; SIGTERM: they seal interrupted, the rest never start.

    Then ``runbook resume FLEET`` (gate open) continues the interrupted runs and starts
    the others, in a new fleet record that resumes the first.
    """
    records, gate, fleet = gated_fleet(tmp_path, "s", 4)
    try:
        assert wait_for(lambda: len(stepping(records)) == 2), "two targets never reached step 1-1"
        fleet.send_signal(signal.SIGTERM)
        out, err = fleet.communicate(timeout=120)
    finally:
        if fleet.poll() is None:  # SIGTERM lets it stop its targets (a kill would orphan them)
            fleet.send_signal(signal.SIGTERM)
            fleet.communicate(timeout=120)
    assert fleet.returncode == 130, out + err
    fleet_dir, first = fleet_of(out)
    never = {"s3": "not started", "s4": "not started"}
    check_fleet(records, fleet_dir, {"s1": "interrupted", "s2": "interrupted", **never})
    assert first["status"] == "interrupted"
    assert "never started: s3, s4" in out

    gate.touch()
    resumed = runbook(
        ["resume", fleet_dir.name, "--records", str(records), "--no-progress"], tmp_path
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    second_dir, second = fleet_of(resumed.stdout)
    assert second["resumes"] == fleet_dir.name and second["status"] == "succeeded"
    lines = check_fleet(records, second_dir, {f"s{i}": "succeeded" for i in range(1, 5)})
    stopped = {t["target"]: t.get("run_id") for t in first["fleet"]["targets"]}
    for name in ("s1", "s2"):  # the interrupted runs were continued, not started again
        assert manifest(records / lines[name]["record"])["resumes"] == stopped[name]
    twice = runbook(["resume", fleet_dir.name, "--records", str(records)], tmp_path)
    assert twice.returncode == 2 and f"already resumed by {second_dir.name}" in twice.stderr


def wait_for(predicate, timeout: float = 180.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def stepping(records) -> list:
    """Records whose journal shows step 1-1 started."""
    return [
        journal
        for journal in records.glob("fleet-test/*/journal.jsonl")
        if '"step_start"' in journal.read_text(encoding="utf-8")
    ]


def test_a_fleet_that_succeeded_cannot_be_resumed(tmp_path):
    source, targets = write_runbook(tmp_path), write_targets(tmp_path, 1)
    records = tmp_path / "records"
    done = runbook(
        ["run", str(source), "--targets", str(targets), "--records", str(records)], tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    again = runbook(["resume", fleet_of(done.stdout)[0].name, "--records", str(records)], tmp_path)
    assert again.returncode == 2 and "nothing to resume" in again.stderr


def test_a_fleet_whose_runbook_changed_is_not_resumed(tmp_path):
    """Resuming would run another version on some targets than on the others: exit 2."""
    source, targets = write_runbook(tmp_path), write_targets(tmp_path, 2, failing=(1,))
    records = tmp_path / "records"
    first = runbook(
        ["run", str(source), "--targets", str(targets), "--records", str(records)], tmp_path
    )
    assert first.returncode == 1, first.stdout + first.stderr
    source.write_text(source.read_text("utf-8").replace("applied to", "CHANGED"), "utf-8")
    again = runbook(["resume", fleet_of(first.stdout)[0].name, "--records", str(records)], tmp_path)
    assert again.returncode == 2 and "runbook changed" in again.stderr, again.stdout + again.stderr
    assert "CHANGED" not in "".join(p.read_text() for p in records.rglob("logs/*.log"))


def test_a_killed_controller_leaves_a_fleet_record_that_recovery_seals(tmp_path):
    """SIGKILL of the fleet: its targets run on and seal; ``records list`` seals the fleet."""
    records, gate, fleet = gated_fleet(tmp_path, "k", 3)
    try:
        assert wait_for(lambda: len(stepping(records)) == 2), "two targets never reached step 1-1"
        fleet.kill()
        fleet.communicate(timeout=60)
        # the targets it started run on (their own sessions): resuming now would run them twice
        assert runbook(["records", "list", "--records", str(records)], tmp_path).returncode == 0
        (early,) = [d for d in records.glob("fleet-test/*") if manifest_kind(d) == "fleet"]
        refused = runbook(["resume", early.name, "--records", str(records)], tmp_path)
        assert refused.returncode == 2 and "still running" in refused.stderr, refused.stderr
    finally:
        fleet.kill()
        fleet.communicate(timeout=60)
        gate.touch()  # now they end and seal
    # the two targets' own records (the fleet's was sealed above): their runs end now
    assert wait_for(
        lambda: [manifest_kind(d) for d in records.glob("fleet-test/*")].count("run") == 2
    )
    listed = runbook(["records", "list", "--records", str(records)], tmp_path)
    assert listed.returncode == 0, listed.stderr
    (fleet_dir,) = [d for d in records.glob("fleet-test/*") if manifest_kind(d) == "fleet"]
    lines = check_fleet(records, fleet_dir, {"k1": "unknown", "k2": "unknown", "k3": "not started"})
    sealed = manifest(fleet_dir)
    assert sealed["status"] == "interrupted" and sealed["fleet"]["not_started"] == ["k3"]
    assert lines["k1"].get("run_id") is None
    summary = (fleet_dir / "record.ipynb").read_text("utf-8")  # as its manifest says, not running
    assert "status: **interrupted**" in summary and "| k3 | not started |" in summary, summary
    resumed = runbook(
        ["resume", fleet_dir.name, "--records", str(records), "--no-progress"], tmp_path
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    second_dir, _ = fleet_of(resumed.stdout)
    again = check_fleet(records, second_dir, {f"k{i}": "succeeded" for i in range(1, 4)})
    assert again["k1"]["in"] == fleet_dir.name  # found by its own record, carried over
    assert len(list(records.glob("fleet-test/*/manifest.json"))) == 5  # k3 and the new fleet


def manifest_kind(run_dir) -> str | None:
    """A record's kind, or None before it is sealed."""
    path = run_dir / "manifest.json"
    return manifest(run_dir).get("kind") if path.exists() else None


CHECKED = """\
---
id: checked
lang: en
parameters:
  ok:
    type: str
    required: true
---

# Runbook: Checked

## Procedure

#### 1-1. Check

```bash
test -e "$ok"
```
"""


def test_resuming_a_fleet_follows_a_target_resumed_on_its_own(tmp_path):
    """A target's failed run resumed directly (``runbook resume RUN``) and succeeded: the
    fleet's resume carries that run instead of resuming the first one a second time."""
    source = tmp_path / "checked.md"
    source.write_text(CHECKED, encoding="utf-8")
    (tmp_path / "targets.csv").write_text(
        f"target,ok\nt01,{tmp_path / 'ok1'}\nt02,{tmp_path / 'ok2'}\n", encoding="utf-8"
    )
    (tmp_path / "ok1").touch()
    records = tmp_path / "records"
    first = runbook(
        ["run", str(source), "--targets", str(tmp_path / "targets.csv"), "--records",
         str(records), "--no-progress"], tmp_path,
    )  # fmt: skip
    assert first.returncode == 1, first.stdout + first.stderr
    fleet_dir, fleet = fleet_of(first.stdout)
    failed = {t["target"]: t for t in fleet["fleet"]["targets"]}["t02"]
    assert failed["status"] == "failed"
    (tmp_path / "ok2").touch()
    alone = runbook(["resume", failed["run_id"], "--records", str(records)], tmp_path)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    resumed_alone = manifest(Path(alone.stdout.strip().splitlines()[-1]))
    again = runbook(
        ["resume", fleet_dir.name, "--records", str(records), "--no-progress"], tmp_path
    )
    assert again.returncode == 0, again.stdout + again.stderr
    _, resumed = fleet_of(again.stdout)
    lines = {t["target"]: t for t in resumed["fleet"]["targets"]}
    assert lines["t02"]["status"] == "succeeded"
    assert lines["t02"]["run_id"] == resumed_alone["run_id"]
    assert len(list(records.glob("checked/*/manifest.json"))) == 5  # 2 runs, 1 resume, 2 fleets
