"""The verdict comes from the journal, not from papermill: each rule, on event lists."""

from __future__ import annotations

from converter.records.verdict import judge


def ev(event: str, step: str | None = None, **fields) -> dict:
    return {"event": event, "step": step, **fields}


def test_a_finished_run_with_succeeded_steps_succeeds() -> None:
    events = [
        ev("session_start"),
        ev("step_start", "1-1"),
        ev("step_end", "1-1", status="succeeded", exit_code=0),
        ev("session_end"),
    ]
    assert judge(events).status == "succeeded"


def test_a_run_that_never_reached_its_finish_cell_failed() -> None:
    verdict = judge(
        [ev("session_start"), ev("step_start", "1-1"), ev("step_end", "1-1", status="succeeded")]
    )
    assert verdict.status == "failed"
    assert "finish" in verdict.reason


def test_a_step_that_started_and_never_ended_names_the_kernel_death() -> None:
    verdict = judge([ev("session_start"), ev("step_start", "1-1")])
    assert (verdict.status, verdict.failed_step) == ("failed", "1-1")
    assert "kernel died" in verdict.reason
    assert judge([ev("step_start", "1-1")], interrupted=True).status == "interrupted"


def test_a_failed_step_is_the_failure_even_with_later_events() -> None:
    events = [
        ev("step_start", "1-1"),
        ev("step_end", "1-1", status="failed", exit_code=3, reason="exit 3"),
        ev("step_skipped", "rollback-1", reason="rollback_only"),
    ]
    verdict = judge(events)
    assert (verdict.status, verdict.failed_step, verdict.reason) == ("failed", "1-1", "exit 3")


def test_a_block_stands_unless_the_step_ran_afterwards() -> None:
    blocked = [ev("blocked", "1-2", unchecked=["1-1.verify.1: done"])]
    assert judge(blocked).status == "blocked"
    ticked_and_rerun = blocked + [
        ev("step_start", "1-2"),
        ev("step_end", "1-2", status="succeeded"),
        ev("session_end"),
    ]
    assert judge(ticked_and_rerun).status == "succeeded"


def test_skips_and_dry_runs_are_recorded_per_step() -> None:
    events = [
        ev("step_dry_run", "1-1"),
        ev("step_skipped", "trouble-1", reason="manual"),
        ev("session_end"),
    ]
    verdict = judge(events)
    assert verdict.status == "succeeded"
    assert verdict.steps["1-1"]["status"] == "dry_run"
    assert verdict.steps["trouble-1"]["status"] == "manual"


def test_a_skip_journaled_after_a_step_ran_does_not_replace_its_outcome() -> None:
    """A manual step's cell run again after its button ran it (and it failed), or a procedure
    cell run in rollback mode: the skip says nothing of what the step's commands did."""
    events = [
        ev("session_start"),
        ev("step_skipped", "1-1", reason="manual"),
        ev("manual_run", "1-1"),
        ev("step_start", "1-1"),
        ev("step_end", "1-1", status="failed", exit_code=7, reason="exited with status 7"),
        ev("step_skipped", "1-1", reason="manual"),
        ev("step_start", "1-2"),
        ev("step_end", "1-2", status="succeeded", exit_code=0),
        ev("step_skipped", "1-2", reason="not_in_rollback"),
        ev("session_end"),
    ]
    verdict = judge(events)
    assert (verdict.status, verdict.failed_step) == ("failed", "1-1")
    assert verdict.steps["1-1"]["exit_code"] == 7
    assert verdict.steps["1-2"]["status"] == "succeeded"


def test_an_interactive_rollback_is_judged_as_its_own_pass() -> None:
    from converter.records.verdict import judge_passes

    events = [
        ev("session_start"),
        ev("step_start", "1-1"),
        ev("step_end", "1-1", status="failed", exit_code=1, reason="exit 1"),
        ev("rollback_mode"),
        ev("step_start", "rollback-1"),
        ev("step_end", "rollback-1", status="failed", exit_code=2, reason="exit 2"),
        ev("session_end"),
    ]
    procedure, rollback = judge_passes(events)
    assert (procedure.status, procedure.failed_step) == ("failed", "1-1")
    assert rollback is not None
    assert (rollback.status, rollback.failed_step) == ("failed", "rollback-1")
    assert judge_passes(events[:3] + events[-1:]) == (judge(events[:3] + events[-1:]), None)


def test_a_run_finished_before_its_procedure_ran_is_interrupted_not_succeeded() -> None:
    steps = [
        {"id": "pre-1", "kind": "prerequisite"},
        {"id": "1-1", "kind": "procedure"},
        {"id": "1-2", "kind": "procedure"},
        {"id": "1-3", "kind": "procedure"},
        {"id": "rollback-1", "kind": "rollback"},
        {"id": "ts-1", "kind": "troubleshooting"},
    ]
    start = ev("session_start", steps=steps, rollback=False)
    nothing = judge([start, ev("session_end")])
    assert (nothing.status, nothing.failed_step) == ("interrupted", "pre-1")
    assert nothing.reason == "finished before these steps ran: pre-1, 1-1, 1-2, 1-3"
    settled = [
        start,
        ev("step_start", "pre-1"),
        ev("step_end", "pre-1", status="succeeded"),
        ev("step_start", "1-1"),
        ev("step_end", "1-1", status="failed_allowed"),
        ev("step_skipped", "1-2", reason="manual"),
        ev("step_carried", "1-3", **{"in": "20261130T000000Z-00000000"}),
    ]
    assert judge([*settled, ev("session_end")]).status == "succeeded"
    halfway = judge([*settled[:5], ev("session_end")])
    assert (halfway.status, halfway.failed_step) == ("interrupted", "1-2")
    rollback_pass = ev("session_start", steps=steps, rollback=True)
    assert judge([rollback_pass, ev("session_end")]).status == "succeeded"


def test_a_step_the_operator_interrupted_gives_the_run_its_reason() -> None:
    """Interrupted in JupyterLab (no signal reached a runner): the manifest's reason is the
    step's, as the journal says, not "interrupted by a signal"."""
    events = [
        ev("session_start"),
        ev("step_start", "1-1"),
        ev("step_end", "1-1", status="interrupted", reason="interrupted by the operator"),
        ev("session_end"),
    ]
    verdict = judge(events)
    assert (verdict.status, verdict.failed_step) == ("interrupted", "1-1")
    assert verdict.reason == "interrupted by the operator"
    assert judge(events, interrupted=True).reason == "interrupted by a signal"
