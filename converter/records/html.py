"""Offline, deterministic HTML rendering of a record notebook.

``record.html`` is evidence that must be readable years later on an air-gapped
machine, without Jupyter and without the network. nbconvert's ``lab`` template
loads require.js, MathJax and Mermaid from cdnjs and the widget renderer from
unpkg with an unpinned ``@*`` range (papermill-pitfalls §5), so a stock export
shows an offline viewer less than the notebook holds, and would change meaning
whenever the CDN changes. This module and :mod:`converter.records.nbpage`
(the nbconvert side, which also explains how it keeps sealing cheap) therefore:

1. drop the CDN blocks of the template (a small Jinja template that extends
   ``lab``), and set every CDN URL trait of :class:`~nbconvert.HTMLExporter`
   to ``""`` as a second line of defence;
2. remove widget views from a *copy* of the notebook: they cannot render
   without JavaScript, and their ``text/plain`` fallback is a display-time
   snapshot that can contradict the final state (papermill-pitfalls §3). The
   notebook already carries a plain ``text/html`` checklist summary, and the
   ``record.ipynb`` keeps the widgets themselves;
3. leave ``application/javascript`` out of the display priority, so scripts
   from outputs never run in the record and the ``text/plain`` fallback shows;
4. neutralise any remaining ``<script src>`` / ``<link href>`` that points
   off the page (e.g. raw HTML in a Markdown cell), found with
   :mod:`html.parser` so that script bodies and comments are not mistaken for
   tags;
5. state a Content-Security-Policy that allows no script and no remote resource
   (:data:`~converter.records.nbpage.CONTENT_SECURITY_POLICY`), so raw HTML in a
   runbook's Markdown or an output (an inline ``<script>``, an ``onerror=``
   handler) cannot run when an auditor opens the record, nor change what it says.

Images (``<img src="https://...">``) and CSS ``url()`` are not rewritten: they
cannot run code, the policy keeps a browser from fetching them, and the page shows
them as missing.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import nbformat

from .nbpage import export_page

__all__ = ["find_remote_refs", "record_header", "render_html"]

# Any URL scheme (http:, https:, ftp:, file:, ...) or a protocol-relative "//host".
_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.\-]*:|[/\\]{2})", re.IGNORECASE)
_CHECKED_ATTR = {"script": "src", "link": "href"}
_SCRIPT_OR_LINK = re.compile(r"<(?:script|link)", re.IGNORECASE)


def render_html(
    nb: nbformat.NotebookNode,
    *,
    title: str,
    header: Mapping[str, Any] | None = None,
    disposable: bool = False,
) -> str:
    """Render ``nb`` to a self-contained HTML page that needs no network.

    Uses nbconvert's ``lab`` template so the record looks like JupyterLab, with
    every CDN reference removed (see the module docstring for why and how).
    The input notebook is not modified, unless ``disposable`` (the caller is done with it:
    it is rendered in place instead of copied). Identical input gives identical output:
    the only random ids nbconvert emits belong to widget and JavaScript
    outputs, which are not rendered. ``title`` becomes the page ``<title>``;
    ``header`` (the manifest's fields) opens the page (:func:`record_header`).
    """
    head = None if header is None else record_header(header)
    return _neutralise_remote_refs(
        export_page(nb, title=title, header_html=head, disposable=disposable)
    )


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
