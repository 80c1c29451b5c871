"""The rollback panel: how to start rollback mode, and a button that does it.

The button switches the run to rollback mode (journaled) and runs the rollback
step cells in order, read from the notebook file so what runs is exactly what
the operator sees below, each as its ``%%step`` cell would run it (approvals, the
approved plan's commands, gates, dry run, its timeout): a click is no way around
them. If the notebook file is unknown, it switches the mode and asks the operator
to run the cells.
"""

from __future__ import annotations

from typing import Any

from ..records import events as ev
from .magic import run_step_cell
from .state import RunState
from .text import message


def rollback_panel(session: RunState) -> None:
    """Explain rollback; in JupyterLab offer the button, headless just say how."""
    if session.settings.mode == "headless" or session.settings.rollback:
        print(message(session.lang, "rollback_headless"))
        return
    import ipywidgets as widgets
    from IPython.display import display

    button = widgets.Button(
        description=message(session.lang, "rollback_button"),
        button_style="danger",
        icon="undo",
        layout=widgets.Layout(width="auto"),
    )
    button.add_class("runbook-rollback")
    out = widgets.Output()

    def clicked(_button: Any) -> None:
        button.disabled = True
        with out:
            start_rollback(session)

    button.on_click(clicked)
    display(widgets.VBox([widgets.HTML(message(session.lang, "rollback_intro")), button, out]))


def start_rollback(session: RunState) -> None:
    """Switch to rollback mode and run the rollback cells; stop at the first failure."""
    if session.finished:  # sealed: no mode switch journaled into a closed record
        print(message(session.lang, "finished", run_dir=session.run_dir))
        return
    session.settings.rollback = True
    if session.settings.dry_run:
        # A dry run shows what the rollback would run and stays a dry run of the procedure:
        # no mode switch is journaled (there is no rollback pass to judge), and the cells run
        # after the click are shown as the procedure's, not skipped as in rollback mode.
        try:
            _run_rollback_cells(session)
        finally:
            session.settings.rollback = False
        return
    session.journal.write(ev.ROLLBACK_MODE, by=session.operator)
    _run_rollback_cells(session)


def _run_rollback_cells(session: RunState) -> None:
    cells = _rollback_cells(session.notebook_path)
    if not cells:
        print(message(session.lang, "rollback_manual"))
        return
    for line, code in cells:
        try:
            run_step_cell(session, line, code)
        except Exception as exc:  # noqa: BLE001 - shown to the operator; later steps must not run
            print(f"{type(exc).__name__}: {exc}")
            return


def _rollback_cells(path: str | None) -> list[tuple[str, str]]:
    """Each rollback step cell as ``%%step`` receives it: its line (id and attributes), its code."""
    if not path:
        return []
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return []
    found = []
    for cell in nb.cells:
        meta = cell.metadata.get("runbook", {})
        if (
            cell.cell_type == "code"
            and meta.get("role") == "step"
            and meta.get("kind") == "rollback"
        ):
            magic_line, _, code = cell.source.partition("\n")
            line = magic_line.strip().removeprefix("%%step").strip()
            found.append((line or str(meta["step_id"]), code))
    return found
