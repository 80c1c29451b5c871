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

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ParameterError, read_user_text
from ..model import Parameter
from .values import (
    ENVIRONMENT_STRING_MAX,
    SECRET_PREFIX,
    _to_bool,
    check_environment,
    check_environment_total,
    check_text,
    coerce,
    environment_secrets,
    is_secret_variable,
    secret_variable,
    to_environment,
)

TYPES = ("str", "int", "float", "bool", "list")
SECRET_MARK = "***"
SECRET_UNSET = "not set"
"""How a record shows an optional secret whose ``RUNBOOK_SECRET_<NAME>`` was not set."""


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
    RunSetting("plan", "str", "", "RUNBOOK_PLAN", "plan"),
)
RESERVED_NAMES = frozenset(s.name for s in RUN_SETTINGS)
"""Names a runbook may not declare as parameters: they are run settings."""

KERNEL_NAMES = frozenset(
    {"runbook", "start", "globals", "get_ipython", "In", "Out", "exit", "quit"}
)
"""Names the converted notebook's own cells (``notebook/cells/setup.py.tmpl``: ``start``,
``globals``, ``runbook``) and IPython (``get_ipython`` runs every ``%%step``; ``In``,
``Out``) use in the kernel's namespace: a parameter of that name, assigned there by the
parameters cell, would break the run. So would any name starting with ``_``."""


def is_kernel_name(name: str) -> bool:
    """Whether a parameter called ``name`` would overwrite what the kernel needs."""
    return name in KERNEL_NAMES or name.startswith("_")


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
        if not is_positive_seconds(number):
            raise ParameterError(
                f"run setting '{setting.name}' must be a positive number of seconds, got {value!r}"
            )
        return number
    return str(value)


def is_positive_seconds(value: Any) -> bool:
    """A number of seconds a timeout can use: finite and above zero (not nan, inf, 0, -5)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value > 0


def _to_bool_setting(name: str, value: Any) -> bool:
    try:
        return _to_bool(value)
    except ValueError:
        raise ParameterError(f"run setting '{name}' expects true or false, got {value!r}") from None


def operator_name(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Who runs this (DESIGN §2): the name given, RUNBOOK_OPERATOR, JUPYTERHUB_USER, the OS user."""
    import getpass

    env = os.environ if environ is None else environ
    name = (
        explicit or env.get("RUNBOOK_OPERATOR") or env.get("JUPYTERHUB_USER") or getpass.getuser()
    )
    what = "the operator name (--operator / RUNBOOK_OPERATOR)"
    check_text(what, name)
    if any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in name):
        raise ParameterError(f"{what} contains a control character (a newline, an escape)")
    return name


# --------------------------------------------------------------------------- declarations


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
    """The secret values, for the masker: the declared secrets' spellings, and every other
    ``RUNBOOK_SECRET_*`` value of the environment (a secret of another runbook)."""

    def shown(self) -> dict[str, Any]:
        """Values as they may appear in a record: secrets as ``***``, or ``not set``."""
        return {
            p.name: (
                (SECRET_MARK if self.values.get(p.name) is not None else SECRET_UNSET)
                if p.secret
                else self.values.get(p.name)
            )
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
    sizes = {}
    for name, param in params.items():
        text = to_environment(values[name])
        check_environment(name, text, secret=param.secret)
        sizes[name] = len(name.encode("utf-8")) + len(text.encode("utf-8")) + 2
        if param.secret and values[name] is not None:
            secrets.extend(_secret_spellings(env[secret_variable(name)], values[name]))
    for text in environment_secrets(env):
        secrets.extend(_secret_spellings(text, text))
    check_environment_total(sizes)
    return Resolved(tuple(params.values()), values, tuple(dict.fromkeys(secrets)))


SECRET_LINE_MIN = 8
"""A line of a multi-line secret (a PEM key) this long or longer is masked on its own."""


def _secret_spellings(text: str, value: Any) -> list[str]:
    """What a secret may look like in a step's output: as given, as the step's variable
    holds it (``0042`` typed ``int`` is ``42``; a list is one item a line), each item of a
    list, and each long line of a multi-line secret (printed indented, or one by one)."""
    shown = to_environment(value)
    items = [to_environment(v) for v in value] if isinstance(value, (list, tuple)) else []
    lines = [line.strip() for form in (text, shown) for line in form.splitlines()]
    long_lines = [line for line in lines if len(line) >= SECRET_LINE_MIN]
    return [text, shown, *items, *long_lines]


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
    """A YAML mapping of values, read as text so ``1.10`` stays ``"1.10"`` for a str.

    Bad input is a :class:`ParameterError` at its line: unreadable, not UTF-8, not YAML,
    aliases that expand without bound, not a mapping.
    """
    from ..yamltext import load_yaml

    shown = os.fspath(path)
    text = read_user_text(path, ParameterError, "parameters file")
    loaded = load_yaml(text, path=shown, line=1, base=True, what="parameters file")
    if not isinstance(loaded, dict):
        raise ParameterError("parameters file must be a YAML mapping of name: value", path=shown)
    return dict(loaded)


__all__ = [
    "DEFAULT_RECORDS",
    "ENVIRONMENT_STRING_MAX",
    "KERNEL_NAMES",
    "RESERVED_NAMES",
    "RUN_SETTINGS",
    "SECRET_MARK",
    "SECRET_PREFIX",
    "SECRET_UNSET",
    "TYPES",
    "Resolved",
    "RunSetting",
    "check_environment",
    "check_text",
    "coerce",
    "environment_secrets",
    "from_declaration",
    "is_kernel_name",
    "is_positive_seconds",
    "is_secret_variable",
    "load_parameters_file",
    "operator_name",
    "resolve",
    "resolve_settings",
    "secret_variable",
    "to_declaration",
    "to_environment",
]
