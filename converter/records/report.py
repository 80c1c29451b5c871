"""Human-readable views of a record: ``records show`` text and ``records export`` reports.

Built from the record's own files (manifest, journal, logs), so an auditor's
report needs no Jupyter and no index. Every report opens with the run's header
(status, runbook, operator, parameters, times, failure, rollback) and keeps
every step's failure: its output from the log (capped, naming the full log),
exit code, duration and reason. The HTML export is one self-contained file:
inline CSS, no script, nothing fetched from the network.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import events as ev
from .carry import resume_chain
from .fleetview import fleet_lines, member_line
from .journal import read_journal_prefix
from .layout import JOURNAL, MANIFEST, RECORD_APPROVALS
from .liveness import writer_alive
from .manifest import load_shown_manifest
from .outputs import cap_output
from .verdict import judge

NOT_SEALED = "interrupted (not sealed yet: run 'runbook records reindex')"


@dataclass(frozen=True)
class RecordView:
    """Everything a report shows about one run."""

    run_dir: Path
    manifest: dict[str, Any]
    sealed: bool
    timeline: list[dict[str, Any]]
    """One entry per step run: id, title, status, exit, duration, reason, code, output."""
    chain: tuple[tuple[str, str], ...] = ()
    """Run id and status of every record of its resume chain (first run first), if resumed."""


def load_view(run_dir: Path) -> RecordView:
    """Read a record (sealed or not) into a view."""
    # A corrupt line is reported by `verify`; the report shows what came before it.
    events = read_journal_prefix(run_dir / JOURNAL)[0] if (run_dir / JOURNAL).exists() else []
    sealed = (run_dir / MANIFEST).exists()
    if sealed:
        manifest = load_shown_manifest(run_dir)
    else:
        manifest = _provisional(run_dir, events)
    chain = tuple((d.name, _status(d)) for d in resume_chain(run_dir))
    return RecordView(
        run_dir,
        manifest,
        sealed,
        _timeline(run_dir, events, manifest),
        chain if len(chain) > 1 else (),
    )


def _status(run_dir: Path) -> str:
    if not (run_dir / MANIFEST).exists():
        return "running"
    try:
        return str(json.loads((run_dir / MANIFEST).read_text(encoding="utf-8")).get("status"))
    except (OSError, ValueError):
        return "unreadable"


def _provisional(run_dir: Path, events: list[ev.Event]) -> dict[str, Any]:
    """What an unsealed record says so far: the last step started is cut off (or running)."""
    facts = ev.RunFacts.from_events(events)
    alive = writer_alive(events)
    verdict = judge(events, interrupted=True)
    titles = {s.get("id"): s.get("title") for s in facts.steps}
    steps = []
    for step_id, result in verdict.steps.items():
        status = result.get("status")
        steps.append(
            {
                "id": step_id,
                "title": titles.get(step_id) or "",
                "status": "running" if alive and status == "interrupted" else status,
                "exit_code": result.get("exit_code"),
                "duration_s": result.get("duration_s"),
            }
        )
    checks = [
        {k: e.get(k) for k in ("id", "text", "checked", "by", "at")}
        for e in ev.check_states(events).values()
    ]
    manifest = {
        "run_id": run_dir.name,
        "runbook": facts.runbook or {"id": run_dir.parent.name},
        "status": "running (not sealed yet)" if alive else NOT_SEALED,
        "operator": facts.operator or None,
        "mode": facts.mode,
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


def _timeline(
    run_dir: Path, events: list[ev.Event], manifest: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry per step run, with its output from its log (capped, naming the full log).

    An expected-result check that fails its step journals a second ``step_end``
    (status and reason, no log): it updates the verdict and keeps the output. A
    step the journal never saw end takes its status from the manifest.
    """
    lang = str(ev.RunFacts.from_events(events).runbook.get("lang") or "en")
    final = {s["id"]: s for s in manifest.get("steps", [])}
    entries: dict[str, dict[str, Any]] = {}
    for event in events:
        step = str(event.get("step"))
        if event.get("event") == ev.STEP_START:
            entries[step] = {
                "id": step,
                "title": event.get("title"),
                "code": event.get("code", ""),
                "started_at": event.get("at"),
                "status": final.get(step, {}).get("status") or "running",
                "output": _log(run_dir, event.get("log"), lang),
            }
        elif event.get("event") == ev.STEP_CARRIED:  # ran in an earlier run of the chain
            entries[step] = {
                "id": step,
                "title": event.get("title"),
                "code": "",
                "started_at": event.get("started_at"),
                "status": final.get(step, {}).get("status") or "succeeded",
                "exit_code": event.get("exit_code"),
                "duration_s": event.get("duration_s"),
                "output": f"(not run again: ran in {event.get('in')}; see that record)",
            }
        elif event.get("event") == ev.STEP_END and step in entries:
            if event.get("log"):
                entries[step]["output"] = _log(run_dir, event["log"], lang)
            entries[step].update(
                status=event.get("status"),
                exit_code=event.get("exit_code"),
                duration_s=event.get("duration_s"),
                reason=event.get("reason"),
            )
    failure = manifest.get("failure") or {}
    if failure.get("step") in entries and not entries[failure["step"]].get("reason"):
        entries[failure["step"]]["reason"] = failure.get("reason")
    return list(entries.values())


