"""nbconvert's side of ``record.html``: the ``lab`` page without CDN, widgets or per-cell waste.

:func:`export_page` runs nbconvert's ``HTMLExporter`` with the ``lab`` template, so the record
looks like JupyterLab, through a template of our own that extends ``lab``
(:mod:`converter.records.html` says why the record is rendered offline, and checks the result).
Sealing renders every record, so the exporter here skips what nbconvert does per cell or per
preprocessor that changes nothing on this page:

- the code inputs: nbconvert's ``highlight_code`` filter builds a pygments formatter (and its
  whole style sheet) and looks the lexer up by name for every cell, and the ``lab`` template
  then passes pygments' output through bleach. :class:`_Highlighter` makes each lexer and
  formatter once, highlights each distinct source once, and the template's ``input`` block
  drops the bleach pass: pygments escapes every character of the source it emits;
- the notebook: ``Exporter.from_notebook_node`` deep-copies it, then ``_preprocess`` copies it
  twice more (its own copy and nbformat's ``normalize``) and validates it after each of its
  preprocessors. Here it is copied once (not at all when the caller is done with it: the
  seal) and validated once (nbconvert's full path still runs for a notebook whose cell ids
  are missing or repeated);
- the cells: the template walks each through a dozen nested blocks, most of them scoped
  (each copies the whole template context); :mod:`.pagecells` writes the same markup for
  the cells a record is made of, and leaves the others to the blocks;
- the Markdown cells: nbconvert builds a renderer and a mistune parser (with its plugins) for
  each one; here one parser serves the page and each distinct source is rendered once;
- the collector: the notebook and the page's copy of it live until the page is done, and the
  collector's full passes over them made rendering grow faster than the record; they are
  frozen out of those passes while the page renders (:mod:`.heap`);
- the finished page: nbconvert parses and re-serialises it with BeautifulSoup to add two
  attributes, which :func:`_accessible` adds to the template's own markup instead.

The page is byte for byte the one nbconvert's own filters and preprocessing make through the
same template (compared on a 50-step record and on a record with every kind of output).
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import nbformat
from jinja2 import DictLoader, pass_context
from nbconvert import HTMLExporter
from traitlets.config import Config

from .heap import freeze_more, frozen_heap
from .jinjacache import COMPILED_TEMPLATES
from .outputs import WIDGET_VIEW
from .pagecells import CellMarkup, applies, heading_markup

__all__ = ["export_page"]

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
HEADER_CELL_ID = "runbook-record-header"

# The page needs no script, frame, plugin or remote resource to show the record, so its
# Content-Security-Policy allows none: raw HTML in a runbook's Markdown or in an output
# (an inline <script>, an onerror= handler, a tracking image) cannot run or change what an
# auditor sees, and opening the record never reaches the network. Styles are inline;
# images and fonts are data: URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)

_TEMPLATE_NAME = "runbook-record.html.j2"
# Block names come from nbconvert's share/jupyter/nbconvert/templates/lab/index.html.j2.
_TEMPLATE = (
    """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<meta http-equiv="Content-Security-Policy" content=\""""
    + CONTENT_SECURITY_POLICY
    + """\">
{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block any_cell scoped -%}
{%- set markup = cell | runbook_page_cell(resources) -%}
{%- if markup is none -%}{{ super() }}{%- else -%}{{ markup }}{%- endif -%}
{%- endblock any_cell -%}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
"""
)

# Everything the lab template can show without JavaScript, best first.
# Widget views and application/javascript are deliberately absent.
_DISPLAY_PRIORITY = [
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "text/vnd.mermaid",
    "text/latex",
    "image/png",
    "image/jpeg",
    "text/plain",
]


def export_page(
    nb: nbformat.NotebookNode,
    *,
    title: str,
    header_html: str | None,
    disposable: bool = False,
    fast_cells: bool = True,
) -> str:
    """The ``lab`` page of ``nb``, ``header_html`` as its first cell.

    ``nb`` is not modified, unless ``disposable`` (the caller has no further use for it): then
    the page is made from ``nb`` itself instead of a deep copy (0.05 ms per step of a record).
    ``fast_cells=False`` renders every cell through the template's blocks and every
    Markdown cell through mistune (:mod:`.pagecells` writes the same markup faster; the
    tests compare the two).
    """
    exporter = _RecordExporter(
        config=_exporter_config(),
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        # Not configurable traits in nbconvert 7.17, so passed directly.
        mermaid_js_url="",
        mermaid_layout_elk_js_url="",
    )
    exporter.page_title, exporter.header_html = title, header_html
    exporter.fast_cells = fast_cells
    if disposable:
        nb = _Disposable(nb)
    # The notebook and the page's copy of it live until the page is done: the collector's full
    # passes over them made rendering grow faster than the record (a tenth of the time at
    # 5,000 steps). Frozen (here, and the copy in _preprocess), they are left out of those
    # passes; the cyclic garbage the templates make is still collected.
    with frozen_heap():
        page, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return page


class _RecordExporter(HTMLExporter):
    """nbconvert's ``HTMLExporter`` without the work that changes nothing on a record's page.

    No BeautifulSoup pass over the finished page (about half of the rendering time of a large
    record): it parses and re-serialises the whole page to add ``alt`` to images that have
    none and ``tabindex="0"`` to cell inputs and outputs, which :func:`_accessible` adds to
    the template's own markup. The filters are registered as ``HTMLExporter`` does, with
    :class:`_Highlighter` for ``highlight_code``. The notebook is copied and validated once.
    """

    page_title = ""
    header_html: str | None = None
    fast_cells = True

    def _create_environment(self) -> Any:
        environment = super()._create_environment()
        environment.bytecode_cache = COMPILED_TEMPLATES
        return environment

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._markdown_parsers: dict[str, Any] = {}
        self._markdown_done: dict[tuple[str, str], str] = {}
        # heading_markup writes nbconvert's default anchor link only
        self._plain_anchors = self.anchor_link_text == "¶" and not self.exclude_anchor_links

    def from_notebook_node(  # type: ignore[override]
        self, nb: nbformat.NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight = self.filters.get("highlight_code", _Highlighter(lexer or "ipython3"))
        resources = self._init_resources(resources)
        data_types = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("highlight_code", highlight)
        self.register_filter("filter_data_type", data_types)
        path = resources.get("metadata", {}).get("path", "")
        cells = CellMarkup(self.environment.filters, lambda source: self._markdown(source, path))
        self.register_filter("runbook_page_cell", _page_cell(cells, enabled=self.fast_cells))
        # Exporter.from_notebook_node deep-copies nb, then calls _preprocess on its copy
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _accessible(page), resources

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """nbconvert's filter with one Markdown parser per page, each distinct source once.

        nbconvert builds a renderer and a mistune parser (with its plugins) for every
        Markdown cell; they hold nothing of a cell but its attachments.
        """
        if context.get("cell", {}).get("attachments"):
            return super().markdown2html(context, source)
        return self._markdown(
            source, context.get("resources", {}).get("metadata", {}).get("path", "")
        )

    def _markdown(self, source: str, path: str) -> str:
        done = self._markdown_done.get((source, path))
        if done is None and self.fast_cells and self._plain_anchors:
            done = heading_markup(source)
        if done is None:
            from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

            parser = self._markdown_parsers.get(path)
            if parser is None:
                renderer = IPythonRenderer(
                    escape=False,
                    attachments={},
                    embed_images=self.embed_images,
                    path=path,
                    anchor_link_text=self.anchor_link_text,
                    exclude_anchor_links=self.exclude_anchor_links,
                    **self.lexer_options,
                )
                parser = self._markdown_parsers[path] = MarkdownWithMath(renderer=renderer)
            done = self._markdown_done[(source, path)] = parser.render(source)
        return done

    def _preprocess(self, nb: nbformat.NotebookNode, resources: Any) -> tuple[Any, Any]:
        """nbconvert's preprocessing on its own copy ``nb``, without copying it again."""
        freeze_more()  # the copy, as export_page froze the notebook
        _make_offline(nb, title=self.page_title)
        if self.header_html is not None:
            cell = nbformat.v4.new_markdown_cell(self.header_html)
            cell.id = HEADER_CELL_ID
            nb.cells.insert(0, cell)
        ids = [cell.get("id") for cell in nb.cells]
        if None in ids or len(set(ids)) < len(ids):  # as nbconvert handles them (normalize)
            return super()._preprocess(nb, resources)
        for preprocessor in self._preprocessors:
            nb, resources = preprocessor(nb, resources)
        self._validate_preprocessor(nb, "all")  # as optimistic_validation does
        return nb, resources


