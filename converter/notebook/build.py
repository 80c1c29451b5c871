"""Model → notebook (nbformat 4.5), deterministic so converting twice is byte-identical.

Cell order: title and metadata, the papermill ``parameters`` cell, the runtime
setup cell, then the runbook's sections in document order — except the
pre-execution checklist, which is moved before the procedure because it gates the
first step. Code cells are rendered from the small templates in ``cells/``.
Every cell carries its source line under ``metadata.runbook``.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import nbformat
from nbformat import NotebookNode

from .. import __version__
from ..markdown.approvals import approval_spec
from ..model import SWITCHES, Checklist, Expected, Runbook, Section, ShellBlock, Step
from ..parameters import RUN_SETTINGS, secret_variable, to_declaration
from .gates import step_gates
from .labels import label

RUN_ATTRIBUTES = ("timeout", *SWITCHES)
"""The fence attributes ``%%step`` reads (the step id, from ``name``, comes first)."""
HIDDEN_INPUT_ROLES = ("parameters", "setup", "checklist", "check", "rollback-panel", "finish")
"""Plumbing cells: an operator sees their output (form, checkboxes, verdicts), not their Python.

JupyterLab collapses their input (``metadata.jupyter.source_hidden``); a click on
the bar expands it. Step cells stay visible and editable: they are the runbook.
"""


def build_notebook(runbook: Runbook, *, source_name: str | None = None) -> NotebookNode:
    """The notebook for ``runbook``; ``source_name`` is recorded instead of its path."""
    builder = _Builder(runbook)
    titles = step_titles(runbook)
    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "runbook": {
            "id": runbook.meta.id,
            "title": runbook.meta.title,
            "lang": runbook.meta.lang,
            "source": source_name or runbook.path,
            "source_sha256": runbook.source_sha256,
            "converter_version": __version__,
            "parameters": [to_declaration(p) for p in runbook.parameters],
            "approvals": approval_spec(runbook),
            "timeout": runbook.meta.timeout,
            "steps": [
                {
                    "id": b.step_id,
                    "kind": b.kind,
                    "title": titles[b.step_id],
                    "line": b.line,
                    "gate": builder.gates.get(b.step_id, []),
                }
                for b in runbook.shell_blocks()
            ],
            "checklists": _checklists(runbook),
        },
    }
    nb.cells = builder.cells()
    return nb


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Validate and write atomically, so a failure never leaves a partial notebook."""
    write_text(notebook_text(nb), path)


def write_text(text: str, path: Path) -> None:
    """Write a notebook's text atomically (a temporary file renamed over the target)."""
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:  # a target that is a directory, a full disk: no .tmp left behind
        tmp.unlink(missing_ok=True)
        raise


def notebook_text(nb: NotebookNode) -> str:
    """The exact bytes ``write_notebook`` writes; raises if ``nb`` breaks the nbformat schema.

    Validated once, here (``nbformat.writes`` would validate again and only log).
    """
    nbformat.validate(nb)
    # What nbformat.v4.nbjson.writes does, without its deep copy of the whole notebook: only
    # the cell dicts whose ``source`` becomes a list of lines are copied (a built notebook has
    # no outputs, attachments or transient metadata to strip).
    cells = [
        {**cell, "source": cell["source"].splitlines(True)}
        if isinstance(cell.get("source"), str)
        else cell
        for cell in nb.cells
    ]
    return json.dumps({**nb, "cells": cells}, **_JSON_FORMAT) + "\n"


_JSON_FORMAT: dict[str, Any] = {
    "indent": 1,
    "sort_keys": True,
    "separators": (",", ": "),
    "ensure_ascii": False,
}
"""nbformat's own JSON layout (``nbformat.v4.nbjson.JSONWriter``), so the bytes are the same."""


def render(template: str, **values: Any) -> str:
    """Fill one cell template from ``converter/cells``."""
    return _template(template).substitute(values).rstrip("\n")


@functools.cache
def _template(name: str) -> Template:
    """A cell template, read once per process (a step cell is rendered once per step)."""
    return Template(
        resources.files("converter.notebook.cells").joinpath(name).read_text(encoding="utf-8")
    )


def step_titles(runbook: Runbook) -> dict[str, str]:
    """The title of the step each step cell belongs to, by cell id (one pass: linear)."""
    return {b.step_id: step.title for step in runbook.steps() for b in step.shell_blocks}


