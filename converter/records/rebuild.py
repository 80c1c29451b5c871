"""Rebuild a record notebook from the journal, for runs nobody saved.

An operator in JupyterLab may never save the notebook; a killed runner leaves
only a partial save. The journal and ``logs/`` hold every step's output and
every tick, so the record notebook is rebuilt from them: the generated
notebook's cells when its file is known, otherwise a notebook synthesised from
the journal alone. Checklists are rendered as text/HTML, never as widgets, with
the same views the kernel shows (:mod:`converter.records.outputs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from . import events as ev
from .outputs import (
    cap_output,
    checklist_bundle,
    display_output,
    status_bundle,
    step_detail,
)
from .verdict import Verdict, judge


def record_notebook(
    run_dir: Path,
    events: list[ev.Event],
    source: NotebookNode | None,
    verdict: Verdict | None = None,
) -> NotebookNode:
    """The record notebook for ``run_dir``: ``source``'s cells with outputs from the journal.

    A step that started and never ended (its kernel or runner killed) shows what
    ``verdict`` says of it, as the manifest will, not the "running" it was journaled as.
    A step cell's source is what its last run journaled (``step_start``, or
    ``step_dry_run``), not the file's: an operator may edit a cell in JupyterLab and run
    it without saving, and the record must show the command that ran, as its journal,
    log and exports do.
    """
    lang = str(ev.RunFacts.from_events(events).runbook.get("lang") or "en")
    steps = _step_outputs(run_dir, events, lang, verdict or judge(events))
    checks = ev.check_states(events)
    if source is None:
        return _synthesise(events, steps, checks, lang)
    ran = _ran(events)
    nb = nbformat.from_dict(source)
    runbook = nb.metadata.get("runbook", {})
    declared = {c.get("id"): c for c in runbook.get("checklists", [])}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        meta = cell.metadata.get("runbook", {})
        if meta.get("step_id") in steps and meta.get("role") == "step":
            cell.outputs = steps[meta["step_id"]]
            if meta["step_id"] in ran:
                cell.source = _as_ran(cell.source, *ran[meta["step_id"]])
        elif meta.get("checklist_id"):
            list_id = meta["checklist_id"]
            items = [
                {"id": i.get("id"), "text": i.get("text")}
                for i in declared.get(list_id, {}).get("items", [])
            ]
            cell.outputs = [
                _checklist_output(
                    list_id, str(declared.get(list_id, {}).get("title") or ""), items, checks, lang
                )
            ]
    nb.metadata.pop("widgets", None)
    return nb


def _ran(events: list[ev.Event]) -> dict[str, tuple[str | None, str]]:
    """Each step's ``%%step`` line (journaled since it is) and code, as it last ran."""
    return {
        str(e.get("step")): (e.get("line"), str(e.get("code") or ""))
        for e in events
        if e.get("event") in (ev.STEP_START, ev.STEP_DRY_RUN) and "code" in e
    }


def _as_ran(source: str, line: str | None, code: str) -> str:
    """A step cell with the line and code that ran (the file's line, for older journals)."""
    head = f"%%step {line}" if line else source.partition("\n")[0]
    return f"{head}\n{code}".rstrip("\n")


def _step_outputs(
    run_dir: Path, events: list[ev.Event], lang: str, verdict: Verdict
) -> dict[str, list[NotebookNode]]:
    titles = {s.get("id"): str(s.get("title") or "") for s in ev.RunFacts.from_events(events).steps}
    outputs: dict[str, list[NotebookNode]] = {}
    logs: dict[str, str | None] = {}
    for event in events:
        kind, step = event.get("event"), str(event.get("step"))
        title = titles.get(step, step)
        if kind == ev.STEP_START:  # replaced by step_end; if none came, the output so far stays
            logs[step] = event.get("log")
            judged = verdict.steps.get(step, {}).get("status") or "running"
            why = (
                (verdict.reason or "")
                if judged != "running" and verdict.failed_step == step
                else ""
            )
            outputs[step] = [display_output(status_bundle(step, title, judged, why))]
            text = _log(run_dir, event.get("log"), lang)
            if text:
                outputs[step].append(_stream(text))
        elif kind == ev.STEP_END:
            # A failed expected-result check journals a second step_end without a log:
            # the step's output is still the one its step_start named.
            text = _log(run_dir, event.get("log") or logs.get(step), lang)
            detail = step_detail(
                event.get("exit_code"), event.get("duration_s"), event.get("reason")
            )
            outputs[step] = [
                display_output(status_bundle(step, title, str(event.get("status")), detail))
            ]
            if text:
                outputs[step].append(_stream(text))
        elif kind in (ev.STEP_SKIPPED, ev.STEP_DRY_RUN, ev.BLOCKED):
            reason = event.get("reason") or ", ".join(event.get("unchecked", []))
            status = kind.replace("step_", "")
            outputs.setdefault(step, []).append(
                display_output(status_bundle(step, title, status, str(reason or "")))
            )
    return outputs


def _log(run_dir: Path, name: str | None, lang: str) -> str:
    if not name or not (run_dir / name).is_file():
        return ""
    return cap_output((run_dir / name).read_text(encoding="utf-8", errors="replace"), lang, name)


def _stream(text: str) -> NotebookNode:
    """As nbformat.v4.new_output makes it, without validating it (see display_output):
    validating each output was 0.3 ms of 0.4 ms per step when the finish cell rebuilt a record."""
    return NotebookNode(output_type="stream", name="stdout", text=text)


def _checklist_output(
    list_id: str, title: str, declared: list[dict[str, Any]], checks: dict[str, ev.Event], lang: str
) -> NotebookNode:
    """Every item of the list (declared first, then any other ticked) with its last state."""
    items = list(declared)
    known = {item["id"] for item in items}
    items += [
        {"id": item_id, "text": event.get("text")}
        for item_id, event in sorted(checks.items())
        if item_id.startswith(list_id + ".") and item_id not in known
    ]
    states = []
    for item in items:
        event = checks.get(str(item["id"]), {})
        states.append(
            {
                **item,
                "checked": bool(event.get("checked")),
                "by": event.get("by"),
                "at": event.get("at"),
                "via": event.get("via"),
            }
        )
    return display_output(checklist_bundle(list_id, title, states, lang))


def _synthesise(events: list[ev.Event], steps: dict, checks: dict, lang: str) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    runbook = ev.RunFacts.from_events(events).runbook
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "runbook": dict(runbook),
    }
    nb.cells.append(
        nbformat.v4.new_markdown_cell(
            f"# {runbook.get('title', 'Runbook record')}\n\n"
            "Rebuilt from the journal: the notebook itself was not saved."
        )
    )
    ran = _ran(events)
    for step, outputs in steps.items():
        line, code = ran.get(step, (None, ""))
        cell = nbformat.v4.new_code_cell(f"%%step {line or step}\n{code}".rstrip("\n"))
        cell.metadata = {"runbook": {"role": "step", "step_id": step}}
        cell.outputs = outputs
        nb.cells.append(cell)
    for list_id in sorted({item.rsplit(".", 1)[0] for item in checks}):
        cell = nbformat.v4.new_code_cell(f"# checklist {list_id}")
        cell.metadata = {"runbook": {"role": "checklist", "checklist_id": list_id}}
        cell.outputs = [_checklist_output(list_id, "", [], checks, lang)]
        nb.cells.append(cell)
    for index, cell in enumerate(nb.cells):
        cell.id = f"record-{index}"
    return nb
