"""Parser cases from ``tests/fixtures/parse/*.md``, markdown-it-py style.

Each case in a fixture file is a title line followed by a line holding only ``.``,
then the input Markdown and the expected result as YAML, each closed by a ``.`` line. The expected
YAML is compared with a summary of the parsed runbook (see :func:`summary`):
only the keys a case lists are compared, lists must match in length and order.
``cells`` lists the notebook's cells after the setup cell (``prose``,
``step:<id>``, ``checklist:<id>``…) and ``magics`` the first line of each step
cell. Two keys are special: ``error`` (``{line: N, message: substring}``) expects a
ParseError, and ``in_markdown`` lists text that must appear in some Markdown cell
of the built notebook (i.e. stays documentation).

Every case that parses is also built into a notebook (validated against the
nbformat schema) and checked for source lines: each element's ``line`` points at
the source line it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from nbcheck import assert_valid

from converter.errors import RunbookError
from converter.markdown.parse import parse_text
from converter.model import Checklist, Expected, Markdown, Runbook, ShellBlock, Step
from converter.notebook.build import build_notebook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parse"


def read_fixture_file(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, title, input, expected) for every case.

    The title is the line before the first ``.``.
    """
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cases, part, marks = [], 0, []
    for index, line in enumerate(lines):
        if line.rstrip("\r\n") != ".":
            continue
        marks.append(index)
        part += 1
        if part == 3:
            first, second, third = marks
            title = lines[first - 1].strip()
            cases.append(
                (
                    first,
                    title,
                    "".join(lines[first + 1 : second]),
                    "".join(lines[second + 1 : third]),
                )
            )
            part, marks = 0, []
    assert part == 0, f"{path.name}: unterminated case after line {marks[0] if marks else '?'}"
    return cases


def all_cases() -> list[Any]:
    params = []
    for path in sorted(FIXTURES.glob("*.md")):
        for line, title, source, expected in read_fixture_file(path):
            params.append(pytest.param(source, expected, id=f"{path.stem}:{line}:{title}"))
    return params


CASES = all_cases()


def summary(runbook: Runbook, nb: Any) -> dict[str, Any]:
    """A plain-data view of a parsed runbook and its notebook, for comparison with YAML."""
    steps = runbook.steps()
    return {
        "meta": {
            "id": runbook.meta.id,
            "title": runbook.meta.title,
            "lang": runbook.meta.lang,
            "timeout": runbook.meta.timeout,
            "header": dict(runbook.meta.header),
            "extra": dict(runbook.meta.extra),
        },
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "default": p.default,
                "choices": None if p.choices is None else list(p.choices),
                "pattern": p.pattern,
                "description": p.description,
                "required": p.required,
                "secret": p.secret,
                "line": p.line,
            }
            for p in runbook.parameters
        ],
        "sections": [{"kind": s.kind, "title": s.title, "line": s.line} for s in runbook.sections],
        "phases": list(dict.fromkeys(s.phase for s in steps if s.phase is not None)),
        "steps": [_step(s) for s in steps],
        "blocks": [_block(b) for b in runbook.shell_blocks()],
        "checklists": [_checklist(c) for c in runbook.checklists()],
        "cells": [_cell(c) for c in nb.cells if c.metadata["runbook"]["role"] not in _FIXED_ROLES],
        "magics": [
            c.source.splitlines()[0] for c in nb.cells if c.metadata["runbook"]["role"] == "step"
        ],
    }


_FIXED_ROLES = ("title", "metadata", "parameters", "setup", "finish")


def _step(step: Step) -> dict[str, Any]:
    verify = step.verify
    return {
        "id": step.id,
        "title": step.title,
        "kind": step.kind,
        "line": step.line,
        "phase": step.phase,
        "labels": dict(step.labels),
        "blocks": [b.step_id for b in step.shell_blocks],
        "expected": [
            {"text": e.text, "match": e.match, "line": e.line, "step": e.step_id}
            for e in step.expected
        ],
        "verify": None if verify is None else verify.id,
    }


