"""How ``runbook resume`` of a fleet finds a target's own record when its controller died."""

from __future__ import annotations

import json
from pathlib import Path

from converter.fleet.resume import _own_record

FLEET = "20261130T120000Z-ffffffff"


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
    line = _own_record(fleet_dir, "k1")
    assert line is not None and line["run_id"] == "20261130T120000Z-00000000"
    assert line["record"] == f"{tmp_path.name}/20261130T120000Z-00000000"


def test_records_from_before_the_fleet_are_not_read(tmp_path: Path) -> None:
    fleet_dir = record(tmp_path, FLEET, {"kind": "fleet"})
    member = {"status": "succeeded", "fleet": {"run_id": FLEET, "target": "k1"}}
    record(tmp_path, "20261130T115959Z-ffffffff", member)  # cannot be this fleet's: earlier
    assert _own_record(fleet_dir, "k1") is None
