"""Headless execution: ``runbook run`` and ``runbook resume``.

``run`` is the one orchestrator (papermill underneath); ``resume`` checks that
a stopped run may be continued and hands ``run`` what it needs; ``kernel`` owns the
kernel's sockets and the signals that stop it; ``progress`` follows the journal
on stderr. The runner reaches the kernel only through papermill and the
notebook: it never imports :mod:`converter.runtime`.
"""

from .resume import ResumeOptions, resume_hint, resume_runbook
from .run import EXIT_CODES, RunOptions, RunOutcome, run_runbook
from .source import load_notebook

__all__ = [
    "EXIT_CODES",
    "ResumeOptions",
    "RunOptions",
    "RunOutcome",
    "load_notebook",
    "resume_hint",
    "resume_runbook",
    "run_runbook",
]
