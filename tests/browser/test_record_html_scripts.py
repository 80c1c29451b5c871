"""record.html runs no script, in a real browser, whatever HTML the runbook or an output holds.

A runbook's Markdown may carry raw HTML, and an output may be ``text/html``: an inline
``<script>`` or an ``onerror=`` handler there would run when an auditor opens the record
and could rewrite what the page says. The page's Content-Security-Policy allows no script
and no remote resource; the record itself (styles, images as data: URIs) still shows.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import nbformat
import pytest

from converter.records.html import render_html

pytestmark = [pytest.mark.browser]

# The smallest valid PNG (1x1), as an output image must still show.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b4d3"
        "e50000000049454e44ae426082"
    )
).decode()

HOSTILE = (
    "<script>document.body.dataset.inline = 'ran'</script>\n\n"
    "<img src=x onerror=\"document.body.dataset.handler = 'ran'\">\n\n"
    '<img id="remote" src="{pixel}">'
)


class _Counting(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def hostile_record(pixel: str) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("%%step 1-1\necho ok", execution_count=1)
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="ok\n"),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": "<b id='shown'>done</b><script>document.title = 'rewritten'</script>",
                "text/plain": "done",
            },
        ),
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "img"}),
    ]
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Hostile runbook\n\n" + HOSTILE.format(pixel=pixel)),
            code,
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )


def test_record_html_runs_no_script_and_still_shows_the_record(chromium, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)  # a tracking pixel's host
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pixel = f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
    page_file = tmp_path / "record.html"
    page_file.write_text(render_html(hostile_record(pixel), title="hostile"), encoding="utf-8")
    page = chromium.new_page()
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_load_state("networkidle")
    finally:
        server.shutdown()
        server.server_close()

    dataset = page.evaluate("() => ({...document.body.dataset})")
    assert "inline" not in dataset and "handler" not in dataset, dataset  # neither ran
    assert page.title() == "hostile"  # the output's script did not rewrite the page
    assert _Counting.hits == []  # opening the record reached no server
    assert any("Content Security Policy" in text for text in blocked), blocked
    # The record still reads as one: heading, output text, the HTML output, the image, styles.
    assert page.locator("h1", has_text="Hostile runbook").is_visible()
    assert page.locator("#shown").inner_text() == "done"
    assert page.evaluate("() => document.querySelector('img[src^=\"data:\"]').naturalWidth") == 1
    assert page.evaluate("() => document.styleSheets.length") > 0
    page.close()
