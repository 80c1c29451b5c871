"""Values of parameters: typed coercion, the environment text a step sees, and the checks
that keep a value from ever reaching a process it cannot (not UTF-8, NUL, over 128 KiB).

Part of :mod:`converter.parameters`, which re-exports everything public here. A
secret's value is never shown in a message: the parameter is named instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ParameterError
from ..model import FALSE, TRUE, Parameter

SECRET_PREFIX = "RUNBOOK_SECRET_"
ENVIRONMENT_STRING_MAX = 128 * 1024
"""Linux's limit on one environment string (``NAME=value`` and its NUL): beyond it, E2BIG."""
ENVIRONMENT_TOTAL_MAX = 1024 * 1024
"""What all parameters together may take of a step's environment: half of Linux's usual
2 MiB for arguments and environment, leaving the rest to the inherited environment, the
step's script and what steps export."""


def secret_variable(name: str) -> str:
    """The environment variable a secret parameter is read from: ``RUNBOOK_SECRET_<NAME>``."""
    return f"{SECRET_PREFIX}{name.upper()}"


def is_secret_variable(name: str) -> bool:
    """Whether an environment variable holds a secret (``RUNBOOK_SECRET_*``), declared by
    this runbook or not: it reaches a step only as the parameter it feeds, and is masked."""
    return name.startswith(SECRET_PREFIX)


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """Every ``RUNBOOK_SECRET_*`` value in ``environ`` that a masker can hold (non-empty
    UTF-8; another one is refused by name where it is used): an operator's shell may hold
    secrets for other runbooks, which must not reach a record in clear either."""
    found = []
    for name, value in environ.items():
        if not is_secret_variable(name) or not value:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            continue
        found.append(value)
    return found


def check_text(what: str, text: str) -> None:
    """Refuse text that cannot reach a process or a record: not UTF-8, or holding NUL.

    Non-UTF-8 bytes in argv or the environment arrive as surrogate escapes; they
    cannot be written to a UTF-8 record (and once crashed a run half-way).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterError(f"{what} is not valid UTF-8 text; pass UTF-8") from None
    if "\0" in text:
        raise ParameterError(f"{what} contains a NUL byte, which no command can receive")


def check_environment(name: str, text: str, *, secret: bool = False) -> None:
    """A parameter's environment text must be UTF-8, NUL-free and fit one environment string.

    A secret is named (with its variable), never shown.
    """
    what = f"secret '{name}' ({secret_variable(name)})" if secret else f"parameter '{name}'"
    check_text(f"the value of {what}", text)
    size = len(name.encode("utf-8")) + 1 + len(text.encode("utf-8")) + 1
    if size > ENVIRONMENT_STRING_MAX:
        raise ParameterError(
            f"the value of {what} is {size} bytes; one environment variable holds at most "
            f"{ENVIRONMENT_STRING_MAX} (128 KiB): pass a file path instead"
        )


def check_environment_total(sizes: dict[str, int]) -> None:
    """All parameters' environment strings together must leave room to start a step."""
    total = sum(sizes.values())
    if total > ENVIRONMENT_TOTAL_MAX:
        largest = ", ".join(
            f"'{n}' ({b} bytes)" for n, b in sorted(sizes.items(), key=lambda i: -i[1])[:3]
        )
        raise ParameterError(
            f"the parameters take {total} bytes of the environment together; at most "
            f"{ENVIRONMENT_TOTAL_MAX} (1 MiB) leave room to start a step; the largest: {largest}; "
            "pass file paths instead"
        )


# --------------------------------------------------------------------------- types


def coerce(param: Parameter, value: Any, *, from_text: bool = False) -> Any:
    """Convert ``value`` to the parameter's type and check choices and pattern.

    ``from_text`` marks command-line text, where ``"true"`` may mean a bool and a
    list is written as JSON or comma-separated. A secret's value is never shown
    in a message.
    """
    typed = _convert(param, value, from_text)
    if param.choices is not None and typed not in param.choices:
        allowed = ", ".join(repr(c) for c in param.choices)
        raise ParameterError(
            f"parameter '{param.name}' must be one of {allowed}, got {_shown(param, value)}"
        )
    if param.pattern is not None and typed is not None:
        _check_pattern(param, typed)
    return typed


def to_environment(value: Any) -> str:
    """The text a shell step sees in the parameter's environment variable."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "\n".join(to_environment(v) for v in value)
    return str(value)


def _shown(param: Parameter, value: Any) -> str:
    if param.secret:
        return "its secret value (not shown)"
    shown = repr(value)
    return shown if len(shown) <= 200 else f"{shown[:200]}… ({len(shown)} characters)"


def _convert(param: Parameter, value: Any, from_text: bool) -> Any:
    kind = param.type
    if value is None:
        return None
    try:
        if kind == "str":
            if isinstance(value, (dict, list, tuple)):
                raise ValueError
            if isinstance(value, float) and not from_text:
                return repr(value)
            return str(value) if not isinstance(value, bool) else str(value).lower()
        if kind == "int":
            if isinstance(value, (bool, float)):
                raise ValueError
            return int(str(value).strip(), 10)
        if kind == "float":
            if isinstance(value, bool) or not math.isfinite(number := float(value)):
                raise ValueError
            return number
        if kind == "bool":
            return _to_bool(value)
        if kind == "list":
            return _to_list(value, from_text)
    except (ValueError, TypeError, RecursionError):  # RecursionError: "[[[[…]]]]" too deep
        pass
    raise ParameterError(
        f"parameter '{param.name}' expects {_describe(kind)}, got {_shown(param, value)}"
    )


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(value)


def _to_list(value: Any, from_text: bool) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return _items(value)
    if isinstance(value, str) and from_text:
        text = value.strip()
        if text.startswith("["):
            loaded = json.loads(text, parse_constant=_not_finite)
            if isinstance(loaded, list):
                return _items(loaded)
            raise ValueError(value)
        return [part.strip() for part in text.split(",") if part.strip()]
    raise ValueError(value)


def _items(values: list[Any] | tuple[Any, ...]) -> list[Any]:
    """A list's items are values, one a line: a nested list (``[[[…]]]`` nested thousands
    deep overflowed Python's stack) or a non-finite number is none."""
    for item in values:
        nested = isinstance(item, (list, tuple, dict))
        if nested or (isinstance(item, float) and not math.isfinite(item)):
            raise ValueError(item)
    return list(values)


def _not_finite(word: str) -> Any:
    """JSON's ``NaN`` and ``Infinity`` are no value a step can be given (Python reads them)."""
    raise ValueError(word)


def _check_pattern(param: Parameter, typed: Any) -> None:
    values = typed if isinstance(typed, list) else [typed]
    for item in values:
        if re.fullmatch(param.pattern or "", to_environment(item)) is None:
            value = (
                f"from {secret_variable(param.name)} (not shown)" if param.secret else repr(item)
            )
            raise ParameterError(
                f"parameter '{param.name}' value {value} does not match pattern {param.pattern!r}"
            )


def _describe(kind: str) -> str:
    return {
        "str": "text",
        "int": "an integer",
        "float": "a finite number",
        "bool": "true or false",
        "list": "a list (YAML/JSON list, or comma-separated on the command line)",
    }[kind]
