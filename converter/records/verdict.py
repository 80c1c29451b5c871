"""Journal → verdict: what happened in a run, decided from our own evidence.

papermill's cell metadata is not evidence: it reports ``completed`` after a kernel
death and exits 0 after ``sys.exit(0)``. The journal, flushed event by event by the
kernel, is: a step that started and never ended was cut off; a run whose finish
cell never journaled ``session_end`` stopped early.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import events as ev


@dataclass(frozen=True)
class Verdict:
    """The outcome of a run (or of its rollback pass)."""

    status: str  # succeeded | failed | blocked | interrupted
    failed_step: str | None = None
    reason: str | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)


SIGNALLED = "interrupted by a signal"


def judge(
    events: list[dict[str, Any]],
    *,
    interrupted: bool = False,
    stopped: str | None = None,
    why: str = SIGNALLED,
) -> Verdict:
    """Decide the verdict of one pass from its journal events.

    ``interrupted`` is set when the runner was signalled (``why`` then says how it
    was stopped; recovery says a process vanished, which is not always a signal);
    ``stopped`` carries the error papermill raised (if any), used when the journal
    cannot explain the stop.
    """
    steps: dict[str, dict[str, Any]] = {}
    blocked: dict[str, Any] | None = None
    open_step: str | None = None
    ended = False
    for event in events:
        kind = event.get("event")
        step = str(event.get("step"))
        if kind == ev.STEP_START:
            steps[step] = {"status": "running", "started_at": event.get("at")}
            open_step = step
            if blocked is not None and blocked.get("step") == step:
                blocked = None  # refused by its gate, then ticked and run: history, not the outcome
        elif kind in ev.STEP_OUTCOMES:
            if not (kind == ev.STEP_SKIPPED and _executed(steps.get(step))):
                steps.setdefault(step, {}).update(_result(event))
            open_step = None if step == open_step else open_step
        elif kind == ev.BLOCKED:
            blocked = event
            steps.setdefault(step, {}).update(
                status="blocked", reason=", ".join(event.get("unchecked", []))
            )
        elif kind == ev.SESSION_END:
            ended = True
    if open_step is not None:
        steps[open_step].update(status="interrupted" if interrupted else "failed")
        reason = why if interrupted else "the kernel died while the step was running"
        steps[open_step]["reason"] = reason
        return Verdict("interrupted" if interrupted else "failed", open_step, reason, steps)
    if interrupted or any(s.get("status") == "interrupted" for s in steps.values()):
        last = _last(steps, "interrupted")
        if not interrupted and last is not None:  # the step's own reason (the operator's stop)
            why = steps[last].get("reason") or why
        return Verdict("interrupted", last, why, steps)
    failed = _last(steps, "failed")
    if failed is not None:
        return Verdict("failed", failed, steps[failed].get("reason"), steps)
    if blocked is not None:
        unchecked = [str(u) for u in blocked.get("unchecked", [])]
        if "approval" in (blocked.get("gate") or []):  # the approvals: what is missing or wrong
            return Verdict("blocked", blocked.get("step"), "; ".join(unchecked), steps)
        return Verdict("blocked", blocked.get("step"), "unchecked: " + ", ".join(unchecked), steps)
    if not ended:
        why = stopped or "the run stopped before its finish cell (kernel death or sys.exit)"
        return Verdict("failed", None, why, steps)
    missing = _not_run(events, steps)
    if missing:  # finished (the finish cell, its button) before every step of the procedure ran
        return Verdict("interrupted", missing[0], NOT_RUN + ", ".join(missing), steps)
    return Verdict("succeeded", None, None, steps)


NOT_RUN = "finished before these steps ran: "
SETTLED = ("succeeded", "failed_allowed", "skipped", "manual", "dry_run")
"""What a procedure step may end in for its run to succeed: it ran, it was allowed to fail
(``continue_on_error``), it was set aside (manual, not in this mode) or shown (dry run)."""


def _not_run(events: list[dict[str, Any]], steps: dict[str, dict[str, Any]]) -> list[str]:
    """The prerequisite and procedure steps the session declared that did not settle.

    An interactive run is finished by whoever clicks (or runs the finish cell): with only
    the setup cell run, it was sealed ``succeeded`` though no step ran. Headless, every
    cell runs, so this finds nothing there; a rollback pass is not held to the procedure.
    """
    start = next((e for e in events if e.get("event") == ev.SESSION_START), None)
    if start is None or start.get("rollback"):
        return []
    return [
        str(step.get("id"))
        for step in start.get("steps") or []
        if step.get("kind") in ("prerequisite", "procedure")
        and not _settled(steps.get(str(step.get("id"))))
    ]


def _settled(result: dict[str, Any] | None) -> bool:
    status = str((result or {}).get("status") or "")
    return status in SETTLED or _is_carried(status)


EXECUTED = ("succeeded", "failed", "failed_allowed", "interrupted")
"""What a step's commands ended in (a timeout is ``failed``): an outcome no skip replaces."""