def _block(block: ShellBlock) -> dict[str, Any]:
    return {
        "id": block.step_id,
        "kind": block.kind,
        "language": block.language,
        "code": block.code,
        "attrs": dict(block.attrs),
        "line": block.line,
    }


def _checklist(checklist: Checklist) -> dict[str, Any]:
    return {
        "id": checklist.id,
        "role": checklist.role,
        "title": checklist.title,
        "line": checklist.line,
        "items": [
            {"id": i.id, "text": i.text, "checked": i.checked, "line": i.line}
            for i in checklist.items
        ],
    }


def _cell(cell: Any) -> str:
    """``prose``, ``step:1-1``, ``check:1-1``, ``checklist:1-1.verify``, ``expected``…"""
    meta = cell.metadata["runbook"]
    key = meta.get("step_id") or meta.get("checklist_id")
    return f"{meta['role']}:{key}" if key else meta["role"]


def assert_subset(expected: Any, actual: Any, where: str = "") -> None:
    """Every key ``expected`` lists has the same value in ``actual``; lists match item by item."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: no key {key!r} in {sorted(actual)}"
            assert_subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(expected) == len(actual), (
            f"{where}: expected {len(expected)} items, got {len(actual)}: {actual!r}"
        )
        for index, (want, got) in enumerate(zip(expected, actual)):
            assert_subset(want, got, f"{where}[{index}]")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


def assert_lines(runbook: Runbook) -> None:
    """Each element's line is where it is written: a fence opener, a heading, an item."""
    source = runbook.source_lines

    def at(line: int) -> str:
        assert 1 <= line <= len(source), f"line {line} outside the source (1..{len(source)})"
        return source[line - 1]

    for step in runbook.steps():
        for item in step.items:
            _check_item_line(item, at)
        if (
            step.items
            and isinstance(step.items[0], Markdown)
            and step.items[0].text.startswith("#")
        ):
            assert step.title in at(step.line), (
                f"step {step.id}: line {step.line} is {at(step.line)!r}"
            )
    for section in runbook.sections:
        if section.title:
            assert section.title in at(section.line)
        for element in section.items:
            if not isinstance(element, Step):
                _check_item_line(element, at)
    if runbook.title_markdown is not None:
        _check_item_line(runbook.title_markdown, at)
    for param in runbook.parameters:
        assert param.name in at(param.line), f"parameter {param.name}: line {param.line}"


def _check_item_line(item: Any, at: Any) -> None:
    if isinstance(item, ShellBlock):
        assert any(mark in at(item.line) for mark in ("```", "~~~")), (
            f"{item.step_id}: {at(item.line)!r}"
        )
    elif isinstance(item, (Markdown, Expected)):
        text = item.markdown if isinstance(item, Expected) else item.text
        assert at(item.line) == text.splitlines()[0], f"prose at {item.line}: {at(item.line)!r}"
    elif isinstance(item, Checklist):
        for entry in item.items:
            assert entry.text in at(entry.line), f"{entry.id}: {at(entry.line)!r}"
        assert item.line == item.items[0].line


def test_fixture_files_exist() -> None:
    assert len(CASES) >= 60, "the parser fixture files went missing"


@pytest.mark.parametrize(("source", "expected_yaml"), CASES)
def test_parse_case(source: str, expected_yaml: str) -> None:
    expected = yaml.safe_load(expected_yaml) or {}
    error = expected.pop("error", None)
    if error is not None:
        with pytest.raises(RunbookError) as caught:
            parse_text(source, path="fixture.md")
        assert caught.value.path == "fixture.md"
        assert caught.value.line == error["line"], str(caught.value)
        assert error["message"] in caught.value.message
        return
    runbook = parse_text(source, path="fixture.md")
    nb = build_notebook(runbook)
    assert_valid(nb)
    assert_lines(runbook)
    in_markdown = expected.pop("in_markdown", [])
    assert_subset(expected, summary(runbook, nb))
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for text in in_markdown:
        assert any(text in cell for cell in markdown), f"{text!r} is in no Markdown cell"
