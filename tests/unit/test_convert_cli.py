"""Bad input through the real CLI.

``path:line: message``, exit code 2, no traceback, nothing written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nbcheck import assert_valid

GOOD = "# Runbook: Good\n\n## Procedure\n\n#### 1-1. Hello\n\n```bash\necho hello\n```\n"
DUPLICATE = (
    "# T\n\n## Procedure\n\n"
    "#### 1-1. A\n\n```bash\necho a\n```\n\n"
    "#### 1-1. B\n\n```bash\necho b\n```\n"
)

BAD_INPUTS = {
    # name: (file bytes, line, message fragment)
    "non-utf8": (b"# T\n\nok\n\xff\xfe broken\n", 4, "not UTF-8 text (byte 0xff)"),
    "unclosed-fence": (
        b"# T\n\n## Procedure\n\n```bash\necho never closed\n",
        5,
        "is never closed",
    ),
    "invalid-yaml": (
        b"---\nid: demo\ntitle: [unclosed\nlang: en\n---\n\n# T\n",
        4,
        "invalid YAML front matter",
    ),
    "duplicate-step-id": (DUPLICATE.encode(), 11, "duplicate step id '1-1' (first used at line 5)"),
    "unknown-parameter-type": (
        b"---\nparameters:\n  port:\n    type: integer\n    default: 5432\n---\n\n# T\n",
        3,
        "parameter 'port' has unknown type 'integer'",
    ),
    "unclosed-fence-attributes": (
        b"# T\n\n## Procedure\n\n#### 1-1. Hand\n\n```bash {manual=true timeout=5\necho x\n```\n",
        7,
        "fence attributes opened with { are never closed",
    ),
    "unknown-switch-value": (
        b"# T\n\n#### 1-1. By hand\n\n```bash {manual=ture}\necho x\n```\n",
        5,
        "fence attribute manual='ture' is neither true nor false",
    ),
    "name-with-code": (  # IPython would evaluate {...} in a %%step line
        (
            b"# T\n\n#### 1-1. A\n\n```bash\necho a\n```\n\n"
            b"```bash {name={__import__('os').getpid()}}\necho b\n```\n"
        ),
        9,
        "fence attribute name=\"{__import__('os').getpid()}\" is not a step id",
    ),
    "name-with-a-parameter": (
        b"# T\n\n#### 1-1. A\n\n```bash {name=verify-$region}\necho a\n```\n",
        5,
        "fence attribute name='verify-$region' is not a step id",
    ),
    "unclosed-front-matter": (
        b"---\nid: cleanup\nparameters:\n  target_dir:\n    default: /tmp/x\n\n# T\n",
        1,
        "front matter opened with --- is never closed",
    ),
    "invalid-expected-regex": (
        (
            b"# T\n\n## Procedure\n\n#### 1-1. A\n\n```bash\necho x\n```\n\n"
            b"**Expected result**:\n\n```text {match=regex}\n([\n```\n"
        ),
        14,
        "expected-result regex is invalid: unterminated character set",
    ),
    "parameter-named-like-the-kernels": (
        b"---\nparameters:\n  get_ipython:\n    default: x\n---\n\n# T\n",
        3,
        "parameter name 'get_ipython' is used by the notebook's kernel",
    ),
    "parameter-named-private": (
        b"---\nparameters:\n  __builtins__:\n    default: x\n---\n\n# T\n",
        3,
        "parameter name '__builtins__' is used by the notebook's kernel",
    ),
    "empty": (b"", 1, "empty runbook"),
    "blank": (b"\n  \n\n", 1, "empty runbook"),
}


def run_convert(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``runbook convert ARGS`` in a fresh process (``python -m converter.cli``)."""
    return subprocess.run(
        [sys.executable, "-m", "converter.cli", "convert", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def written(out: Path) -> list[str]:
    """Everything under ``out``, temporary files included."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []


def assert_clean_failure(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    assert expected in result.stderr, f"{expected!r} not in stderr:\n{result.stderr}"


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_a_clean_error(tmp_path: Path, name: str) -> None:
    data, line, message = BAD_INPUTS[name]
    (tmp_path / f"{name}.md").write_bytes(data)

    result = run_convert(f"{name}.md", "-o", "out", cwd=tmp_path)

    assert_clean_failure(result, f"{name}.md:{line}: ")
    assert message in result.stderr
    assert written(tmp_path / "out") == []


def test_directory_without_markdown(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not a runbook\n", encoding="utf-8")

    result = run_convert("docs", "-o", "out", cwd=tmp_path)

    assert_clean_failure(result, "docs: directory contains no Markdown runbooks")
    assert written(tmp_path / "out") == []


def test_missing_source(tmp_path: Path) -> None:
    result = run_convert("nowhere.md", "-o", "out", cwd=tmp_path)

    assert_clean_failure(result, "nowhere.md: no such file")
    assert written(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("layout", "args"),
    [("notebook", ("x.ipynb",)), ("notebook", ("*",)), ("symlink", ("x.md",))],
)
def test_a_notebook_is_never_converted_over_itself(tmp_path: Path, layout: str, args) -> None:
    """A sealed record.ipynb read as Markdown would be written over with its own JSON."""
    notebook = tmp_path / "x.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4}\n', encoding="utf-8")
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    if layout == "symlink":
        (tmp_path / "x.md").symlink_to(notebook)
    before = notebook.read_bytes()

    result = run_convert(*args, cwd=tmp_path)

    expected = (
        "x.md: the notebook would be written over"
        if layout == "symlink"
        else "x.ipynb: is a notebook"
    )
    assert_clean_failure(result, expected)
    assert notebook.read_bytes() == before


def test_one_bad_source_means_no_notebook_at_all(tmp_path: Path) -> None:
    (tmp_path / "a-good.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b-duplicate.md").write_text(DUPLICATE, encoding="utf-8")
    (tmp_path / "c-empty.md").write_bytes(b"")

    result = run_convert(".", "-o", "out", cwd=tmp_path)

    assert_clean_failure(result, "b-duplicate.md:11: duplicate step id '1-1'")
    assert "c-empty.md:1: empty runbook" in result.stderr, "every bad source is reported"
    assert written(tmp_path / "out") == []
    assert not list(tmp_path.glob("*.ipynb"))

    (tmp_path / "b-duplicate.md").unlink()
    (tmp_path / "c-empty.md").unlink()
    result = run_convert("a-good.md", "-o", "out", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert written(tmp_path / "out") == ["a-good.ipynb"]
    nb = assert_valid(tmp_path / "out" / "a-good.ipynb")
    assert nb.metadata["runbook"]["source"] == "a-good.md"
    assert [
        c.metadata["runbook"].get("step_id")
        for c in nb.cells
        if c.metadata["runbook"]["role"] == "step"
    ] == ["1-1"]


def test_two_sources_with_one_file_name_are_refused_naming_both(tmp_path: Path) -> None:
    """src/a/deploy.md and src/b/deploy.md both became out/deploy.ipynb (the second won),
    and --check then called one of them stale forever."""
    for name in ("a", "b"):
        (tmp_path / "src" / name).mkdir(parents=True)
        (tmp_path / "src" / name / "deploy.md").write_text(GOOD, encoding="utf-8")

    for check in ((), ("--check",)):
        result = run_convert("src", "-o", "out", *check, cwd=tmp_path)
        assert_clean_failure(
            result,
            f"src/b/deploy.md: would be converted to {Path('out', 'deploy.ipynb')}, "
            "as src/a/deploy.md is",
        )
    assert written(tmp_path / "out") == []


@pytest.mark.parametrize("check", [(), ("--check",)])
def test_a_notebook_that_is_not_ours_is_never_written_over(tmp_path: Path, check) -> None:
    """Converting a directory silently replaced a hand-made analysis notebook."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "analysis.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "src" / "other.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "out").mkdir()
    mine = tmp_path / "out" / "analysis.ipynb"
    mine.write_text(
        '{"cells": [{"cell_type": "code", "outputs": [{"text": "42"}]}], "metadata": {}}\n',
        encoding="utf-8",
    )
    before = mine.read_bytes()

    result = run_convert("src", "-o", "out", *check, cwd=tmp_path)

    assert_clean_failure(
        result, f"{Path('out', 'analysis.ipynb')}: exists and is not a notebook converted"
    )
    assert mine.read_bytes() == before
    assert written(tmp_path / "out") == ["analysis.ipynb"]


def test_a_notebook_converted_before_is_converted_again(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    assert run_convert("good.md", cwd=tmp_path).returncode == 0
    (tmp_path / "good.md").write_text(GOOD.replace("hello", "again"), encoding="utf-8")
    assert run_convert("good.md", cwd=tmp_path).returncode == 0
    assert "again" in (tmp_path / "good.ipynb").read_text(encoding="utf-8")


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    from converter.notebook.build import write_text

    target = tmp_path / "x.ipynb"
    target.mkdir()
    with pytest.raises(OSError):
        write_text("{}\n", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ipynb"]


def test_check_calls_a_target_that_is_not_utf8_stale(tmp_path: Path) -> None:
    from converter.notebook.convert import plan, stale

    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    (conversion,) = plan([tmp_path / "good.md"], None)
    conversion.target.write_bytes(conversion.text.encode("utf-8").replace(b"hello", b"\xff\xfe"))
    assert stale([conversion]) == [conversion.target]
