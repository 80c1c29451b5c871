"""Front matter (YAML between ``---`` lines) → runbook settings and declared parameters.

Runbooks copied from static-site generators carry their own keys (``weight``,
``toc``…); those are kept, not rejected. Only our keys are validated, and a
parameter whose default violates its own declaration is an error at its line.
"""

from __future__ import annotations

import hashlib
import keyword
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, ParseError
from ..model import Metadata, Parameter
from ..parameters import (
    RESERVED_NAMES,
    TYPES,
    coerce,
    is_kernel_name,
    is_positive_seconds,
    secret_variable,
)
from ..yamltext import load_yaml
from .vocabulary import detect_lang, slugify

PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What names both a Python variable (the parameters cell) and a bash variable (a step)."""
PARAMETER_KEYS = {"type", "default", "choices", "pattern", "description", "required", "secret"}


def load_front_matter(text: str | None, *, path: str, line: int) -> dict[str, Any]:
    """Parse the YAML mapping; ``line`` is the 1-based line of the opening ``---``."""
    if text is None or not text.strip():
        return {}
    data = load_yaml(text, path=path, line=line + 1, what="YAML front matter")
    if not isinstance(data, dict):
        raise ParseError("front matter must be a YAML mapping (key: value)", path=path, line=line)
    return data


def declared_parameters(
    data: dict[str, Any], *, path: str, text: str | None, line: int
) -> tuple[Parameter, ...]:
    """Validate ``parameters:`` and return them in declaration order."""
    raw = data.get("parameters") or {}
    if not isinstance(raw, dict):
        raise ParseError(
            "'parameters' must be a mapping of name to declaration", path=path, line=line
        )
    found = []
    written = _written_scalars(text)
    for name, spec in raw.items():
        where = _line_of(str(name), text, line)
        found.append(
            _parameter(str(name), spec, path=path, line=where, written=written.get(str(name), {}))
        )
    return tuple(found)


def _written_scalars(text: str | None) -> dict[str, dict[str, Any]]:
    """Each parameter's ``default`` and ``choices`` as written in the source, by name.

    YAML 1.1 reads ``0755`` as 493, ``12:30`` as 750, ``1.10`` as 1.1 and ``NO`` as
    false; a ``str`` parameter takes the text its author wrote instead. Only keys written
    in the declaration itself are found (not those a ``<<:`` merge brings in).
    """
    if not text or not text.strip():
        return {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # load_yaml already accepted the text
    found: dict[str, dict[str, Any]] = {}
    declarations = next((v for k, v in _pairs(root) if k == "parameters"), None)
    for name, declaration in _pairs(declarations):
        for key, value in _pairs(declaration):
            items = value.value if isinstance(value, yaml.SequenceNode) else None
            if key == "default" and isinstance(value, yaml.ScalarNode):
                found.setdefault(name, {})["default"] = value.value
            elif key == "choices" and items and all(isinstance(i, yaml.ScalarNode) for i in items):
                found.setdefault(name, {})["choices"] = [i.value for i in items]
    return found


def _pairs(node: Any) -> list[tuple[str, Any]]:
    """A mapping node's (scalar key text, value node) pairs; none for any other node."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _parameter(name: str, spec: Any, *, path: str, line: int, written: dict[str, Any]) -> Parameter:
    if not PARAMETER_NAME.fullmatch(name) or keyword.iskeyword(name):
        # ASCII only: Python folds fullwidth ｇｌｏｂａｌｓ to globals (NFKC), and bash
        # takes no other letters in a variable name, so a step could never read it.
        raise ParseError(
            f"parameter name '{name}' is not a Python identifier in ASCII "
            "(letters A-Z a-z, digits and '_', not starting with a digit)",
            path=path,
            line=line,
        )
    if name in RESERVED_NAMES:
        raise ParseError(
            f"parameter name '{name}' is reserved for run settings", path=path, line=line
        )
    if is_kernel_name(name):
        raise ParseError(
            f"parameter name '{name}' is used by the notebook's kernel; choose another name",
            path=path,
            line=line,
        )
    if not isinstance(spec, dict):
        spec = {"default": spec}
    unknown = set(spec) - PARAMETER_KEYS
    if unknown:
        raise ParseError(
            f"parameter '{name}' has unknown keys: {', '.join(sorted(map(str, unknown)))}",
            path=path,
            line=line,
        )
    kind = str(spec.get("type", _infer_type(spec.get("default"))))
    if kind not in TYPES:
        raise ParseError(
            f"parameter '{name}' has unknown type '{kind}'; use one of {', '.join(TYPES)}",
            path=path,
            line=line,
        )
    if kind == "str":  # a null default stays no default
        spec = {**spec, **{k: v for k, v in written.items() if spec.get(k) is not None}}
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ParseError(
                f"parameter '{name}' has an invalid pattern: {exc}", path=path, line=line
            ) from None
    choices = spec.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise ParseError(f"parameter '{name}': choices must be a list", path=path, line=line)
    param = Parameter(
        name=name,
        type=kind,
        default=None,
        choices=None,
        pattern=None if pattern is None else str(pattern),
        description=str(spec.get("description") or ""),
        required=_yaml_bool(name, "required", spec, path=path, line=line),
        secret=_yaml_bool(name, "secret", spec, path=path, line=line),
        line=line,
    )
    if param.required and spec.get("default") is not None:
        raise ParseError(  # one of them is a mistake: which, only the author knows
            f"parameter '{name}' is required and has a default; remove one of them",
            path=path,
            line=line,
        )
    try:
        typed_choices = None if choices is None else tuple(coerce(param, c) for c in choices)
        param = _replace(param, choices=typed_choices)
        default = spec.get("default")
        if default is not None and param.secret:
            raise ParameterError(
                f"secret parameter '{name}' must not have a default; set {secret_variable(name)}"
            )
        return _replace(param, default=None if default is None else coerce(param, default))
    except ParameterError as exc:
        raise ParseError(f"{exc.message} (in its declaration)", path=path, line=line) from None


