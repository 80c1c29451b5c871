"""Offline, deterministic HTML rendering of a record notebook.

``record.html`` is evidence that must be readable years later on an air-gapped
machine, without Jupyter and without the network. nbconvert's ``lab`` template
loads require.js, MathJax and Mermaid from cdnjs and the widget renderer from
unpkg with an unpinned ``@*`` range (papermill-pitfalls §5), so a stock export
shows an offline viewer less than the notebook holds, and would change meaning
whenever the CDN changes. This module therefore:

1. drops the CDN blocks of the template (a small Jinja template that extends
   ``lab``), and sets every CDN URL trait of :class:`~nbconvert.HTMLExporter`
   to ``""`` as a second line of defence;
2. removes widget views from a *copy* of the notebook: they cannot render
   without JavaScript, and their ``text/plain`` fallback is a display-time
   snapshot that can contradict the final state (papermill-pitfalls §3). The
   notebook already carries a plain ``text/html`` checklist summary, and the
   ``record.ipynb`` keeps the widgets themselves;
3. leaves ``application/javascript`` out of the display priority, so scripts
   from outputs never run in the record and the ``text/plain`` fallback shows;
4. neutralises any remaining ``<script src>`` / ``<link href>`` that points
   off the page (e.g. raw HTML in a Markdown cell), found with
   :mod:`html.parser` so that script bodies and comments are not mistaken for
   tags.

Images (``<img src="https://...">``) and CSS ``url()`` are not rewritten: they
cannot run code, and an offline viewer simply shows them as missing.
"""

from __future__ import annotations

import copy
import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from traitlets.config import Config

