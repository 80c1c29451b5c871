"""One error root for everything a user can cause; the CLI maps these to exit codes.

A message names the place, the problem and the fix, e.g.
``templates/db.md:42: parameter 'port' has type int but default 'abc'``.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base of every error caused by input (files, parameters, records): exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


class ParseError(RunbookError):
    """The Markdown runbook cannot be turned into a model."""


class ParameterError(RunbookError):
    """A parameter declaration or a parameter value is invalid."""


class RecordError(RunbookError):
    """The evidence record cannot be written or read."""
