"""Markdown → a flat, line-addressed list of the blocks the parser cares about.

markdown-it-py finds the structure (never regexes): headings, shell fences at any
nesting depth (list items, blockquotes, ``<details>``), task lists and label
paragraphs such as ``**確認**:``. Everything between them is prose, kept as line
ranges so the builder can slice the author's Markdown verbatim.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from ..errors import ParseError
from .vocabulary import label_kind

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "zsh", "console"})
PROMPTS = ("$ ", "% ")
"""What makes a ``console`` block a session: a line starting with one of these prompts."""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    start: int  # 0-based first line
    end: int  # 0-based line after the block


@dataclass(frozen=True)
class Fence:
    language: str
    attrs: tuple[tuple[str, str], ...]
    content: str
    start: int
    end: int
    shell: bool  # a step: a shell language with at least one command


@dataclass(frozen=True)
class NoCommand:
    """A shell-language fence with no command in it: it stays documentation (lint reports it)."""

    language: str
    start: int


@dataclass(frozen=True)
class TaskItem:
    text: str
    checked: bool
    line: int  # 0-based


@dataclass(frozen=True)
class TaskList:
    items: tuple[TaskItem, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Label:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Prose:
    start: int
    end: int


Block = Heading | Fence | TaskList | Label | Prose


@dataclass(frozen=True)
class Document:
    """The front matter text (if any) and the body's blocks in order."""

    front_matter: str | None
    front_matter_line: int
    blocks: tuple[Block, ...]
    lines: tuple[str, ...]
    no_command: tuple[NoCommand, ...] = ()


@functools.cache
def markdown_parser() -> MarkdownIt:
    """CommonMark plus tables and front matter: what GitHub renders, for runbooks.

    One parser per process (``parse`` keeps no state between calls).
    """
    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin)


@functools.cache
def block_parser() -> MarkdownIt:
    """:func:`markdown_parser` without its core ``inline`` rule (emphasis, links, code spans).

    Conversion reads only an inline token's ``content``, never its children, and the
    inline pass was a fifth of conversion time; the linter, which reads the children,
    uses :func:`markdown_parser`.
    """
    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin).disable("inline")


def is_shell_fence(language: str) -> bool:
    """Whether a fence's language makes it a step cell."""
    return language.lower() in SHELL_LANGUAGES