__all__ = ["find_remote_refs", "record_header", "render_html"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

_TEMPLATE_NAME = "runbook-record.html.j2"
# Block names come from nbconvert's share/jupyter/nbconvert/templates/lab/index.html.j2.
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
"""

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

# Any URL scheme (http:, https:, ftp:, file:, ...) or a protocol-relative "//host".
_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.\-]*:|[/\\]{2})", re.IGNORECASE)
_CHECKED_ATTR = {"script": "src", "link": "href"}
_SCRIPT_OR_LINK = re.compile(r"<(?:script|link)", re.IGNORECASE)


def render_html(
    nb: nbformat.NotebookNode, *, title: str, header: Mapping[str, Any] | None = None
) -> str:
    """Render ``nb`` to a self-contained HTML page that needs no network.

    Uses nbconvert's ``lab`` template so the record looks like JupyterLab, with
    every CDN reference removed (see the module docstring for why and how).
    The input notebook is not modified. Identical input gives identical output:
    the only random ids nbconvert emits belong to widget and JavaScript
    outputs, which are not rendered. ``title`` becomes the page ``<title>``;
    ``header`` (the manifest's fields) opens the page (:func:`record_header`).
    """
    page_nb = _offline_copy(nb, title=title)
    if header is not None:
        cell = nbformat.v4.new_markdown_cell(record_header(header))
        cell.id = "runbook-record-header"
        page_nb.cells.insert(0, cell)
    exporter = _RecordExporter(
        config=_exporter_config(),
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        # Not configurable traits in nbconvert 7.17, so passed directly.
        mermaid_js_url="",
        mermaid_layout_elk_js_url="",
    )
    body, _ = exporter.from_notebook_node(page_nb, resources={"metadata": {"name": title}})
    return _neutralise_remote_refs(body)


class _RecordExporter(HTMLExporter):
    """nbconvert's ``HTMLExporter`` without its BeautifulSoup pass over the finished page.

    That pass parses and re-serialises the whole page (about half of the rendering time
    of a large record) to add two attributes: ``alt`` on images that have none and
    ``tabindex="0"`` on cell inputs and outputs. :func:`_accessible` adds the same two
    to the template's own markup. The filters are registered as ``HTMLExporter`` does.
    """

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
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _accessible(page), resources


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


_STATUS_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "blocked": "#9a6700"}


def record_header(manifest: Mapping[str, Any]) -> str:
    """The header every ``record.html`` opens with: what an auditor asks first.

    Status (and where a run stopped), runbook, operator, mode, parameters
    (secrets already ``***``), start and finish, rollback and approvers, from
    the manifest's own fields, so the page and ``manifest.json`` agree. One HTML
    block without blank lines, so the Markdown renderer keeps it as it is.
    """
    e = html_lib.escape
    runbook = manifest.get("runbook") or {}
    status = str(manifest.get("status"))
    kind = " (dry run: nothing ran)" if manifest.get("dry_run") else ""
    rows: list[tuple[str, str]] = [
        (
            "Status",
            f'<b style="color:{_STATUS_COLORS.get(status, "#57606a")}">{e(status)}</b>' + e(kind),
        ),
    ]
    failure = manifest.get("failure") or {}
    if failure.get("step") or failure.get("reason"):
        where = f"{failure.get('step')}: " if failure.get("step") else ""
        rows.append(("Stopped at", e(f"{where}{failure.get('reason') or ''}")))
    rows += [
        (
            "Runbook",
            f"<code>{e(str(runbook.get('id')))}</code> {e(str(runbook.get('title') or ''))}",
        ),
        ("Operator", e(str(manifest.get("operator")))),
        ("Mode", e(str(manifest.get("mode") or ""))),
        ("Started", e(str(manifest.get("started_at")))),
        ("Finished", e(str(manifest.get("finished_at")))),
    ]
    rollback = manifest.get("rollback")
    if rollback:
        where = f" at {rollback.get('failed_step')}" if rollback.get("failed_step") else ""
        rows.append(("Rollback", e(f"{rollback.get('status')}{where}")))
    else:
        rows.append(("Rollback", "not run"))
    approvals = manifest.get("approvals") or []
    if approvals:
        rows.append(("Approvers", e(", ".join(_approver(a) for a in approvals))))
    parameters = manifest.get("parameters") or {}
    shown = ", ".join(
        f"{k} = {v!r}" if not isinstance(v, str) else f"{k} = {v}" for k, v in parameters.items()
    )
    rows.append(("Parameters", e(shown) if shown else "(none)"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f'<div class="runbook-record-header" data-status="{e(status)}">'
        f"<h2>Run record: {e(str(runbook.get('title') or runbook.get('id') or ''))}</h2>"
        f'<table style="text-align:left">{body}</table></div>'
    )


def _approver(approval: Mapping[str, Any]) -> str:
    return f"{approval.get('principal')} ({approval.get('role')})"


def find_remote_refs(page: str) -> list[tuple[str, str, str]]:
    """Return ``(tag, attribute, url)`` for each ``<script src>``/``<link href>``
    in ``page`` that would be fetched from another host.

    Public so tests and ``records verify`` can check a page with the same rule
    that :func:`render_html` enforces.
    """
    return [(hit.tag, hit.attr, hit.url) for hit in _scan(page)]


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


def _offline_copy(nb: nbformat.NotebookNode, *, title: str) -> nbformat.NotebookNode:
    """A deep copy without widget views, widget state, plumbing sources or a foreign title.

    A widget output whose only other representation is ``text/plain`` is
    dropped entirely: that text is a snapshot taken when the widget was
    displayed, and showing it as evidence could contradict the real final
    state (e.g. ``Checkbox(value=False)`` for a box ticked later).
    """
    page_nb = copy.deepcopy(nb)
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
    return page_nb


@dataclass(frozen=True)
class _RemoteRef:
    line: int
    col: int
    tag: str
    attr: str
    url: str
    raw: str
    attrs: tuple[tuple[str, str | None], ...]


class _RemoteRefFinder(HTMLParser):
    """Collects start tags that would load a script or stylesheet from elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hits: list[_RemoteRef] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = _CHECKED_ATTR.get(tag)
        if attr is None:
            return
        for name, value in attrs:
            if name == attr and value is not None and _is_remote(value):
                line, col = self.getpos()
                raw = self.get_starttag_text() or ""
                self.hits.append(_RemoteRef(line, col, tag, attr, value, raw, tuple(attrs)))
                return


def _is_remote(url: str) -> bool:
    """True for any scheme or protocol-relative URL except inline ``data:``."""
    return bool(_REMOTE.match(url)) and not url.strip().lower().startswith("data:")


def _scan(page: str) -> list[_RemoteRef]:
    finder = _RemoteRefFinder()
    finder.feed(page)
    finder.close()
    return finder.hits


def _neutralise_remote_refs(page: str) -> str:
    """Rewrite remote ``<script src>``/``<link href>`` tags into inert ones.

    The URL is kept in a ``data-offline-blocked-*`` attribute so a reader can
    still see what the original content referred to; a script also gets
    ``type="text/plain"`` so its body (if any) does not run instead.
    """
    if not _SCRIPT_OR_LINK.search(page):  # html.parser finds no such tag in a page without one
        return page
    hits = _scan(page)
    if not hits:
        return page
    line_starts = [0] + [m.end() for m in re.finditer("\n", page)]
    pieces = []
    cursor = 0
    for hit in hits:
        start = line_starts[hit.line - 1] + hit.col
        if page[start : start + len(hit.raw)] != hit.raw:  # pragma: no cover - parser invariant
            raise AssertionError(f"html.parser position mismatch at line {hit.line}")
        pieces.append(page[cursor:start])
        pieces.append(_inert_tag(hit))
        cursor = start + len(hit.raw)
    pieces.append(page[cursor:])
    return "".join(pieces)


def _inert_tag(hit: _RemoteRef) -> str:
    parts = [hit.tag]
    if hit.tag == "script":
        parts.append('type="text/plain"')
    for name, value in hit.attrs:
        if hit.tag == "script" and name == "type":
            continue
        if name == hit.attr:
            name = f"data-offline-blocked-{hit.attr}"
        if value is None:
            parts.append(name)
        else:
            parts.append(f'{name}="{html_lib.escape(value, quote=True)}"')
    return "<" + " ".join(parts) + (" />" if hit.raw.rstrip().endswith("/>") else ">")
