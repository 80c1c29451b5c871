"""One error root for everything a user can cause; the CLI maps these to exit codes.

A message names the place, the problem and the fix, e.g.
``templates/db.md:42: parameter 'port' has type int but default 'abc'``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


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


class DiskFull(RecordError):
    """The records filesystem is full: evidence cannot be written, so no record may claim it."""

    def __init__(self, path: str | None = None):
        super().__init__("no space left on device", path=path)


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or quota: ENOSPC, EDQUOT, SQLITE_FULL."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(exc) or "No space left on device" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def read_user_text(path: str | os.PathLike[str], error: type[RunbookError], what: str) -> str:
    """The UTF-8 text of a file a user named (runbook, parameters file).

    Anything that keeps it from being read is ``error`` at ``path`` (and the line of
    the first byte that is not UTF-8), never a traceback.
    """
    shown = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", path=shown) from None
    try:
        # A byte order mark (Excel's "CSV UTF-8", Windows editors) is not part of the text.
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            path=shown,
            line=data[: exc.start].count(b"\n") + 1,
        ) from None
    nul = data.find(b"\0")
    if nul >= 0:  # Markdown would turn it into U+FFFD: a "# comment" could become a command
        raise error(
            f"{what} contains a NUL byte; it is not text",
            path=shown,
            line=data[:nul].count(b"\n") + 1,
        )
    return text
