"""Runbook notebooks: Markdown runbooks in, executable notebooks and evidence records out.

The package is a pipeline; each folder is one stage, and imports only point down::

    cli, lab                      the `runbook` command
    runner/   runtime/            headless runs (papermill) | inside the kernel
    lint/     notebook/           model -> findings | model -> .ipynb
    markdown/                     Markdown -> model
    records/                      journal, verdict, seal, chain, index, verify, reports
    parameters, model, errors     one owner each: values and settings, the runbook, errors

Nothing heavy is imported here, so `runbook --help` stays instant: the names in
``__all__`` are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "parse_file": "converter.markdown",
    "parse_text": "converter.markdown",
    "build_notebook": "converter.notebook",
    "lint_paths": "converter.lint",
    "run_runbook": "converter.runner",
    "RunOptions": "converter.runner",
    "RunOutcome": "converter.runner",
    "verify_all": "converter.records",
    "list_runs": "converter.records",
    "RunbookError": "converter.errors",
}
__all__ = [
    "RunOptions",
    "RunOutcome",
    "RunbookError",
    "__version__",
    "build_notebook",
    "lint_paths",
    "list_runs",
    "parse_file",
    "parse_text",
    "run_runbook",
    "verify_all",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'converter' has no attribute {name!r}")