def _yaml_bool(name: str, key: str, spec: dict, *, path: str, line: int) -> bool:
    """``required``/``secret`` are YAML booleans only: ``"no"`` in quotes is not false."""
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise ParseError(
            f"parameter '{name}': '{key}' must be true or false (a YAML boolean), got {value!r}",
            path=path,
            line=line,
        )
    return value


def _replace(param: Parameter, **changes: Any) -> Parameter:
    from dataclasses import replace

    return replace(param, **changes)


def _infer_type(default: Any) -> str:
    for kind, python in (("bool", bool), ("int", int), ("float", float), ("list", list)):
        if isinstance(default, python):
            return kind
    return "str"


def _line_of(name: str, text: str | None, first: int) -> int:
    """The source line declaring ``name`` (for messages); the front matter start otherwise.

    Only the direct children of ``parameters:`` count, so a parameter called ``timeout``
    or ``type`` is not found at the top-level ``timeout:`` or at another one's ``type:``.
    """
    inside, indent = False, None
    for offset, raw in enumerate((text or "").splitlines(), start=1):
        if not inside:
            inside = raw.rstrip() == "parameters:"
            continue
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        depth = len(raw) - len(raw.lstrip())
        if depth == 0:
            break  # the next top-level key: the parameters mapping has ended
        indent = indent or depth
        if depth == indent and raw.split(":", 1)[0].strip().strip("'\"") == name:
            return first + offset
    return first


def _top_level_line(key: str, text: str) -> int:
    """The line of a top-level front matter key (1 when it cannot be found)."""
    for number, raw in enumerate(text.splitlines()[:1000], start=1):
        if raw.startswith(f"{key}:"):
            return number
    return 1


def default_id(stem: str) -> str:
    """The id of a runbook without ``id:``: the file name's slug (``db-migrate.ja.md`` →
    ``db-migrate``); a name with non-ASCII letters keeps its ASCII words and gets a short
    hash of the name (``運用手順.md`` → ``runbook-<8 hex>``), so it still names a directory.
    """
    slug = slugify(stem)
    if re.fullmatch(r"[a-z0-9_][a-z0-9_-]*", slug):
        return slug
    ascii_words = "-".join(re.findall(r"[a-z0-9_]+", slug))[:40]
    digest = hashlib.sha256(stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{ascii_words or 'runbook'}-{digest}"


def runbook_metadata(
    front: dict, title: str | None, header: list[tuple[str, str]], path: str, text: str
) -> Metadata:
    """The runbook's settings from front matter, the first heading and the header blockquote."""
    title = str(front.get("title") or title or Path(path).stem)
    timeout = front.get("timeout")
    if timeout is not None and not is_positive_seconds(timeout):
        raise ParseError(
            f"front matter 'timeout' must be a positive number of seconds, got {timeout!r}",
            path=path,
            line=_top_level_line("timeout", text),
        )
    lang = str(front.get("lang") or detect_lang(text))
    if lang not in ("ja", "en"):
        raise ParseError(
            f"front matter 'lang' must be 'ja' or 'en', got {lang!r}", path=path, line=1
        )
    ours = {"id", "title", "lang", "timeout", "parameters"}
    return Metadata(
        id=str(front.get("id") or default_id(Path(path).stem.split(".")[0])),
        title=title,
        lang=lang,
        timeout=None if timeout is None else float(timeout),
        header=tuple(header),
        # by the key's text only: keys 1 and "1" are two keys, and their values may not compare
        extra=tuple(
            sorted(((str(k), v) for k, v in front.items() if k not in ours), key=lambda kv: kv[0])
        ),
    )
