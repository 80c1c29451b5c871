"""Four eyes in JupyterLab (issue 10): blocked until the plan is approved, then it runs.

The operator opens a runbook that needs a Reviewer and an Approver and runs it:
the tool check runs, the first procedure step is blocked and shows the roles,
what is missing and the command to make a plan. Alice and Bob approve a plan
made from the same runbook (real ssh keys, the real CLI); the operator pastes
the plan id into the parameters cell and runs again: the step runs, and the
record keeps both approvals.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from clitools import run_runbook
from sshkeys import allowed_signers, make_key, require_ssh_keygen

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUNBOOK = textwrap.dedent(
    """\
    ---
    id: browser-approvals
    lang: en
    ---

    # Runbook: Browser approvals

    ## Prerequisites

    ```bash
    echo "tool check ran"
    ```

    ## Procedure

    #### 1-1. Change something

    ```bash
    echo "the change ran"
    ```

    ## Approval

    - [ ] Operator: the person who runs
    - [ ] Reviewer: reads the plan
    - [ ] Approver: signs off
    """
)

SET_PLAN = """(plan) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cell = panel.content.widgets.find(
        c => c.model.type === 'code' && /^plan = /m.test(c.model.sharedModel.getSource()));
    const source = cell.model.sharedModel.getSource();
    cell.model.sharedModel.setSource(source.replace(/^plan = .*$/m, `plan = "${plan}"`));
}"""


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    require_ssh_keygen()
    folder = tmp_path / "keys"
    folder.mkdir()
    made = {name: make_key(folder, name) for name in ("alice", "bob")}
    trusted = allowed_signers(folder, *made.values(), namespaces="runbook-approval")
    return {**made, "allowed": trusted}


@pytest.fixture
def lab_env(keys: dict[str, Path]) -> dict[str, str]:
    return {"RUNBOOK_ALLOWED_SIGNERS": str(keys["allowed"])}


def _cli(*args: object, cwd: Path) -> str:
    done = run_runbook(*args, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_blocked_until_the_plan_is_approved_then_runs(jupyter_lab, lab_page, keys):
    from playwright.sync_api import expect

    source = jupyter_lab.root / "browser-approvals.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    write_notebook(
        build_notebook(parse_file(source), source_name=source.name),
        jupyter_lab.root / "browser-approvals.ipynb",
    )
    ui = lab_page
    ui.open_notebook("browser-approvals.ipynb")
    ui.run_all()

    tool, step = ui.step_cell("pre-1"), ui.step_cell("1-1")
    expect(tool.locator('.runbook-status.runbook-succeeded[data-step="pre-1"]')).to_be_visible()
    expect(step.locator('.runbook-status.runbook-blocked[data-step="1-1"]')).to_be_visible()
    view = step.locator('.runbook-approvals[data-complete="false"]')
    expect(view).to_contain_text("Reviewer")
    expect(view).to_contain_text("Approver")
    expect(view.locator('tr[data-approved="false"]')).to_have_count(2)
    expect(view).to_contain_text("runbook plan browser-approvals.ipynb")
    assert "the change ran" not in step.locator(".jp-Cell-outputArea").inner_text()
    ui.shot("blocked-without-plan", focus=step)

    records = jupyter_lab.records
    plan = _cli("plan", source, "--records", records, cwd=jupyter_lab.root).splitlines()[-1]
    for role, who in (("Reviewer", "alice"), ("Approver", "bob")):
        signers = ("--allowed-signers", keys["allowed"])
        _cli("approve", plan, "--role", role, "--key", keys[who], *signers, "--records", records,
             cwd=jupyter_lab.root)  # fmt: skip

    ui.page.evaluate(SET_PLAN, plan)  # the operator pastes the plan id into the parameters cell
    ui.run_all()

    expect(step.locator('.runbook-status.runbook-succeeded[data-step="1-1"]')).to_be_visible()
    expect(step.locator(".jp-Cell-outputArea")).to_contain_text("the change ran")
    approvals = ui.role_cells('.runbook-approvals[data-complete="true"]')
    expect(approvals).to_have_count(1)  # the approval list's cell: who approved, nothing missing
    expect(approvals.locator('tr[data-approved="true"]')).to_have_count(2)
    expect(approvals).to_contain_text("approved by alice")
    expect(approvals).to_contain_text("approved by bob")
    assert not ui.page.locator(".runbook-checklist-approval input[type=checkbox]").count()
    ticked = ui.page.locator('.runbook-checklist-state[data-list="approval"] li')
    expect(ticked.filter(has_text="Reviewer")).to_contain_text("alice")
    expect(ticked.filter(has_text="Operator")).to_have_attribute("data-checked", "true")
    ui.shot("approved-and-run", focus=approvals)

    (kept,) = records.glob("browser-approvals/*/approvals.json")
    assert {(a["principal"], a["role"], a["valid"]) for a in json.loads(kept.read_text())} == {
        ("alice", "Reviewer", True),
        ("bob", "Approver", True),
    }
    journal = (kept.parent / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in journal]
    assert [e["step"] for e in events if e["event"] == "step_start"] == ["pre-1", "1-1"]
    assert any(e["event"] == "approvals" and e["plan"] == plan for e in events)
