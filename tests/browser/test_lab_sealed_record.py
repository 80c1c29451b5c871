"""A sealed record opened in JupyterLab stays sealed (issue 9): Run All runs nothing.

A headless run seals its record inside the lab's root. The operator opens its
``record.ipynb`` and does Run All: the first cell says, in one line, that this
is a sealed record and which runbook to open instead; no step runs again, no
new record appears, and ``records verify`` still passes (JupyterLab's checkpoint
copies inside a record are notes, never failures).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import run_runbook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUNBOOK = """\
---
id: sealed-demo
lang: en
---

# Runbook: Sealed demo

## Procedure

#### 1-1. Count

```bash
echo ran >> {count}
echo "counted"
```
"""


def _runs(*roots: Path) -> list[Path]:
    return sorted(p.parent for root in roots for p in root.glob("*/*/journal.jsonl"))


def test_run_all_on_a_sealed_record_runs_nothing(jupyter_lab, lab_page):
    from playwright.sync_api import expect

    work = jupyter_lab.root.parent
    count = work / "ran.count"
    source = work / "sealed-demo.md"
    source.write_text(RUNBOOK.format(count=count), encoding="utf-8")
    archive = jupyter_lab.root / "archive"  # inside the lab's root, so the lab can open it
    ran = run_runbook("run", source, "--records", archive, "--no-progress", cwd=work)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (record,) = _runs(archive)
    assert count.read_text().splitlines() == ["ran"]

    ui = lab_page
    notebook = (record / "record.ipynb").relative_to(jupyter_lab.root).as_posix()
    ui.open_notebook(notebook)
    ui.run_all()

    first = ui.page.locator(".jp-CodeCell").first
    error = first.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_contain_text(
        f"this is the sealed record of run {record.name}; it runs nothing"
    )
    expect(error).to_contain_text(f"open {source}")
    lines = [line for line in error.inner_text().splitlines() if line.strip()]
    assert len(lines) == 1, lines  # one line, no traceback
    ui.shot("run-all-refused", focus=first)

    assert count.read_text().splitlines() == ["ran"]  # the step did not run again
    assert _runs(archive, jupyter_lab.records) == [record]  # no new record anywhere
    verified = run_runbook("records", "verify", "--all", "--records", archive, cwd=work)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # JupyterLab's checkpoint (what File > Save writes first) lands inside the record
    ui.page.evaluate("() => window.jupyterapp.shell.currentWidget.context.createCheckpoint()")
    checkpoints = list(record.glob(".ipynb_checkpoints/*"))
    assert checkpoints, "JupyterLab wrote no checkpoint"
    again = run_runbook("records", "verify", "--all", "--records", archive, cwd=work)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ".ipynb_checkpoints" in again.stdout + again.stderr  # reported as a note
