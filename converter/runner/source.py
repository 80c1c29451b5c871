"""What a run runs: the runbook's notebook (converted from Markdown, or read as it is) and
the sha256 that ``runbook resume`` compares to tell whether it changed since."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat

from ..errors import RunbookError
from ..records.manifest import hash_file
from ..records.nbjson import notebook_json


def load_notebook(source: Path) -> nbformat.NotebookNode:
    """A generated notebook: converted on the fly from Markdown, or read as is."""
    if source.suffix == ".ipynb":
        try:
            nb = nbformat.read(source, as_version=4)
        except (OSError, ValueError) as exc:
            raise RunbookError(f"cannot read notebook: {exc}", path=str(source)) from None
        if "runbook" not in nb.metadata:
            raise RunbookError(
                "not a runbook notebook (no metadata.runbook); convert its Markdown first",
                path=str(source),
            )
        if nb.metadata["runbook"].get("sealed"):  # evidence: running it again starts nothing
            raise RunbookError(
                "a sealed record runs nothing; run the runbook it was made from",
                path=str(source),
            )
        if not nb.metadata.get("kernelspec"):  # hand-made: papermill needs a language
            nb.metadata["kernelspec"] = {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        return nb
    from ..markdown import parse_file  # converting needs no kernel; imported only for Markdown
    from ..notebook import build_notebook

    return build_notebook(parse_file(source), source_name=str(source))


def notebook_sha256(source: Path, nb: nbformat.NotebookNode) -> str:
    """What ``runbook resume`` compares: the notebook file, or the one converted from Markdown."""
    if source.suffix == ".ipynb":
        return hash_file(source)
    runbook = {**nb.metadata["runbook"], "source": ""}  # the path as typed: not what runs
    converted = {**nb, "metadata": {**nb.metadata, "runbook": runbook}}
    # nbformat.writes's bytes; its validation (which only logs) left out
    return hashlib.sha256(notebook_json(converted).encode("utf-8")).hexdigest()
