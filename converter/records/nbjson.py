"""A notebook's file text exactly as ``nbformat.v4.writes`` makes it, without deep-copying it.

nbformat deep-copies the whole notebook before splitting its text into lines, so that the
notebook in memory keeps its strings; on a record that is most of the cost of writing it,
and a run writes its notebook several times (the hash ``runbook resume`` compares, the
record before papermill starts, the stamp at sealing): 0.07 ms per step each. Here only the
containers that change (cells, outputs, mime bundles, metadata) are copied, shallowly; the
text is the same byte for byte (``tests/unit/test_nbjson.py`` compares them).
"""

from __future__ import annotations

import json
from typing import Any

_TRANSIENT = ("orig_nbformat", "orig_nbformat_minor", "signature")
_NON_TEXT_SPLIT = ("application/javascript", "image/svg+xml")


def notebook_json(nb: Any) -> str:
    """``nbformat.v4.writes(nb)`` (not validated, as that is not either); ``nb`` is unchanged."""
    from nbformat.v4.nbjson import BytesEncoder

    top = dict(nb)
    top["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k not in _TRANSIENT}
    top["cells"] = [_cell(cell) for cell in nb.get("cells", [])]
    return json.dumps(
        top,
        cls=BytesEncoder,
        indent=1,
        sort_keys=True,
        separators=(",", ": "),
        ensure_ascii=False,
    )


def notebook_file_text(nb: Any) -> str:
    """What ``nbformat.write`` puts in a file: :func:`notebook_json` and a newline."""
    return notebook_json(nb) + "\n"


def _cell(cell: Any) -> dict[str, Any]:
    out = dict(cell)
    if isinstance(out.get("source"), str):
        out["source"] = out["source"].splitlines(True)
    metadata = cell.get("metadata")
    if metadata is not None and "trusted" in metadata:
        out["metadata"] = {k: v for k, v in metadata.items() if k != "trusted"}
    if "attachments" in cell:
        out["attachments"] = {k: _bundle(v) for k, v in cell["attachments"].items()}
    if cell.get("cell_type") == "code" and "outputs" in cell:
        out["outputs"] = [_output(output) for output in cell["outputs"]]
    return out


def _output(output: Any) -> Any:
    kind = output.get("output_type")
    if kind in ("execute_result", "display_data") and "data" in output:
        return {**output, "data": _bundle(output["data"])}
    if kind == "stream" and isinstance(output.get("text"), str):
        return {**output, "text": output["text"].splitlines(True)}
    return output


def _bundle(data: Any) -> dict[str, Any]:
    return {
        key: value.splitlines(True)
        if isinstance(value, str) and (key.startswith("text/") or key in _NON_TEXT_SPLIT)
        else value
        for key, value in data.items()
    }
