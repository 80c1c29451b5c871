"""JupyterLab in headless Chromium: a kernel restart continues the same operator session.

The operator ticks the gate, runs step 1-1 (it exports a variable and changes
directory), ticks its Verify list, then restarts the kernel. Run All in the new
kernel says which steps already succeeded and which one is next, does not run 1-1
again without asking, and 1-2 sees the variable and the directory — all in the
one record the session started.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUNBOOK = textwrap.dedent(
    """\
    ---
    id: browser-resume
    lang: en
    ---

    # Runbook: Browser resume

    ## Prerequisites

    - [ ] The maintenance window is open

    ## Procedure

    #### 1-1. Prepare

    ```bash
    mkdir -p work && cd work
    export RELEASE="release-42"
    echo ran >> ../prepare.count
    echo "prepared"
    ```

    **Expected result**:

    ```text {match=contains}
    prepared
    ```

    **Verify**:
    - [ ] The work directory exists

    #### 1-2. Use it

    ```bash
    echo "release=$RELEASE in $(basename "$(pwd)")"
    ```
    """
)

RESTART = """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()"""


def test_kernel_restart_continues_the_session(jupyter_lab, lab_page):
    from playwright.sync_api import expect

    source = jupyter_lab.root.parent / "browser-resume.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    write_notebook(
        build_notebook(parse_file(source), source_name=source.name),
        jupyter_lab.root / "browser-resume.ipynb",
    )
    ui = lab_page
    ui.open_notebook("browser-resume.ipynb")
    ui.run_all()
    ui.tick("prerequisites-1.1")
    ui.run_all()
    step1, step2 = ui.step_cell("1-1"), ui.step_cell("1-2")
    expect(step1.locator('.runbook-status.runbook-succeeded[data-step="1-1"]')).to_be_visible()
    expect(step2.locator('.runbook-status.runbook-blocked[data-step="1-2"]')).to_be_visible()
    ui.tick("1-1.verify.1")
    (journal,) = jupyter_lab.records.glob("*/*/journal.jsonl")

    ui.page.evaluate(RESTART)  # the operator's Kernel > Restart Kernel
    ui.page.wait_for_timeout(1000)
    ui.wait_idle()
    ui.run_all()

    setup = ui.page.locator(".runbook-continuation")
    expect(setup).to_contain_text(f"Continuing run {journal.parent.name}")
    expect(setup).to_contain_text("already succeeded: 1-1; next: 1-2")
    expect(step1.get_by_role("button")).to_be_visible()  # run again only when asked
    expect(step2.locator('.runbook-status.runbook-succeeded[data-step="1-2"]')).to_be_visible()
    expect(step2.locator(".jp-Cell-outputArea")).to_contain_text("release=release-42 in work")
    ui.shot("continued-after-restart", focus=setup)

    assert list(jupyter_lab.records.glob("*/*/journal.jsonl")) == [journal]  # one record
    assert (jupyter_lab.root / "prepare.count").read_text().splitlines() == ["ran"]
    events = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert [e["step"] for e in events if e["event"] == "step_start"] == ["1-1", "1-2"]
    assert any(e["event"] == "session_resume" for e in events)
