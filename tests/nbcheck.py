"""Every notebook a test produces goes through :func:`assert_valid`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat


def assert_valid(nb: Any) -> nbformat.NotebookNode:
    """Validate a notebook (node, dict, JSON text or path) against the nbformat schema.

    Also checks what the schema cannot: nbformat 4.5 (cell ids exist), unique cell ids,
    and a ``runbook`` block in the notebook metadata. Returns the notebook node.
    """
    if isinstance(nb, Path):
        nb = nb.read_text(encoding="utf-8")
    if isinstance(nb, str):
        nb = json.loads(nb)
    node = nbformat.from_dict(nb)
    nbformat.validate(node)
    assert (node.nbformat, node.nbformat_minor) == (4, 5), "expected nbformat 4.5"
    ids = [cell.id for cell in node.cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate cell ids: {duplicates}"
    assert "runbook" in node.metadata, "notebook metadata has no 'runbook' key"
    return node
