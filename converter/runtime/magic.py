"""The ``%%step`` cell magic: one runbook shell block, run, streamed, judged and journaled.

``%%step 1-1 timeout=600`` decides first whether the step may run here (mode,
gate, earlier success), then runs its commands through :func:`shell.run_bash`
with the parameters as environment variables, masks secrets in everything it
shows or writes, and raises a one-line :class:`StepFailed` on failure so
papermill and "Run All" stop there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from ..model import is_true
from ..records import events as ev
from ..records.carry import exports_field
from ..records.layout import STOP_FILE, log_name
from ..records.outputs import OUTPUT_CAP_BYTES, capped_notice
from .approvals import check_approvals
from .checklists import confirm_gate
from .errors import StepBlocked, StepFailed, StopRun
from .shell import ShellResult, run_bash
from .state import RunState, StepInfo, StepResult
from .text import message
from .views import StepStatus, show_dry_run, show_manual_button, show_rerun


def register_step_magic(session: RunState) -> None:
    """Register ``%%step`` with the running IPython, bound to ``session``."""
    from IPython import get_ipython
    from IPython.core.magic import no_var_expand

    shell = get_ipython()
    if shell is None:  # plain Python (tests of the API): nothing to register
        return

    @no_var_expand  # IPython would evaluate ``{expr}`` and ``$name`` in the line: code, run
    def step(line: str, cell: str) -> None:  # before any gate, approval or dry-run check
        run_step_cell(session, line, cell)

    shell.register_magic_function(step, magic_kind="cell", magic_name="step")


def parse_magic_line(line: str) -> tuple[str, dict[str, str]]:
    """``1-1 timeout=60 manual=true`` → (``1-1``, {"timeout": "60", "manual": "true"})."""
    words = line.split()
    if not words:
        raise StepFailed("%%step needs a step id, e.g. %%step 1-1")
    attrs = {}
    for word in words[1:]:
        key, _, value = word.partition("=")
        attrs[key] = value or "true"
    return words[0], attrs


def run_step_cell(session: RunState, line: str, code: str) -> StepResult:
    """Everything ``%%step`` does, callable without IPython (the troubleshooting buttons)."""
    step_id, attrs = parse_magic_line(line)
    info = session.steps.get(step_id) or StepInfo(
        step_id, attrs.get("kind", "procedure"), step_id, ()
    )
    _check_open(session, info)
    status = StepStatus(session, info)
    skip = _skip_reason(session, info, attrs)
    if skip is not None:
        return _skip(session, info, status, line, code, skip)
    prior = session.results.get(info.id)
    if not session.settings.dry_run and prior is not None and prior.status == "succeeded":
        carried = prior.in_run is not None  # succeeded in an earlier run this one resumes
        if session.settings.mode != "headless":
            status.done(prior)
            # never twice by accident: ask first
            show_rerun(session, info, lambda: run_checked(session, info, line, code, status))
            return prior
        if carried:  # headless resume: what succeeded is not run again
            status.done(prior)
            return prior
    return run_checked(session, info, line, code, status)


def run_checked(
    session: RunState, info: StepInfo, line: str, code: str, status: StepStatus
) -> StepResult:
    """The one way a step's commands run: from its cell, and from every button.

    A click (the manual button, "Run again", the rollback button) is the operator's
    decision to run, not a way around what ``%%step`` checks: the record must not be
    sealed, a dry run runs nothing, the approvals (and the approved plan's commands)
    hold, the gate holds, and the step runs with its own attributes (its timeout).
    """
    _check_open(session, info)
    if session.settings.dry_run:
        return _dry_run(session, info, status, line, code)
    check_approvals(session, info, status, line, code)
    _check_gate(session, info, status)
    return _execute(session, info, line, code, status)


def _check_open(session: RunState, info: StepInfo) -> None:
    """Nothing runs into a sealed record, nor after the runner was told to stop."""
    if session.finished:
        raise StopRun(message(session.lang, "finished", run_dir=session.run_dir))
    if (session.run_dir / STOP_FILE).exists():  # the runner was told to stop between cells
        session.journal.write(ev.STEP_SKIPPED, step=info.id, kind=info.kind, reason="stopped")
        raise KeyboardInterrupt


def _execute(
    session: RunState, info: StepInfo, line: str, code: str, status: StepStatus
) -> StepResult:
    """Run the commands, stream the output, record the verdict; raise on failure.

    Private: only :func:`run_checked` calls it, after every check. ``step_start`` journals
    the line and the code as they ran (a cell edited in JupyterLab and run unsaved): the
    record shows those, not the notebook file's (:func:`converter.records.rebuild`).
    """
    attrs = parse_magic_line(line)[1]
    timeout = _timeout(session, attrs)
    allow_failure = _flag(attrs, "continue_on_error")
    output = _Output(session, info.id)
    session.journal.write(
        ev.STEP_START,
        step=info.id,
        kind=info.kind,
        title=info.title,
        timeout=timeout,
        line=line,
        code=code,
        log=output.log_name,
    )
    status.running()

    def shown(text: str) -> None:  # the step's line says it runs before its first output
        status.show_running()
        output.write(text)

    result = run_bash(
        code,
        env=session.env,
        cwd=session.cwd,
        timeout=timeout,
        on_output=shown,
        on_tick=status.tick,
    )
    output.close()
    if result.exit_code == 0 or not (result.timed_out or result.interrupted):
        session.env.update(result.exports)
        for name in result.unset:
            session.env.pop(name, None)
        session.cwd = result.cwd
    verdict = _verdict(result, allow_failure)
    reason = None
    if result.not_started:
        reason = result.not_started
    elif result.timed_out:
        reason = message(session.lang, "timed_out", seconds=timeout)
    elif result.interrupted:
        reason = message(session.lang, "interrupted")
    elif result.state_unreadable:
        reason = message(session.lang, "state_unreadable", detail=result.state_unreadable)
    elif result.exit_code != 0:
        reason = message(session.lang, "exit_code", code=result.exit_code)
    step = StepResult(
        verdict,
        result.exit_code,
        round(result.duration_s, 3),
        result.started_at,
        reason,
        output.text(),
        log=str(output.path) if output.capped else None,
        log_from=output.log_from,
    )
    session.results[info.id] = step
    session.journal.write(
        ev.STEP_END,
        step=info.id,
        status=verdict,
        exit_code=result.exit_code,
        duration_s=step.duration_s,
        started_at=result.started_at,
        reason=reason,
        output_bytes=result.output_bytes,
        log=output.log_name,
        cwd=result.cwd,
        exports=exports_field(
            result.exports, session.parameters.secret_environment(), session.masker
        ),
        **({"unset": list(result.unset)} if result.unset else {}),
    )
    status.done(step)
    if verdict == "interrupted":
        raise KeyboardInterrupt
    if verdict == "failed":
        raise StepFailed(f"{info.id}: {reason}")
    return step


def _verdict(result: ShellResult, allow_failure: bool) -> str:
    if result.interrupted:
        return "interrupted"
    if result.state_unreadable and not result.timed_out:  # the next step would miss its state
        return "failed"  # (continue_on_error too: what it allows is the command's failure)
    if result.exit_code == 0:
        return "succeeded"
    if allow_failure and not result.timed_out:
        return "failed_allowed"
    return "failed"


def _skip_reason(session: RunState, info: StepInfo, attrs: dict[str, str]) -> str | None:
    rollback = session.settings.rollback
    if info.kind == "troubleshooting" or _flag(attrs, "manual"):
        return "manual"
    if info.kind == "rollback" and not rollback:
        return "rollback_only"
    if info.kind != "rollback" and rollback:
        return "not_in_rollback"
    return None


def _skip(
    session: RunState, info: StepInfo, status: StepStatus, line: str, code: str, reason: str
) -> StepResult:
    prior = session.results.get(info.id)
    step = StepResult(
        "skipped" if reason != "manual" else "manual", reason=message(session.lang, reason)
    )
    if prior is None:
        session.results[info.id] = step
        session.journal.write(ev.STEP_SKIPPED, step=info.id, kind=info.kind, reason=reason)
    # Its cell run again (after its button ran it, or in rollback mode): what happened to it
    # stands, and is what its status line shows; a second skip would say it never ran.
    status.done(prior or step)
    if reason == "manual" and session.settings.mode != "headless":
        # the cell's own status line, not one in the button's output
        show_manual_button(session, info, lambda: run_checked(session, info, line, code, status))
    return prior or step


def _check_gate(session: RunState, info: StepInfo, status: StepStatus) -> None:
    missing = []
    for list_id in info.gate:
        confirm_gate(session, list_id)
        items = session.checks.get(list_id)
        if items is None:
            missing.append(message(session.lang, "gate_not_shown", list_id=list_id))
            continue
        missing.extend(f"{item.id}: {item.text}" for item in items.values() if not item.checked)
    if not missing:
        return
    step = StepResult("blocked", reason="; ".join(missing))
    session.results[info.id] = step
    session.journal.write(ev.BLOCKED, step=info.id, unchecked=missing, gate=list(info.gate))
    status.done(step)
    hint = message(
        session.lang,
        "blocked_headless" if session.settings.mode == "headless" else "blocked_interactive",
        run_id=session.run_dir.name,
    )
    listing = "\n".join(f"  - {m}" for m in missing)
    print(f"{message(session.lang, 'blocked', step=info.id)}\n{listing}\n{hint}", file=sys.stderr)
    raise StepBlocked(
        f"{info.id}: {len(missing)} unchecked: " + ", ".join(m.split(":")[0] for m in missing)
    )


def _dry_run(
    session: RunState, info: StepInfo, status: StepStatus, line: str, code: str
) -> StepResult:
    show_dry_run(session, info, code)
    step = StepResult("dry_run")
    session.results[info.id] = step
    session.journal.write(ev.STEP_DRY_RUN, step=info.id, line=line, code=code)
    status.done(step)
    return step


def _timeout(session: RunState, attrs: dict[str, str]) -> float | None:
    if "timeout" in attrs:
        try:
            return float(attrs["timeout"])
        except ValueError:
            raise StepFailed(f"timeout={attrs['timeout']!r} is not a number of seconds") from None
    return session.settings.timeout


def _flag(attrs: dict[str, str], name: str) -> bool:
    return is_true(attrs.get(name, "false"))


class _Output:
    """Masks secrets in a step's output, shows it (capped) and streams all of it to the log.

    Only the first :data:`OUTPUT_CAP_BYTES` stay in memory (what the notebook shows, and
    what an expected-result check reads unless the step printed more, in which case the
    check reads the log). The log file is made on the first byte, so a silent step
    leaves none.
    """

    def __init__(self, session: RunState, step_id: str):
        self.stream = session.masker.stream()
        self.log_name = log_name(step_id)
        self.path: Path = session.run_dir / self.log_name
        self.log: BinaryIO | None = None
        self.log_from = 0
        self.shown = 0
        self.capped = False
        self.lang = session.lang
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self._emit(self.stream.feed(text))

    def close(self) -> None:
        self._emit(self.stream.flush())
        if self.log is not None:
            self.log.close()
        if self.parts:  # a flush is a round trip to ipykernel's I/O thread: only when printed
            sys.stdout.flush()

    def text(self) -> str:
        return "".join(self.parts)

    def _emit(self, text: str) -> None:
        if not text:
            return
        data = text.encode("utf-8")
        if self.log is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.log = self.path.open("ab")
            self.log_from = self.log.tell()  # a rerun appends to the same log
        self.log.write(data)
        self.log.flush()
        if self.capped:
            return
        room = OUTPUT_CAP_BYTES - self.shown
        if len(data) > room:
            text = data[:room].decode("utf-8", errors="ignore")
            self.capped = True
        self.parts.append(text)
        self.shown += len(text.encode("utf-8")) if self.capped else len(data)
        sys.stdout.write(text)
        if self.capped:
            sys.stdout.write("\n" + capped_notice(self.lang, self.log_name) + "\n")
