"""Real-world runbooks convert, validate and keep every shell block.

The runbooks are those of ``../shared/corpus/public/``.

The shell fences are counted by an independent markdown-it-py pass: fence tokens
whose language is a shell, plus shell fences inside HTML blocks that are not
comments (``<details>`` without a blank line after the tag). Each must be one step
cell, at the fence's line.
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


def shell_fences(text: str) -> list[tuple[int, str]]:
    """(1-based line, language) of every shell fence, in document order."""
    parser = MarkdownIt("commonmark").use(front_matter_plugin)
    return _fences(parser, text, 0)


def _fences(parser: MarkdownIt, text: str, offset: int) -> list[tuple[int, str]]:
    found = []
    for token in parser.parse(text):
        if token.map is None:
            continue
        if token.type == "fence" and fence_language(token.info) in SHELLS:
            found.append((offset + token.map[0] + 1, fence_language(token.info)))
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
    nb = build_notebook(parse_file(path), source_name=name)
    assert_valid(nb)
    assert_valid(notebook_text(nb))
    steps = [c.metadata["runbook"] for c in nb.cells if c.metadata["runbook"]["role"] == "step"]
    expected = shell_fences(path.read_text(encoding="utf-8"))
    assert len(steps) == len(expected)
    assert [(s["source_line"], s["language"]) for s in steps] == expected
    assert len({s["step_id"] for s in steps}) == len(steps), "step ids must be unique"


def test_broken_corpus_files_are_still_there(shared_dir: Path) -> None:
    for name in BROKEN:
        assert (shared_dir / "corpus" / "public" / name).exists(), (
            f"{name} left the corpus: update BROKEN"
        )
