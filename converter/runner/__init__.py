"""Headless execution: ``runbook run``.

``run`` is the one orchestrator (papermill underneath); ``kernel`` owns the
kernel's sockets and the signals that stop it; ``progress`` follows the journal
on stderr. The runner reaches the kernel only through papermill and the
notebook: it never imports :mod:`converter.runtime`.
"""

from .run import EXIT_CODES, RunOptions, RunOutcome, load_notebook, run_runbook

__all__ = ["EXIT_CODES", "RunOptions", "RunOutcome", "load_notebook", "run_runbook"]
