"""The rollback panel: how to start rollback mode, and a button that does it.

The button switches the run to rollback mode (journaled) and runs the rollback
step cells in order, read from the notebook file so what runs is exactly what
the operator sees below. If the notebook file is unknown, it switches the mode
and asks the operator to run the cells.
"""

from __future__ import annotations

from typing import Any

from ..records import events as ev
from .magic import execute
from .state import RunState
from .text import message
from .views import StepStatus


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
    session.settings.rollback = True
    session.journal.write(ev.ROLLBACK_MODE, by=session.operator)
    cells = _rollback_cells(session.notebook_path)
    if not cells:
        print(message(session.lang, "rollback_manual"))
        return
    for step_id, code in cells:
        info = session.steps[step_id]
        try:
            execute(session, info, code, {}, StepStatus(session, info))
        except Exception as exc:  # noqa: BLE001 - shown to the operator; later steps must not run
            print(f"{type(exc).__name__}: {exc}")
            return


def _rollback_cells(path: str | None) -> list[tuple[str, str]]:
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
            _magic_line, _, code = cell.source.partition("\n")
            found.append((meta["step_id"], code))
    return found
