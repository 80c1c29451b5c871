"""What a runbook checks: expected results (optionally a ``match``) and a task list's role."""

from __future__ import annotations

import re

from ..errors import ParseError
from ..model import FALSE, SWITCHES, TRUE, Expected, expected_regex
from ..parameters import is_positive_seconds
from . import blocks as b
from .vocabulary import is_pre_execution

MATCHES = (None, "contains", "regex")
STEP_NAME = re.compile(r"\w[\w.-]*")
"""A ``name=`` attribute becomes a step id: a word in the ``%%step`` line, a log file name."""


def expected_result(
    label: b.Label, block: b.Block, markdown: str, body: str, path: str, after: str | None
) -> Expected:
    """The expected result announced by ``label`` (``markdown`` from the label on, ``body``
    the block's own text); a fence's ``match`` makes it a check of the step cell ``after``
    (the last shell block before it), and a check with no block before it an error."""
    if isinstance(block, b.Fence):
        match = dict(block.attrs).get("match")
        if match not in MATCHES:
            raise ParseError(
                f"expected-result match '{match}' is unknown; use match=contains or match=regex",
                path=path,
                line=block.start + 1,
            )
        if match and after is None:
            raise ParseError(
                "expected-result check comes before any shell block of its step; "
                "put it after the block whose output it checks",
                path=path,
                line=label.start + 1,
            )
        if match == "regex":
            try:
                expected_regex(block.content)
            except re.error as exc:
                raise ParseError(
                    f"expected-result regex is invalid: {exc}", path=path, line=block.start + 2
                ) from None
        return Expected(block.content, markdown, label.start + 1, match, after if match else None)
    return Expected(body, markdown, label.start + 1, None)


def check_fence_attributes(fence: b.Fence, path: str) -> None:
    """A step's ``name=`` must be a step id, its ``timeout=`` a positive, finite number of
    seconds, and its switches (``manual``, ``continue_on_error``) true or false:
    ``manual=ture`` read as false would run a step its author meant to be done by hand."""
    attrs = dict(fence.attrs)
    step_name = attrs.get("name")
    if step_name is not None and not STEP_NAME.fullmatch(step_name):
        raise ParseError(
            f"fence attribute name={step_name!r} is not a step id: use letters, digits, '_', "
            "'-' and '.' (not first)",
            path=path,
            line=fence.start + 1,
        )
    for name in SWITCHES:
        if name in attrs and attrs[name].lower() not in (*TRUE, *FALSE):
            raise ParseError(
                f"fence attribute {name}={attrs[name]!r} is neither true nor false",
                path=path,
                line=fence.start + 1,
            )
    timeout = attrs.get("timeout")
    if timeout is None:
        return
    try:
        seconds = float(timeout)
    except ValueError:
        seconds = float("nan")
    if not is_positive_seconds(seconds):
        raise ParseError(
            f"fence attribute timeout={timeout!r} is not a positive number of seconds; "
            "write e.g. timeout=600",
            path=path,
            line=fence.start + 1,
        )


def list_role(kind: str, heading: str | None) -> str:
    """``pre`` (gates the first step), ``approval`` or ``info`` for a list outside a step."""
    if kind == "prerequisites" or (kind == "checklists" and heading and is_pre_execution(heading)):
        return "pre"
    return "approval" if kind == "approval" else "info"
