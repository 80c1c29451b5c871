"""The targets file of a fleet: one row per target, read with the line of every row.

A CSV file has a header row; a YAML file is a list of mappings (or a mapping with a
``targets:`` list). The column ``target`` names the target; every other column is a
parameter, given as text like ``-p NAME VALUE``. Every row is validated with the
runbook's declared parameters *before* anything starts: one bad row refuses the
whole fleet at ``path:line``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ParameterError, read_user_text
from ..model import Parameter
from ..parameters import Resolved, from_declaration, resolve

TARGET_COLUMN = "target"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A target's name appears in paths and ids: letters, digits, ``.``, ``_``, ``-``."""


@dataclass(frozen=True)
class Target:
    """One row of the targets file."""

    name: str
    values: dict[str, str] = field(default_factory=dict)
    """Its parameters as text (``-p`` values), row over the command line's."""
    line: int = 0
    """The row's line in the targets file."""


def read_targets(path: os.PathLike[str]) -> list[Target]:
    """The rows of a ``.csv`` or ``.yaml``/``.yml`` targets file, names checked, in file order."""
    shown = os.fspath(path)
    text = read_user_text(path, ParameterError, "targets file")
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(text, shown)
    elif suffix in (".yaml", ".yml"):
        rows = _yaml_rows(text, shown)
    else:
        raise ParameterError("a targets file is .csv, .yaml or .yml", path=shown)
    if not rows:
        raise ParameterError("the targets file names no target", path=shown, line=1)
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        name = row.pop(TARGET_COLUMN, None)
        if name in (None, ""):
            raise ParameterError(f"no '{TARGET_COLUMN}' value in this row", path=shown, line=line)
        if not _SAFE_NAME.match(name):
            raise ParameterError(
                f"target name {name!r} is not safe in paths: use 1-64 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit",
                path=shown,
                line=line,
            )
        if name in seen:
            raise ParameterError(
                f"target {name!r} is named twice (first at line {seen[name]})",
                path=shown,
                line=line,
            )
        seen[name] = line
        targets.append(Target(name, row, line))
    return targets


def _csv_rows(text: str, path: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            return []
        header = [h.strip() for h in header]
        if TARGET_COLUMN not in header:
            raise ParameterError(
                f"the header row has no '{TARGET_COLUMN}' column", path=path, line=1
            )
        if len(set(header)) != len(header) or "" in header:
            raise ParameterError("the header row repeats a column or has an empty one", path=path,
                                 line=1)  # fmt: skip
        rows = []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(cells) != len(header):
                raise ParameterError(
                    f"{len(cells)} values for {len(header)} columns", path=path, line=line
                )
            rows.append((line, dict(zip(header, (c.strip() for c in cells)))))
    except csv.Error as exc:
        raise ParameterError(f"invalid CSV: {exc}", path=path, line=reader.line_num) from None
    return rows


def _yaml_rows(text: str, path: str) -> list[tuple[int, dict[str, str]]]:
    import yaml

    from ..yamltext import load_yaml

    loaded = load_yaml(text, path=path, line=1, base=True, what="targets file")
    node = yaml.compose(text, Loader=yaml.BaseLoader)  # the same text, parsed: for line numbers
    if isinstance(loaded, dict) and set(loaded) == {"targets"}:
        loaded = loaded["targets"]
        node = next(v for k, v in node.value if k.value == "targets")
    if loaded is None:
        return []
    if not isinstance(loaded, list):
        raise ParameterError(
            "a YAML targets file is a list of mappings (- target: NAME, then parameters)",
            path=path,
            line=1,
        )
    rows = []
    for item, item_node in zip(loaded, node.value):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            raise ParameterError("each target is a mapping of column: value", path=path, line=line)
        rows.append((line, {str(k): _text(v) for k, v in item.items()}))
    return rows


def _text(value: Any) -> str:
    """A YAML value as ``-p`` text (the base loader keeps scalars as text; a list as JSON)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def given_values(target: Target, common: Mapping[str, Any], declared: set[str]) -> dict[str, Any]:
    """The values a target's run is given: the command line's, its row's, and its name as the
    parameter ``target`` when the runbook declares one."""
    named = {TARGET_COLUMN: target.name} if TARGET_COLUMN in declared else {}
    return {**common, **target.values, **named}


def resolve_targets(
    targets: list[Target],
    declared: tuple[Parameter, ...],
    common: Mapping[str, Any],
    *,
    path: str,
) -> dict[str, Resolved]:
    """Every target's values resolved as ``runbook run -p`` would; one bad row refuses all.

    ``common`` holds the ``-f``/``-p`` values of the command line (text, like each row).
    A runbook that declares a parameter ``target`` gets the target's name in it.
    """
    resolved = {}
    names = {p.name for p in declared}
    for target in targets:
        given = given_values(target, common, names)
        try:
            resolved[target.name] = resolve(
                declared, given, from_text=frozenset(given), strict=True
            )
        except ParameterError as exc:
            raise ParameterError(
                f"target {target.name!r}: {exc.message}", path=path, line=target.line
            ) from None
    return resolved


def fleet_parameters(
    nb: Any, path: os.PathLike[str], common: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every target's values as its record will show them (secrets ``***``): what a plan signs."""
    declared = tuple(from_declaration(d) for d in nb.metadata["runbook"].get("parameters", []))
    resolved = resolve_targets(read_targets(path), declared, common, path=os.fspath(path))
    return {name: values.shown() for name, values in resolved.items()}
