"""A ``- [x]`` written in the Markdown is no confirmation: every item starts unticked.

DESIGN §6: a check is ticked only by an act that happened (a click, or ``--confirm`` for a
gate the run reached). A pre-ticked prerequisite passed its gate with no act while the
record called it unticked. Headless through ``runbook run``, interactive in a real kernel.
"""

from __future__ import annotations

import json

import pytest
from labdrive import LabNotebook

pytestmark = pytest.mark.integration

PRETICKED = """
    ---
    id: preticked
    lang: en
    ---

    # Runbook: Pre-ticked

    ## Prerequisites

    - [x] Backup taken and verified

    ## Procedure

    #### 1-1. Drop the old table

    ```bash
    touch dropped
    ```
"""


def test_headless_a_preticked_item_gates_until_confirmed(run_inprocess, write_runbook, tmp_path):
    source = write_runbook(tmp_path, PRETICKED)
    records = tmp_path / "records"
    blocked = run_inprocess(["run", source, "--records", records, "--no-progress"], cwd=tmp_path)
    assert blocked.rc == 3, blocked.stdout + blocked.stderr
    assert not (tmp_path / "dropped").exists()
    manifest = json.loads((blocked.record_dir / "manifest.json").read_text("utf-8"))
    assert manifest["failure"]["step"] == "1-1"
    assert [(c["checked"], c["by"]) for c in manifest["checks"]] == [(False, None)]

    confirmed = run_inprocess(
        ["run", source, "--records", records, "--no-progress", "--confirm", "all"], cwd=tmp_path
    )
    assert confirmed.rc == 0, confirmed.stdout + confirmed.stderr
    manifest = json.loads((confirmed.record_dir / "manifest.json").read_text("utf-8"))
    (check,) = manifest["checks"]
    assert check["checked"] and check["by"]  # by the operator, via --confirm


def test_interactive_a_preticked_item_gates_until_ticked(tmp_path):
    lab = LabNotebook(tmp_path, PRETICKED)
    (list_key,) = [k for k in lab.cells if k.startswith("checklist/")]
    try:
        assert lab.run("setup").status == "ok"
        shown = lab.run(list_key)
        assert "☐ Backup taken and verified" in shown.text, shown
        refused = lab.run("step/1-1")
        assert refused.ename == "StepBlocked", refused
        assert not (tmp_path / "dropped").exists()
        assert lab.tick(list_key.split("/", 1)[1]).status == "ok"
        assert lab.run("step/1-1").status == "ok"
        assert lab.run("finish").status == "ok"
    finally:
        lab.close()
    manifest = lab.manifest()
    assert manifest["status"] == "succeeded", manifest.get("failure")
    (check,) = manifest["checks"]
    assert (check["checked"], check["by"]) == (True, "olivia")
