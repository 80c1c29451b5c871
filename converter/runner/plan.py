"""The plan of a dry run, for the terminal: what each step would run, and what would block it.

Read from the notebook alone (its ``metadata.runbook`` and its cells), never by
starting a kernel: ``runbook run --dry-run`` prints this before (or, with
``--no-record``, instead of) the recorded dry run. Parameter values are
substituted into the commands *for display only* — steps receive them as
environment variables — and secrets show as ``***``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nbformat import NotebookNode

from ..parameters import SECRET_MARK, Resolved, from_declaration, resolve, to_environment
from .run import RunOptions
from .run import _check_confirm_ids as check_confirm_ids  # the run's own check, not a copy
from .source import load_notebook

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_FENCE = re.compile(r"^(```|~~~)")


@dataclass
class PlannedStep:
    """One step cell as the plan shows it."""

    id: str
    title: str
    kind: str
    code: str
    attrs: dict[str, str] = field(default_factory=dict)
    expected: list[str] = field(default_factory=list)
    gate: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Gate:
    """A checklist that gates a step, and the items ``--confirm`` leaves unticked."""

    list_id: str
    title: str
    unticked: list[tuple[str, str]]


def planned_steps(nb: NotebookNode) -> list[PlannedStep]:
    """Every step cell in notebook order, with its expected results and its gate."""
    declared = {s.get("id"): s for s in nb.metadata.get("runbook", {}).get("steps", [])}
    steps: list[PlannedStep] = []
    for cell in nb.cells:
        meta = cell.metadata.get("runbook", {})
        if cell.cell_type == "code" and meta.get("role") == "step":
            line, _, code = cell.source.partition("\n")
            words = line.split()[2:]  # "%%step", the id, then attributes
            attrs = dict(w.partition("=")[::2] for w in words)
            info = declared.get(meta.get("step_id"), {})
            steps.append(
                PlannedStep(
                    id=str(meta.get("step_id")),
                    title=str(info.get("title") or meta.get("step_id")),
                    kind=str(meta.get("kind") or info.get("kind") or "procedure"),
                    code=code,
                    attrs=attrs,
                    gate=list(info.get("gate") or []),
                )
            )
        elif meta.get("role") == "expected" and steps:
            steps[-1].expected.append(_expected_text(cell.source))
    return steps


def blocking_gates(nb: NotebookNode, step: PlannedStep, confirm: tuple[str, ...]) -> list[Gate]:
    """The gates of ``step`` that ``--confirm`` would leave with unticked items."""
    lists = {c["id"]: c for c in nb.metadata.get("runbook", {}).get("checklists", [])}
    gates = []
    for list_id in step.gate:
        checklist = lists.get(list_id, {"title": list_id, "items": []})
        if "all" in confirm or list_id in confirm:
            continue
        unticked = [
            (item["id"], item["text"]) for item in checklist["items"] if item["id"] not in confirm
        ]
        if unticked:
            gates.append(Gate(list_id, str(checklist.get("title") or ""), unticked))
    return gates


def display_code(code: str, resolved: Resolved) -> str:
    """``code`` with ``$name`` / ``${name}`` of declared parameters replaced by their values.

    For the reader only: secrets become ``***``; variables that are not
    parameters (set by the script or the environment) stay as written.
    """
    shown = {p.name: p for p in resolved.declarations}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        param = shown.get(name)
        if param is None:
            return match.group(0)
        if param.secret:
            return SECRET_MARK
        return to_environment(resolved.values.get(name))

    return _VARIABLE.sub(value, code)


def dry_run_plan(options: RunOptions) -> str:
    """Validate what ``runbook run`` would (parameters, ``--confirm`` ids) and return the plan.

    Raises the same :class:`~converter.errors.RunbookError` a run would, so a
    bad value stops a dry run with or without a record.
    """
    nb = load_notebook(options.source)
    meta = nb.metadata["runbook"]
    declared = tuple(from_declaration(d) for d in meta.get("parameters", []))
    resolved = resolve(
        declared, options.parameters, from_text=options.parameters_from_text, strict=True
    )
    check_confirm_ids(meta, options.confirm)
    return plan_text(nb, resolved, options.confirm)


def plan_text(nb: NotebookNode, resolved: Resolved, confirm: tuple[str, ...]) -> str:
    """The dry run's plan as the terminal shows it."""
    meta = nb.metadata.get("runbook", {})
    out = [f"plan: {meta.get('id')}  {meta.get('title') or ''}".rstrip(), "parameters:"]
    shown = resolved.shown()
    out += [f"  {k} = {_shown(v)}" for k, v in shown.items()] or ["  (none)"]
    sections: dict[str, list[PlannedStep]] = {
        "prerequisite": [],
        "procedure": [],
        "rollback": [],
        "troubleshooting": [],
    }
    for step in planned_steps(nb):
        sections.setdefault(step.kind, []).append(step)
    headings = {
        "prerequisite": "prerequisite checks (run first)",
        "procedure": "procedure",
        "rollback": "rollback (runs only after a failure, with --rollback-on-failure)",
        "troubleshooting": "troubleshooting (never run headless)",
    }
    for kind, steps in sections.items():
        if not steps:
            continue
        out += ["", f"== {headings.get(kind, kind)}"]
        for step in steps:
            out += _step_lines(nb, step, resolved, confirm)
    return "\n".join(out)


def _step_lines(
    nb: NotebookNode, step: PlannedStep, resolved: Resolved, confirm: tuple[str, ...]
) -> list[str]:
    manual = step.attrs.get("manual", "false").lower() in ("true", "yes", "1", "on", "")
    note = "  (manual: not run automatically)" if manual else ""
    lines = ["", f"[{step.id}] {step.title}{note}"]
    for gate in blocking_gates(nb, step, confirm):
        title = f" {gate.title}" if gate.title else ""
        lines.append(
            f"  would block: {gate.list_id}{title} (confirm with --confirm {gate.list_id})"
        )
        lines += [f"    [ ] {item_id}: {text}" for item_id, text in gate.unticked]
    code = display_code(step.code, resolved).rstrip().splitlines()
    lines.append("  $ " + "\n".join(f"    {line}".rstrip() for line in code).lstrip())
    for expected in step.expected:
        lines.append("  expected: " + "\n            ".join(expected.splitlines()))
    return lines


def _expected_text(markdown: str) -> str:
    """The fenced block of an expected-result cell (else the cell's text without its label)."""
    lines, inside, found = [], False, False
    for line in markdown.splitlines():
        if _FENCE.match(line.strip()):
            inside, found = not inside, True
            continue
        if inside:
            lines.append(line)
    if found:
        return "\n".join(lines).strip("\n")
    return "\n".join(markdown.splitlines()[1:]).strip() or markdown.strip()


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
