"""Rebuild a record notebook from the journal, for runs nobody saved.

An operator in JupyterLab may never save the notebook; a killed runner leaves
only a partial save. The journal and ``logs/`` hold every step's output and
every tick, so the record notebook is rebuilt from them: the generated
notebook's cells when its file is known, otherwise a notebook synthesised from
the journal alone. Checklists are rendered as text/HTML, never as widgets.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

OUTPUT_CAP = 200_000


def record_notebook(run_dir: Path, events: list[dict[str, Any]], source: NotebookNode | None) -> NotebookNode:
    """The record notebook for ``run_dir``: ``source``'s cells with outputs from the journal."""
    steps = _step_outputs(run_dir, events)
    checks = _check_states(events)
    if source is None:
        return _synthesise(events, steps, checks)
    nb = nbformat.from_dict(source)
    declared = {c.get("id"): [(i.get("id"), i.get("text")) for i in c.get("items", [])]
                for c in nb.metadata.get("runbook", {}).get("checklists", [])}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        meta = cell.metadata.get("runbook", {})
        if meta.get("step_id") in steps:
            cell.outputs = steps[meta["step_id"]]
        elif meta.get("checklist_id"):
            cell.outputs = [_checklist_output(meta["checklist_id"], checks, declared.get(meta["checklist_id"]))]
    nb.metadata.pop("widgets", None)
    return nb


def _step_outputs(run_dir: Path, events: list[dict[str, Any]]) -> dict[str, list[NotebookNode]]:
    outputs: dict[str, list[NotebookNode]] = {}
    for event in events:
        kind, step = event.get("event"), str(event.get("step"))
        if kind == "step_start":  # replaced by step_end; if none came, the output so far stays
            outputs[step] = [_status(step, "running", "")]
            text = _log(run_dir, event.get("log"))
            if text:
                outputs[step].append(nbformat.v4.new_output("stream", name="stdout", text=text))
        elif kind == "step_end":
            text = _log(run_dir, event.get("log"))
            detail = f"exit {event.get('exit_code')}, {event.get('duration_s')} s" + (
                f", {event['reason']}" if event.get("reason") else "")
            outputs[step] = [_status(step, str(event.get("status")), detail)]
            if text:
                outputs[step].append(nbformat.v4.new_output("stream", name="stdout", text=text))
        elif kind in ("step_skipped", "step_dry_run", "blocked"):
            reason = event.get("reason") or ", ".join(event.get("unchecked", []))
            outputs.setdefault(step, []).append(_status(step, kind.replace("step_", ""), str(reason or "")))
    return outputs


def _log(run_dir: Path, name: str | None) -> str:
    if not name or not (run_dir / name).is_file():
        return ""
    text = (run_dir / name).read_text(encoding="utf-8", errors="replace")
    if len(text) > OUTPUT_CAP:
        text = text[:OUTPUT_CAP] + f"\n[output cut here; the full output is in {name}]\n"
    return text


def _status(step: str, status: str, detail: str) -> NotebookNode:
    plain = f"[{step}] {status}" + (f" ({detail})" if detail else "")
    markup = f'<div class="runbook-status runbook-{html.escape(status)}" data-step="{html.escape(step)}">{html.escape(plain)}</div>'
    return nbformat.v4.new_output("display_data", data={"text/plain": plain, "text/html": markup})


def _check_states(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("event") == "check":
            states[event["id"]] = event
    return states


def _checklist_output(list_id: str, checks: dict[str, dict[str, Any]],
                      declared: list[tuple[str, str]] | None = None) -> NotebookNode:
    """Every item of the list with its last state; who ticked it, when and how."""
    items = list(declared or [])
    known = {item_id for item_id, _ in items}
    items += [(item_id, str(event.get("text"))) for item_id, event in sorted(checks.items())
              if item_id.startswith(list_id + ".") and item_id not in known]
    rows, plain = [], []
    for item_id, text in items:
        event = checks.get(item_id)
        checked = bool(event and event.get("checked"))
        mark = "☑" if checked else "☐"
        who = f"{event.get('by')} at {event.get('at')} via {event.get('via')}" if event else "not ticked"
        if event and not checked:
            who = f"unticked by {who}"
        plain.append(f"{mark} {text} — {who}")
        rows.append(f'<li data-check="{html.escape(item_id)}" data-checked="{str(checked).lower()}">'
                    f"{mark} {html.escape(str(text))} <small>— {html.escape(who)}</small></li>")
    if not rows:
        plain, rows = ["(no item ticked)"], ["<li>(no item ticked)</li>"]
    return nbformat.v4.new_output("display_data", data={
        "text/plain": "\n".join(plain),
        "text/html": f'<ul class="runbook-checklist-state" data-list="{html.escape(list_id)}">{"".join(rows)}</ul>',
    })


def _synthesise(events: list[dict[str, Any]], steps: dict, checks: dict) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    start = next((e for e in events if e.get("event") == "session_start"), {})
    runbook = start.get("runbook") or {}
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "runbook": dict(runbook)}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {runbook.get('title', 'Runbook record')}\n\n"
                                                  "Rebuilt from the journal: the notebook itself was not saved."))
    codes = {e.get("step"): e.get("code", "") for e in events if e.get("event") in ("step_start", "step_dry_run")}
    for step, outputs in steps.items():
        cell = nbformat.v4.new_code_cell(f"%%step {step}\n{codes.get(step, '')}".rstrip("\n"))
        cell.metadata = {"runbook": {"role": "step", "step_id": step}}
        cell.outputs = outputs
        nb.cells.append(cell)
    lists = sorted({item.rsplit(".", 1)[0] for item in checks})
    for list_id in lists:
        cell = nbformat.v4.new_code_cell(f"# checklist {list_id}")
        cell.metadata = {"runbook": {"role": "checklist", "checklist_id": list_id}}
        cell.outputs = [_checklist_output(list_id, checks)]
        nb.cells.append(cell)
    for index, cell in enumerate(nb.cells):
        cell.id = f"record-{index}"
    return nb
