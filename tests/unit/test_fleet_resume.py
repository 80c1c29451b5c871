"""How ``runbook resume`` of a fleet finds a target's latest run: its own record when the
fleet's record names none (its controller died), and the runs that resumed it."""

from __future__ import annotations

import json
from pathlib import Path

from converter.fleet.resume import _latest, _sealed_since

FLEET = "20261130T120000Z-ffffffff"
UNSTATED = {"target": "k1", "status": "unknown"}


def latest(fleet_dir: Path, line: dict) -> dict:
    return _latest(fleet_dir, line, _sealed_since(fleet_dir))


def record(parent: Path, run_id: str, manifest: dict) -> Path:
    run_dir = parent / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_id, **manifest}))
    return run_dir


def test_a_target_started_in_the_fleets_own_second_is_found(tmp_path: Path) -> None:
    """Run ids are ``<UTC second>-<random>``: within one second, a target's id may sort first."""
    fleet_dir = record(tmp_path, FLEET, {"kind": "fleet"})
    member = {"status": "succeeded", "fleet": {"run_id": FLEET, "target": "k1"}}
    record(tmp_path, "20261130T120000Z-00000000", member)
    line = latest(fleet_dir, UNSTATED)
    assert line["run_id"] == "20261130T120000Z-00000000"
    assert line["record"] == f"{tmp_path.name}/20261130T120000Z-00000000"


def test_records_from_before_the_fleet_are_not_read(tmp_path: Path) -> None:
    fleet_dir = record(tmp_path, FLEET, {"kind": "fleet"})
    member = {"status": "succeeded", "fleet": {"run_id": FLEET, "target": "k1"}}
    record(tmp_path, "20261130T115959Z-ffffffff", member)  # cannot be this fleet's: earlier
    assert latest(fleet_dir, UNSTATED) == UNSTATED


def test_a_run_resumed_on_its_own_is_followed_to_the_latest(tmp_path: Path) -> None:
    fleet_dir = record(tmp_path, FLEET, {"kind": "fleet"})
    first = "20261130T120001Z-00000000"
    record(tmp_path, first, {"status": "failed", "fleet": {"run_id": FLEET, "target": "k1"}})
    record(tmp_path, "20261130T120002Z-00000000", {"status": "failed", "resumes": first})
    record(tmp_path, "20261130T120003Z-00000000",
           {"status": "succeeded", "resumes": "20261130T120002Z-00000000"})  # fmt: skip
    line = latest(fleet_dir, {"target": "k1", "status": "failed", "run_id": first})
    assert line["run_id"] == "20261130T120003Z-00000000" and line["status"] == "succeeded"
