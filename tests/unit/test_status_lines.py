"""A sealed record's step status lines are the verdict's (converter/records/statuslines.py).

Headless, the kernel sends no status line when a step ends; sealing writes each executed
step's line from the verdict, and replaces a line the kernel left behind (``running``, when
it was killed mid-step), so the notebook says what the manifest says.
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_notebook, new_output

from converter.records.mask import SecretMasker
from converter.records.outputs import is_status_line, status_bundle
from converter.records.statuslines import settle_status_lines
from converter.records.verdict import Verdict

SECRET = "hunter2-secret-value"


def _step(step_id: str, kind: str = "procedure", outputs: list | None = None):
    cell = new_code_cell(f"%%step {step_id}\ntrue")
    cell.metadata["runbook"] = {"role": "step", "step_id": step_id, "kind": kind}
    cell.outputs = outputs or []
    return cell


DECLARED = [
    {"id": "1-1", "title": "First", "kind": "procedure"},
    {"id": "1-2", "title": "Second", "kind": "procedure"},
    {"id": "1-3", "title": "Manual", "kind": "procedure"},
    {"id": "rollback-1", "title": "Undo", "kind": "rollback"},
]


def _notebook(*cells):
    return new_notebook(cells=list(cells))


def _lines(cell) -> list[str]:
    return [o["data"]["text/plain"] for o in cell.outputs if is_status_line(o)]


def _line(step_id: str, title: str, status: str, detail: str = ""):
    return new_output("display_data", data=status_bundle(step_id, title, status, detail))


def test_each_executed_step_gets_the_verdicts_line_after_its_output():
    printed = new_output("stream", name="stdout", text="hello\n")
    nb = _notebook(_step("1-1", outputs=[printed]), _step("1-2"))
    verdict = Verdict(
        "failed",
        "1-2",
        "exited with status 3",
        {
            "1-1": {"status": "succeeded", "exit_code": 0, "duration_s": 0.5},
            "1-2": {"status": "failed", "exit_code": 3, "duration_s": 1.25, "reason": "exit 3"},
        },
    )
    settle_status_lines(nb, DECLARED, verdict, None, SecretMasker([]))
    first, second = nb.cells
    assert first.outputs[0] is printed  # the output stays first, the line follows it
    assert _lines(first) == ["✅ [1-1] First: succeeded (exit 0, 0.50 s)"]
    assert _lines(second) == ["❌ [1-2] Second: failed (1.25 s, exit 3)"]
    assert 'data-step="1-2"' in second.outputs[-1]["data"]["text/html"]


def test_a_stale_running_line_is_replaced_in_place_by_the_verdict():
    """A kernel killed mid-step left ``running``; the manifest says the step failed."""
    printed = new_output("stream", name="stdout", text="partial\n")
    cell = _step("1-1", outputs=[_line("1-1", "First", "running"), printed])
    nb = _notebook(cell)
    died = "the kernel died while the step was running"
    settle_status_lines(
        nb,
        DECLARED,
        Verdict("failed", "1-1", died, {"1-1": {"status": "failed", "reason": died}}),
        None,
        SecretMasker([]),
    )
    assert _lines(cell) == [f"❌ [1-1] First: failed ({died})"]
    assert cell.outputs[0]["output_type"] == "display_data" and cell.outputs[1] is printed


def test_steps_that_did_not_run_keep_what_the_kernel_showed():
    skipped = _line("1-3", "Manual", "manual", "run it by hand")
    nb = _notebook(_step("1-3", outputs=[skipped]), _step("1-2"))
    verdict = Verdict(
        "succeeded",
        steps={"1-3": {"status": "manual", "reason": "manual"}, "1-2": {"status": "not_run"}},
    )
    settle_status_lines(nb, DECLARED, verdict, None, SecretMasker([]))
    assert nb.cells[0].outputs == [skipped]
    assert nb.cells[1].outputs == []


def test_rollback_cells_take_the_rollback_verdict_when_it_ran_in_the_same_notebook():
    nb = _notebook(_step("1-1"), _step("rollback-1", kind="rollback"))
    procedure = Verdict(
        "failed", "1-1", "boom", {"1-1": {"status": "failed", "exit_code": 1, "reason": "boom"}}
    )
    rollback = Verdict("succeeded", steps={"rollback-1": {"status": "succeeded", "exit_code": 0}})
    settle_status_lines(nb, DECLARED, procedure, rollback, SecretMasker([]))
    assert _lines(nb.cells[1]) == ["✅ [rollback-1] Undo: succeeded (exit 0)"]
    # a headless record.ipynb: its rollback pass ran in rollback.ipynb, not here
    nb = _notebook(_step("1-1"), _step("rollback-1", kind="rollback"))
    settle_status_lines(nb, DECLARED, procedure, None, SecretMasker([]))
    assert _lines(nb.cells[1]) == []


def test_a_secret_in_a_reason_never_reaches_the_line():
    nb = _notebook(_step("1-1"))
    reason = f"expected result not found: {SECRET}"
    verdict = Verdict("failed", "1-1", reason, {"1-1": {"status": "failed", "reason": reason}})
    settle_status_lines(nb, DECLARED, verdict, None, SecretMasker([SECRET]))
    data = nb.cells[0].outputs[-1]["data"]
    assert data and all(SECRET not in text for text in data.values())


def test_a_carried_step_reads_and_is_classed_as_succeeded():
    """The class attribute held the whole ``succeeded (in RUN)``: three class words."""
    from converter.records.outputs import status_bundle
    from converter.records.verdict import carried_status

    bundle = status_bundle("1-1", "Unpack", carried_status("20261130T090928Z-98a6b34d"), "")
    assert 'class="runbook-status runbook-succeeded" ' in bundle["text/html"]
    assert "#1a7f37" in bundle["text/html"] and bundle["text/plain"].startswith("✅ [1-1]")
    assert "succeeded (in 20261130T090928Z-98a6b34d)" in bundle["text/plain"]
