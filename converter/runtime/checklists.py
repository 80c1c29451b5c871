"""Checklist cells: ipywidgets checkboxes whose ticks are journaled and gate the next step.

Headless there is no one to tick: ``confirm`` (``--confirm ID|all``) ticks the
lists it names, recorded as "confirmed by <operator> via parameter" — but only
where the run has reached what the list confirms (a gate when its step is about
to run, a step's list once the step succeeded), so a record never shows a
confirmation of something that did not happen. Next to the
widgets the cell shows an HTML/text rendering of the state, updated on every
tick, so the record reads right where no widget renderer exists.
"""

from __future__ import annotations

from ..records import events as ev
from ..records.outputs import checklist_bundle
from .state import CheckState, RunState
from .views import display_bundle


def show_checklist(
    session: RunState,
    list_id: str,
    title: str,
    items: list,
    *,
    role: str = "info",
    step: str | None = None,
    section: str | None = None,
) -> None:
    """Register the list, apply the confirmations it has reached, show widgets and the state view.

    ``step`` is the step a list belongs to (its verification list), ``section``
    the runbook section holding it; together they say when ``--confirm`` may
    tick it (:func:`_reached`).
    """
    states = session.checks.get(list_id)
    if states is None:
        states = {item_id: _state(session, item_id, text, done) for item_id, text, done in items}
        session.checks[list_id] = states
    view_id = session.new_display_id(f"checklist-{list_id}")
    session.check_views[list_id] = (title, view_id)
    if _reached(session, role, step, section):
        _confirm_by_parameter(session, list_id, states)
    _render_state(session, list_id, title, states, view_id, update=False)
    if session.settings.mode != "headless":
        _widgets(session, list_id, title, states, view_id)


def confirm_gate(session: RunState, list_id: str) -> None:
    """A step gated by ``list_id`` is about to run: ``--confirm`` ticks the list now.

    This is the act the record shows ("confirmed by <operator> via parameter"),
    at the time the run reached the gate; the list's view updates in place.
    """
    states = session.checks.get(list_id)
    if states is None or not _confirm_by_parameter(session, list_id, states):
        return
    title, view_id = session.check_views[list_id]
    _render_state(session, list_id, title, states, view_id, update=True)


def _state(session: RunState, item_id: str, text: str, done: bool) -> CheckState:
    """An item as the journal last left it (an earlier pass of the same run), else as authored."""
    prior = session.prior_checks.get(item_id)
    if prior is None:
        return CheckState(item_id, text, bool(done))
    return CheckState(
        item_id,
        text,
        bool(prior.get("checked")),
        prior.get("by"),
        prior.get("at"),
        prior.get("via"),
    )


def _reached(session: RunState, role: str, step: str | None, section: str | None) -> bool:
    """Whether the run has reached what this list confirms, so ``--confirm`` may tick it now.

    A gate (``pre``) is ticked when its step is reached (:func:`confirm_gate`);
    approvals are other people's signatures, never a parameter; a step's list
    only once that step succeeded; rollback lists only in a rollback that ran;
    any other list only once the procedure has finished.
    """
    if role in ("pre", "approval"):
        return False
    if step is not None:
        result = session.results.get(step)
        return result is not None and result.status == "succeeded"
    if section == "rollback":
        return session.settings.rollback and _finished(session, "rollback")
    return not session.settings.rollback and _finished(session, "procedure")


def _finished(session: RunState, kind: str) -> bool:
    """Every step of ``kind`` ran and none failed (manual and allowed failures count as done)."""
    done = ("succeeded", "failed_allowed", "manual", "skipped")
    steps = [info.id for info in session.steps.values() if info.kind == kind]
    return bool(steps) and all(
        (result := session.results.get(step_id)) is not None and result.status in done
        for step_id in steps
    )


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


def _confirm_by_parameter(session: RunState, list_id: str, states: dict[str, CheckState]) -> bool:
    """Tick what ``--confirm`` names and is still unticked; whether anything was ticked."""
    confirm = session.settings.confirm
    ticked = False
    for item_id, state in states.items():
        if not state.checked and ("all" in confirm or list_id in confirm or item_id in confirm):
            set_check(session, item_id, True, via="parameter")
            ticked = True
    return ticked


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