def parse_info(info: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``bash {name=backup timeout=600}`` → (``bash``, (("name", "backup"), ...))."""
    info = info.strip()
    language, _, rest = info.partition(" ")
    language = language.strip().removesuffix("{").strip()
    if "{" in language:
        language, _, brace = language.partition("{")
        rest = "{" + brace + " " + rest
    rest = rest.strip()
    attrs: list[tuple[str, str]] = []
    if rest.startswith("{") and rest.endswith("}"):
        for word in rest[1:-1].replace(",", " ").split():
            key, sep, value = word.partition("=")
            attrs.append((key.strip(), value.strip().strip("\"'") if sep else "true"))
    return language.lower(), tuple(attrs)


LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""What ends a line for markdown-it (it normalises these to ``\\n``); ``str.splitlines``
also splits at U+2028, U+0085 and form feed, so the lines disagreed with the tokens'
line numbers and a fence was "never closed"."""


def split_lines(text: str) -> list[str]:
    """``text`` split into lines where markdown-it splits it (no trailing empty line)."""
    lines = LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_document(text: str, path: str) -> Document:
    """Tokenise ``text`` and return its blocks; raises ParseError for an unclosed fence."""
    lines = tuple(split_lines(text))
    tokens = block_parser().parse(text)
    front, front_line, significant, empty = None, 0, [], []
    for block in _walk(tokens, lines, path, offset=0):
        if isinstance(block, tuple):
            front, front_line = block
        elif isinstance(block, NoCommand):
            empty.append(block)
        else:
            significant.append(block)
    if front is None and lines and lines[0].rstrip() == "---":
        raise ParseError(
            "front matter opened with --- is never closed; add a closing --- line",
            path=path,
            line=1,
        )
    significant.sort(key=lambda b: b.start)
    blocks = tuple(_fill_prose(significant, len(lines), front_line))
    return Document(front, front_line, blocks, lines, tuple(empty))


def _walk(tokens: list[Token], lines: tuple[str, ...], path: str, offset: int):
    for index, token in enumerate(tokens):
        if token.map is None:
            continue
        start, end = token.map[0] + offset, token.map[1] + offset
        if token.type == "front_matter":
            yield (token.content, end)
        elif token.type == "heading_open" and token.level == 0:
            yield Heading(int(token.tag[1]), tokens[index + 1].content.strip(), start, end)
        elif token.type == "fence":
            _check_closed(token, lines, path, start, end)
            language, attrs = parse_info(token.info)
            if is_shell_fence(language) or "match=" in token.info:
                _check_braces(token.info, path, start)
            step = is_step_fence(language, token.content)
            if is_shell_fence(language) and not step:
                yield NoCommand(language, start)
            if step or token.level == 0:
                yield Fence(language, attrs, token.content, start, end, step)
        elif token.type == "html_block" and not token.content.lstrip().startswith("<!--"):
            yield from _walk_html(token, lines, path, start)
        elif token.type in LIST_OPENERS and token.level == 0:
            yield from _task_lists(tokens, index, offset, end)
        elif token.type == "paragraph_open" and token.level == 0:
            kind = label_kind(tokens[index + 1].content)
            if kind:
                yield Label(kind, tokens[index + 1].content, start, end)


def _walk_html(token: Token, lines: tuple[str, ...], path: str, start: int):
    """Shell fences inside ``<details>`` and similar HTML wrappers still count."""
    inner = [("" if _is_tag_line(line) else line) for line in split_lines(token.content)]
    if not any(line.strip().startswith(("```", "~~~")) for line in inner):
        return
    for block in _walk(block_parser().parse("\n".join(inner)), lines, path, start):
        if isinstance(block, (Fence, NoCommand)):
            yield block


def _is_tag_line(line: str) -> bool:
    text = line.strip()
    return text.startswith("<") and text.endswith(">")


def _check_closed(token: Token, lines: tuple[str, ...], path: str, start: int, end: int) -> None:
    marker = token.markup
    last = lines[end - 1].lstrip("> \t").strip() if start < end - 1 < len(lines) else ""
    closed = last.startswith(marker) and set(last) <= {marker[0]}
    if not closed:
        raise ParseError(
            f"code fence opened with {marker} is never closed; add a closing {marker} line",
            path=path,
            line=start + 1,
        )


def _check_braces(info: str, path: str, start: int) -> None:
    """``bash {manual=true timeout=5`` would lose every attribute: the author's intent."""
    if "{" in info and not info.rstrip().endswith("}"):
        raise ParseError(
            "fence attributes opened with { are never closed; end them with }",
            path=path,
            line=start + 1,
        )


LIST_OPENERS = ("bullet_list_open", "ordered_list_open")


def _task_lists(tokens: list[Token], index: int, offset: int, end: int):
    """The task lists of the (bullet or numbered) list starting at ``tokens[index]``.

    A step fence inside the list (``- [ ] Drain the node:`` and an indented ``bash``
    block) cuts it: the items before it are one checklist, the fence is a step (walked
    on its own), the items after it another checklist, in document order.
    """
    items: list[TaskItem] = []
    depth, start = 0, (tokens[index].map or [0])[0] + offset
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.type.endswith(("_list_open", "_list_close")):
            depth += token.nesting
        if (
            token.type == "fence"
            and token.map is not None
            and is_step_fence(parse_info(token.info)[0], token.content)
        ):
            if items:
                yield TaskList(tuple(items), start, token.map[0] + offset)
            items, start = [], token.map[1] + offset
        if token.type == "inline" and tokens[position - 1].type == "paragraph_open":
            item = _task_item(token, offset)
            if item is not None:
                items.append(item)
        if depth == 0:
            break
    if items:
        yield TaskList(tuple(items), start, end)


def _task_item(token: Token, offset: int) -> TaskItem | None:
    text = token.content
    # GFM: the marker must be followed by whitespace, so `- [x](url)` is a link, not a task.
    if (
        len(text) >= 4
        and text[0] == "["
        and text[2] == "]"
        and text[1] in " xX"
        and text[3].isspace()
    ):
        line = (token.map[0] if token.map else 0) + offset
        return TaskItem(
            text[3:].strip().splitlines()[0] if text[3:].strip() else "", text[1] != " ", line
        )
    return None


def _fill_prose(blocks: list[Block], total: int, first: int) -> list[Block]:
    """Interleave Prose ranges for the lines no significant block covers."""
    result: list[Block] = []
    cursor = first
    for block in blocks:
        if block.start < cursor:  # nested inside something already taken
            continue
        if block.start > cursor:
            result.append(Prose(cursor, block.start))
        result.append(block)
        cursor = block.end
    if cursor < total:
        result.append(Prose(cursor, total))
    return result


def is_console_session(content: str) -> bool:
    """Whether a ``console`` block is a pasted session (some line has a ``$ ``/``% `` prompt).

    A console block without such prompts is a script, like ``bash``.
    """
    return any(_is_prompt(line) for line in split_lines(content))


def _is_prompt(line: str) -> bool:
    return line.startswith(PROMPTS) or line.rstrip() in ("$", "%")


def console_commands(content: str) -> str:
    """The commands of a ``console`` block.

    A session: the ``$ ``/``% `` lines with their continuations, prompts stripped; other
    lines are output and ``# `` lines comments, both set aside. A continuation is the
    line after one ending in ``\\``, or a line after a command that starts with bash's
    ``PS2`` prompt ``> `` (stripped): a heredoc's body and its ``EOF``, a quoted string
    left open. Dropped as output, a heredoc swallowed the next command. A block with no
    prompt is a script and is kept as written.
    """
    if not is_console_session(content):
        return content
    commands: list[str] = []
    continuing = command = False
    for line in split_lines(content):
        if continuing and not _is_continuation_prompt(line):
            commands.append(line)
        elif (command and _is_continuation_prompt(line)) or (_is_prompt(line) and line[2:].strip()):
            commands.append(line[2:])
        else:
            command = continuing = False
            continue  # output, or a "# " comment (never a root prompt: it would run prose)
        command, continuing = True, line.rstrip().endswith("\\")
    return "\n".join(commands) + ("\n" if commands else "")


def _is_continuation_prompt(line: str) -> bool:
    """Whether a session line starts with bash's ``PS2`` prompt (``> ``, or ``>`` alone)."""
    return line.startswith("> ") or line.rstrip() == ">"


def session_comments(content: str) -> list[int]:
    """0-based lines of a console session that start with ``#`` (set aside as comments)."""
    if not is_console_session(content):
        return []
    found, continuing, command = [], False, False
    for number, line in enumerate(split_lines(content)):
        prompted = _is_prompt(line) and bool(line[2:].strip())
        command = continuing or prompted or (command and _is_continuation_prompt(line))
        if not command and line.startswith("#"):
            found.append(number)
        continuing = command and line.rstrip().endswith("\\")
    return found


def shell_code(language: str, content: str) -> str:
    """What a shell fence runs: a console block's commands, any other shell block as written."""
    return console_commands(content) if language == "console" else content


def has_command(code: str) -> bool:
    """Whether shell code holds anything but blank lines and ``#`` comments."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in split_lines(code))


def is_step_fence(language: str, content: str) -> bool:
    """A shell-language fence with at least one command: it becomes a step cell."""
    return is_shell_fence(language) and has_command(shell_code(language.lower(), content))


def first_text_line(lines: tuple[str, ...], start: int, end: int) -> int:
    """The index of the first non-blank line in ``lines[start:end]`` (``start`` if none)."""
    for index in range(start, end):
        if lines[index].strip():
            return index
    return start
