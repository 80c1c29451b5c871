"""``records.nbjson.notebook_json`` writes what ``nbformat.v4.writes`` writes, byte for byte."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook
from converter.records.nbjson import notebook_file_text, notebook_json

REPO = Path(__file__).resolve().parents[2]


def _same(nb) -> None:
    before = copy.deepcopy(nb)
    assert notebook_json(nb) == nbformat.v4.writes(nb)
    assert nb == before  # neither changes the notebook in memory


def test_converted_runbooks():
    for source in sorted((REPO / "templates").glob("*.md")):
        _same(build_notebook(parse_file(source), source_name=str(source)))


def test_sealed_records_with_their_outputs():
    records = sorted((REPO / "tests" / "data").rglob("*.ipynb"))
    assert records
    for path in records:
        _same(nbformat.read(path, as_version=4))


def test_every_kind_of_output_attachment_and_transient_field():
    cell = new_code_cell("print(1)\nprint(2)\r\nlast")
    cell.metadata["trusted"] = True
    cell.metadata["runbook"] = {"step_id": "1-1"}
    cell.outputs = [
        new_output("stream", name="stdout", text="a\nb\n"),
        new_output("stream", name="stderr", text=["already\n", "split"]),
        new_output(
            "display_data",
            data={
                "text/html": "<b>x</b>\n<i>y</i>",
                "text/plain": "x\ny",
                "image/svg+xml": "<svg>\n</svg>",
                "application/javascript": "a;\nb;",
                "application/json": {"k": ["v\nw"]},
                "application/vnd.custom+json": {"a": 1},
                "image/png": "iVBORw0KGgo=\n",
            },
            metadata={"isolated": True},
        ),
        new_output("execute_result", data={"text/plain": "1\n2"}, execution_count=3),
        new_output("error", ename="E", evalue="boom", traceback=["line 1", "line 2"]),
    ]
    markdown = new_markdown_cell("# Title\n\n![x](attachment:x.png)")
    markdown.attachments = {"x.png": {"image/png": "AAAA\nBBBB", "text/plain": "a\nb"}}
    nb = new_notebook(cells=[markdown, cell, new_code_cell("")])
    nb.metadata.update(orig_nbformat=3, orig_nbformat_minor=0, signature="sha256:x", title="日本語")
    _same(nb)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), max_size=4),
    st.text(max_size=30),
)
def test_any_text(sources, printed):
    cells = []
    for text in sources:
        cell = new_code_cell(text)
        cell.outputs = [
            new_output("stream", name="stdout", text=printed),
            new_output("display_data", data={"text/plain": printed, "text/html": text}),
        ]
        cells += [cell, new_markdown_cell(text)]
    _same(new_notebook(cells=cells))


def test_the_file_text_is_what_nbformat_write_puts_in_a_file(tmp_path):
    for path in sorted((REPO / "tests" / "data").rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(nb, tmp_path / "written.ipynb")
        assert notebook_file_text(nb) == (tmp_path / "written.ipynb").read_text(encoding="utf-8")
