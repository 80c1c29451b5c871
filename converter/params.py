"""Parameter types: one place that turns declared defaults and supplied values into typed values.

Used by the parser (a default must satisfy its own declaration), by ``runbook run``
(values from ``-p`` arrive as text and are converted here, not by papermill's
guessing, so ``-p version 1.10`` stays ``"1.10"``) and by the kernel runtime
(which validates again, so plain papermill runs are checked too).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ParameterError
from .model import Parameter

TYPES = ("str", "int", "float", "bool", "list")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce(param: Parameter, value: Any, *, from_text: bool = False) -> Any:
    """Convert ``value`` to the parameter's type and check choices and pattern.

    ``from_text`` marks command-line text, where ``"true"`` may mean a bool and a
    list is written as JSON or comma-separated.
    """
    typed = _convert(param, value, from_text)
    if param.choices is not None and typed not in param.choices:
        allowed = ", ".join(repr(c) for c in param.choices)
        raise ParameterError(f"parameter '{param.name}' must be one of {allowed}, got {value!r}")
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
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "bool":
            return _to_bool(value)
        if kind == "list":
            return _to_list(value, from_text)
    except (ValueError, TypeError, json.JSONDecodeError):
        pass
    raise ParameterError(f"parameter '{param.name}' expects {_describe(kind)}, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _to_list(value: Any, from_text: bool) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and from_text:
        text = value.strip()
        if text.startswith("["):
            loaded = json.loads(text)
            if isinstance(loaded, list):
                return loaded
            raise ValueError(value)
        return [part.strip() for part in text.split(",") if part.strip()]
    raise ValueError(value)


def _check_pattern(param: Parameter, typed: Any) -> None:
    values = typed if isinstance(typed, list) else [typed]
    for item in values:
        if re.fullmatch(param.pattern or "", to_environment(item)) is None:
            raise ParameterError(
                f"parameter '{param.name}' value {item!r} does not match pattern {param.pattern!r}"
            )


def _describe(kind: str) -> str:
    return {
        "str": "text",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "list": "a list (YAML/JSON list, or comma-separated on the command line)",
    }[kind]
