"""Exceptions that stop a run with one clear line instead of a Python traceback.

IPython shows ``_render_traceback_()`` instead of a traceback; papermill records
the same line as the cell's error output, and stops the run there.
"""

from __future__ import annotations


class _OneLine(Exception):
    """Base: rendered as ``Name: message`` and nothing else."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class StopRun(_OneLine):
    """The run cannot start (bad parameter, records not writable): no step has run."""


class StepFailed(_OneLine):
    """A step exited non-zero, timed out, or its expected result did not match."""


class StepBlocked(_OneLine):
    """A gate before this step has unticked items; tick them (or --confirm) and run again."""


class SealedRecord(_OneLine):
    """A sealed record notebook was executed: evidence never runs again; open the runbook instead.

    Raised by the first code cell of every sealed ``record.ipynb`` (written there by
    :mod:`converter.records.seal`), so papermill, nbclient and JupyterLab's "Run All"
    stop before anything starts: no step, no journal, no new record.
    """