def _log(run_dir: Path, name: str | None, lang: str) -> str:
    if not name or not (run_dir / name).is_file():
        return ""
    return cap_output((run_dir / name).read_text(encoding="utf-8", errors="replace"), lang, name)


def show_text(view: RecordView) -> str:
    """The ``records show`` text: header, parameters, steps, checks, failure, rollback."""
    m = view.manifest
    runbook = m.get("runbook") or {}
    lines = [
        f"run        {m.get('run_id')}",
        f"runbook    {runbook.get('id')}  {runbook.get('title') or ''}",
        f"status     {m.get('status')}" + ("  (dry run)" if m.get("dry_run") else ""),
        f"operator   {m.get('operator')}",
        f"mode       {m.get('mode')}",
        f"started    {m.get('started_at')}",
        f"finished   {m.get('finished_at')}",
        f"record     {view.run_dir}",
    ]
    if m.get("resumes"):
        lines.insert(3, f"resumes    {m['resumes']}")
    if m.get("sealed_later"):
        lines.append(f"sealed     {m['sealed_later']}")
    lines += member_line(m)
    if view.chain:
        steps = " -> ".join(f"{run} ({status})" for run, status in view.chain)
        lines += [f"chain      {steps}", f"final      {view.chain[-1][1]}"]
    if m.get("kind") == "fleet":
        return "\n".join(lines + fleet_lines(m) + _approval_lines(view.run_dir))
    lines += [
        "",
        "parameters",
    ]
    lines += [f"  {k} = {v}" for k, v in (m.get("parameters") or {}).items()] or ["  (none)"]
    lines += ["", "steps"]
    for s in m.get("steps", []):
        exit_code = "" if s.get("exit_code") is None else f"exit {s['exit_code']}"
        duration = "" if s.get("duration_s") is None else f"{s['duration_s']:.2f}s"
        row = f"  {s['id']:<14} {s.get('status')!s:<14} {exit_code:<8} {duration:<9} "
        row += str(s.get("title") or "")
        lines.append(row.rstrip())
    lines += ["", "checks"]
    for c in m.get("checks", []):
        mark = "[x]" if c.get("checked") else "[ ]"
        who = f"  — {c.get('by')} at {c.get('at')}" if c.get("checked") else ""
        lines.append(f"  {mark} {c['id']}: {c.get('text')}{who}")
    lines += _approval_lines(view.run_dir)
    if m.get("failure"):
        f = m["failure"]
        lines += ["", f"failure    {f.get('status')} at {f.get('step') or '-'}: {f.get('reason')}"]
    if m.get("rollback"):
        r = m["rollback"]
        where = f" at {r.get('failed_step')}: {r.get('reason')}" if r.get("failed_step") else ""
        lines += [f"rollback   {r.get('status')}{where}"]
    return "\n".join(lines)


