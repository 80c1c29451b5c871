"""record.html's common cells written by ``records.pagecells``: the page the template makes.

The fast markup must be invisible: every page is compared, byte for byte, with the page the
``lab`` template's own blocks make of the same notebook (``fast_cells=False``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from test_record_html import _record

from converter.records import pagecells
from converter.records.nbpage import export_page
from converter.records.outputs import status_bundle
from converter.records.pagecells import heading_markup

REPO = Path(__file__).resolve().parents[2]


def _both(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """(the page with the fast markup, the page through the template's blocks only)."""
    kw = {"title": "t", "header_html": "<b>header</b>"}
    return export_page(nb, **kw), export_page(nb, fast_cells=False, **kw)


def _notebook(cells: list) -> nbformat.NotebookNode:
    for k, cell in enumerate(cells):
        cell.id = f"cell-{k}"
    return new_notebook(cells=cells, metadata={})


def test_a_record_with_every_kind_of_output_and_hostile_text():
    fast, blocks = _both(_record())
    assert fast == blocks


def test_sealed_records_and_converted_runbooks():
    notebooks = sorted((REPO / "tests" / "data").rglob("*.ipynb"))
    assert len(notebooks) >= 5
    for path in notebooks:
        fast, blocks = _both(nbformat.read(path, as_version=4))
        assert fast == blocks, path


def test_each_shape_the_fast_markup_writes():
    edged = "\n  <b>&amp; \x1b[31mred\x1b[0m</b>\t\n"
    cells = [
        new_markdown_cell(f"## {edged}", metadata={"tags": ["a<b", "c"]}),
        new_markdown_cell(edged + "![i](files/a.png)"),
        new_markdown_cell(""),
        new_code_cell(edged, execution_count=0, metadata={"tags": ["t&1"]}),
        new_code_cell(
            "",
            outputs=[
                new_output("stream", name="stdout", text=edged),
                new_output("stream", name="stderr", text=edged),
                new_output("display_data", data={"text/plain": edged}),
                new_output("display_data", data={"text/html": edged, "text/plain": "x"}),
                new_output("display_data", data=dict(status_bundle("1-1", edged, "failed", edged))),
            ],
        ),
    ]
    fast, blocks = _both(_notebook(cells))
    assert fast == blocks


def test_a_notebook_of_nbformat_4_4_has_no_cell_ids():
    nb = _notebook([new_markdown_cell("## Hello"), new_code_cell("x", execution_count=1)])
    nb.nbformat_minor = 4
    for cell in nb.cells:
        del cell["id"]
    fast, blocks = _both(nb)
    assert fast == blocks and "cell-id=cell-" not in fast  # (the header cell has one)


def test_the_fast_markup_is_what_renders_steps_and_headings(monkeypatch):
    """Else the comparisons above would hold trivially."""
    written = []
    call = pagecells.CellMarkup.__call__

    def spy(self, cell):
        markup = call(self, cell)
        written.append((cell["id"], markup is not None))
        return markup

    monkeypatch.setattr(pagecells.CellMarkup, "__call__", spy)
    export_page(_record(), title="t", header_html=None)
    fast = {cell_id for cell_id, done in written if done}
    # the heading, the step with streams and a status line, the step without outputs
    assert {"cell-0", "cell-1", "cell-4"} <= fast
    # an execute result with an image and an error; hidden plumbing; a raw cell
    assert not fast & {"cell-2", "cell-3", "cell-5"}


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_tags = st.lists(st.text("ab<&\"' _-", min_size=1, max_size=4), max_size=2, unique=True)
_output = st.one_of(
    st.builds(
        lambda t, name: new_output("stream", name=name, text=t),
        _text,
        st.sampled_from(["stdout", "stderr"]),
    ),
    st.builds(lambda t: new_output("display_data", data={"text/plain": t}), _text),
    st.builds(
        lambda t: new_output("display_data", data={"text/html": t, "text/plain": "x"}), _text
    ),
    st.builds(
        lambda t, s: new_output("display_data", data=dict(status_bundle("1-1", t, s, t))),
        _text,
        st.sampled_from(["succeeded", "failed", "skipped", "running"]),
    ),
    st.builds(
        lambda t: new_output("execute_result", data={"text/plain": t}, execution_count=1), _text
    ),
)
_cell = st.one_of(
    st.builds(
        lambda t, level, tags: new_markdown_cell(f"{'#' * level} {t}", metadata={"tags": tags}),
        _text,
        st.integers(1, 6),
        _tags,
    ),
    st.builds(lambda t: new_markdown_cell(t), _text),
    st.builds(
        lambda source, count, outputs, tags: new_code_cell(
            source, execution_count=count, outputs=outputs, metadata={"tags": tags}
        ),
        _text,
        st.one_of(st.none(), st.integers(0, 10**6)),
        st.lists(_output, max_size=3),
        _tags,
    ),
    st.builds(lambda t: new_raw_cell(t), _text),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_cell, min_size=1, max_size=6))
