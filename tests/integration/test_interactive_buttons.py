"""The buttons of an interactive run (manual step, "Run again", rollback) run a step only as
its ``%%step`` cell would: not into a dry run, not past an unticked gate, not past missing
approvals, and with the step's own timeout.

A real kernel runs the converted notebook cell by cell (tests/labdrive.py) and the buttons
are clicked through their ipywidgets objects, as a browser click does.
"""

from __future__ import annotations

import json

import pytest
from evidence import disagreements
from labdrive import LabNotebook
from test_interactive_record import exports, runbook_cli

pytestmark = pytest.mark.integration

RUNBOOK = """
    ---
    id: buttons
    lang: en
    ---

    # Runbook: Buttons

    ## Checklists

    ### Pre-execution checklist

    - [ ] Change window approved

    ## Procedure

    #### 1-1. Change

    ```bash
    echo change-ran
    ```

    **Verify**:
    - [ ] The change is live

    #### 1-2. Flip by hand

    ```bash {manual=true timeout=1}
    touch manual-ran; sleep 30
    ```

    ## Rollback

    #### Step 1: Undo

    ```bash
    touch rollback-ran
    ```
"""


@pytest.fixture
def lab(tmp_path):
    notebook = LabNotebook(tmp_path, RUNBOOK)
    try:
        yield notebook
    finally:
        notebook.close()


def _events(lab: LabNotebook, kind: str) -> list[dict]:
    return [e for e in lab.journal() if e["event"] == kind]


def test_in_a_dry_run_the_manual_and_rollback_buttons_run_nothing(lab):
    assert lab.parameters(dry_run=True).status == "ok"
    assert lab.run("setup").status == "ok"
    for key in ("checklist/checklists-1", "step/1-1", "checklist/1-1.verify", "step/1-2"):
        reply = lab.run(key)
        assert reply.status == "ok", (key, reply)
    clicked = lab.click("runbook-manual")
    assert "DRY RUN: would run step 1-2" in clicked.text, clicked
    assert lab.run("rollback-panel").status == "ok"
    lab.click("runbook-rollback")
    assert lab.run("finish").status == "ok"

    assert not (lab.work / "manual-ran").exists()
    assert not (lab.work / "rollback-ran").exists()
    assert not _events(lab, "step_start")
    assert {e["step"] for e in _events(lab, "step_dry_run")} == {"1-1", "1-2", "rollback-1"}


def test_a_dry_runs_rollback_button_shows_the_rollback_and_the_dry_run_goes_on(lab):
    """Clicked in a dry run, the rollback button lists the rollback's commands; it starts no
    rollback pass (nothing is rolled back) and leaves the session a dry run of the procedure:
    cells run after the click are shown, not skipped as in rollback mode."""
    assert lab.parameters(dry_run=True).status == "ok"
    assert lab.run("setup").status == "ok"
    assert lab.run("rollback-panel").status == "ok"
    clicked = lab.click("runbook-rollback")
    assert "DRY RUN" in clicked.text, clicked
    assert lab.run("checklist/checklists-1").status == "ok"
    assert lab.run("step/1-1").status == "ok"
    assert lab.run("finish").status == "ok"

    assert not _events(lab, "rollback_mode")
    assert [e["step"] for e in _events(lab, "step_dry_run")] == ["rollback-1", "1-1"]
    assert not [e for e in _events(lab, "step_skipped") if e["step"] == "1-1"]
    manifest = lab.manifest()
    assert "rollback" not in manifest, manifest.get("rollback")
    steps = {s["id"]: s["status"] for s in manifest["steps"]}
    assert (steps["1-1"], steps["rollback-1"]) == ("dry_run", "dry_run"), steps