def _approval_lines(run_dir: Path) -> list[str]:
    """The approvals kept in the record (``approvals.json``), one line each."""
    path = run_dir / RECORD_APPROVALS
    if not path.is_file():
        return []
    try:
        approvals = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["", "approvals  (unreadable)"]
    lines = ["", "approvals"]
    for a in approvals:
        verdict = "valid signature" if a.get("valid") else f"INVALID: {a.get('problem')}"
        comment = f"  “{a['comment']}”" if a.get("comment") else ""
        lines.append(
            f"  {a.get('role')}: {a.get('principal')} at {a.get('signed_at')} ({verdict}){comment}"
        )
    return lines


def _step_line(entry: dict[str, Any]) -> str:
    parts = [f"status: {entry.get('status')}"]
    if entry.get("exit_code") is not None:
        parts.append(f"exit {entry['exit_code']}")
    if entry.get("duration_s") is not None:
        parts.append(f"{entry['duration_s']} s")
    parts.append(f"started {entry.get('started_at')}")
    if entry.get("reason"):
        parts.append(f"reason: {entry['reason']}")
    return ", ".join(parts)


def export_markdown(view: RecordView) -> str:
    """A Markdown report for auditors: header, timeline with commands and outputs, checks."""
    m = view.manifest
    runbook = m.get("runbook") or {}
    out = [f"# Run record: {runbook.get('title') or runbook.get('id')}", ""]
    out += ["```text", show_text(view), "```", "", "## Step timeline", ""]
    for entry in view.timeline:
        out += [
            f"### {entry['id']} {entry.get('title') or ''}".rstrip(),
            "",
            f"- {_step_line(entry)}",
            "",
        ]
        out += ["```bash", entry.get("code", "").rstrip(), "```", ""]
        out += ["```text", (entry.get("output") or "").rstrip(), "```", ""]
    return "\n".join(out) + "\n"


_STYLE = (
    "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
    "pre{background:#f6f8fa;padding:8px;overflow-x:auto}"
    "td,th{border:1px solid #ccc;padding:2px 6px}"
    ".failed,.interrupted,.blocked{color:#cf222e}.succeeded{color:#1a7f37}</style>"
)


def export_html(view: RecordView) -> str:
    """A self-contained HTML report (no scripts, no remote resources)."""
    m = view.manifest
    e = html.escape
    runbook = m.get("runbook") or {}
    parts = [
        (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{e(str(runbook.get('title') or ''))}</title>{_STYLE}</head><body>"
        ),
        f"<h1>Run record: {e(str(runbook.get('title') or runbook.get('id')))}</h1>",
        f"<pre>{e(show_text(view))}</pre><h2>Step timeline</h2>",
    ]
    for entry in view.timeline:
        status = str(entry.get("status"))
        parts.append(
            f"<h3 class='{e(status)}'>{e(entry['id'])} {e(str(entry.get('title') or ''))}: "
            f"{e(status)}</h3>"
            f"<p>{e(_step_line(entry))}</p>"
            f"<pre>{e(entry.get('code', ''))}</pre><pre>{e(entry.get('output') or '')}</pre>"
        )
    parts.append("<h2>Checks and approvals</h2><table><tr>")
    parts.append("".join(f"<th>{h}</th>" for h in ("id", "item", "checked", "by", "at")) + "</tr>")
    for c in m.get("checks", []):
        cells = (
            e("" if c.get(k) is None else str(c.get(k)))
            for k in ("id", "text", "checked", "by", "at")
        )
        parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    parts.append("</table></body></html>")
    return "".join(parts)
