"""What the operator sees: status lines, dry-run listings, buttons, the summary table.

Every view is plain HTML with a text/plain twin, so an executed notebook reads
right in JupyterLab, in nbconvert's HTML and in a text diff alike; widgets are
used only where an operator must act (checkboxes, buttons).
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from typing import Any

from ..records import events as ev
from ..records.outputs import STATUS_ICONS, Bundle, status_bundle
from .state import RunState, StepInfo, StepResult
from .text import message

Action = Callable[[], object]
"""What a button runs when clicked (views never import the step executor)."""


def display_bundle(bundle: Bundle, *, display_id: str | None = None, update: bool = False) -> Any:
    """Show an HTML/plain pair, or update the display with ``display_id`` in place."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - the runtime always runs under IPython
        print(bundle["text/plain"])
        return None
    return display(dict(bundle), raw=True, display_id=display_id, update=update)


def _display(
    html_text: str, plain: str, *, display_id: str | None = None, update: bool = False
) -> Any:
    return display_bundle(
        {"text/html": html_text, "text/plain": plain}, display_id=display_id, update=update
    )


class StepStatus:
    """The one-line status of a step cell, updated in place as the step progresses."""

    def __init__(self, session: RunState, info: StepInfo):
        self.session = session
        self.info = info
        self.display_id = session.new_display_id(f"step-{info.id}")
        self.shown = False

    def running(self) -> None:
        self._show("running", "")

    def done(self, result: StepResult) -> None:
        detail = []
        if result.exit_code is not None and not result.reason:
            detail.append(f"exit {result.exit_code}")
        if result.duration_s is not None:
            detail.append(f"{result.duration_s:.2f} s")
        if result.reason:
            detail.append(result.reason)
        self._show(result.status, ", ".join(detail))
        update_progress(self.session)

    def _show(self, status: str, detail: str) -> None:
        bundle = status_bundle(self.info.id, self.info.title, status, detail)
        display_bundle(bundle, display_id=self.display_id, update=self.shown)
        self.shown = True


def show_start(session: RunState) -> None:
    """Mode, operator, record directory, parameter values (secrets masked) and step progress."""
    lang = session.lang
    rows = [
        (message(lang, "mode"), _mode(session)),
        (message(lang, "operator"), session.operator),
        (message(lang, "record"), str(session.run_dir)),
    ]
    rows += [
        (f"{message(lang, 'parameters')}: {k}", _shown(v))
        for k, v in session.shown_parameters().items()
    ]
    _display(_table(["", ""], rows), "\n".join(f"{k}: {v}" for k, v in rows))
    session.progress_id = session.new_display_id("progress")
    _progress(session, update=False)


def update_progress(session: RunState) -> None:
    """Refresh the progress panel shown by the setup cell (a display update, in place)."""
    if session.progress_id:
        _progress(session, update=True)


def _progress(session: RunState, *, update: bool) -> None:
    lang = session.lang
    head = [message(lang, "step"), message(lang, "title"), message(lang, "status")]
    rows = [(r[0], r[1], r[3]) for r in summary_rows(session)]
    plain = "\n".join(f"{r[2]:<14} {r[0]} {r[1]}" for r in rows)
    _display(_table(head, rows), plain, display_id=session.progress_id, update=update)


def show_rerun(session: RunState, info: StepInfo, run: Action) -> None:
    """A step that already succeeded asks before running again: a message and a button."""
    import ipywidgets as widgets
    from IPython.display import display

    note = message(session.lang, "rerun", step=info.id)
    print(note)
    button = widgets.Button(
        description=message(session.lang, "rerun_button"),
        button_style="warning",
        layout=widgets.Layout(width="auto"),
    )
    button.add_class("runbook-rerun")
    out = widgets.Output()

    def clicked(_button: Any) -> None:
        with out:
            session.journal.write(ev.RERUN, step=info.id, by=session.operator)
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - shown to the operator, not raised into the widget
                print(f"{type(exc).__name__}: {exc}")

    button.on_click(clicked)
    display(widgets.VBox([button, out]))


def _mode(session: RunState) -> str:
    parts = [session.settings.mode]
    if session.settings.dry_run:
        parts.append("dry run")
    if session.settings.rollback:
        parts.append("rollback")
    return ", ".join(parts)


def _shown(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else value


def show_dry_run(session: RunState, info: StepInfo, code: str) -> None:
    """What a step would run, with the values its variables would have."""
    lang = session.lang
    values = "\n".join(f"  {k}={_shown(v)}" for k, v in session.shown_parameters().items())
    text = (
        f"{message(lang, 'dry_run', step=info.id)}\n{values}\n{message(lang, 'would_run')}\n{code}"
    )
    print(session.masker.mask(text))
    sys.stdout.flush()


def show_manual_button(session: RunState, info: StepInfo, run: Action) -> None:
    """A button that runs a troubleshooting/manual command on an explicit click."""
    import ipywidgets as widgets
    from IPython.display import display

    button = widgets.Button(
        description=message(session.lang, "run_button"),
        button_style="warning",
        icon="play",
        layout=widgets.Layout(width="auto"),
    )
    button.add_class("runbook-manual")
    button.add_class(f"runbook-manual-{info.id}")
    out = widgets.Output()
    hint = widgets.HTML(
        html.escape(message(session.lang, "manual_hint", operator=session.operator))
    )

    def clicked(_button: Any) -> None:
        with out:
            session.journal.write(ev.MANUAL_RUN, step=info.id, by=session.operator)
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - a failing manual command is shown, not raised into the widget
                print(f"{type(exc).__name__}: {exc}")

    button.on_click(clicked)
    display(widgets.VBox([hint, button, out]))


def summary_rows(session: RunState) -> list[tuple[str, str, str, str, str, str]]:
    """One row per declared step: id, title, kind, status, exit code, duration."""
    rows = []
    for info in session.steps.values():
        result = session.results.get(info.id)
        status = result.status if result else "not_run"
        exit_code = "" if not result or result.exit_code is None else str(result.exit_code)
        duration = "" if not result or result.duration_s is None else f"{result.duration_s:.2f}"
        rows.append(
            (
                info.id,
                info.title,
                info.kind,
                f"{STATUS_ICONS.get(status, '')} {status}",
                exit_code,
                duration,
            )
        )
    return rows


def show_summary(session: RunState) -> None:
    """The summary table at the end of the notebook."""
    lang = session.lang
    head = [
        message(lang, "step"),
        message(lang, "title"),
        message(lang, "kind"),
        message(lang, "status"),
        message(lang, "exit"),
        message(lang, "duration"),
    ]
    rows = summary_rows(session)
    plain = "\n".join(" | ".join(r) for r in [tuple(head), *rows])
    _display(f"<h3>{html.escape(message(lang, 'summary'))}</h3>" + _table(head, rows), plain)


def _table(head: list[str], rows: list) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<table class="runbook-table"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'
    )
