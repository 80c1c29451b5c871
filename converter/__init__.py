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
import sys
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


class _JsonschemaWithoutIriGrammar:
    """Import ``jsonschema`` as if ``rfc3987_syntax`` were not installed (saves ~1.5 s a process).

    ``import nbformat`` imports jsonschema, whose format checkers import ``rfc3987_syntax``
    when it is installed (JupyterLab's dependencies pull it in), and that module builds a Lark
    grammar at import: 1.5 s of CPU in every process that touches a notebook, the runner
    and its kernel alike (docs/BENCHMARKS.md). Only the ``iri``/``iri-reference`` formats
    use it; the notebook schema has neither, and nbformat validates with fastjsonschema.
    So in a process that imports this package, jsonschema's format module is executed with
    that module reading as absent (jsonschema then skips those two format checks); nothing
    else changes, and a process that imported jsonschema first is left as it is.
    """

    target = "jsonschema._format"

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.target:
            return None
        sys.meta_path.remove(self)  # one module, once
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or "rfc3987_syntax" in sys.modules:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import → ImportError
            try:
                run(module)
            finally:
                del sys.modules["rfc3987_syntax"]

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "jsonschema" not in sys.modules:
    sys.meta_path.insert(0, _JsonschemaWithoutIriGrammar())
