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
from ..records import outputs
from ..records.outputs import STATUS_ICONS, Bundle, status_bundle
from ..records.verdict import EXECUTED
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


RUNNING_AFTER_S = 0.25
"""How long a silent step runs before its line says ``running`` (a step that prints says it
at once)."""


class StepStatus:
    """The one-line status of a step cell, updated in place as the step progresses.

    Each change also moves the setup cell's counter line (not shown headless: nobody
    watches) and the step's line in the summary (when the finish cell showed one): at
    most three display updates, never a table of every step, so a step costs the same
    in a run of 5,000.
    """

    def __init__(self, session: RunState, info: StepInfo):
        self.session = session
        self.info = info
        self.display_id = session.new_display_id(f"step-{info.id}")
        self.shown = False
        self.running_due = False  # the step runs, and its line does not say so yet
        session.step_views[info.id] = self

    def running(self) -> None:
        """The step started: its line says so as soon as it prints, or once it has run for
        :data:`RUNNING_AFTER_S` (:meth:`tick`). A step that ends silently before then shows
        only its final line: one display message fewer for the quick steps of a Run All.
        Nobody watches a headless notebook (its journal and the terminal show the step)."""
        note_status(self.session, self.info, "running", "")
        self.running_due = self.session.settings.mode != "headless"

    def show_running(self) -> None:
        """Show the ``running`` line now, if the step's line does not say so yet."""
        if self.running_due:
            self.running_due = False
            self._line("running", "")

    def tick(self, elapsed_s: float) -> None:
        """The step has run ``elapsed_s`` seconds: a slow step shows that it runs."""
        if self.running_due and elapsed_s >= RUNNING_AFTER_S:
            self.show_running()

    def done(self, result: StepResult) -> None:
        """Show the step's final status (also after an expected-result check re-judged it).

        Headless, the line of a step whose commands ran is not sent: nobody watches, and
        sealing writes it from the verdict (:mod:`converter.records.statuslines`), the same
        line the manifest's story gives; one display message fewer per step was a tenth of a
        step's cost (docs/BENCHMARKS.md). Any other outcome (skipped, manual, blocked, dry
        run, carried) is shown here with its reason, headless too: sealing leaves those lines.
        """
        self.running_due = False
        ran_here = result.status in EXECUTED and result.in_run is None  # not carried
        if self.session.settings.mode == "headless" and ran_here:
            note_status(self.session, self.info, result.status, "")
            return
        detail = step_detail(result)
        self._line(result.status, detail)
        note_status(self.session, self.info, result.status, detail)

    def _line(self, status: str, detail: str) -> None:
        bundle = status_bundle(self.info.id, self.info.title, status, detail)
        display_bundle(bundle, display_id=self.display_id, update=self.shown)
        self.shown = True


def step_detail(result: StepResult) -> str:
    """``exit 0, 0.12 s`` or the reason a step did not succeed (as its record says it)."""
    return outputs.step_detail(result.exit_code, result.duration_s, result.reason)


def show_step_result(session: RunState, step_id: str, result: StepResult) -> None:
    """Re-show a step's status line with ``result`` (an expected-result check failed it)."""
    view = session.step_views.get(step_id)
    if view is not None:
        view.done(result)


def note_status(session: RunState, info: StepInfo, status: str, detail: str) -> None:
    """Count the step's new status and move the counter line and its summary line (O(1)).

    The counter counts settled steps, so a step that starts leaves it as it is (its own
    line says it runs): one display update fewer per step in JupyterLab.
    """
    old = session.shown_status.get(info.id)
    if old is not None:
        session.tally[old] -= 1
    session.shown_status[info.id] = status
    session.tally[status] = session.tally.get(status, 0) + 1
    if status != "running":
        update_progress(session)
    summary_id = session.summary_ids.get(info.id)
    if summary_id is not None:
        bundle = status_bundle(info.id, info.title, status, detail)
        display_bundle(bundle, display_id=summary_id, update=True)