class _Builder:
    """Walks the model once, turning each item into cells."""

    def __init__(self, runbook: Runbook):
        self.runbook = runbook
        self.lang = runbook.meta.lang
        self.gates = step_gates(runbook)
        self.out: list[NotebookNode] = []
        self.section_kind: str | None = None

    def cells(self) -> list[NotebookNode]:
        rb = self.runbook
        if rb.title_markdown is not None:
            self._markdown(rb.title_markdown.text, rb.title_markdown.line, "title")
        self._markdown(self._metadata_table(), rb.body_start, "metadata")
        self._code(self._parameters(), rb.body_start, "parameters", tags=["parameters"])
        self._code(self._setup(), rb.body_start, "setup")
        moved = [c for c in rb.checklists() if c.role == "pre" and not self._in(c, "prerequisites")]
        for section in rb.sections:
            if section.kind == "procedure" or (
                section.kind not in ("prerequisites", "overview", "impact") and moved
            ):
                for checklist in moved:
                    self._checklist(checklist)
                moved = []
            self._section(section)
        for checklist in moved:
            self._checklist(checklist)
        self._code(
            render("finish.py.tmpl", finish_comment=label(self.lang, "finish_comment")), 0, "finish"
        )
        return self.out

    def _in(self, checklist: Checklist, kind: str) -> bool:
        """Whether a section of this kind holds the list (a runbook may repeat a heading)."""
        return any(s.kind == kind and checklist in s.items for s in self.runbook.sections)

    def _section(self, section: Section) -> None:
        self.section_kind = section.kind
        panel = section.kind == "rollback" and any(
            isinstance(i, Step) and i.shell_blocks for i in section.items
        )
        for item in section.items:
            if panel and isinstance(item, Step):
                comment = label(self.lang, "rollback_comment")
                self._code(
                    render("rollback.py.tmpl", rollback_comment=comment),
                    section.line,
                    "rollback-panel",
                )
                panel = False
            if isinstance(item, Step):
                self._step(item)
            elif isinstance(item, Checklist):
                if item.role != "pre" or section.kind == "prerequisites":
                    self._checklist(item)
            else:
                self._markdown(item.text, item.line, "prose")

    def _step(self, step: Step) -> None:
        # A list confirms the block before it (a step's second list, after its second
        # block, is ticked once that block succeeded); one before any block, the step.
        last = step.shell_blocks[-1].step_id if step.shell_blocks else None
        before: str | None = None
        for item in step.items:
            if isinstance(item, ShellBlock):
                self._shell(item)
                before = item.step_id
            elif isinstance(item, Expected):
                self._expected(item)
            elif isinstance(item, Checklist):
                self._checklist(item, before or last)
            else:
                self._markdown(item.text, item.line, "prose")

    # -- cells ----------------------------------------------------------------
    def _shell(self, block: ShellBlock) -> None:
        attrs = "".join(f" {k}={v}" for k, v in block.attrs if k in RUN_ATTRIBUTES)
        if block.kind != "procedure":
            attrs = f" kind={block.kind}" + attrs
        code = render(
            "step.tmpl", step_id=block.step_id, attributes=attrs, code=block.code.rstrip("\n")
        )
        meta = {"step_id": block.step_id, "kind": block.kind, "language": block.language}
        self._code(code, block.line, "step", extra=meta)

    def _expected(self, expected: Expected) -> None:
        self._markdown(expected.markdown, expected.line, "expected")
        if expected.match and expected.step_id:
            code = render(
                "expect.py.tmpl",
                expected_comment=label(self.lang, "expected_comment"),
                step_id=_py(expected.step_id),
                match=_py(expected.match),
                text=_py(expected.text),
            )
            self._code(code, expected.line, "check", extra={"step_id": expected.step_id})

    def _checklist(self, checklist: Checklist, step: str | None = None) -> None:
        """A checklist cell; ``step`` and ``section`` tell the kernel what the list confirms."""
        items = "\n".join(
            f"        ({_py(i.id)}, {_py(i.text)}, {i.checked})," for i in checklist.items
        )
        code = render(
            "checklist.py.tmpl",
            list_id=_py(checklist.id),
            title=_py(checklist.title),
            items=items,
            role=_py(checklist.role),
            step=_py(step),
            section=_py(self.section_kind if checklist.role != "pre" else None),
        )
        # "role" is the cell's role; the list's own role (verify, pre…) must not overwrite it.
        extra = {"checklist_id": checklist.id, "checklist_role": checklist.role}
        self._code(code, checklist.line, "checklist", extra=extra)

    def _markdown(self, text: str, line: int, role: str) -> None:
        last = self.out[-1] if self.out else None
        if (
            role == "prose"
            and last is not None
            and last.cell_type == "markdown"
            and last.metadata["runbook"]["role"] == "prose"
        ):
            last.source += "\n\n" + text
            return
        cell = NotebookNode(
            cell_type="markdown",
            id=f"{role}-{line}",
            metadata={"runbook": {"role": role, "source_line": line}},
            source=text,
        )
        self.out.append(cell)

    def _code(
        self,
        code: str,
        line: int,
        role: str,
        *,
        tags: list[str] | None = None,
        extra: dict | None = None,
    ) -> None:
        # Cells are built as plain nodes (nbformat's new_code_cell validates each one, which
        # made conversion take seconds per thousand steps); notebook_text validates it all.
        metadata: dict[str, Any] = {"runbook": {"role": role, "source_line": line, **(extra or {})}}
        if role in HIDDEN_INPUT_ROLES:
            metadata["jupyter"] = {"source_hidden": True}
        if tags:
            metadata["tags"] = tags
        cell = nbformat.from_dict(
            {
                "cell_type": "code",
                "execution_count": None,
                "id": role if role in ("parameters", "setup", "finish") else f"{role}-{line}",
                "metadata": metadata,
                "outputs": [],
                "source": code,
            }
        )
        self.out.append(cell)

    # -- generated text -------------------------------------------------------
    def _metadata_table(self) -> str:
        rb, lang = self.runbook, self.lang
        rows = [
            ("ID", f"`{rb.meta.id}`"),
            (label(lang, "source"), f"`{Path(rb.path).name}`"),
            ("SHA-256", f"`{rb.source_sha256[:16]}…`"),
            (label(lang, "converter"), f"runbook-notebooks {__version__}"),
        ]
        rows += [(k, v) for k, v in rb.meta.header]
        lines = [
            f"**{label(lang, 'metadata')}**",
            "",
            f"| {label(lang, 'field')} | {label(lang, 'value')} |",
            "|---|---|",
        ]
        lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows]
        return "\n".join(lines)

    def _parameters(self) -> str:
        lines = []
        for p in self.runbook.parameters:
            if p.secret:
                lines.append(
                    f"# {p.name}: {label(self.lang, 'secret_comment')} {secret_variable(p.name)}"
                )
                continue
            comment = " ".join(p.description.split())
            lines.append(f"{p.name} = {_py(p.default)}" + (f"  # {comment}" if comment else ""))
        declarations = "\n".join(lines) + "\n" if lines else ""
        settings = "\n".join(
            f"{s.name} = {_py(s.default)}  # {label(self.lang, s.label)}" for s in RUN_SETTINGS
        )
        return render(
            "parameters.py.tmpl",
            declarations=declarations,
            settings=settings,
            parameters_header=label(self.lang, "parameters_header"),
            settings_header=label(self.lang, "settings_header"),
        )

    def _setup(self) -> str:
        rb = self.runbook
        info = {
            "id": rb.meta.id,
            "title": rb.meta.title,
            "lang": rb.meta.lang,
            "source_sha256": rb.source_sha256,
            "checklists": _checklists(rb),
            "approvals": approval_spec(rb),
        }
        params = (
            "\n".join(f"        {_py(to_declaration(p))}," for p in rb.parameters)
            or "        # (none declared)"
        )
        titles = step_titles(rb)
        steps = "\n".join(
            f"        ({_py(b.step_id)}, {_py(b.kind)}, {_py(titles[b.step_id])}, "
            f"{_py(self.gates.get(b.step_id, []))}),"
            for b in rb.shell_blocks()
        )
        return render(
            "setup.py.tmpl",
            setup_comment=label(self.lang, "setup_comment"),
            runbook=_py(info),
            parameters=params,
            steps=steps,
            timeout=_py(rb.meta.timeout),
        )


def _checklists(runbook: Runbook) -> list[dict[str, Any]]:
    """Every declared checklist, so every record lists every item (ticked or not)."""
    return [
        {
            "id": c.id,
            "role": c.role,
            "title": c.title,
            "items": [{"id": i.id, "text": i.text} for i in c.items],
        }
        for c in runbook.checklists()
    ]


def _py(value: Any) -> str:
    """A Python literal for ``value`` (deterministic; JSON-like values only)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(str(k))}: {_py(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)
