"""Model → ``.ipynb``: the notebook builder and ``runbook convert``.

``gates`` decides which checklists gate each step, ``labels`` holds the words a
notebook shows (ja/en), ``build`` renders cells from the templates in
``cells/``, ``convert`` turns many sources into notebooks, all or nothing.

The names below load on first use: ``build`` imports nbformat (slow), which
``runbook convert`` of bad input, or its ``--help``, never needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "build_notebook": "build",
    "notebook_text": "build",
    "write_notebook": "build",
    "MARKDOWN_SUFFIXES": "convert",
    "Conversion": "convert",
    "find_sources": "convert",
    "plan": "convert",
    "plan_all": "convert",
    "stale": "convert",
    "write_all": "convert",
}

__all__ = [
    "MARKDOWN_SUFFIXES",
    "Conversion",
    "build_notebook",
    "find_sources",
    "notebook_text",
    "plan",
    "plan_all",
    "stale",
    "write_all",
    "write_notebook",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
