"""Markdown → a flat, line-addressed list of the blocks the parser cares about.

markdown-it-py finds the structure (never regexes): headings, shell fences at any
nesting depth (list items, blockquotes, ``<details>``), task lists and label
paragraphs such as ``**確認**:``. Everything between them is prose, kept as line
ranges so the builder can slice the author's Markdown verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from ..errors import ParseError
from .vocabulary import label_kind

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "zsh", "console"})


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
    shell: bool


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


def markdown_parser() -> MarkdownIt:
    """CommonMark plus tables and front matter: what GitHub renders, for runbooks."""
    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin)


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


def read_document(text: str, path: str) -> Document:
    """Tokenise ``text`` and return its blocks; raises ParseError for an unclosed fence."""
    lines = tuple(text.splitlines())
    tokens = markdown_parser().parse(text)
    front, front_line, significant = None, 0, []
    for block in _walk(tokens, lines, path, offset=0):
        if isinstance(block, tuple):
            front, front_line = block
        else:
            significant.append(block)
    significant.sort(key=lambda b: b.start)
    return Document(
        front, front_line, tuple(_fill_prose(significant, len(lines), front_line)), lines
    )


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
            if is_shell_fence(language) or token.level == 0:
                yield Fence(language, attrs, token.content, start, end, is_shell_fence(language))
        elif token.type == "html_block" and not token.content.lstrip().startswith("<!--"):
            yield from _walk_html(token, lines, path, start)
        elif token.type == "bullet_list_open" and token.level == 0:
            tasks = _task_list(tokens, index, offset)
            if tasks is not None:
                yield TaskList(tasks, start, end)
        elif token.type == "paragraph_open" and token.level == 0:
            kind = label_kind(tokens[index + 1].content)
            if kind:
                yield Label(kind, tokens[index + 1].content, start, end)


def _walk_html(token: Token, lines: tuple[str, ...], path: str, start: int):
    """Shell fences inside ``<details>`` and similar HTML wrappers still count."""
    inner = [("" if _is_tag_line(line) else line) for line in token.content.splitlines()]
    if not any(line.strip().startswith(("```", "~~~")) for line in inner):
        return
    for block in _walk(markdown_parser().parse("\n".join(inner)), lines, path, start):
        if isinstance(block, Fence):
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


def _task_list(tokens: list[Token], index: int, offset: int) -> tuple[TaskItem, ...] | None:
    """The task items of the list starting at ``tokens[index]``, or None if it has none."""
    depth, items = 0, []
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.type.endswith(("_list_open", "_list_close")):
            depth += token.nesting
        if token.type == "fence" and is_shell_fence(parse_info(token.info)[0]):
            return None  # a shell step inside a task item: keep it a step, not a checklist
        if token.type == "inline" and tokens[position - 1].type == "paragraph_open":
            item = _task_item(token, offset)
            if item is not None:
                items.append(item)
        if depth == 0:
            break
    return tuple(items) if items else None


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


def console_commands(content: str) -> str:
    """``$ cmd`` / ``# cmd`` lines of a console transcript, continuations kept, output dropped."""
    commands: list[str] = []
    continuing = False
    for line in content.splitlines():
        if continuing:
            commands.append(line)
        elif line.startswith(("$ ", "# ")):
            commands.append(line[2:])
        elif line.rstrip() in ("$", "#"):
            continue
        else:
            continue
        continuing = line.rstrip().endswith("\\")
    return "\n".join(commands) + ("\n" if commands else "")


def first_text_line(lines: tuple[str, ...], start: int, end: int) -> int:
    """The index of the first non-blank line in ``lines[start:end]`` (``start`` if none)."""
    for index in range(start, end):
        if lines[index].strip():
            return index
    return start
