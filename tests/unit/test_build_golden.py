"""Golden notebooks, determinism and the staleness check of ``notebooks/``.

A golden notebook in ``tests/data/`` is the converter's output for a template after
normalising what may change without the format changing (the converter version).
A missing golden is written on first run and the test fails saying so; with
``RUNBOOK_WRITE_GOLDEN=1`` goldens are (re)written and the test passes.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbcheck import assert_valid

from converter import __version__
from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, notebook_text

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
GOLDEN_SOURCES = ["runbook-template.ja.md", "runbook-template.en.md", "sqlite-phone-number.ja.md"]


def convert_template(name: str) -> str:
    """The notebook text for ``templates/<name>``, recorded as converted from the repo root."""
    nb = build_notebook(parse_file(REPO / "templates" / name), source_name=f"templates/{name}")
    assert_valid(nb)
    return notebook_text(nb)


def normalise(text: str) -> str:
    """Drop what a release changes without changing the notebook: the converter version."""
    nb = json.loads(text)
    nb["metadata"]["runbook"].pop("converter_version", None)
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = source.replace(
            f"runbook-notebooks {__version__}", "runbook-notebooks <version>"
        )
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "converter.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", GOLDEN_SOURCES)
def test_golden_notebook(name: str) -> None:
    actual = normalise(convert_template(name))
    golden = DATA / (name.rsplit(".", 1)[0] + ".ipynb")
    writing = os.environ.get("RUNBOOK_WRITE_GOLDEN") == "1"
    if not golden.exists() or (writing and golden.read_text(encoding="utf-8") != actual):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
        if not writing:
            pytest.fail(
                f"golden notebook {golden.relative_to(REPO)} was missing and has been written; "
                "review it, commit it and run the tests again"
            )
    assert_valid(golden)
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(),
            actual.splitlines(),
            fromfile=f"{golden.relative_to(REPO)} (golden)",
            tofile=f"templates/{name} (converted now)",
            lineterm="",
            n=2,
        )
        shown = list(diff)
        more = f"\n… {len(shown) - 200} more diff lines" if len(shown) > 200 else ""
        pytest.fail(
            "converted notebook differs from its golden "
            "(if the change is intended: "
            "RUNBOOK_WRITE_GOLDEN=1 pytest tests/unit/test_build_golden.py)\n"
            + "\n".join(shown[:200])
            + more,
            pytrace=False,
        )


@pytest.mark.parametrize("name", GOLDEN_SOURCES)
def test_converting_twice_is_byte_identical(name: str) -> None:
    assert convert_template(name) == convert_template(name)


@pytest.mark.parametrize("name", GOLDEN_SOURCES)
def test_another_process_converts_to_the_same_bytes(name: str) -> None:
    """notebooks/ was written by ``runbook convert`` in another process (another hash seed)."""
    committed = REPO / "notebooks" / (name.rsplit(".", 1)[0] + ".ipynb")
    assert committed.read_text(encoding="utf-8") == convert_template(name), (
        f"{committed.relative_to(REPO)} differs; run: runbook convert templates/ -o notebooks/"
    )


def test_committed_notebooks_are_up_to_date() -> None:
    result = run_cli("convert", "--check", "templates/", "-o", "notebooks/", cwd=REPO)
    message = (
        "notebooks/ is stale; run: runbook convert templates/ -o notebooks/\n"
        f"{result.stdout}{result.stderr}"
    )
    assert result.returncode == 0, message
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        assert_valid(notebook)


def test_check_lists_a_modified_notebook_and_writes_nothing(tmp_path: Path) -> None:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    target = tmp_path / "notebooks" / "runbook-template.en.ipynb"
    nb = json.loads(target.read_text(encoding="utf-8"))
    nb["cells"][-1]["source"] = "# edited by hand\n"
    edited = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    target.write_text(edited, encoding="utf-8")
    assert_valid(target)
    (tmp_path / "notebooks" / "sqlite-phone-number.ja.ipynb").unlink()

    result = run_cli("convert", "--check", "templates/", "-o", "notebooks/", cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    listed = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(listed) == 2, listed
    assert any("notebooks/runbook-template.en.ipynb" in line for line in listed)
    assert any("notebooks/sqlite-phone-number.ja.ipynb" in line for line in listed)
    assert target.read_text(encoding="utf-8") == edited, "--check must not rewrite anything"
    assert not (tmp_path / "notebooks" / "sqlite-phone-number.ja.ipynb").exists()
