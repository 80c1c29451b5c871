"""Interactive runs make records too.

A real kernel is driven through jupyter_client, as JupyterLab would.

The notebook is converted from a small runbook (two steps, a verify checklist
between them) and its code cells are executed one by one in a kernel started with
``RUNBOOK_RECORDS`` and ``RUNBOOK_NOTEBOOK`` set. The gate refuses the second step
until the checkbox is ticked — by setting the ipywidgets ``Checkbox`` value in the
kernel, which fires the same observer a click in the browser does. The finish cell
then seals the record; an abandoned run (kernel shut down before finish) is sealed
as ``interrupted`` by ``records list``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from evidence import disagreements
from jupyter_client import KernelManager

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, write_notebook
from converter.records.journal import read_journal

pytestmark = pytest.mark.integration

CELL_TIMEOUT_S = 120
OPERATOR = "carol-interactive"

RUNBOOK = """
    ---
    id: interactive-demo
    lang: en
    ---

    # Runbook: Interactive record

    ## Procedure

    #### 1-1. First

    ```bash
    echo "first-step-output-marker"
    ```

    **Verify**:
    - [ ] The first marker was printed

    #### 1-2. Second

    ```bash
    echo "second-step-output-marker"
    ```
"""

TICK = """
import json
import ipywidgets
from ipywidgets.widgets import widget as _widget_module

_all = getattr(_widget_module, "_instances", None)
if _all is None:
    _all = ipywidgets.Widget.widgets
_panel = next(w for w in list(_all.values())
              if isinstance(w, ipywidgets.VBox)
              and "runbook-checklist-1-1-verify" in w._dom_classes)
