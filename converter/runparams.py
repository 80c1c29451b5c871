"""Runner-side parameter resolution: typed values in, secrets from the environment only.

Values given as text (``-p NAME VALUE``) are converted by the declared type, not
by papermill's guessing (``-p version 1.10`` stays ``"1.10"``). Nothing here
starts a kernel: a bad value stops the run before any step, naming the parameter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ParameterError
from .frontmatter import RESERVED_NAMES
from .model import Parameter
from .params import coerce


def declaration(data: dict[str, Any]) -> Parameter:
    """A Parameter from the notebook metadata's declaration dict."""
    choices = data.get("choices")
    return Parameter(
        name=data["name"], type=data.get("type", "str"), default=data.get("default"),
        choices=None if choices is None else tuple(choices), pattern=data.get("pattern"),
        required=bool(data.get("required")), secret=bool(data.get("secret")),
    )


def operator_name(explicit: str | None = None) -> str:
    """Who runs this (DESIGN §2): the explicit name, RUNBOOK_OPERATOR, JUPYTERHUB_USER, the OS user."""
    import getpass

    return explicit or os.environ.get("RUNBOOK_OPERATOR") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def resolve_parameters(
    declared: list[dict[str, Any]], given: dict[str, Any], from_text: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], list[str]]:
    """Return (non-secret values by name, secret values to mask); raise ParameterError."""
    params = {d["name"]: declaration(d) for d in declared}
    for name in given:
        if name in RESERVED_NAMES:
            raise ParameterError(f"'{name}' is a run setting, not a parameter; use its command-line option")
        if name not in params:
            known = ", ".join(params) or "(none declared)"
            raise ParameterError(f"unknown parameter '{name}'; this runbook declares: {known}")
        if params[name].secret:
            raise ParameterError(
                f"parameter '{name}' is secret: set RUNBOOK_SECRET_{name.upper()} in the environment instead of -p"
            )
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for name, param in params.items():
        if param.secret:
            secret = os.environ.get(f"RUNBOOK_SECRET_{name.upper()}", "")
            if param.required and not secret:
                raise ParameterError(f"secret parameter '{name}' is required: set RUNBOOK_SECRET_{name.upper()}")
            if secret:
                coerce(param, secret, from_text=True)
                secrets.append(secret)
            continue
        value = given.get(name, param.default)
        if value in (None, "") and param.required:
            raise ParameterError(f"parameter '{name}' is required: give it with -p {name} VALUE")
        values[name] = None if value is None else coerce(param, value, from_text=name in from_text)
    return values, secrets


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
