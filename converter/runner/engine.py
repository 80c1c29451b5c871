"""papermill's nbclient engine, stepping over the cells a kernel does not run.

papermill's loop opens and closes every cell (start time, an ISO date parsed back with
dateutil, a status, a save request), Markdown included, and nbclient then returns at once
for a cell that is not code. A runbook has a Markdown heading before every step, so that
was a quarter of a millisecond per step in the runner, a fifth of what it adds to bare
papermill (docs/BENCHMARKS.md). Here the loop visits code cells only; papermill marks the
others ``completed`` when the notebook completes, as before (up to a failed cell).
Everything else is papermill's: the same client, kernel start-up, errors and saves.
"""

from __future__ import annotations

from typing import Any

from nbclient.exceptions import CellExecutionError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "runbook"
"""The name ``papermill.execute_notebook(engine_name=…)`` takes for this engine."""


class _CodeCellsClient(PapermillNotebookClient):
    def papermill_execute_cells(self) -> None:
        """papermill's loop (clientwrap.py), over the code cells only."""
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except CellExecutionError as ex:
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                break
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)


class RunbookEngine(NBClientEngine):
    """:class:`papermill.engines.NBClientEngine` with :class:`_CodeCellsClient`."""

    @classmethod
    def execute_managed_notebook(  # type: ignore[override]
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """As ``NBClientEngine.execute_managed_notebook`` (papermill 2.6, 2.7), with our client."""
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        return _CodeCellsClient(nb_man, **final_kwargs).execute()


papermill_engines.register(ENGINE_NAME, RunbookEngine)
