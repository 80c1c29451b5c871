"""A fleet is approved once, as one plan: ``runbook plan --targets`` covers every target.

Real ssh-keygen and keys made by the test: Alice and Bob approve the fleet's plan,
Carol runs it; each target's record keeps the plan and the approvals, and so does
the fleet's record. A target the plan does not name blocks the whole fleet.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from fleettools import check_fleet, fleet_of, manifest, runbook
from sshkeys import allowed_signers, make_key, require_ssh_keygen

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FOUR_EYES = """
    ---
    id: fleet-four-eyes
    lang: en
    parameters:
      target:
        type: str
      size:
        type: int
        default: 1
        description: Size of the change on this target
    ---

    # Runbook: Fleet four eyes

    ## Procedure

    #### 1-1. Say hello

    ```bash
    echo "hello $target size $size"
    if [ -e "BREAKER/$target" ]; then echo "$target is broken" >&2; exit 1; fi
    ```

    ## Approval

    - [ ] Reviewer: reads the plan
    - [ ] Approver: signs off
"""


def _approved_fleet(tmp_path):
    """The fleet's runbook, targets and plan, approved by Alice and Bob; Carol's options."""
    require_ssh_keygen()
    keys = {name: make_key(tmp_path, name) for name in ("alice", "bob", "carol")}
    trusted = allowed_signers(
        tmp_path, *keys.values(), namespaces="runbook-record,runbook-approval"
    )
    source = tmp_path / "four-eyes.md"
    text = textwrap.dedent(FOUR_EYES).lstrip().replace("BREAKER", str(tmp_path / "broken"))
    source.write_text(text, encoding="utf-8")
    targets = tmp_path / "targets.csv"
    targets.write_text("target,size\ndb1,1\ndb2,2\n", encoding="utf-8")
    records = tmp_path / "records"
    common = ["--records", str(records)]
    planned = runbook(["plan", str(source), "--targets", str(targets), *common], tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "target db2: target = db2, size = 2" in planned.stdout
    plan = planned.stdout.strip().splitlines()[-1]
    for role, who in (("Reviewer", "alice"), ("Approver", "bob")):
        approved = runbook(
            ["approve", plan, "--role", role, "--key", str(keys[who]),
             "--allowed-signers", str(trusted), *common],
            tmp_path,
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr
    carol = [
        "--signing-key",
        str(keys["carol"]),
        "--allowed-signers",
        str(trusted),
        "--no-progress",
    ]
    return source, targets, records, plan, common + carol


def test_a_fleet_plan_is_approved_once_and_checked_for_every_target(tmp_path):
    source, targets, records, plan, options = _approved_fleet(tmp_path)
    common, carol = options[:2], options[2:]
    unplanned = runbook(["run", str(source), "--targets", str(targets), *common, *carol], tmp_path)
    assert unplanned.returncode == 3 and "needs approvals" in unplanned.stderr

    result = runbook(
        ["run", str(source), "--targets", str(targets), "--plan", plan, *common, *carol], tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fleet_dir, fleet = fleet_of(result.stdout)
    lines = check_fleet(records, fleet_dir, {"db1": "succeeded", "db2": "succeeded"})
    assert fleet["operator"] == "carol"
    for directory in [fleet_dir, *(records / line["record"] for line in lines.values())]:
        approvals = json.loads((directory / "approvals.json").read_text("utf-8"))
        assert {(a["role"], a["principal"], a["valid"]) for a in approvals} == {
            ("Reviewer", "alice", True),
            ("Approver", "bob", True),
        }
        assert json.loads((directory / "plan.json").read_text("utf-8"))["plan_id"] == plan
    assert manifest(records / lines["db2"]["record"])["parameters"] == {"target": "db2", "size": 2}

    targets.write_text("target,size\ndb1,1\ndb2,2\ndb3,3\n", encoding="utf-8")
    grown = runbook(
        ["run", str(source), "--targets", str(targets), "--plan", plan, *common, *carol], tmp_path
    )
    assert grown.returncode == 3, grown.stdout + grown.stderr
    assert "target 'db3' is not in the fleet's plan" in grown.stderr
    assert len(list(records.glob("fleet-four-eyes/*"))) == 3  # nothing new started


def test_a_resumed_fleet_keeps_its_plan_and_its_signer(tmp_path):
    source, targets, records, plan, options = _approved_fleet(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "db2").touch()
    first = runbook(["run", str(source), "--targets", str(targets), "--plan", plan, *options],
                    tmp_path)  # fmt: skip
    assert first.returncode == 1, first.stdout + first.stderr
    assert "did not succeed: db2" in first.stdout
    fleet_dir, _fleet = fleet_of(first.stdout)

    (tmp_path / "broken" / "db2").unlink()  # the cause is fixed
    again = runbook(["resume", fleet_dir.name, *options], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    resumed_dir, resumed = fleet_of(again.stdout)
    assert resumed["resumes"] == fleet_dir.name and resumed["operator"] == "carol"
    lines = check_fleet(records, resumed_dir, {"db1": "succeeded", "db2": "succeeded"})
    db2 = manifest(records / lines["db2"]["record"])
    assert db2["resumes"] and db2["operator"] == "carol"  # signed by Carol, as the first run
    assert (records / lines["db2"]["record"] / "manifest.json.sig").is_file()
    approvals = json.loads((records / lines["db2"]["record"] / "approvals.json").read_text())
    assert {(a["principal"], a["valid"]) for a in approvals} == {("alice", True), ("bob", True)}
