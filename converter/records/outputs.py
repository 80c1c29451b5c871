"""How a step's status line, a checklist's state and capped output look in a notebook.

Shared by the kernel (which shows them live) and by the rebuild of a record
from its journal (:mod:`converter.records.rebuild`), so a record reads the same
however it was written. Every view is an HTML/plain-text pair: it reads right
in JupyterLab, in nbconvert's HTML and in a text diff alike.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
"""The MIME type of an ipywidgets view (JupyterLab renders it; records drop it)."""

OUTPUT_CAP_BYTES = 200_000
"""Beyond this a notebook shows a notice; the step's log in the record keeps everything."""

STATUS_ICONS = {
    "pending": "○",
    "running": "⏳",
    "succeeded": "✅",
    "failed": "❌",
    "failed_allowed": "⚠️",
    "skipped": "⏭",
    "manual": "✋",
    "blocked": "⛔",
    "dry_run": "📝",
    "interrupted": "⏹",
    "not_run": "○",
}
_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "blocked": "#9a6700", "running": "#0969da"}

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "checked_by": "ticked by {by} at {at}",
        "confirmed_by": "confirmed by {by} via parameter at {at}",
        "unchecked_by": "unticked by {by} at {at}",
        "signed_by": "approved by {by}, signature of {at}",
        "operator_by": "the operator, {by}, at {at}",
        "output_capped": "[output cut here; the full output is in {log} of the record]",
    },
    "ja": {
        "checked_by": "{by} がチェック ({at})",
        "confirmed_by": "{by} がパラメータで確認 ({at})",
        "unchecked_by": "{by} がチェックを外しました ({at})",
        "signed_by": "{by} が署名で承認 ({at})",
        "operator_by": "作業担当者 {by} ({at})",
        "output_capped": "[出力はここで省略されました。全出力はレコードの {log} にあります]",
    },
}

Bundle = dict[str, str]


def inline_markdown(text: str) -> str:
    """A label's Markdown as inline HTML (code spans, emphasis, links); raw HTML is escaped.

    markdown-it-py's own link validation drops ``javascript:`` and similar URLs.
    """
    from markdown_it import MarkdownIt

    global _INLINE
    if _INLINE is None:
        _INLINE = MarkdownIt("commonmark", {"html": False})
    return str(_INLINE.renderInline(text))


_INLINE: Any = None


def _word(lang: str, key: str, **values: object) -> str:
    return _WORDS.get(lang, _WORDS["en"])[key].format(**values)


_STATUS_CLASS = "runbook-status"


def status_bundle(step_id: str, title: str, status: str, detail: str = "") -> Bundle:
    """The one-line status of a step: icon, id, title, status and detail.

    A status with words after its first (``succeeded (in RUN_ID)``, a step a resumed run
    carried) takes the first's icon, colour and class.
    """
    kind = status.partition(" ")[0]
    icon = STATUS_ICONS.get(kind, "")
    plain = f"{icon} [{step_id}] {title}: {status}" + (f" ({detail})" if detail else "")
    color = _COLORS.get(kind, "#57606a")
    markup = (
        f'<div class="{_STATUS_CLASS} runbook-{html.escape(kind)}" '
        f'data-step="{html.escape(step_id)}" '
        f'style="border-left:4px solid {color};padding:2px 8px;margin:2px 0">'
        f"{icon} <b>{html.escape(step_id)}</b> {html.escape(title)}: "
        f'<span style="color:{color}">{html.escape(status)}</span>'
        + (f" <small>({html.escape(detail)})</small>" if detail else "")
        + "</div>"
    )
    return {"text/html": markup, "text/plain": plain}


def step_detail(exit_code: int | None, duration_s: float | None, reason: str | None) -> str:
    """``exit 0, 0.12 s``, or the duration and the reason a step did not succeed."""
    detail = []
    if exit_code is not None and not reason:
        detail.append(f"exit {exit_code}")
    if duration_s is not None:
        detail.append(f"{duration_s:.2f} s")
    if reason:
        detail.append(reason)
    return ", ".join(detail)


def display_output(bundle: Bundle) -> Any:
    """A notebook's ``display_data`` output of ``bundle``, as ``nbformat.v4.new_output`` makes
    it, without validating it: records are built with one per step, and the page rendered
    from a record validates the whole notebook once (records/nbpage.py)."""
    from nbformat import NotebookNode  # a second to import; reading the archive never needs it

    return NotebookNode(output_type="display_data", data=dict(bundle), metadata=NotebookNode())


def is_status_line(output: Mapping[str, Any]) -> bool:
    """Whether a notebook output is a step's status line (:func:`status_bundle`)."""
    markup = (output.get("data") or {}).get("text/html", "")
    if isinstance(markup, list):  # a notebook file may split it into lines
        markup = "".join(markup)
    return output.get("output_type") == "display_data" and markup.startswith(
        f'<div class="{_STATUS_CLASS} '
    )


def checklist_bundle(
    list_id: str, title: str, items: Iterable[Mapping[str, Any]], lang: str
) -> Bundle:
    """Every item of a checklist with its state; who ticked it and when.

    ``items`` are mappings with ``id``, ``text``, ``checked`` and, once someone
    acted, ``by``, ``at`` and ``via`` (``parameter`` for ``--confirm``).
    """
    lines, rows = [title] if title else [], []
    for item in items:
        checked = bool(item.get("checked"))
        mark = "☑" if checked else "☐"
        who = who_text(item, lang)
        lines.append(f"{mark} {item.get('text')}" + (f" — {who}" if who else ""))
        rows.append(
            f'<li data-check="{html.escape(str(item.get("id")))}" '
            f'data-checked="{str(checked).lower()}">'
            f"{mark} {inline_markdown(str(item.get('text')))}"
            + (f" <small>— {html.escape(who)}</small>" if who else "")
            + "</li>"
        )
    heading = f"<b>{html.escape(title)}</b>" if title else ""
    markup = (
        f'<div class="runbook-checklist-state" data-list="{html.escape(list_id)}">{heading}'
        f'<ul style="list-style:none">{"".join(rows)}</ul></div>'
    )
    return {"text/html": markup, "text/plain": "\n".join(lines)}


def who_text(item: Mapping[str, Any], lang: str) -> str:
    """Who ticked (or unticked) an item and when, in ``lang``; empty before anyone acted."""
    if not item.get("by"):
        return ""
    if not item.get("checked"):
        return _word(lang, "unchecked_by", by=item["by"], at=item.get("at"))
    key = {"parameter": "confirmed_by", "signature": "signed_by", "operator": "operator_by"}.get(
        str(item.get("via")), "checked_by"
    )
    return _word(lang, key, by=item["by"], at=item.get("at"))


def capped_notice(lang: str, log: str) -> str:
    """The line shown where a step's output is cut in the notebook."""
    return _word(lang, "output_capped", log=log)


def cap_output(text: str, lang: str, log: str) -> str:
    """``text`` cut to :data:`OUTPUT_CAP_BYTES` (UTF-8) with the notice naming the full log."""
    data = text.encode("utf-8")
    if len(data) <= OUTPUT_CAP_BYTES:
        return text
    return (
        data[:OUTPUT_CAP_BYTES].decode("utf-8", errors="ignore")
        + "\n"
        + capped_notice(lang, log)
        + "\n"
    )
