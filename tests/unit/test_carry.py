"""What a resumed run takes over, folded from journals (no kernel): successes, state, ticks."""

from __future__ import annotations

import base64
import json

from converter.records import events as events_module
from converter.records.carry import ResumePoint, exports_field, restore_value
from converter.records.journal import Journal, read_journal
from converter.records.mask import SecretMasker
from converter.records.verdict import final_checks, judge

SECRET = "pa55-w0rd-xyz"


def ev(event: str, step: str | None = None, **fields) -> dict:
    return {"event": event, "step": step, **fields}


def test_a_secret_valued_export_is_kept_as_a_reference_and_restored_from_the_secret() -> None:
    masker = SecretMasker([SECRET])
    kept = exports_field(
        {"AUTH": f"Bearer {SECRET}", "PLAIN": "hello", "SAME": SECRET},
        {"token": SECRET},
        masker,
    )
    assert kept == {
        "AUTH": ["Bearer ", {"secret": "token"}],
        "PLAIN": "hello",
        "SAME": [{"secret": "token"}],
    }
    assert SECRET not in json.dumps(kept)
    assert restore_value(kept["AUTH"], {"token": SECRET}) == f"Bearer {SECRET}"
    assert restore_value(kept["SAME"], {"token": SECRET}) == SECRET
    assert restore_value(kept["AUTH"], {}) is None  # the secret is not set now


def test_an_export_holding_an_encoded_secret_is_not_restorable_and_not_kept() -> None:
    encoded = base64.b64encode(SECRET.encode()).decode()
    kept = exports_field({"B64": f"Basic {encoded}"}, {"token": SECRET}, SecretMasker([SECRET]))
    assert kept == {"B64": {"masked": True}}
    assert restore_value(kept["B64"], {"token": SECRET}) is None


def test_the_journal_never_holds_the_secret_of_an_export(tmp_path) -> None:
    masker = SecretMasker([SECRET])
    journal = Journal(tmp_path / "journal.jsonl", masker=masker)
    journal.write(
        events_module.STEP_END,
        step="1-1",
        status="succeeded",
        exports=exports_field({"AUTH": f"x{SECRET}y"}, {"token": SECRET}, masker),
    )
    journal.close()
    assert SECRET not in (tmp_path / "journal.jsonl").read_text()
    (event,) = read_journal(tmp_path / "journal.jsonl")
    assert restore_value(event["exports"]["AUTH"], {"token": SECRET}) == f"x{SECRET}y"


def test_the_resume_point_keeps_the_last_success_of_each_step_in_order() -> None:
    events = [
        ev("session_start", cwd="/start"),
        ev("step_start", "1-1", kind="procedure", title="One"),
        ev("step_end", "1-1", status="succeeded", cwd="/a", exports={"X": "1", "Y": "a"}),
        ev("step_start", "1-2", kind="procedure", title="Two"),
        ev("step_end", "1-2", status="succeeded", cwd="/b", exports={"X": "2"}),
        ev("step_start", "1-2", kind="procedure", title="Two"),  # run again, and it failed
        ev("step_end", "1-2", status="failed", cwd="/c", exports={"X": "3"}),
        ev("step_start", "rollback-1", kind="rollback", title="Undo"),
        ev("step_end", "rollback-1", status="succeeded", cwd="/r", exports={"R": "1"}),
        ev("check", id="1-1.verify.1", text="ok", checked=True, by="ann", at="T1", via="widget"),
        ev("check", id="1-2.verify.1", text="no", checked=False, by="ann", at="T2"),
    ]
    point = ResumePoint.from_events("RUN-A", events)
    assert list(point.steps) == ["1-1"]
    assert point.cwd == "/a"
    assert point.environment({}) == ({"X": "1", "Y": "a"}, [])
    assert list(point.checks) == ["1-1.verify.1"]
    (carried,) = point.check_fields()
    assert carried["by"] == "ann" and carried["checked_at"] == "T1" and carried["in"] == "RUN-A"


def test_a_carried_step_keeps_the_run_it_ran_in_through_a_chain() -> None:
    first = ResumePoint.from_events(
        "RUN-A",
        [
            ev("step_start", "1-1", kind="procedure", title="One"),
            ev("step_end", "1-1", status="succeeded", exit_code=0, cwd="/a", exports={"X": "1"}),
        ],
    )
    second_journal = [
        ev("session_start", cwd="/elsewhere"),
        ev("step_carried", **first.steps["1-1"].event_fields()),
        ev("step_start", "1-2", kind="procedure", title="Two"),
        ev("step_end", "1-2", status="succeeded", exit_code=0, cwd="/b", exports={"Z": "2"}),
    ]
    second = ResumePoint.from_events("RUN-B", second_journal)
    assert {s.id: s.run_id for s in second.steps.values()} == {"1-1": "RUN-A", "1-2": "RUN-B"}
    assert second.environment({}) == ({"X": "1", "Z": "2"}, [])
    verdict = judge([*second_journal, ev("session_end")])
    assert verdict.status == "succeeded"
    assert verdict.steps["1-1"]["status"] == "succeeded (in RUN-A)"
    assert verdict.steps["1-1"]["in"] == "RUN-A"


def test_a_carried_check_reads_as_the_tick_of_the_earlier_run() -> None:
    events = [
        ev(
            "check_carried",
            id="i1",
            text="Done",
            checked=True,
            by="ann",
            checked_at="2026-01-01T00:00:00.000Z",
            via="parameter",
            **{"in": "RUN-A"},
        ),
    ]
    events[0]["at"] = "2026-02-02T00:00:00.000Z"  # when it was carried: not when it was ticked
    (check,) = final_checks(events, [{"items": [{"id": "i1", "text": "Done"}]}])
    assert check["checked"] and check["by"] == "ann" and check["at"] == "2026-01-01T00:00:00.000Z"


def test_a_step_the_dead_kernel_left_running_is_interrupted_unless_run_again() -> None:
    abandoned = [
        ev("step_start", "1-1"),
        ev("step_abandoned", "1-1", reason="the kernel stopped"),
        ev("session_end"),
    ]
    assert judge(abandoned).status == "interrupted"
    rerun = [*abandoned[:2], ev("step_start", "1-1"), ev("step_end", "1-1", status="succeeded")]
    assert judge([*rerun, ev("session_end")]).status == "succeeded"


def test_a_credential_a_step_fetched_itself_is_withheld_not_journaled() -> None:
    kept = exports_field(
        {"PGPASSWORD": "from-the-vault", "API_TOKEN": "t0k", "BACKUP_DIR": "/var/b"},
        {"token": SECRET},
        SecretMasker([SECRET]),
    )
    assert kept == {
        "PGPASSWORD": {"withheld": True},
        "API_TOKEN": {"withheld": True},
        "BACKUP_DIR": "/var/b",
    }
    point = ResumePoint.from_events(
        "RUN-A",
        [
            ev("step_start", "1-1", kind="procedure"),
            ev("step_end", "1-1", status="succeeded", cwd="/a", exports=kept),
        ],
    )
    assert point.environment({}) == ({"BACKUP_DIR": "/var/b"}, ["PGPASSWORD", "API_TOKEN"])
