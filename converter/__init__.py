"""Runbook notebooks: Markdown runbooks in, executable notebooks and evidence records out.

The package is a pipeline, one module per stage:

    parse (Markdown -> model) -> model (frozen dataclasses)
      -> build (model -> notebook)   | runtime (inside the kernel)
      | run (papermill orchestration) -> record (manifest, hashes, HTML)
      -> archive (index, list/verify) | cli (the `runbook` command)

Nothing heavy is imported here, so `runbook --help` stays instant.
"""

__version__ = "0.1.0"
