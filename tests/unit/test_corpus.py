"""Real-world runbooks convert, validate and keep every shell block.

The runbooks are those of ``../shared/corpus/public/``.

The shell fences are counted by an independent markdown-it-py pass: fence tokens
whose language is a shell, plus shell fences inside HTML blocks that are not
comments (``<details>`` without a blank line after the tag). Each fence that holds
a command must be one step cell, at the fence's line, running exactly the fence's
commands (docs/format.md: a ``console`` block with ``$ ``/``% `` prompts is a session
whose prompted lines and continuations are the commands; without prompts it is a
script). A fence with no command must be no step and be reported by lint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin
from nbcheck import assert_valid

from converter.errors import ParseError
from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, notebook_text

SHELLS = {"bash", "sh", "shell", "zsh", "console"}
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "public"
# Without the corpus one placeholder case remains, and the shared_dir fixture skips it.
NAMES = sorted(p.name for p in CORPUS.glob("*.md") if p.name != "SOURCES.md") or ["corpus-absent"]
# Genuinely broken input: file name -> the line a clean error must name.
BROKEN = {"gitlab-com__runbooks__docs__patroni__pg_minor_upgrade.md": 56}


def fence_language(info: str) -> str:
    words = info.strip().split(maxsplit=1)
    return words[0].split("{", 1)[0].lower() if words else ""


def shell_fences(text: str) -> list[tuple[int, str, str]]:
    """(1-based line, language, content) of every shell fence, in document order."""
    parser = MarkdownIt("commonmark").use(front_matter_plugin)
    return _fences(parser, text, 0)


def expected_commands(language: str, content: str) -> list[str]:
    """The lines a fence must run, computed independently of the converter."""
    lines = content.splitlines()
    prompted = [line.startswith(("$ ", "% ")) or line.strip() in ("$", "%") for line in lines]
    if language != "console" or not any(prompted):
        return lines
    commands, continuing, command = [], False, False
    for line, prompt in zip(lines, prompted):
        ps2 = command and (line.startswith("> ") or line.rstrip() == ">")
        if ps2 or continuing or (prompt and line[2:].strip()):
            commands.append(line if continuing and not ps2 else line[2:])
            command, continuing = True, line.rstrip().endswith("\\")
        else:
            command = continuing = False
    return commands


def runs_something(commands: list[str]) -> bool:
    return any(c.strip() and not c.strip().startswith("#") for c in commands)


def _fences(parser: MarkdownIt, text: str, offset: int) -> list[tuple[int, str, str]]:
    found = []
    for token in parser.parse(text):
        if token.map is None:
            continue
        if token.type == "fence" and fence_language(token.info) in SHELLS:
            found.append((offset + token.map[0] + 1, fence_language(token.info), token.content))
        elif token.type == "html_block" and not token.content.lstrip().startswith("<!--"):
            # Blank out the tag lines (keeping the line count) and read what is between them.
            inner = ["" if _is_tag(line) else line for line in token.content.splitlines()]
            found.extend(_fences(parser, "\n".join(inner), offset + token.map[0]))
    return found


def _is_tag(line: str) -> bool:
    return line.strip().startswith("<") and line.strip().endswith(">")


@pytest.mark.parametrize("name", NAMES)
def test_corpus_runbook_converts(shared_dir: Path, name: str) -> None:
    path = shared_dir / "corpus" / "public" / name
    if name in BROKEN:
        with pytest.raises(ParseError) as caught:
            parse_file(path)
        assert caught.value.line == BROKEN[name]
        assert str(caught.value).startswith(f"{path}:{BROKEN[name]}: ")
        return
    runbook = parse_file(path)
    nb = build_notebook(runbook, source_name=name)
    assert_valid(nb)
    assert_valid(notebook_text(nb))
    cells = [c for c in nb.cells if c.metadata["runbook"]["role"] == "step"]
    steps = [c.metadata["runbook"] for c in cells]
    fences = shell_fences(path.read_text(encoding="utf-8"))
    runnable = [
        (line, language, expected_commands(language, content))
        for line, language, content in fences
        if runs_something(expected_commands(language, content))
    ]
    assert [(s["source_line"], s["language"]) for s in steps] == [
        (line, language) for line, language, _ in runnable
    ]
    # The commands, line for line: nothing dropped, no prose or output added.
    for cell, (line, _, commands) in zip(cells, runnable):
        # (the cell drops the block's trailing newlines only)
        assert cell.source.split("\n")[1:] == "\n".join(commands).rstrip("\n").split("\n"), (
            f"{name}:{line}"
        )
    assert len({s["step_id"] for s in steps}) == len(steps), "step ids must be unique"
    empty = [
        (line, language)
        for line, language, c in fences
        if not runs_something(expected_commands(language, c))
    ]
    assert list(runbook.no_command) == empty


def test_broken_corpus_files_are_still_there(shared_dir: Path) -> None:
    for name in BROKEN:
        assert (shared_dir / "corpus" / "public" / name).exists(), (
            f"{name} left the corpus: update BROKEN"
        )