def show_start(session: RunState) -> None:
    """Mode, operator, record directory, the parameters (a form in JupyterLab) and the counter."""
    from .form import show_parameters  # the form needs ipywidgets; headless shows a table

    lang = session.lang
    rows = [
        (message(lang, "mode"), _mode(session)),
        (message(lang, "operator"), session.operator),
        (message(lang, "record"), str(session.run_dir)),
    ]
    _display(_table(["", ""], rows), "\n".join(f"{k}: {v}" for k, v in rows))
    show_parameters(session)
    if session.settings.mode != "headless":  # a live counter for whoever watches the notebook
        session.progress_id = session.new_display_id("progress")
        _progress(session, update=False)


def update_progress(session: RunState) -> None:
    """Refresh the counter line shown by the setup cell (a display update, in place)."""
    if session.progress_id:
        _progress(session, update=True)


def progress_text(session: RunState) -> str:
    """``3/12 steps settled: ✅ 2 succeeded, ❌ 1 failed`` from the tally (no walk over steps)."""
    counts = [(status, n) for status, n in session.tally.items() if n and status != "running"]
    settled = sum(n for _status, n in counts)
    parts = [f"{STATUS_ICONS.get(status, '')} {n} {status}" for status, n in counts]
    word = message(session.lang, "progress", done=settled, total=len(session.steps))
    return word + (": " + ", ".join(parts) if parts else "")


def _progress(session: RunState, *, update: bool) -> None:
    text = progress_text(session)
    markup = f'<div class="runbook-progress"><b>{html.escape(text)}</b></div>'
    _display(markup, text, display_id=session.progress_id, update=update)


def show_rerun(session: RunState, info: StepInfo, run: Action) -> None:
    """A step that already succeeded asks before running again: a message and a button.

    ``run`` is the step's checked run (:func:`converter.runtime.magic.run_checked`): the
    click confirms running twice, nothing else (gates, approvals, dry run still hold).
    """
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
            if session.finished:  # sealed: a late click neither runs nor journals
                print(message(session.lang, "finished", run_dir=session.run_dir))
                return
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
    """A button that runs a troubleshooting/manual command on an explicit click.

    ``run`` is the step's checked run: in a dry run the click shows what would run, and
    gates, approvals and the step's timeout hold as for any step cell.
    """
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
            if session.finished:  # sealed: a late click neither runs nor journals
                print(message(session.lang, "finished", run_dir=session.run_dir))
                return
            session.journal.write(ev.MANUAL_RUN, step=info.id, by=session.operator)
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - a failing manual command is shown, not raised into the widget
                print(f"{type(exc).__name__}: {exc}")

    button.on_click(clicked)
    display(widgets.VBox([hint, button, out]))


def show_summary(session: RunState) -> None:
    """The summary: the counter, then one status line per declared step.

    In JupyterLab each line has its own display id, so a step run afterwards (a
    troubleshooting button, a rerun, the rollback button) updates its own line in
    place. Headless, nothing runs afterwards: the lines go out as one output, not one
    message (and one notebook output) per step.
    """
    lang = session.lang
    text = progress_text(session)
    _display(
        f'<h3>{html.escape(message(lang, "summary"))}</h3><div class="runbook-summary-counter">'
        f"{html.escape(text)}</div>",
        f"{message(lang, 'summary')}: {text}",
    )
    lines = []
    for info in session.steps.values():
        result = session.results.get(info.id)
        status = result.status if result else "not_run"
        detail = step_detail(result) if result else ""
        lines.append(status_bundle(info.id, info.title, status, detail))
    if session.settings.mode == "headless":
        if lines:
            _display(
                "".join(b["text/html"] for b in lines), "\n".join(b["text/plain"] for b in lines)
            )
        return
    for info, bundle in zip(session.steps.values(), lines):
        display_id = session.new_display_id(f"summary-{info.id}")
        session.summary_ids[info.id] = display_id
        display_bundle(bundle, display_id=display_id)


def _table(head: list[str], rows: list) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<table class="runbook-table"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'
    )