class _Disposable(nbformat.NotebookNode):
    """A notebook nbconvert renders as it is: ``Exporter.from_notebook_node`` deep-copies the
    notebook it is given before preprocessing it; this one's copy is itself."""

    def __deepcopy__(self, memo: Any) -> _Disposable:
        return self


def _page_cell(cells: CellMarkup, *, enabled: bool) -> Any:
    """The template's ``runbook_page_cell`` filter: :class:`CellMarkup`'s markup of a cell, or
    None (the template's blocks render it) where its assumptions do not hold."""

    def page_cell(cell: Any, resources: Any) -> str | None:
        return cells(cell) if enabled and applies(resources) else None

    return page_cell


class _Highlighter:
    """nbconvert's ``highlight_code`` filter (``Highlight2HTML``), once per distinct input.

    The same markup as nbconvert's filter, without its per-cell work: it builds a pygments
    ``HtmlFormatter`` (and its whole style sheet) and looks the lexer up by name for every
    cell. Here each lexer and formatter is made once, and identical sources are highlighted
    once. Pygments escapes every character it emits, so the page does not pass this markup
    through bleach as the ``lab`` template does (that pass was half of the rendering time).
    """

    def __init__(self, default_language: str) -> None:
        self.default_language = default_language
        self._lexers: dict[str, Any] = {}
        self._formatters: dict[str, Any] = {}
        self._done: dict[tuple[str, str, str], str] = {}

    def __call__(self, source: str, language: str | None = None, metadata: Any = None) -> str:
        language = language or self.default_language
        lexer_name = language
        # as nbconvert: a cell magic's language (HighlightMagicsPreprocessor) wins over ipython
        if language.startswith("ipython") and metadata and "magics_language" in metadata:
            lexer_name = metadata["magics_language"]
        key = (source, language, lexer_name)
        done = self._done.get(key)
        if done is None:
            from pygments import highlight

            done = highlight(source or " ", self._lexer(lexer_name), self._formatter(language))
            self._done[key] = done
        return done

    def _formatter(self, language: str) -> Any:
        formatter = self._formatters.get(language)
        if formatter is None:
            from pygments.formatters import HtmlFormatter

            formatter = HtmlFormatter(cssclass=html_lib.escape(f" highlight hl-{language}"))
            self._formatters[language] = formatter
        return formatter

    def _lexer(self, name: str) -> Any:
        lexer = self._lexers.get(name)
        if lexer is None:
            lexer = _new_lexer(name)
            self._lexers[name] = lexer
        return lexer