def test_the_manual_button_holds_the_gate_and_the_steps_timeout(lab):
    assert lab.run("setup").status == "ok"
    assert lab.run("checklist/checklists-1").status == "ok"
    assert lab.tick("checklists-1").status == "ok"
    assert lab.run("step/1-1").status == "ok"
    assert lab.run("checklist/1-1.verify").status == "ok"
    assert lab.run("step/1-2").status == "ok"

    refused = lab.click("runbook-manual")  # "The change is live" is not ticked yet
    assert "StepBlocked: 1-2" in refused.text, refused
    assert not (lab.work / "manual-ran").exists()
    (blocked,) = _events(lab, "blocked")
    assert blocked["step"] == "1-2" and blocked["gate"] == ["1-1.verify"]

    assert lab.tick("1-1.verify").status == "ok"
    ran = lab.click("runbook-manual")
    assert "StepFailed: 1-2" in ran.text, ran
    assert (lab.work / "manual-ran").exists()
    (end,) = [e for e in _events(lab, "step_end") if e["step"] == "1-2"]
    (start,) = [e for e in _events(lab, "step_start") if e["step"] == "1-2"]
    assert start["timeout"] == 1.0  # the fence's timeout=1, not none
    assert end["status"] == "failed" and "timed out" in end["reason"], end


def test_the_rerun_button_holds_the_gate(lab):
    """A step that succeeded asks before running again; the click confirms that, not the gate."""
    assert lab.run("setup").status == "ok"
    assert lab.run("checklist/checklists-1").status == "ok"
    assert lab.tick("checklists-1").status == "ok"
    assert lab.run("step/1-1").status == "ok"
    # the operator unticks the gate, then asks to run 1-1 again
    untick = lab.execute(
        "from converter.runtime.checklists import set_check\n"
        "set_check(runbook, 'checklists-1.1', False, via='widget')"
    )
    assert untick.status == "ok", untick
    assert lab.run("step/1-1").status == "ok"  # asks: shows the "Run again" button
    refused = lab.click("runbook-rerun")
    assert "StepBlocked: 1-1" in refused.text, refused
    assert [e["step"] for e in _events(lab, "step_start")] == ["1-1"]


MANUAL_FAILS = """
    ---
    id: manual-fails
    lang: en
    ---

    # Runbook: Manual fails

    ## Procedure

    #### 1-1. Flip by hand

    ```bash {manual=true}
    echo "switching maintenance on"; exit 7
    ```
"""


def test_a_manual_step_that_failed_stays_failed_when_its_cell_runs_again(tmp_path):
    lab = LabNotebook(tmp_path, MANUAL_FAILS)
    try:
        assert lab.run("setup").status == "ok"
        assert lab.run("step/1-1").status == "ok"
        ran = lab.click("runbook-manual")
        assert "StepFailed: 1-1" in ran.text, ran
        again = lab.run("step/1-1")  # "Run All" again, or the operator re-runs the cell
        assert "failed" in again.text and "manual" not in again.text.split("\n")[0], again
        assert lab.run("finish").status == "ok"
    finally:
        lab.close()
    skips = [e for e in lab.journal() if e["event"] == "step_skipped"]
    assert len(skips) == 1  # the first run of the cell, before its button ran it
    manifest = lab.manifest()
    assert (manifest["status"], manifest["failure"]["step"]) == ("failed", "1-1")
    (step,) = manifest["steps"]
    assert (step["status"], step["exit_code"]) == ("failed", 7)


ROLLS_BACK = """
    ---
    id: rolls-back
    lang: en
    ---

    # Runbook: Rolls back

    ## Procedure

    #### 1-1. Break

    ```bash
    echo breaking; false
    ```

    ## Rollback

    #### Step 1: Undo

    ```bash
    echo undo-ran; test "$UNDO" != fails
    ```
"""


def _fail_then_roll_back(tmp_path, undo: str) -> LabNotebook:
    lab = LabNotebook(tmp_path, ROLLS_BACK, env={"UNDO": undo})
    try:
        assert lab.run("setup").status == "ok"
        assert lab.run("step/1-1").ename == "StepFailed"
        assert lab.run("rollback-panel").status == "ok"
        assert "undo-ran" in lab.click("runbook-rollback").text
        assert lab.run("finish").status == "ok"
    finally:
        lab.close()
    return lab


def test_an_interactive_rollback_is_recorded_as_the_rollback_pass(tmp_path):
    lab = _fail_then_roll_back(tmp_path, "succeeds")
    manifest = lab.manifest()
    assert (manifest["status"], manifest["failure"]["step"]) == ("failed", "1-1")
    assert manifest["rollback"]["status"] == "succeeded", manifest.get("rollback")
    steps = {s["id"]: s["status"] for s in manifest["steps"]}
    assert steps == {"1-1": "failed", "rollback-1": "succeeded"}
    html = (lab.record() / "record.html").read_text(encoding="utf-8")
    assert "<th>Rollback</th><td>succeeded</td>" in html.replace("\n", "")
    assert not disagreements(lab.record(), exports(lab.record(), lab.records))


