"""Parameters and run settings: the one owner of both vocabularies.

A runbook *parameter* is declared in front matter and reaches every shell step
as an environment variable. A *run setting* (dry run, confirmations, operator,
mode, …) is how a run is driven; it lives in the notebook's ``parameters`` cell
next to the parameters, so papermill can set it. Both are described here once:

* :class:`~converter.model.Parameter` ↔ the plain dict kept in notebook
  metadata and the setup cell (:func:`to_declaration`, :func:`from_declaration`);
* typed coercion of declared defaults and supplied values (:func:`coerce`);
  values given as text (``-p NAME VALUE``) are converted by the declared type,
  not by papermill's guessing, so ``-p version 1.10`` stays ``"1.10"``;
* resolution of values, with secrets read only from ``RUNBOOK_SECRET_<NAME>``
  (:func:`resolve`), used alike by the runner and by the kernel;
* :data:`RUN_SETTINGS`, the table of run settings that the front matter
  reader, the notebook builder, the parameters cell, the runner and the kernel
  all read.

Nothing here starts a kernel or imports a stage: a bad value stops a run before
any step, naming the parameter (never a secret's value).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ParameterError
from .model import Parameter

TYPES = ("str", "int", "float", "bool", "list")
SECRET_PREFIX = "RUNBOOK_SECRET_"
SECRET_MARK = "***"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


# --------------------------------------------------------------------------- run settings


@dataclass(frozen=True)
class RunSetting:
    """One run setting of the ``parameters`` cell."""

    name: str
    """The variable in the parameters cell (and the papermill parameter name)."""
    type: str
    """``bool``, ``list``, ``str`` or ``float``."""
    default: Any
    """Its value in a freshly converted notebook."""
    environment: str | None
    """The environment variable read when the cell leaves the setting empty."""
    label: str
    """Key of the comment shown beside it (``notebook/labels.py``)."""


RUN_SETTINGS: tuple[RunSetting, ...] = (
    RunSetting("dry_run", "bool", False, None, "dry_run"),
    RunSetting("confirm", "list", [], "RUNBOOK_CONFIRM", "confirm"),
    RunSetting("operator", "str", "", "RUNBOOK_OPERATOR", "operator"),
    RunSetting("runbook_mode", "str", "interactive", "RUNBOOK_MODE", "runbook_mode"),
    RunSetting("rollback", "bool", False, None, "rollback"),
    RunSetting("records_dir", "str", "", "RUNBOOK_RECORDS", "records_dir"),
    RunSetting("run_dir", "str", "", None, "run_dir"),
    RunSetting("step_timeout", "float", None, "RUNBOOK_TIMEOUT", "step_timeout"),
    RunSetting("resume_from", "str", "", None, "resume_from"),
)
RESERVED_NAMES = frozenset(s.name for s in RUN_SETTINGS)
"""Names a runbook may not declare as parameters: they are run settings."""

DEFAULT_RECORDS = "records"


def resolve_settings(
    given: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every run setting: the cell's value, else its environment variable, else its default.

    ``confirm`` becomes a list of ids (a comma-separated string is split), the
    operator is resolved by :func:`operator_name`, records go to ``./records``.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in RUN_SETTINGS:
        value = given.get(setting.name)
        if value in (None, "", []) and setting.environment:
            value = env.get(setting.environment) or None
        values[setting.name] = _setting_value(setting, value)
    values["operator"] = operator_name(values["operator"] or None, env)
    values["records_dir"] = values["records_dir"] or DEFAULT_RECORDS
    return values


def _setting_value(setting: RunSetting, value: Any) -> Any:
    if value in (None, ""):
        return list(setting.default) if isinstance(setting.default, list) else setting.default
    if setting.type == "bool":
        return value if isinstance(value, bool) else _to_bool_setting(setting.name, value)
    if setting.type == "list":
        items = value.split(",") if isinstance(value, str) else list(value)
        return [str(item).strip() for item in items if str(item).strip()]
    if setting.type == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"run setting '{setting.name}' expects a number of seconds, got {value!r}"
            ) from None
        if not number > 0 or number == float("inf"):
            raise ParameterError(
                f"run setting '{setting.name}' must be a positive number of seconds, got {value!r}"
            )
        return number
    return str(value)


def _to_bool_setting(name: str, value: Any) -> bool:
    try:
        return _to_bool(value)
    except ValueError:
        raise ParameterError(f"run setting '{name}' expects true or false, got {value!r}") from None


def operator_name(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Who runs this (DESIGN §2): the name given, RUNBOOK_OPERATOR, JUPYTERHUB_USER, the OS user."""
    import getpass

    env = os.environ if environ is None else environ
    return (
        explicit or env.get("RUNBOOK_OPERATOR") or env.get("JUPYTERHUB_USER") or getpass.getuser()
    )


