"""YAML read from untrusted text (front matter, ``-f params.yaml``), with aliases bounded.

YAML aliases share one node: six nested levels of a ten-item list with ``*alias``
expand a 483-byte file into millions of values (a 60 MB notebook). The node graph is
composed first and its expanded size counted without expanding it; a document that
would expand beyond :data:`MAX_NODES` values, or refers to itself, is refused with the
line of the offending node. A key given twice in one mapping is refused at its line:
PyYAML keeps the last silently, so a parameter declared twice lost its ``secret: true``.
So is a value that is no text or no number a step or a record could hold: a string
with a lone surrogate or a NUL (from a ``"\\ud800"`` or ``"\\0"`` escape), a ``.nan``
or ``.inf``.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from .errors import ParseError

MAX_NODES = 10_000
"""More values than any real front matter or parameters file holds, once aliases expand."""


def load_yaml(text: str, *, path: str, line: int, base: bool = False, what: str = "YAML") -> Any:
    """``yaml.safe_load`` (or ``BaseLoader``: every scalar a string) with aliases bounded.

    ``line`` is the 1-based source line of the YAML's first line; a syntax error or an
    alias expansion beyond the bound is a :class:`ParseError` at its line.
    """
    loader_class = yaml.BaseLoader if base else yaml.SafeLoader
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, path=path, line=line)
        _check_unique_keys(node, loader, path=path, line=line, what=what)
        _check_scalars(node, loader, path=path, line=line, what=what)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = line + mark.line if mark is not None else line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParseError(f"invalid {what}: {problem}", path=path, line=where) from None
    except RecursionError:
        raise ParseError(f"{what} is nested too deeply", path=path, line=line) from None
    finally:
        loader.dispose()


def _check_size(root: yaml.Node, *, path: str, line: int) -> None:
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise ParseError(
                "YAML alias refers to itself; write the value out",
                path=path,
                line=line + node.start_mark.line,
            )
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        visiting.discard(key)
        if total > MAX_NODES:
            raise ParseError(
                f"YAML aliases expand to more than {MAX_NODES} values here; "
                "write the values out instead of nesting aliases",
                path=path,
                line=line + node.start_mark.line,
            )
        sizes[key] = total
        return total

    size(root)


MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_unique_keys(
    root: yaml.Node, loader: yaml.BaseLoader, *, path: str, line: int, what: str
) -> None:
    """Refuse a mapping that names one key twice (``1`` and ``01`` too: the same int).

    Keys a merge (``<<: *base``) brings in may be overridden: that is what merging is for.
    """
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
            continue
        first: dict[object, int] = {}
        for key_node, value in node.value:
            pending.extend((key_node, value))
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE_TAG:
                continue
            key = loader.construct_object(key_node)
            where = line + key_node.start_mark.line
            if key in first:
                raise ParseError(
                    f"duplicate key '{key}' in {what} (first at line {first[key]}); "
                    "give each key once",
                    path=path,
                    line=where,
                )
            first[key] = where


FLOAT_TAG = "tag:yaml.org,2002:float"


def _check_scalars(
    root: yaml.Node, loader: yaml.BaseLoader, *, path: str, line: int, what: str
) -> None:
    """Refuse strings no file or process can hold, and numbers no value can be.

    A lone surrogate could not be written as UTF-8 (a traceback, an empty ``.tmp`` file
    left); a NUL in a description broke the notebook's Python (every run failed); a
    ``.nan`` in a list default was written into its code as ``nan``.
    """
    seen: set[int] = set()
    pending: list[tuple[yaml.Node, str | None]] = [(root, None)]
    while pending:
        node, key = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend((item, key) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                pending.extend(((key_node, None), (value, getattr(key_node, "value", key))))
        else:
            problem = _scalar_problem(node, loader)
            if problem:
                where = f"'{key}': " if key is not None else ""
                raise ParseError(
                    f"{what}: {where}{problem}", path=path, line=line + node.start_mark.line
                )


def _scalar_problem(node: yaml.Node, loader: yaml.BaseLoader) -> str | None:
    text = node.value
    surrogate = next((c for c in text if "\ud800" <= c <= "\udfff"), None)
    if surrogate is not None:
        return f"a lone surrogate (\\u{ord(surrogate):04x}) is not text; write the character"
    if "\0" in text:
        return "a NUL character is not text; remove it"
    if node.tag == FLOAT_TAG:
        number = loader.construct_object(node)
        if isinstance(number, float) and not math.isfinite(number):
            return f"{text} is not a finite number; write a number"
    return None
