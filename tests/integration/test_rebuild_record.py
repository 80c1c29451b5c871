"""A record notebook rebuilt from the journal keeps every step's output (issue 13).

An operator in JupyterLab may never save the notebook: the finish cell and
recovery rebuild ``record.ipynb`` from the journal. A step failed by its
expected-result check journals a second ``step_end`` without a log; the rebuilt
cell must still show what the step printed, and why it failed.
"""

from __future__ import annotations

import json

import pytest

from converter.records.journal import read_journal
from converter.records.rebuild import record_notebook
from converter.runner.run import load_notebook

pytestmark = pytest.mark.integration

RUNBOOK = """
    ---
    id: rebuild-expect
    lang: en
    ---

    # Runbook: Rebuild an expected-result failure

    ## Procedure

    #### 1-1. Check the service

    ```bash
    echo "status: degraded-output-marker"
    ```

    **Expected result**:
    ```text {match=contains}
    status: ok
    ```
"""


def _texts(cell) -> str:
    parts = []
    for output in cell.outputs:
        parts.append(output.get("text", ""))
        parts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(parts)


def test_a_step_failed_by_its_expected_result_keeps_its_output(
    run_inprocess, write_runbook, tmp_path
):
    source = write_runbook(tmp_path, RUNBOOK, "rebuild.md")
    result = run_inprocess(
        ["run", source, "--records", tmp_path / "records", "--no-progress"], cwd=tmp_path
    )
    assert result.rc == 1, result.stdout + result.stderr
    events = read_journal(result.record_dir / "journal.jsonl")
    ends = [e for e in events if e.get("event") == "step_end" and e.get("step") == "1-1"]
    assert len(ends) == 2 and "log" not in ends[-1], json.dumps(ends)
    for source_nb in (load_notebook(source), None):  # with the generated notebook, and without
        rebuilt = record_notebook(result.record_dir, events, source_nb)
        cells = [
            c
            for c in rebuilt.cells
            if c.cell_type == "code"
            and c.metadata.get("runbook", {}).get("step_id") == "1-1"
            and c.metadata["runbook"].get("role") == "step"
        ]
        assert len(cells) == 1
        shown = _texts(cells[0])
        assert "degraded-output-marker" in shown
        assert "failed" in shown and "status: ok" in shown
