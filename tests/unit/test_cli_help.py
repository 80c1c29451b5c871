"""Every command has help ending in an example, and README.md documents it (STYLE.md, CLI)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import click
import pytest

from converter.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, full + " "))
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_ends_with_an_example(name: str, command: click.Command) -> None:
    text = (command.help or "").strip()
    assert text, f"runbook {name} has no help"
    assert text.splitlines()[-1].lstrip().startswith("Example: runbook"), (
        f"runbook {name} help must end with an Example"
    )


@pytest.mark.parametrize("name", [n for n, c in COMMANDS if not isinstance(c, click.Group)])
def test_readme_mentions_every_command(name: str) -> None:
    assert f"runbook {name}" in (ROOT / "README.md").read_text(encoding="utf-8"), (
        f"README.md does not mention runbook {name}"
    )


def python_says(code: str) -> str:
    """What a fresh interpreter prints running ``code`` (imports are per process)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_help_is_fast_and_has_no_heavy_imports() -> None:
    code = (
        "import sys; from converter.cli import main; sys.argv=['runbook','--help']\n"
        "try:\n main()\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('papermill','nbconvert','nbclient','ipywidgets')"
        " if m in sys.modules))"
    )
    assert python_says(code).strip().splitlines()[-1] == "[]"


def test_notebook_imports_skip_the_iri_grammar_but_leave_it_importable() -> None:
    """Importing the runner (nbformat → jsonschema) must not build rfc3987_syntax's Lark grammar:
    1.5 s in every runner and kernel process. The module stays importable afterwards."""
    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987_syntax is not installed: nothing to avoid")
    code = (
        "import sys, converter.runner.run, nbformat, jsonschema\n"
        "print('rfc3987_syntax' in sys.modules)\n"
        "nbformat.validate(nbformat.v4.new_notebook())\n"
        "import rfc3987_syntax\n"
        "print(rfc3987_syntax is not None)"
    )
    assert python_says(code).split() == ["False", "True"]