# --------------------------------------------------------------------------- declarations


def secret_variable(name: str) -> str:
    """The environment variable a secret parameter is read from: ``RUNBOOK_SECRET_<NAME>``."""
    return f"{SECRET_PREFIX}{name.upper()}"


def to_declaration(param: Parameter) -> dict[str, Any]:
    """The plain dict kept in notebook metadata and the setup cell."""
    return {
        "name": param.name,
        "type": param.type,
        "default": param.default,
        "choices": list(param.choices) if param.choices is not None else None,
        "pattern": param.pattern,
        "required": param.required,
        "secret": param.secret,
    }


def from_declaration(data: Mapping[str, Any]) -> Parameter:
    """A Parameter from the dict :func:`to_declaration` made."""
    choices = data.get("choices")
    return Parameter(
        name=data["name"],
        type=data.get("type", "str"),
        default=data.get("default"),
        choices=None if choices is None else tuple(choices),
        pattern=data.get("pattern"),
        required=bool(data.get("required")),
        secret=bool(data.get("secret")),
    )


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Resolved:
    """The values of one run: every declared parameter, typed, with its secrets apart."""

    declarations: tuple[Parameter, ...]
    values: dict[str, Any]
    """Typed value of every declared parameter (secrets too, for the steps' environment only)."""
    secrets: tuple[str, ...] = field(default=())
    """The secret values, for the masker."""

    def shown(self) -> dict[str, Any]:
        """Values as they may appear in a record: secrets as ``***``."""
        return {
            p.name: (SECRET_MARK if p.secret else self.values.get(p.name))
            for p in self.declarations
        }

    def public(self) -> dict[str, Any]:
        """The non-secret values: what papermill may get (it writes them into the notebook)."""
        return {p.name: self.values.get(p.name) for p in self.declarations if not p.secret}

    def secret_environment(self) -> dict[str, str]:
        """Each secret parameter that has a value: its name → the text its variable holds."""
        return {
            p.name: to_environment(self.values[p.name])
            for p in self.declarations
            if p.secret and self.values.get(p.name) not in (None, "")
        }

    def environment(self) -> dict[str, str]:
        """What each shell step receives: one environment variable per parameter."""
        return {p.name: to_environment(self.values.get(p.name)) for p in self.declarations}


def resolve(
    declared: tuple[Parameter, ...] | list[Parameter],
    given: Mapping[str, Any],
    *,
    from_text: frozenset[str] = frozenset(),
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Resolved:
    """Typed values for ``declared`` from ``given`` (else defaults), secrets from the environment.

    ``strict`` (the command line) refuses names that are not declared; the
    kernel passes its whole namespace and only declared names are read.
    ``from_text`` names the values that arrived as command-line text.
    """
    env = os.environ if environ is None else environ
    params = {p.name: p for p in declared}
    if strict:
        _check_names(params, given)
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for name, param in params.items():
        if param.secret:
            if given.get(name) not in (None, "") or (strict and name in given):
                raise ParameterError(
                    f"parameter '{name}' is secret: "
                    f"set {secret_variable(name)} in the environment instead"
                )
            value: Any = env.get(secret_variable(name)) or None
            if value is not None:
                secrets.append(value)
        else:
            value = given.get(name, param.default)
        if value in (None, "") and param.required:
            where = secret_variable(name) if param.secret else f"-p {name} VALUE"
            raise ParameterError(f"parameter '{name}' is required: give it with {where}")
        values[name] = (
            None
            if value is None
            else coerce(param, value, from_text=param.secret or name in from_text)
        )
    return Resolved(tuple(params.values()), values, tuple(secrets))


def _check_names(params: Mapping[str, Parameter], given: Mapping[str, Any]) -> None:
    for name in given:
        if name in RESERVED_NAMES:
            raise ParameterError(
                f"'{name}' is a run setting, not a parameter; use its command-line option"
            )
        if name not in params:
            known = ", ".join(params) or "(none declared)"
            raise ParameterError(f"unknown parameter '{name}'; this runbook declares: {known}")


def load_parameters_file(path: os.PathLike[str]) -> dict[str, Any]:
    """A YAML mapping of values, read as text so ``1.10`` stays ``"1.10"`` for a str."""
    import yaml

    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"{path}: cannot read parameters file: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: parameters file must be a YAML mapping of name: value")
    return dict(data)


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
    return "its secret value (not shown)" if param.secret else repr(value)


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
    raise ParameterError(
        f"parameter '{param.name}' expects {_describe(kind)}, got {_shown(param, value)}"
    )


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
                f"parameter '{param.name}' value {_shown(param, item)} "
                f"does not match pattern {param.pattern!r}"
            )


def _describe(kind: str) -> str:
    return {
        "str": "text",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "list": "a list (YAML/JSON list, or comma-separated on the command line)",
    }[kind]
