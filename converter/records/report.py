"""Human-readable views of a record: ``records show`` text and ``records export`` reports.

Built from the record's own files (manifest, journal, logs), so an auditor's
report needs no Jupyter and no index. The HTML export is one self-contained
file: inline CSS, no script, nothing fetched from the network.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import events as ev
from .journal import read_journal
from .layout import JOURNAL, MANIFEST
from .recover import writer_alive
from .verdict import judge


@dataclass(frozen=True)
class RecordView:
    """Everything a report shows about one run."""

    run_dir: Path
    manifest: dict[str, Any]
    sealed: bool
    timeline: list[
        dict[str, Any]
    ]  # one entry per step run: id, title, status, exit, duration, code, output


def load_view(run_dir: Path) -> RecordView:
    """Read a record (sealed or not) into a view."""
    events = read_journal(run_dir / JOURNAL) if (run_dir / JOURNAL).exists() else []
    sealed = (run_dir / MANIFEST).exists()
    manifest = (
        json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        if sealed
        else _provisional(run_dir, events)
    )
    return RecordView(run_dir, manifest, sealed, _timeline(run_dir, events))


def _provisional(run_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """What an unsealed record says so far: the last step started was cut off (or runs)."""
    facts = ev.RunFacts.from_events(events)
    alive = writer_alive(events)
    verdict = judge(events, interrupted=True)
    titles = {s.get("id"): s.get("title") for s in facts.steps}
    steps = [
        {
            "id": k,
            "title": titles.get(k) or "",
            "status": "running" if alive and v.get("status") == "interrupted" else v.get("status"),
            "exit_code": v.get("exit_code"),
            "duration_s": v.get("duration_s"),
        }
        for k, v in verdict.steps.items()
    ]
    checks = [
        {
            "id": e["id"],
            "text": e.get("text"),
            "checked": e.get("checked"),
            "by": e.get("by"),
            "at": e.get("at"),
        }
        for e in ev.check_states(events).values()
    ]
    manifest = {
        "run_id": run_dir.name,
        "runbook": facts.runbook or {"id": run_dir.parent.name},
        "status": "running (not sealed yet)"
        if alive
        else "interrupted (not sealed yet: run 'runbook records reindex')",
        "operator": facts.operator or None,
        "dry_run": facts.dry_run,
        "started_at": facts.started_at or None,
        "finished_at": None,
        "parameters": facts.parameters,
        "steps": steps,
        "checks": checks,
    }
    if not alive and verdict.status != "succeeded":
        manifest["failure"] = {
            "step": verdict.failed_step,
            "reason": verdict.reason,
            "status": verdict.status,
        }
    return manifest


def _timeline(run_dir: Path, events: list[ev.Event]) -> list[dict[str, Any]]:
    """One entry per step run, with its full output from its log.

    An expected-result check that fails its step journals a second ``step_end``
    (status and reason, no log): it updates the verdict and keeps the output.
    """
    entries: dict[str, dict[str, Any]] = {}
    for event in events:
        step = str(event.get("step"))
        if event.get("event") == ev.STEP_START:
            entries[step] = {
                "id": step,
                "title": event.get("title"),
                "code": event.get("code", ""),
                "started_at": event.get("at"),
                "status": "running",
                "output": "",
            }
        elif event.get("event") == ev.STEP_END and step in entries:
            log = event.get("log")
            if log and (run_dir / log).is_file():
                entries[step]["output"] = (run_dir / log).read_text(
                    encoding="utf-8", errors="replace"
                )
            entries[step].update(
                status=event.get("status"),
                exit_code=event.get("exit_code"),
                duration_s=event.get("duration_s"),
                reason=event.get("reason"),
            )
    return list(entries.values())


def show_text(view: RecordView) -> str:
    """The ``records show`` text: parameters, steps, checks, failure, rollback."""
    m = view.manifest
    lines = [
        f"run        {m.get('run_id')}",
        f"runbook    {m['runbook'].get('id')}  {m['runbook'].get('title') or ''}",
        f"status     {m.get('status')}" + ("  (dry run)" if m.get("dry_run") else ""),
        f"operator   {m.get('operator')}",
        f"started    {m.get('started_at')}",
        f"finished   {m.get('finished_at')}",
        f"record     {view.run_dir}",
        "",
        "parameters",
    ]
    lines += [f"  {k} = {v}" for k, v in (m.get("parameters") or {}).items()] or ["  (none)"]
    lines += ["", "steps"]
    for s in m.get("steps", []):
        exit_code = "" if s.get("exit_code") is None else f"exit {s['exit_code']}"
        duration = "" if s.get("duration_s") is None else f"{s['duration_s']:.2f}s"
        lines.append(
            (
                f"  {s['id']:<14} {s.get('status')!s:<14} {exit_code:<8} {duration:<9} "
                f"{s.get('title') or ''}"
            ).rstrip()
        )
    lines += ["", "checks"]
    for c in m.get("checks", []):
        mark = "[x]" if c.get("checked") else "[ ]"
        who = f"  — {c.get('by')} at {c.get('at')}" if c.get("checked") else ""
        lines.append(f"  {mark} {c['id']}: {c.get('text')}{who}")
    if m.get("failure"):
        f = m["failure"]
        lines += ["", f"failure    {f.get('status')} at {f.get('step') or '-'}: {f.get('reason')}"]
    if m.get("rollback"):
        r = m["rollback"]
        lines += [
            f"rollback   {r.get('status')}"
            + (f" at {r.get('failed_step')}: {r.get('reason')}" if r.get("failed_step") else "")
        ]
    return "\n".join(lines)


def export_markdown(view: RecordView) -> str:
    """A Markdown report for auditors: summary, timeline with commands and outputs, checks."""
    m = view.manifest
    out = [
        f"# Run record: {m['runbook'].get('title') or m['runbook'].get('id')}",
        "",
        "```text",
        show_text(view),
        "```",
        "",
        "## Step timeline",
        "",
    ]
    for entry in view.timeline:
        out += [
            f"### {entry['id']} {entry.get('title') or ''}".rstrip(),
            "",
            (
                f"- status: {entry.get('status')}, exit {entry.get('exit_code')}, "
                f"{entry.get('duration_s')} s, "
                f"started {entry.get('started_at')}"
            ),
            "",
            "```bash",
            entry.get("code", "").rstrip(),
            "```",
            "",
            "```text",
            (entry.get("output") or "").rstrip(),
            "```",
            "",
        ]
    return "\n".join(out) + "\n"


def export_html(view: RecordView) -> str:
    """A self-contained HTML report (no scripts, no remote resources)."""
    m = view.manifest
    e = html.escape
    parts = [
        (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{e(str(m['runbook'].get('title') or ''))}</title>"
        ),
        (
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{background:#f6f8fa;padding:8px;"
            "overflow-x:auto}td,th{border:1px solid #ccc;padding:2px 6px}.failed{color:#cf222e}"
            ".succeeded{color:#1a7f37}</style></head><body>"
        ),
        f"<h1>Run record: {e(str(m['runbook'].get('title') or m['runbook'].get('id')))}</h1>",
        f"<pre>{e(show_text(view))}</pre><h2>Step timeline</h2>",
    ]
    for entry in view.timeline:
        parts.append(
            f"<h3 class='{e(str(entry.get('status')))}'>{e(entry['id'])} "
            f"{e(str(entry.get('title') or ''))}: "
            f"{e(str(entry.get('status')))}</h3><p>exit {e(str(entry.get('exit_code')))}, "
            f"{e(str(entry.get('duration_s')))} s, started {e(str(entry.get('started_at')))}</p>"
            f"<pre>{e(entry.get('code', ''))}</pre><pre>{e(entry.get('output') or '')}</pre>"
        )
    parts.append(
        "<h2>Checks and approvals</h2><table><tr><th>id</th><th>item</th><th>checked</th>"
        "<th>by</th><th>at</th></tr>"
    )
    for c in m.get("checks", []):
        parts.append(
            "<tr>"
            + "".join(
                f"<td>{e(str(c.get(k) if c.get(k) is not None else ''))}</td>"
                for k in ("id", "text", "checked", "by", "at")
            )
            + "</tr>"
        )
    parts.append("</table></body></html>")
    return "".join(parts)