def _new_lexer(name: str) -> Any:
    """The lexer nbconvert's ``_pygments_highlight`` picks for ``name``."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    if name in ("ipython2", "ipython3"):
        try:
            from IPython.lib import lexers
        except ModuleNotFoundError:
            name = name.replace("ipython", "python")
        else:
            return lexers.IPythonLexer() if name == "ipython2" else lexers.IPython3Lexer()
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        from pygments.lexers.special import TextLexer

        return TextLexer()


_FOCUSABLE = re.compile(r'<div class="(?=[^"]*\bjp-(?:Cell-inputWrapper|OutputArea-output)\b)')
_IMG_NO_ALT = re.compile(r"<img\b(?![^>]*\balt=)", re.IGNORECASE)


def _accessible(page: str) -> str:
    """What nbconvert's BeautifulSoup pass adds: focusable cells, a text for every image."""
    page = _FOCUSABLE.sub('<div tabindex="0" class="', page)
    return _IMG_NO_ALT.sub('<img alt="No description has been provided for this image"', page)


def _exporter_config() -> Config:
    """Traits that keep nbconvert from pointing at a CDN even if a block leaks."""
    c = Config()
    c.HTMLExporter.require_js_url = ""
    c.HTMLExporter.mathjax_url = ""
    c.HTMLExporter.jquery_url = ""
    c.HTMLExporter.jupyter_widgets_base_url = ""
    c.HTMLExporter.widget_renderer_url = ""
    c.HTMLExporter.html_manager_semver_range = ""
    c.HTMLExporter.optimistic_validation = True  # validate once, not after each preprocessor
    c.HTMLExporter.embed_images = False  # reading files next to the page is not evidence
    c.NbConvertBase.display_data_priority = list(_DISPLAY_PRIORITY)
    return c


def _make_offline(page_nb: nbformat.NotebookNode, *, title: str) -> None:
    """Drop widget views, widget state, plumbing sources and a foreign title from ``page_nb``.

    A widget output whose only other representation is ``text/plain`` is
    dropped entirely: that text is a snapshot taken when the widget was
    displayed, and showing it as evidence could contradict the real final
    state (e.g. ``Checkbox(value=False)`` for a box ticked later).
    """
    page_nb.metadata.pop("widgets", None)
    page_nb.metadata["title"] = title
    for cell in page_nb.cells:
        if cell.get("cell_type") != "code":
            continue
        if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            # plumbing (setup, checklist, finish…): the page shows its output, as JupyterLab does
            cell["metadata"]["transient"] = {"remove_source": True}
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None and (WIDGET_VIEW in data or WIDGET_STATE in data):
                data.pop(WIDGET_VIEW, None)
                data.pop(WIDGET_STATE, None)
                if set(data) <= {"text/plain"}:
                    continue
            kept.append(output)
        cell["outputs"] = kept
