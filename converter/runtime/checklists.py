"""Checklist cells: ipywidgets checkboxes whose ticks are journaled and gate the next step.

Headless there is no one to tick: ``confirm`` (``--confirm ID|all``) ticks the
lists it names, recorded as "confirmed by <operator> via parameter". Next to the
widgets the cell shows an HTML/text rendering of the state, updated on every
tick, so the record reads right where no widget renderer exists.
"""

from __future__ import annotations

from ..records import events as ev
from ..records.outputs import checklist_bundle
from .state import CheckState, RunState
from .views import display_bundle


def show_checklist(
    session: RunState, list_id: str, title: str, items: list, *, role: str = "info"
) -> None:
    """Register the list, apply headless confirmations, show widgets and the state view."""
    states = session.checks.get(list_id)
    if states is None:
        states = {item_id: CheckState(item_id, text, bool(done)) for item_id, text, done in items}
        session.checks[list_id] = states
        _confirm_by_parameter(session, list_id, states)
    view_id = session.new_display_id(f"checklist-{list_id}")
    _render_state(session, list_id, title, states, view_id, update=False)
    if session.settings.mode != "headless":
        _widgets(session, list_id, title, states, view_id)


def is_complete(session: RunState, list_id: str) -> bool:
    """Whether every item of a shown checklist is ticked."""
    states = session.checks.get(list_id)
    return states is not None and all(s.checked for s in states.values())


def set_check(session: RunState, item_id: str, checked: bool, *, via: str) -> CheckState:
    """Tick or untick one item, journaling who and when (used by widgets and tests)."""
    for states in session.checks.values():
        if item_id in states:
            state = states[item_id]
            event = session.journal.write(
                ev.CHECK, id=item_id, text=state.text, checked=checked, by=session.operator, via=via
            )
            state.checked, state.by, state.at, state.via = (
                checked,
                session.operator,
                event["at"],
                via,
            )
            return state
    raise KeyError(item_id)


def _confirm_by_parameter(session: RunState, list_id: str, states: dict[str, CheckState]) -> None:
    confirm = session.settings.confirm
    for item_id, state in states.items():
        if not state.checked and ("all" in confirm or list_id in confirm or item_id in confirm):
            set_check(session, item_id, True, via="parameter")


def _widgets(
    session: RunState, list_id: str, title: str, states: dict[str, CheckState], view_id: str
) -> None:
    import ipywidgets as widgets

    boxes = []
    for item_id, state in states.items():
        box = widgets.Checkbox(
            value=state.checked,
            description=state.text,
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        box.add_class("runbook-check")
        box.add_class(f"runbook-check-{_css(item_id)}")

        def toggled(change: dict, item_id: str = item_id, state: CheckState = state) -> None:
            if session.finished:  # the record is sealed: a late tick must not alter it
                return
            if change.get("name") == "value" and change["new"] != state.checked:
                set_check(session, item_id, bool(change["new"]), via="widget")
                _render_state(session, list_id, title, states, view_id, update=True)

        box.observe(toggled, names="value")
        boxes.append(box)
    panel = widgets.VBox(boxes)
    panel.add_class(f"runbook-checklist-{_css(list_id)}")
    from IPython.display import display

    display(panel)


def _render_state(
    session: RunState,
    list_id: str,
    title: str,
    states: dict[str, CheckState],
    view_id: str,
    *,
    update: bool,
) -> None:
    bundle = checklist_bundle(
        list_id, title, [state.as_item() for state in states.values()], session.lang
    )
    display_bundle(bundle, display_id=view_id, update=update)


def _css(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
