"""Checklist cells: ipywidgets checkboxes whose ticks are journaled and gate the next step.

Headless there is no one to tick: ``confirm`` (``--confirm ID|all``) ticks the
lists it names, recorded as "confirmed by <operator> via parameter" — but only
where the run has reached what the list confirms (a gate when its step is about
to run, a step's list once the step succeeded), so a record never shows a
confirmation of something that did not happen. The
widgets and an HTML/text rendering of the state are one output, updated on every
tick: JupyterLab shows the checkboxes, the record (where no widget renderer
exists) the HTML, and a list is never shown twice.
"""

from __future__ import annotations

import html
from typing import Any

from ..records import events as ev
from ..records.outputs import WIDGET_VIEW, checklist_bundle, inline_markdown, who_text
from .approvals import show_approvals
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
        states = {item_id: _state(session, item_id, text) for item_id, text, _authored in items}
        session.checks[list_id] = states
    view_id = session.new_display_id(f"checklist-{list_id}")
    session.check_views[list_id] = (title, view_id)
    if step is not None:
        session.check_steps[list_id] = step
    if _reached(session, role, step, section):
        _confirm_by_parameter(session, list_id, states)
    if session.settings.mode != "headless" and role != "approval":
        # approvals are signatures of other people: no checkbox to tick here (show_approvals)
        session.check_panels[list_id] = _widgets(session, list_id, title, states, view_id)
    _render_state(session, list_id, title, states, view_id, update=False)
    if role == "approval":
        show_approvals(session)


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


def _state(session: RunState, item_id: str, text: str) -> CheckState:
    """An item as the journal last left it (an earlier pass of the same run), else unticked.

    A check is ticked only by an act that happened (a click, ``--confirm``): a ``- [x]``
    written in the Markdown is the author's hint, not a confirmation, and passed its gate
    while the record called it unticked. The cell keeps the authored state for readers only.
    """
    prior = session.prior_checks.get(item_id)
    if prior is None:
        return CheckState(item_id, text, False)
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
    """Tick what ``--confirm`` names and is still unticked; whether anything was ticked.

    ``all`` does not reach the list of a step that failed (``continue_on_error``), where it
    gates the next step: "backup verified" after a failed backup would be a false tick;
    naming the list or the item is the operator's own statement.
    """
    confirm = session.settings.confirm
    step = session.results.get(session.check_steps.get(list_id, ""))
    blanket = "all" in confirm and not (step is not None and step.status.startswith("failed"))
    ticked = False
    for item_id, state in states.items():
        if not state.checked and (blanket or list_id in confirm or item_id in confirm):
            set_check(session, item_id, True, via="parameter")
            ticked = True
    return ticked


def _widgets(
    session: RunState, list_id: str, title: str, states: dict[str, CheckState], view_id: str
) -> Any:
    """The checkboxes, each label rendered from its Markdown with who/when once ticked.

    They are shown in the same output as the HTML state (one display, see
    :func:`_render_state`): JupyterLab renders the widgets, nbconvert and the
    record the HTML, so a list appears once wherever it is read.
    """
    import ipywidgets as widgets

    rows = []
    for item_id, state in states.items():
        box = widgets.Checkbox(
            value=state.checked, indent=False, layout=widgets.Layout(width="2em")
        )
        box.add_class("runbook-check")
        box.add_class(f"runbook-check-{_css(item_id)}")
        # ipywidgets' own description is plain text: the label is an HTML widget beside it
        text = widgets.HTML(_label(state, session.lang))
        text.add_class(f"runbook-label-{_css(item_id)}")

        def toggled(
            change: dict, item_id: str = item_id, state: CheckState = state, text: Any = text
        ) -> None:
            if session.finished:  # the record is sealed: a late tick must not alter it
                return
            if change.get("name") == "value" and change["new"] != state.checked:
                set_check(session, item_id, bool(change["new"]), via="widget")
                text.value = _label(state, session.lang)
                _render_state(session, list_id, title, states, view_id, update=True)

        box.observe(toggled, names="value")
        row = widgets.HBox([box, text], layout=widgets.Layout(align_items="center"))
        row.add_class("runbook-check-row")
        rows.append(row)
    children = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
    panel = widgets.VBox(children + rows)
    panel.add_class("runbook-checklist")
    panel.add_class(f"runbook-checklist-{_css(list_id)}")
    return panel


def _label(state: CheckState, lang: str) -> str:
    """An item's label as HTML: its Markdown, then who ticked it and when."""
    who = who_text(state.as_item(), lang)
    return inline_markdown(state.text) + (
        f' <small class="runbook-who" data-checked="{str(state.checked).lower()}">'
        f"— {html.escape(who)}</small>"
        if who
        else ""
    )


def _render_state(
    session: RunState,
    list_id: str,
    title: str,
    states: dict[str, CheckState],
    view_id: str,
    *,
    update: bool,
) -> None:
    """One output per list: the widget view (JupyterLab) with its HTML/text state (everywhere)."""
    bundle = checklist_bundle(
        list_id, title, [state.as_item() for state in states.values()], session.lang
    )
    panel = session.check_panels.get(list_id)
    if panel is not None:
        view = panel._repr_mimebundle_()
        bundle = {**bundle, WIDGET_VIEW: view[WIDGET_VIEW]}
    display_bundle(bundle, display_id=view_id, update=update)


def _css(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
