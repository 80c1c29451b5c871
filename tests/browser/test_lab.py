"""An operator works through a generated notebook in JupyterLab, in headless Chromium.

The notebook shows the runbook, not the plumbing (setup and checklist inputs collapsed,
each checklist once, labels rendered from Markdown); the parameter form changes what the
next step sees. Run All stops at the first unticked gate with a message naming the items; ticking
the boxes and running again lets the step run; a failing step shows its failure;
a troubleshooting button runs its command and the summary line of that step updates in
place; Finish writes the record (record.html opens with its header), whose
manifest names who ticked each check and when, and which reopens in JupyterLab
with the outputs and check states. Screenshots of each moment go to
``test-artifacts/browser/``; with ``RUNBOOK_UPDATE_SCREENSHOTS=1`` the one shown
in the README are refreshed in ``docs/screenshots/lab-run.png`` and ``record-html.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "lab-run.png"
DOCS_RECORD_SCREENSHOT = REPO / "docs" / "screenshots" / "record-html.png"
HIDDEN_INPUT = (".runbook-parameter-form", ".runbook-checklist", ".runbook-progress")
OPERATOR = "browser-test"

RUNBOOK = textwrap.dedent(
    """\
    ---
    id: browser-demo
    title: Browser demo
    lang: en
    parameters:
      greeting:
        type: str
        default: hi
        pattern: '^[a-z]+$'
        description: What step one says
    ---

    # Runbook: Browser demo

    > Author: @browser-test
    > Category: Maintenance

    ## Overview

    **Purpose**: Show that an operator can work through a runbook in JupyterLab.

    ## Prerequisites

    - [ ] The operator is logged in
    - [ ] The maintenance window is open

    ## Procedure

    ### Phase 1: Run

    #### 1-1. Say hello

    ```bash
    echo "$greeting from step one"
    ```

    **Verify**:
    - [ ] The `greeting` was *printed*

    #### 1-2. Check the flag

    ```bash
    if [ -f fail.flag ]; then echo "boom" >&2; exit 3; fi; echo "step two ok"
    ```

    ## Troubleshooting

    ### Problem 1: Step 1-2 fails

    **Symptom**:
    ```
    boom
    ```

    **Remedy**:

    ```bash
    echo "diagnostics output"
    ```
    """
)


@pytest.fixture
def demo_notebook(jupyter_lab) -> str:
    """The runbook converted into the lab's root; returns the notebook's name."""
    source = jupyter_lab.root.parent / "browser-demo.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    write_notebook(
        build_notebook(parse_file(source), source_name=source.name),
        jupyter_lab.root / "browser-demo.ipynb",
    )
    return "browser-demo.ipynb"


def test_operator_runs_gates_failure_troubleshooting_and_finish(
    jupyter_lab, lab_page, demo_notebook
):
    from playwright.sync_api import expect

    ui = lab_page
    ui.open_notebook(demo_notebook)

    # Run All on a fresh notebook stops at the first gate and says which boxes are unticked.
    ui.run_all()
    step1, step2 = ui.step_cell("1-1"), ui.step_cell("1-2")
    expect(step1.locator('.runbook-status.runbook-blocked[data-step="1-1"]')).to_be_visible()
    blocked = step1.locator(".jp-Cell-outputArea").inner_text()
    assert "blocked" in blocked and "not ticked" in blocked, blocked
    assert "The operator is logged in" in blocked and "The maintenance window is open" in blocked, (
        blocked
    )
    assert "Traceback" not in blocked, blocked
    assert "hello from step one" not in blocked
    expect(step2.locator(".runbook-status")).to_have_count(0)  # the run stopped at the gate
    ui.shot("gate-blocked", focus=step1)

    # The notebook shows the runbook, not the plumbing: setup and checklist inputs are collapsed,
    # step cells stay visible and editable.
    for marker in HIDDEN_INPUT:
        cells = ui.role_cells(marker)
        assert cells.count() >= 1, marker
        for index in range(cells.count()):
            expect(cells.nth(index).locator(".jp-InputArea")).to_be_hidden()
            expect(cells.nth(index).locator(".jp-InputPlaceholder")).to_be_visible()
    expect(step1.locator(".jp-InputArea-editor")).to_be_visible()
    expect(step1.locator(".jp-InputArea-editor")).to_contain_text('echo "$greeting from step one"')
    sources = " ".join(ui.page.locator(".jp-InputArea:visible").all_inner_texts())
    for plumbing in ("start(", "runbook.checklist(", "runbook.finish()"):
        assert plumbing not in sources, plumbing

    # Each checklist is shown once (the checkboxes), and its labels render their Markdown.
    _shown_once(ui, "prerequisites-1", "The operator is logged in")

    # The parameter form: a value against the pattern is refused with the reason, a good one
    # is what the next step gets (the parameters cell still says "hi").
    ui.set_parameter("greeting", "Not Valid")
    feedback = ui.page.locator(".runbook-param-feedback")
    expect(feedback).to_contain_text("does not match pattern")
    ui.set_parameter("greeting", "hello")
    expect(feedback).to_contain_text("greeting changed")
    ui.shot("parameter-form", focus=ui.role_cells(".runbook-parameter-form"))

    # The operator ticks the gate's boxes by clicking them; each tick names the operator.
    for item in ("prerequisites-1.1", "prerequisites-1.2"):
        ui.tick(item)
    prerequisites = ui.checklist_cell("prerequisites-1")
    expect(prerequisites.locator(".runbook-label-prerequisites-1-2")).to_contain_text(
        f"ticked by {OPERATOR}"
    )
    expect(ui.checkbox("prerequisites-1.1")).to_be_checked()  # still ticked after the update
    ui.shot("ticked", focus=prerequisites)

    # Run All again: the run resumes, 1-1 succeeds with its output, 1-2 waits for 1-1's Verify list.
    ui.run_all()
    expect(step1.locator('.runbook-status.runbook-succeeded[data-step="1-1"]')).to_be_visible()
    expect(step1.locator(".jp-Cell-outputArea")).to_contain_text("hello from step one")
    expect(step2.locator('.runbook-status.runbook-blocked[data-step="1-2"]')).to_be_visible()
    expect(step2.locator(".jp-Cell-outputArea")).to_contain_text("1-1.verify.1")
    expect(ui.page.locator(".runbook-progress")).to_contain_text("1 succeeded")
    _shown_once(ui, "1-1.verify", "was printed")
    label = ui.page.locator(".runbook-label-1-1-verify-1")
    expect(label.locator("code")).to_have_text("greeting")
    expect(label.locator("em")).to_have_text("printed")
    assert "`" not in label.inner_text()
    ui.shot("step-succeeded", focus=ui.role_cells(".runbook-parameter-form"))
    if os.environ.get("RUNBOOK_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ui.shots["step-succeeded"], DOCS_SCREENSHOT)

    # Tick the Verify list, make 1-2 fail, and re-run just that cell (Shift+Enter).
    ui.tick("1-1.verify.1")
    (jupyter_lab.root / "fail.flag").write_text("", encoding="utf-8")
    ui.run_cell(step2)
    expect(step2.locator('.runbook-status.runbook-failed[data-step="1-2"]')).to_be_visible()
    failed = step2.locator(".jp-Cell-outputArea").inner_text()
    assert "boom" in failed and "exit" in failed, failed
    assert "Traceback" not in failed, failed
    ui.shot("step-failed", focus=step2)

    # The finish cell shows the summary: one line per step; troubleshooting has not run.
    finish = ui.page.locator(".jp-CodeCell").last
    ui.run_cell(finish)
    summary_line = finish.locator('.runbook-status[data-step="trouble-1"]')
    expect(summary_line).to_have_class(re.compile("runbook-not_run"))
    expect(finish.locator('.runbook-status.runbook-failed[data-step="1-2"]')).to_be_visible()

    # The troubleshooting command runs only from its button, and its output appears below it;
    # the summary line of that step updates in place.
    trouble = ui.step_cell("trouble-1")
    ui.run_cell(trouble)
    expect(trouble.locator(".jp-Cell-outputArea")).not_to_contain_text("diagnostics output")
    trouble.get_by_role("button", name="Run this command").click()
    expect(trouble.locator(".jp-Cell-outputArea")).to_contain_text("diagnostics output")
    expect(
        trouble.locator('.runbook-status.runbook-succeeded[data-step="trouble-1"]')
    ).to_be_visible()
    ui.shot("troubleshooting", focus=trouble)
    expect(summary_line).to_have_class(re.compile("runbook-succeeded"))
    ui.shot("summary-updated", focus=finish)

    # Finish: the button seals the record and shows where it is, with the verdict.
    finish_button = finish.get_by_role("button", name="Finish and write the record")
    expect(
        finish_button.or_(finish.locator(".runbook-record"))
    ).to_be_visible()  # button (JupyterLab) or sealed
    if finish_button.count():
        finish_button.click()
    record_view = finish.locator(".runbook-record")
    expect(record_view).to_be_visible()
    expect(record_view).to_contain_text("failed")
    expect(record_view).to_contain_text("1-2")
    ui.shot("finished", focus=record_view)
    run_dir = Path(record_view.locator("code").inner_text().strip())
    outputs = ui.page.locator(".jp-Cell-outputArea").all_inner_texts()
    assert not any("Traceback" in text for text in outputs), outputs

    # record.html opens with the run's header; the failed step shows no success badge.
    page = ui.page.context.new_page()
    page.goto((run_dir / "record.html").as_uri())
    header = page.locator(".runbook-record-header")
    expect(header).to_contain_text("failed")
    expect(header).to_contain_text(OPERATOR)
    expect(header).to_contain_text("greeting = hello")
    expect(page.locator('.runbook-status.runbook-succeeded[data-step="1-2"]')).to_have_count(0)
    record_shot = ui.artifacts / "record-html.png"
    page.screenshot(path=str(record_shot))
    page.close()
    if os.environ.get("RUNBOOK_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(record_shot, DOCS_RECORD_SCREENSHOT)

    # The record on disk: outputs of the steps, every tick with operator and time.
    assert run_dir.parent.parent == jupyter_lab.records, run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    record = (run_dir / "record.ipynb").read_text(encoding="utf-8")
    assert "hello from step one" in record and "boom" in record
    assert manifest["status"] == "failed", manifest["status"]
    assert manifest["parameters"] == {"greeting": "hello"}, manifest["parameters"]
    checks = {check["id"]: check for check in manifest["checks"]}
    ticked = {"prerequisites-1.1", "prerequisites-1.2", "1-1.verify.1"}
    assert ticked <= set(checks), checks
    for check in checks.values():
        if check["checked"]:
            assert check["by"] == OPERATOR and check["at"], check
    assert all(checks[item]["checked"] for item in ticked), checks

    # Reopened in JupyterLab, the record shows the steps' outputs and who ticked what.
    shutil.copyfile(run_dir / "record.ipynb", jupyter_lab.root / "record.ipynb")
    ui.open_notebook("record.ipynb")
    reopened = ui.page.locator(".jp-NotebookPanel:visible .jp-Cell-outputArea")
    expect(reopened.filter(has_text="hello from step one")).to_have_count(1)
    expect(reopened.filter(has_text="boom")).to_have_count(1)
    expect(reopened.filter(has_text="The greeting was printed")).to_contain_text(OPERATOR)
    ui.shot("record-reopened", focus=reopened.filter(has_text="The operator is logged in"))


def _shown_once(ui, list_id: str, text: str) -> None:
    """A checklist is one output (checkboxes), its text nowhere else but a blocked step's note."""
    from playwright.sync_api import expect

    cell = ui.checklist_cell(list_id)
    expect(cell).to_have_count(1)
    expect(cell.locator(".jp-OutputArea-child")).to_have_count(1)
    showing = ui.page.locator(".jp-CodeCell").filter(
        has=ui.page.locator(".jp-Cell-outputArea", has_text=text)
    )
    steps = showing.filter(has=ui.page.locator(".runbook-status"))  # a blocked step names items
    expect(showing).to_have_count(steps.count() + 1)
    expect(ui.page.locator(".runbook-checklist-state:visible")).to_have_count(0)
