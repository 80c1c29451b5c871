"""What a runbook's shell blocks may run or reveal that their author did not mean.

- ``no-command`` (warning): a shell-language fence with no command left once prompts,
  output and comments are set aside; it stays documentation, it is not a step.
- ``console-comment`` (warning): a ``# …`` line in a ``console`` session (a block with
  ``$ `` prompts). It is set aside as a comment, but it reads like a root prompt.
- ``secret-maybe-unset`` (warning): a step expands an optional secret parameter, which
  is empty when ``RUNBOOK_SECRET_<NAME>`` is not set.
- ``secret-partial`` (error): a step expands part of a secret (``${token:0:4}``,
  ``${token#…}``, ``${token/…}``): masking hides whole values only, so the part would
  be printed and recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Literal

from ..model import STEP_ATTRIBUTES, Parameter, Runbook, ShellBlock
from ..parameters import secret_variable
from .shell import ShellText

Level = Literal["error", "warning", "info"]
Hit = tuple[int, Level, str, str]  # line, level, code, message: a finding before its path
HANDLED_UNSET = re.compile(r"(?:-[nz]|\$\{#)\s*\"?$")  # [ -n "$x" ], [ -z "$x" ]


def no_command_hits(runbook: Runbook) -> list[Hit]:
    """One warning per shell-language fence that holds no command."""
    return [
        (
            line,
            "warning",
            "no-command",
            (
                f"this {language} block has no command (only prompts, output or comments): "
                "it is kept as documentation, not run; put the commands in it, or mark it "
                "as output with ```text"
            ),
        )
        for line, language in runbook.no_command
    ]


def unknown_attribute_hits(block: ShellBlock) -> list[Hit]:
    """A warning for each fence attribute no step reads (``timout=60`` is no timeout)."""
    known = ", ".join(STEP_ATTRIBUTES)
    return [
        (
            block.line,
            "warning",
            "unknown-attribute",
            f"fence attribute '{name}' is not one runbook reads ({known}): it is ignored",
        )
        for name, _value in block.attrs
        if name not in STEP_ATTRIBUTES
    ]


def console_comment_hits(block: ShellBlock) -> list[Hit]:
    """A warning for each ``#`` line a console session set aside."""
    return [
        (
            line,
            "warning",
            "console-comment",
            (
                "'#' line in a console session is ambiguous (a root prompt or a comment?); "
                "it is treated as a comment and not run: prompt commands with '$ ', "
                "or drop every prompt to make the block a script"
            ),
        )
        for line in block.set_aside
    ]


def secret_hits(
    parameters: tuple[Parameter, ...], text: ShellText, at: Callable[[int], int]
) -> Iterator[Hit]:
    """Optional secrets used without a guard, and parts of secrets expanded.

    ``at`` maps a character offset of the block to its runbook line (see ``_Checked.at``).
    """
    secrets = {p.name: p for p in parameters if p.secret}
    warned: set[str] = set()
    for use in text.uses:
        param = secrets.get(use.name)
        if param is None:
            continue
        if _is_partial(text.commands, use.offset, use.name):
            yield (
                at(use.offset),
                "error",
                "secret-partial",
                (
                    f"part of secret '{use.name}' is expanded here; masking hides whole values "
                    "only, so this part would be printed and recorded: use the whole value"
                ),
            )
        elif not param.required and use.name not in warned and not _guarded(text, use.offset):
            warned.add(use.name)
            yield (
                at(use.offset),
                "warning",
                "secret-maybe-unset",
                (
                    f"secret '{use.name}' is optional and is empty when "
                    f"{secret_variable(use.name)} is not set; mark it required: true, "
                    f'or handle the empty case (${{{use.name}:?…}} or [ -n "${use.name}" ])'
                ),
            )


def _is_partial(commands: str, offset: int, name: str) -> bool:
    """``${name:off[:len]}``, ``${name#…}``, ``${name%…}``, ``${name/…}``, ``${name^…}``…"""
    if not commands.startswith("${", offset) or commands[offset + 2 : offset + 3] in ("!", "#"):
        return False
    after = commands[offset + 2 + len(name) : offset + 4 + len(name)]
    if after[:1] == ":":
        return after[1:2] not in ("-", "=", "?", "+")
    return after[:1] in ("#", "%", "/", "^", ",", "@")


def _guarded(text: ShellText, offset: int) -> bool:
    """A use inside an emptiness test (``[ -n "$x" ]``) handles the unset case itself."""
    line_start = text.commands.rfind("\n", 0, offset) + 1
    return HANDLED_UNSET.search(text.commands[line_start:offset]) is not None
