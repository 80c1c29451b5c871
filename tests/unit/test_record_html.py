"""record.html keeps every part of the record, escaped, however it is made cheaper."""

from __future__ import annotations

import gc
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from converter.records.html import render_html
from converter.records.outputs import status_bundle

HOSTILE = "<script>alert(1)</script>"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)
HEADER = {
    "runbook": {"id": "db-failover", "title": f"DB {HOSTILE}"},
    "status": "failed",
    "failure": {"step": "1-2", "reason": "exit 1"},
    "operator": "alice",
    "mode": "headless",
    "started_at": "2024-05-01T10:00:00Z",
    "finished_at": "2024-05-01T10:01:00Z",
    "parameters": {"host": HOSTILE, "password": "***"},
}


def _record() -> nbformat.NotebookNode:
    """Every kind of cell and output a run leaves, with hostile text wherever text goes."""
    step_status = status_bundle("step-1-1", "Step 1-1", "succeeded", "exit 0, 0.01 s")
    cells = [
        new_markdown_cell("#### 1-1. Restart"),
        new_code_cell(
            f"%%step 1-1\necho '{HOSTILE}' && ls | grep x",
            execution_count=1,
            outputs=[
                new_output("stream", name="stdout", text=f"{HOSTILE}\n\x1b[31mred alert\x1b[0m\n"),
                new_output("stream", name="stderr", text=f"warning: {HOSTILE}\n"),
                new_output("display_data", data=dict(step_status)),
            ],
        ),
        new_code_cell(
            f"print('{HOSTILE}')",
            execution_count=2,
            outputs=[
                new_output("execute_result", data={"text/plain": HOSTILE}, execution_count=2),
                new_output("display_data", data={"image/png": PNG, "text/plain": HOSTILE}),
                new_output(
                    "error",
                    ename="ValueError",
                    evalue=HOSTILE,
                    traceback=[f"\x1b[0;31mValueError\x1b[0m: {HOSTILE}", "next & line"],
                ),
            ],
        ),
        new_code_cell(
            "runbook.finish()",
            metadata={"jupyter": {"source_hidden": True}},
            execution_count=3,
            outputs=[new_output("stream", name="stdout", text="plumbing output stays\n")],
        ),
        new_code_cell(f"%%step 1-1\necho '{HOSTILE}' && ls | grep x", execution_count=4),
        new_raw_cell("raw text"),
    ]
    for k, cell in enumerate(cells):
        cell.id = f"cell-{k}"
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
    )


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(_record(), title=f"Record {HOSTILE}", header=HEADER)


def _body(page: str) -> str:
    return page.split("<body", 1)[1]


def test_hostile_text_comes_out_escaped(page: str) -> None:
    body = _body(page)
    assert "alert(1)" in body
    assert HOSTILE not in page  # not in the title, header, sources, streams or outputs
    assert "<script" not in body  # the page has no script of its own either
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<title>Record {escaped}</title>" in page
    # header, stdout, stderr, execute_result, image fallback not shown, error value
    assert body.count(escaped) >= 6


def test_every_part_of_the_record_is_on_the_page(page: str) -> None:
    body = _body(page)
    assert 'class="runbook-record-header" data-status="failed"' in body
    assert "1-2: exit 1" in body and "password = ***" in body
    assert '>1-1. Restart<a class="anchor-link"' in body  # the Markdown heading, rendered
    assert body.count('<div class=" highlight hl-ipython3">') == 3  # step twice, print once
    assert 'data-mime-type="application/vnd.jupyter.stderr"' in body
    assert '<span class="ansi-red-fg">red alert</span>' in body  # ANSI converted
    assert '<span class="ansi-red-fg">ValueError</span>' in body and "next &amp; line" in body
    assert f'src="data:image/png;base64,{PNG}"' in body
    assert "Out[2]:" in body and "In&nbsp;[1]:" in body
    assert "succeeded" in body and "exit 0, 0.01 s" in body  # the step's status line
    assert "plumbing output stays" in body and "runbook.finish()" not in body
    assert 'id="cell-id=cell-4"' in body


def test_identical_step_sources_render_identically(page: str) -> None:
    inputs = re.findall(r'<div class=" highlight hl-ipython3">.*?</div>', page, re.DOTALL)
    assert inputs[0] == inputs[2] and inputs[0] != inputs[1]


def test_rendering_is_deterministic_and_leaves_the_collector_as_it_was(page: str) -> None:
    nb = _record()
    before = nbformat.writes(nb)
    assert render_html(nb, title=f"Record {HOSTILE}", header=HEADER) == page
    assert nbformat.writes(nb) == before
    assert gc.isenabled() and gc.get_freeze_count() == 0
