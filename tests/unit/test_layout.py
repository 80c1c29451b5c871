"""The layout's rules (issue: one folder per stage, arrows only down, one owner per concept).

``lint-imports`` runs the contracts in pyproject.toml; the rest are the rules a
contract cannot say: module size, the faces' ``__all__``, and one spelling of
each journal event name and each record file name.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "converter"
STAGES = ("markdown", "lint", "notebook", "runtime", "runner", "records")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    result = subprocess.run(
        [lint_imports, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and result.stdout.count("KEPT") >= 4


def test_stages_are_folders_with_a_face() -> None:
    for stage in STAGES:
        face = PACKAGE / stage / "__init__.py"
        tree = ast.parse(face.read_text(encoding="utf-8"))
        names = [
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        ]
        assert "__all__" in names, f"{face} has no __all__"
    top = [p for p in PACKAGE.iterdir() if p.suffix == ".py"]
    assert len(top) <= 10, sorted(p.name for p in top)


def test_no_module_over_400_lines() -> None:
    long = {
        p.relative_to(ROOT).as_posix(): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


def test_journal_event_names_are_spelled_once() -> None:
    """Every ``journal.write(...)`` names its event through ``records.events``, never a literal."""
    literal = re.compile(r"journal\.write\(\s*[\"']")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _modules()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert not offenders, offenders
    comparisons = re.compile(r"get\(\"event\"\)\s*(==|in)\s*\(?\s*[\"']")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _modules()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if comparisons.search(line)
    ]
    assert not offenders, offenders


def test_record_file_names_are_spelled_once() -> None:
    names = (
        "journal.jsonl",
        "record.ipynb",
        "rollback.ipynb",
        "record.html",
        "manifest.json",
        "index.sqlite",
        ".chain-head",
        ".chain.lock",
        "record.partial.ipynb",
        "manifest.json.sig",
        ".chain-pending",
        "chain-repair",
    )
    owner = PACKAGE / "records" / "layout.py"
    offenders = []
    for path in _modules():
        if path == owner:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in names
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


def test_step_result_is_defined_once() -> None:
    found = [
        p.relative_to(ROOT).as_posix()
        for p in _modules()
        if re.search(r"^class StepResult\b", p.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert found == ["converter/runtime/state.py"], found