def test_any_mix_of_cells_renders_the_same_both_ways(cells):
    fast, blocks = _both(_notebook(cells))
    assert fast == blocks


def _mistune(source: str) -> str:
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments={}, anchor_link_text="¶")
    return MarkdownWithMath(renderer=renderer).render(source)


# Words and the marks a plain heading may hold, around at most one piece Markdown reads
# (so that the fast path is tried on it, and must refuse it).
_plain = st.lists(
    st.sampled_from(
        ["a", "Z9", "手順", "é", "𠀀", " ", ".", ",", "(", ")", "?", "!", "+", "%", "-"]
    ),
    max_size=6,
).map("".join)
_PIECES = (
    ["*a*", "_a_", "`a`", "~~a~~", "$a$", "[a](b)", "<b>a</b>", "\\*", "a  \nb", "*", "_"]
    + ["[", "]", "<", ">", "&", "\\", "'", '"', "$", "|", "#", ":", "/", "=", "http://x"]
    + ["www.x", "&amp;", "\t", "\n", "\u0301", "\u00a0", "  ", "~"]
)
_markdown_piece = st.sampled_from(["", *_PIECES])
_heading_text = st.tuples(_plain, _markdown_piece, _plain).map("".join).filter(bool)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 7), _heading_text)
def test_a_plain_heading_is_written_as_mistune_and_nbconvert_write_it(level, text):
    source = "#" * level + " " + text
    written = heading_markup(source)
    if written is not None:
        assert written == _mistune(source)


def test_step_headings_are_plain():
    for source in ["#### 1-2. Restart the primary", "### フェーズ1 (準備)", "## 100% done!"]:
        assert heading_markup(source) == _mistune(source)
    for source in ["#### 1-2. `psql` check", "## a_b", "## x  y", "## http://x", "####### x"]:
        assert heading_markup(source) is None
    for piece in _PIECES:  # each piece Markdown reads, alone and between words
        for source in (f"## {piece}", f"## x {piece} y", f"## x{piece}y"):
            written = heading_markup(source)
            assert written is None or written == _mistune(source), source


def test_a_disposable_notebook_is_rendered_without_a_copy(monkeypatch):
    nb = _record()
    kept = copy.deepcopy(nb)
    page = export_page(kept, title="t", header_html="<b>h</b>")
    assert kept == nb  # not disposable: unchanged
    copies = []
    deepcopy = nbformat.NotebookNode.__deepcopy__

    def counted(self, memo):
        copies.append(self)
        return deepcopy(self, memo)

    monkeypatch.setattr(nbformat.NotebookNode, "__deepcopy__", counted)
    assert export_page(nb, title="t", header_html="<b>h</b>", disposable=True) == page
    assert not copies
    export_page(_record(), title="t", header_html="<b>h</b>")
    assert copies  # the spy sees the copy a notebook that is not disposable gets


@pytest.mark.parametrize("key", ["include_markdown", "include_input_prompt", "include_output"])
def test_other_page_settings_leave_every_cell_to_the_template(key):
    shown = dict.fromkeys(pagecells.SHOWN, True)
    assert pagecells.applies({"global_content_filter": shown})
    assert not pagecells.applies({"global_content_filter": {**shown, key: False}})
    assert not pagecells.applies({"global_content_filter": shown, "should_sanitize_html": True})


def test_a_second_page_in_a_process_compiles_no_template(monkeypatch):
    """Each page's exporter made a Jinja environment that compiled the lab templates again."""
    import jinja2

    export_page(_record(), title="t", header_html=None)  # the process's first page
    compiled = []
    compile_ = jinja2.Environment.compile

    def counted(self, *args, **kw):
        compiled.append(args[1] if len(args) > 1 else kw.get("name"))
        return compile_(self, *args, **kw)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    fast, blocks = _both(_record())
    assert fast == blocks and not compiled
