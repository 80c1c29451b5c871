"""JupyterLab: a kernel restart continues the same operator session, in the same record.

A real kernel is driven through jupyter_client (as in test_interactive_record.py):
step 1-1 exports a variable and changes directory, its checklist is ticked, then
the kernel is restarted. "Run All" in the new kernel continues the same record:
the setup cell says what already succeeded and what is next, 1-1 is not run again
without asking, the tick stays a fact of the first kernel, and 1-2 sees the
variable and the directory. ``records list`` meanwhile shows it running, never
seals it as abandoned.
"""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest
from test_interactive_record import (
    TICK,
    Kernel,
    code_cells,
    role,
    runbook_cli,
    stdout_of,
)

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, write_notebook
from converter.records.journal import read_journal

pytestmark = pytest.mark.integration

RUNBOOK = """
    ---
    id: interactive-resume
    lang: en
    ---

    # Runbook: Interactive resume

    ## Procedure

    #### 1-1. First

    ```bash
    mkdir -p sub && cd sub
    export CARRIED_VALUE="kept-across-restart"
    echo ran >> ../first.count
    echo "first step done"
    ```

    **Expected result**:

    ```text {match=contains}
    first step done
    ```

    **Verify**:
    - [ ] The first step ran

    #### 1-2. Second

    ```bash
    echo "value=$CARRIED_VALUE dir=$(pwd)"
    ```
"""


def texts(messages: list[dict]) -> str:
    parts = [stdout_of(messages)]
    for m in messages:
        data = m["content"].get("data") or {}
        parts.append(str(data.get("text/plain", "")))
    return "\n".join(parts)


def test_kernel_restart_continues_the_same_record(tmp_path):
    source = tmp_path / "resume.md"
    source.write_text(textwrap.dedent(RUNBOOK).lstrip(), encoding="utf-8")
    notebook = tmp_path / "resume.ipynb"
    write_notebook(build_notebook(parse_file(source), source_name=source.name), notebook)
    records = tmp_path / "records"
    cells = code_cells(nbformat.read(notebook, as_version=4))
    kernel = Kernel(tmp_path, notebook, records)
    try:
        for cell in cells:
            reply, _ = kernel.execute(cell.source)
            assert reply["status"] == "ok", (role(cell), reply)
            if role(cell)[0] == "checklist":
                break
        reply, _ = kernel.execute(TICK)
        assert reply["status"] == "ok", reply
        (journal,) = records.glob("*/*/journal.jsonl")
        first_pid = next(e["pid"] for e in read_journal(journal) if e["event"] == "session_start")

        kernel.manager.restart_kernel(now=True)  # the operator's "Restart Kernel"
        kernel.client.wait_for_ready(timeout=120)

        shown = []
        for cell in cells:  # "Run All" in the new kernel
            reply, messages = kernel.execute(cell.source)
            assert reply["status"] == "ok", (role(cell), reply)
            shown.append((role(cell), texts(messages)))
            if role(cell)[0] == "setup":
                listed = runbook_cli("records", "list", "--json", "--records", records)
                rows = json.loads(listed.stdout)
                assert [r["status"] for r in rows] == ["running"], rows
    finally:
        kernel.shutdown()

    assert list(records.glob("*/*/journal.jsonl")) == [journal]  # one record per session
    record = journal.parent
    setup = next(text for r, text in shown if r[0] == "setup")
    assert f"Continuing run {record.name}: already succeeded: 1-1; next: 1-2" in setup
    second = next(text for r, text in shown if r == ("step", "1-2"))
    assert f"value=kept-across-restart dir={tmp_path / 'sub'}" in second
    assert (tmp_path / "first.count").read_text().splitlines() == ["ran"]

    events = read_journal(journal)
    assert [e["step"] for e in events if e["event"] == "step_start"] == ["1-1", "1-2"]
    resumed = [e for e in events if e["event"] == "session_resume"]
    assert resumed and resumed[0]["pid"] != first_pid
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "succeeded", manifest.get("failure")
    assert {s["id"]: s["status"] for s in manifest["steps"]} == {
        "1-1": "succeeded",
        "1-2": "succeeded",
    }
    (check,) = manifest["checks"]
    tick = next(e for e in events if e["event"] == "check")
    assert check["checked"] and check["at"] == tick["at"] and tick["via"] == "widget"
    verified = runbook_cli("records", "verify", "--all", "--records", records)
    assert verified.returncode == 0, verified.stdout