def test_a_failed_interactive_rollback_does_not_move_where_the_run_failed(tmp_path):
    lab = _fail_then_roll_back(tmp_path, "fails")
    manifest = lab.manifest()
    assert (manifest["status"], manifest["failure"]["step"]) == ("failed", "1-1")
    rollback = manifest["rollback"]
    assert (rollback["status"], rollback["failed_step"]) == ("failed", "rollback-1")


def test_the_record_shows_the_command_that_ran_not_the_notebook_files(tmp_path):
    """An operator edits a step cell in JupyterLab and runs it without saving: the journal,
    the log and the exports have the edited command; record.ipynb and record.html too."""
    lab = LabNotebook(tmp_path, MANUAL_FAILS.replace("manual=true", "timeout=30"))
    edited = lab.cells["step/1-1"].replace("switching maintenance on", "edited-by-hand")
    edited = edited.replace("exit 7", "true").replace("timeout=30", "timeout=20")
    try:
        assert lab.run("setup").status == "ok"
        assert lab.run("step/1-1", source=edited).status == "ok"
        assert lab.run("finish").status == "ok"
    finally:
        lab.close()
    import nbformat

    nb = nbformat.read(lab.record() / "record.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("runbook", {}).get("step_id") == "1-1"]
    assert cell.source == edited.rstrip("\n"), cell.source
    page = (lab.record() / "record.html").read_text(encoding="utf-8")
    assert "edited-by-hand" in page and "switching maintenance on" not in page
    assert not disagreements(lab.record(), exports(lab.record(), lab.records))


TWO_STEPS = """
    ---
    id: two-steps
    lang: en
    ---

    # Runbook: Two steps

    ## Procedure

    #### 1-1. List

    ```bash
    echo listing
    ```

    #### 1-2. Next

    ```bash
    echo next
    ```
"""


@pytest.mark.parametrize("ran, first_not_run", [((), "1-1"), (("step/1-1",), "1-2")])
def test_a_run_finished_before_its_procedure_ran_is_sealed_interrupted(
    tmp_path, ran, first_not_run
):
    lab = LabNotebook(tmp_path, TWO_STEPS)
    try:
        for key in ("setup", *ran):
            assert lab.run(key).status == "ok"
        finished = lab.run("finish")
        assert f"interrupted: {first_not_run}" in finished.text, finished
    finally:
        lab.close()
    manifest = lab.manifest()
    assert (manifest["status"], manifest["failure"]["step"]) == ("interrupted", first_not_run)
    assert "finished before these steps ran" in manifest["failure"]["reason"]
    listed = json.loads(runbook_cli("records", "list", "--json", "--records", lab.records).stdout)
    assert [(r["status"], r["failed_step"]) for r in listed] == [("interrupted", first_not_run)]
    verified = runbook_cli("records", "verify", "--all", "--records", lab.records)
    assert verified.returncode == 0, verified.stdout
    assert not disagreements(lab.record(), exports(lab.record(), lab.records))


CHECKED = """
    ---
    id: checked-late
    lang: en
    ---

    # Runbook: Checked late

    ## Procedure

    #### 1-1. Say

    ```bash
    echo hello
    ```

    **Expected result**:

    ```text {match=contains}
    goodbye
    ```
"""


def test_an_expected_result_cell_run_after_the_finish_changes_nothing(tmp_path):
    """The record is sealed: the check stops with the one-line "finished" message (it was a
    ValueError traceback from the closed journal, after the step's status had changed)."""
    lab = LabNotebook(tmp_path, CHECKED)
    try:
        assert lab.parameters().status == "ok"
        assert lab.run("setup").status == "ok"
        assert lab.run("step/1-1").status == "ok"
        assert lab.run("finish").status == "ok"
        late = lab.run("check/1-1")
        assert late.ename == "StopRun", late
        manifest = json.loads((lab.record() / "manifest.json").read_text("utf-8"))
        assert manifest["steps"][0]["status"] == "succeeded"
        verified = runbook_cli("records", "verify", "--all", "--records", lab.records)
        assert verified.returncode == 0, verified.stdout
        assert not disagreements(lab.record(), exports(lab.record(), lab.records))
    finally:
        lab.close()
