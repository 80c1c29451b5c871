"""The markup of a record page's common cells, written out instead of walked through Jinja.

nbconvert's ``lab`` template renders each cell through a dozen nested blocks, most of them
``scoped``: every scoped block copies the template's whole context (about fifty names), so
an empty cell costs about 0.05 ms before any of its text is touched, and a step (its heading
and its ``%%step`` cell with a status line) about 0.3 ms, most of a seal's time per step.

:class:`CellMarkup` writes the markup those blocks write, character for character, for the
cells a record is made of: Markdown cells without attachments, and code cells whose source
is shown and whose outputs are streams or ``display_data`` shown as HTML or text. The text
inside the markup goes through the environment's own filters (``escape_html``,
``highlight_code``, ``ansi2html``, ``markdown2html``, ``strip_files_prefix``,
``filter_data_type``). Any other cell (a raw cell, hidden plumbing, an execute result, an
image, an error) returns None, and the page's template renders it through the blocks as
before. ``tests/unit/test_page_cells.py`` holds the two paths to the same page.

It is only correct for the settings the record page uses (every kind of cell and prompt
included, HTML not sanitised): :func:`applies` says whether an exporter's resources are those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["CellMarkup", "applies", "heading_markup"]

_INPUT_HEAD = (
    '<div class="jp-Cell-inputWrapper">\n'
    '<div class="jp-Collapser jp-InputCollapser jp-Cell-inputCollapser">\n'
    "</div>\n"
    '<div class="jp-InputArea jp-Cell-inputArea">'
)
_MARKDOWN_PROMPT = '<div class="jp-InputPrompt jp-InputArea-prompt">\n</div>'
_EDITOR_HEAD = (
    '<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">\n'
    '     <div class="cm-editor cm-s-jupyter">\n'
)
_EDITOR_TAIL = "\n     </div>\n</div>\n</div>\n</div>\n"
_OUTPUTS_HEAD = (
    '\n<div class="jp-Cell-outputWrapper">\n'
    '<div class="jp-Collapser jp-OutputCollapser jp-Cell-outputCollapser">\n'
    "</div>\n\n\n"
    '<div class="jp-OutputArea jp-Cell-outputArea">\n'
)
_OUTPUT_HEAD = (
    '<div class="jp-OutputArea-child">\n'
    "    \n"
    '    <div class="jp-OutputPrompt jp-OutputArea-prompt"></div>\n\n'
)
_STREAM_MIME = {"stdout": "text/plain", "stderr": "application/vnd.jupyter.stderr"}


# A Markdown cell that is one ATX heading of letters, digits, single spaces and a few marks
# that no Markdown rule (emphasis, code, links, URLs, math, entities, HTML) reads: a step's
# heading (``#### 1-2. Restart the primary``, ``### フェーズ1 (準備)``).
_PLAIN_HEADING = re.compile(r"(#{1,6}) ((?:[^\W_]|[.,()?!+%-])+(?: (?:[^\W_]|[.,()?!+%-])+)*)\Z")


def heading_markup(source: str) -> str | None:
    """What nbconvert's Markdown filter makes of a plain heading (else None), without mistune.

    mistune parses the line, nbconvert's ``add_anchor`` parses the heading back with
    ElementTree to add its id and ``¶`` link, and writes it out in ASCII (characters beyond
    it as references): 0.07 ms of the 0.16 a step costs the page. The id is nbconvert's
    ``_convert_header_id``. Only for the default anchor link (``¶``).
    """
    heading = _PLAIN_HEADING.match(source)
    if heading is None:
        return None
    level, text = len(heading.group(1)), heading.group(2)
    anchor = quote(text.replace(" ", "-"), safe="?/:@!$&'()*+,;=")
    shown = text.encode("ascii", "xmlcharrefreplace").decode("ascii")
    return (
        f'<h{level} id="{anchor}">{shown}'
        f'<a class="anchor-link" href="#{anchor}">&#182;</a></h{level}>'
    )


SHOWN = (
    "include_code",
    "include_markdown",
    "include_input",
    "include_output",
    "include_input_prompt",
    "include_output_prompt",
)
"""The parts of a page (nbconvert's ``global_content_filter``) :class:`CellMarkup` writes."""


def applies(resources: Mapping[str, Any]) -> bool:
    """Whether a page with these resources is rendered as :class:`CellMarkup` assumes:
    every kind of cell, input, output and prompt included, HTML not sanitised."""
    shown = resources.get("global_content_filter", {})
    return not resources.get("should_sanitize_html") and all(shown.get(k) for k in SHOWN)


class CellMarkup:
    """One page's cells as the ``lab`` template writes them, through its filters.

    ``markdown(source)`` renders a Markdown cell's source as the template's
    ``markdown2html`` filter does for a cell without attachments.
    """

    def __init__(self, filters: Mapping[str, Callable[..., Any]], markdown: Callable[[str], str]):
        self._escape = filters["escape_html"]
        self._highlight = filters["highlight_code"]
        self._ansi = filters["ansi2html"]
        self._strip_files = filters["strip_files_prefix"]
        self._data_type = filters["filter_data_type"]
        self._markdown = markdown

    def __call__(self, cell: Mapping[str, Any]) -> str | None:
        """The cell's markup, or None when the template must render it."""
        kind = cell.get("cell_type")
        metadata = cell.get("metadata", {})
        if metadata.get("transient", {}).get("remove_source", False) or "id" not in cell:
            return None  # (an nbformat 4.4 cell has no id: the template writes no anchor)
        if kind == "markdown":
            return None if cell.get("attachments") else self._markdown_cell(cell)
        if kind == "code":
            return self._code_cell(cell)
        return None

    def _anchor(self, cell: Mapping[str, Any]) -> str:
        # only cells with an id come here (__call__), and a valid id is never empty
        return f'id="{self._escape("cell-id=" + cell["id"])}"'

    def _tags(self, cell: Mapping[str, Any]) -> str:
        return "".join(self._escape(f" celltag_{tag}") for tag in cell["metadata"].get("tags", ()))

    def _markdown_cell(self, cell: Mapping[str, Any]) -> str:
        rendered = self._strip_files(self._markdown(cell["source"]))
        return (
            f'\n<div {self._anchor(cell)} class="jp-Cell jp-MarkdownCell jp-Notebook-cell">\n'
            f"{_INPUT_HEAD}{_MARKDOWN_PROMPT}"
            '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput '
            f'{self._tags(cell)}" data-mime-type="text/markdown">\n'
            f"{rendered}\n</div>\n</div>\n</div>\n</div>"
        )

    def _code_cell(self, cell: Mapping[str, Any]) -> str | None:
        outputs = []
        for output in cell.get("outputs", ()):
            markup = self._output(output)
            if markup is None:
                return None
            outputs.append(markup)
        count = cell.get("execution_count")
        prompt = "&nbsp;" if count is None else str(count)
        source = self._highlight(cell["source"], metadata=cell["metadata"])
        parts = [
            (
                f'<div {self._anchor(cell)} class="jp-Cell jp-CodeCell jp-Notebook-cell '
                f'{"" if outputs else "jp-mod-noOutputs"}  {self._tags(cell)}">\n'
            ),
            _INPUT_HEAD,
            f'\n<div class="jp-InputPrompt jp-InputArea-prompt">In&nbsp;[{prompt}]:</div>\n',
            _EDITOR_HEAD,
            source,
            _EDITOR_TAIL,
        ]
        if outputs:
            parts += [_OUTPUTS_HEAD, *outputs, "\n</div>\n\n</div>\n"]
        parts.append("\n</div>")
        return "".join(parts)

    def _output(self, output: Mapping[str, Any]) -> str | None:
        kind = output.get("output_type")
        if kind == "stream":
            mime = _STREAM_MIME.get(output.get("name", ""))
            if mime is None:
                return None
            return (
                f'{_OUTPUT_HEAD}\n<div class="jp-RenderedText jp-OutputArea-output" '
                f'data-mime-type="{mime}">\n<pre>{self._ansi(output["text"])}</pre>\n</div>\n</div>\n'
            )
        if kind != "display_data":
            return None
        data = output.get("data", {})
        shown = self._data_type(data)
        if shown == ["text/html"]:
            return (
                f"{_OUTPUT_HEAD}\n\n"
                '<div class="jp-RenderedHTMLCommon jp-RenderedHTML jp-OutputArea-output " '
                f'data-mime-type="text/html">\n{data["text/html"]}\n</div>\n\n</div>\n'
            )
        if shown == ["text/plain"]:
            return (
                f"{_OUTPUT_HEAD}\n\n\n"
                '<div class="jp-RenderedText jp-OutputArea-output " data-mime-type="text/plain">\n'
                f"<pre>{self._ansi(data['text/plain'])}</pre>\n</div>\n\n</div>\n"
            )
        return None