def _executed(result: dict[str, Any] | None) -> bool:
    """Whether the step ran (or was carried from a run where it did): a skip journaled after
    it (its manual cell, or a procedure cell in rollback mode, run again) says nothing of its
    outcome, and must not turn a failure into a "manual" or "skipped" the record calls fine."""
    status = str((result or {}).get("status") or "")
    return status in EXECUTED or _is_carried(status)


def judge_passes(events: list[dict[str, Any]]) -> tuple[Verdict, Verdict | None]:
    """An interactive run's verdicts: its procedure pass's and, when one began, its rollback
    pass's, as the runner judges its two passes (:func:`judge` of each slice).

    The operator starts the rollback (the rollback button journals ``rollback_mode``; the
    parameters cell's ``rollback = True`` a ``session_resume`` with ``rollback``): judged
    as one pass, the record said "Rollback not run" and a failed rollback step stood as
    where the procedure failed. The finish cell's ``session_end`` closes both passes.
    """
    for index, event in enumerate(events):
        kind = event.get("event")
        if index and (
            kind == ev.ROLLBACK_MODE or (kind == ev.SESSION_RESUME and event.get("rollback"))
        ):
            procedure, rollback = events[:index], events[index:]
            ended = [e for e in rollback if e.get("event") == ev.SESSION_END]
            return judge(procedure + ended), judge(rollback)
    return judge(events), None


def _result(event: dict[str, Any]) -> dict[str, Any]:
    kind = event["event"]
    if kind == ev.STEP_SKIPPED:
        if event.get("reason") == "stopped":  # the runner was signalled before it could start
            return {"status": "not_run", "reason": "stopped"}
        return {
            "status": "manual" if event.get("reason") == "manual" else "skipped",
            "reason": event.get("reason"),
        }
    if kind == ev.STEP_DRY_RUN:
        return {"status": "dry_run"}
    if kind == ev.STEP_CARRIED:  # succeeded in an earlier run of the resume chain: not run again
        return {
            "status": carried_status(str(event.get("in"))),
            "in": event.get("in"),
            "exit_code": event.get("exit_code"),
            "duration_s": event.get("duration_s"),
            "started_at": event.get("started_at"),
        }
    if kind == ev.STEP_ABANDONED:
        return {"status": "interrupted", "reason": event.get("reason")}
    return {
        "status": event.get("status"),
        "exit_code": event.get("exit_code"),
        "duration_s": event.get("duration_s"),
        "started_at": event.get("started_at"),
        "reason": event.get("reason"),
        "log": event.get("log"),
    }


_CARRIED = "succeeded (in {run_id})"


def carried_status(run_id: str) -> str:
    """How a record shows a step that succeeded in an earlier run: ``succeeded (in RUN_ID)``."""
    return _CARRIED.format(run_id=run_id)


def _is_carried(status: str) -> bool:
    """Whether ``status`` is one :func:`carried_status` wrote."""
    return status.startswith(_CARRIED.partition("{")[0])


def _last(steps: dict[str, dict[str, Any]], status: str) -> str | None:
    found = [step for step, result in steps.items() if result.get("status") == status]
    return found[-1] if found else None


def final_checks(
    events: list[dict[str, Any]], declared: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every declared checklist item with its last state: who ticked it and when."""
    state: dict[str, dict[str, Any]] = {}
    for checklist in declared:
        for item in checklist.get("items", []):
            state[item["id"]] = {
                "id": item["id"],
                "text": item["text"],
                "checked": False,
                "by": None,
                "at": None,
            }
    for item_id, event in ev.check_states(events).items():
        entry = state.setdefault(item_id, {"id": item_id, "text": event.get("text", "")})
        entry.update(
            checked=bool(event.get("checked")),
            by=event.get("by"),
            at=event.get("at"),
            via=event.get("via"),
        )
    return list(state.values())