_row = next(r for r in _panel.children if "runbook-check-row" in r._dom_classes)
_box, _label = _row.children
_box.value = True
print(json.dumps({"description": _label.value, "value": _box.value}))
"""


def runbook_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    child.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "converter", *map(str, args)],
        env=child,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Kernel:
    """A real ipykernel with the environment JupyterLab would give it for this notebook."""

    def __init__(self, work: Path, notebook: Path, records: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "JPY_"))}
        env.update(
            RUNBOOK_RECORDS=str(records), RUNBOOK_NOTEBOOK=str(notebook), RUNBOOK_OPERATOR=OPERATOR
        )
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(work))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=CELL_TIMEOUT_S)

    def execute(self, code: str) -> tuple[dict, list[dict]]:
        """Run one cell; (reply content, iopub messages it produced)."""
        messages: list[dict] = []
        reply = self.client.execute_interactive(
            code, timeout=CELL_TIMEOUT_S, output_hook=messages.append
        )
        return reply["content"], messages

    def shutdown(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=False)


def exports(record: Path, records: Path) -> dict[str, str]:
    """``records show`` and the Markdown export, as an auditor would read them."""
    shown = runbook_cli("records", "show", record.name, "--records", records)
    md = runbook_cli("records", "export", record.name, "--format", "md", "--records", records)
    assert shown.returncode == md.returncode == 0, shown.stderr + md.stderr
    return {"show": shown.stdout, "export.md": md.stdout}


def stdout_of(messages: list[dict]) -> str:
    return "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def role(cell: nbformat.NotebookNode) -> tuple[str, str | None]:
    meta = cell.metadata.get("runbook", {})
    return meta.get("role"), meta.get("step_id")


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(str(out.data.get("text/plain", "")) + str(out.data.get("text/html", "")))
    return "\n".join(parts)


@pytest.fixture
def setting(tmp_path):
    source = tmp_path / "interactive.md"
    source.write_text(textwrap.dedent(RUNBOOK).lstrip(), encoding="utf-8")
    notebook = tmp_path / "interactive.ipynb"
    write_notebook(build_notebook(parse_file(source), source_name=source.name), notebook)
    return tmp_path, notebook, tmp_path / "records"


def test_interactive_run_seals_a_complete_record(setting):
    work, notebook, records = setting
    cells = code_cells(nbformat.read(notebook, as_version=4))
    kernel = Kernel(work, notebook, records)
    try:
        ran: list[tuple[str, str | None]] = []
        blocked_at = None
        for index, cell in enumerate(cells):
            reply, _ = kernel.execute(cell.source)
            if reply["status"] == "error":
                assert reply["ename"] == "StepBlocked", reply
                assert "1-1.verify.1" in reply["evalue"]
                blocked_at = index
                break
            ran.append(role(cell))
        assert blocked_at is not None and role(cells[blocked_at]) == ("step", "1-2"), ran
        assert ("step", "1-1") in ran and ("checklist", None) in ran

        reply, messages = kernel.execute(TICK)
        assert reply["status"] == "ok", reply
        ticked = json.loads(stdout_of(messages))
        assert ticked["value"] is True, ticked
        # the label shows the item's Markdown, then who ticked it and when
        assert ticked["description"].startswith("The first marker was printed <small"), ticked
        assert "ticked by carol-interactive at " in ticked["description"], ticked

        for cell in cells[blocked_at:]:  # the refused step again, then everything up to finish
            reply, messages = kernel.execute(cell.source)
            assert reply["status"] == "ok", (role(cell), reply)
        assert role(cells[-1])[0] == "finish"
    finally:
        kernel.shutdown()

    (record,) = [p.parent for p in records.glob("*/*/journal.jsonl")]
    assert record.parent.name == "interactive-demo"
    for name in ("record.ipynb", "record.html", "manifest.json", "journal.jsonl"):
        assert (record / name).is_file(), name
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "succeeded", manifest.get("failure")
    assert manifest["mode"] == "interactive"
    assert manifest["operator"] == OPERATOR
    steps = {s["id"]: s for s in manifest["steps"]}
    assert steps["1-1"]["status"] == steps["1-2"]["status"] == "succeeded"
    assert steps["1-1"]["exit_code"] == steps["1-2"]["exit_code"] == 0
    (check,) = manifest["checks"]
    assert check["id"] == "1-1.verify.1" and check["checked"] is True and check["by"] == OPERATOR
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", check["at"])

    events = read_journal(record / "journal.jsonl")
    kinds = [
        (e["event"], e.get("step") or e.get("id"))
        for e in events
        if e["event"] in ("step_start", "blocked", "check", "session_end")
    ]
    assert kinds == [
        ("step_start", "1-1"),
        ("blocked", "1-2"),
        ("check", "1-1.verify.1"),
        ("step_start", "1-2"),
        ("session_end", None),
    ]
    assert next(e for e in events if e["event"] == "check")["via"] == "widget"

    nb = nbformat.read(record / "record.ipynb", as_version=4)
    by_role = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            by_role.setdefault(role(cell), []).append(outputs_text(cell))
    assert "first-step-output-marker" in by_role[("step", "1-1")][0]
    assert "second-step-output-marker" in by_role[("step", "1-2")][0]
    checklist = by_role[("checklist", None)][0]
    assert (
        "The first marker was printed" in checklist
        and OPERATOR in checklist
        and check["at"] in checklist
    )
    assert nb.metadata["runbook"]["verdict"]["status"] == "succeeded"
    html = (record / "record.html").read_text(encoding="utf-8")
    assert (
        "first-step-output-marker" in html
        and "second-step-output-marker" in html
        and OPERATOR in html
    )

    verified = runbook_cli("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
    assert not disagreements(record, exports(record, records))
    listed = runbook_cli("records", "list", "--json", "--records", records)
    assert [(r["run_id"], r["status"], r["mode"]) for r in json.loads(listed.stdout)] == [
        (record.name, "succeeded", "interactive")
    ]


def test_abandoned_interactive_run_is_interrupted_with_what_was_done(setting):
    work, notebook, records = setting
    cells = code_cells(nbformat.read(notebook, as_version=4))
    kernel = Kernel(work, notebook, records)
    try:
        for cell in cells:
            reply, _ = kernel.execute(cell.source)
            assert reply["status"] == "ok", (role(cell), reply)
            if role(cell) == ("step", "1-1"):
                break
        (journal,) = records.glob("*/*/journal.jsonl")
        pid = next(e["pid"] for e in read_journal(journal) if e["event"] == "session_start")
        alive = runbook_cli("records", "list", "--json", "--records", records)
        assert [r["status"] for r in json.loads(alive.stdout)] == ["running"]
    finally:
        kernel.shutdown()  # no finish: the operator closed the notebook
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    record = journal.parent
    assert not (record / "manifest.json").exists()

    listed = runbook_cli("records", "list", "--json", "--records", records)
    assert listed.returncode == 0, listed.stderr
    assert [(r["run_id"], r["status"]) for r in json.loads(listed.stdout)] == [
        (record.name, "interrupted")
    ]
    shown = runbook_cli("records", "show", record.name, "--records", records)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^status\s+interrupted", shown.stdout, re.MULTILINE), shown.stdout
    assert re.search(r"^\s+1-1\s+succeeded\s+exit 0", shown.stdout, re.MULTILINE), shown.stdout
    assert re.search(r"^\s+1-2\s+not_run", shown.stdout, re.MULTILINE), shown.stdout

    nb = nbformat.read(
        record / "record.ipynb", as_version=4
    )  # rebuilt from the notebook file and the journal
    step = next(c for c in nb.cells if c.cell_type == "code" and role(c) == ("step", "1-1"))
    assert "first-step-output-marker" in outputs_text(step)
    verified = runbook_cli("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
    assert not disagreements(record, exports(record, records))  # recovered: the same story too
