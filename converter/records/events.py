"""The journal's vocabulary: every event name, spelled once, and the readers of event lists.

The kernel and the runner write events (:mod:`converter.records.journal`); the
verdict, the seal, the rebuild, the recovery and the reports read them. Facts of
a run are folded from the journal here, once (:meth:`RunFacts.from_events`),
not re-derived by each reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Written by the runner (``runbook run``).
RUN_START = "run_start"
RUN_END = "run_end"
PASS_START = "pass_start"
PASS_END = "pass_end"
# Written by a fleet (``runbook run --targets``) into the fleet record's journal, after its
# ``run_start`` (``kind: fleet``, the controller's pid, the targets and the controls).
TARGET_START = "target_start"
TARGET_END = "target_end"
"""A target's run ended: its ``run_id``, ``status`` and ``exit_code``."""
FLEET_STOP = "fleet_stop"
"""The fleet stopped scheduling new targets (canary failed, max failures, a signal)."""
FLEET_END = "fleet_end"
NOT_STARTED = "not started"
"""A fleet's target that never started (not a run status: it has no record)."""
UNKNOWN = "unknown"
"""A fleet's target that started, as a recovered fleet record states it (the controller died)."""
# Written by the kernel.
SESSION_START = "session_start"
SESSION_RESUME = "session_resume"
SESSION_END = "session_end"
STEP_START = "step_start"
STEP_END = "step_end"
STEP_SKIPPED = "step_skipped"
STEP_DRY_RUN = "step_dry_run"
BLOCKED = "blocked"
CHECK = "check"
APPROVALS = "approvals"
EXPECT = "expect"
RERUN = "rerun"
MANUAL_RUN = "manual_run"
ROLLBACK_MODE = "rollback_mode"
PARAMETER_SET = "parameter_set"
"""The operator changed a parameter in the setup cell's form (name, shown value, by)."""
# Written by the kernel of a resumed run (``runbook resume``): what it takes over, not re-done.
STEP_CARRIED = "step_carried"
"""A step that succeeded in an earlier run of the resume chain; ``in`` names that run."""
CHECK_CARRIED = "check_carried"
"""A check ticked in an earlier run of the chain: its ``by``, ``checked_at``, ``via`` and ``in``."""
STATE_RESTORED = "state_restored"
"""The shell state a resumed session starts from: ``cwd``, exported names, names not restored."""
STEP_ABANDONED = "step_abandoned"
"""A step whose kernel died mid-step, closed when a new kernel continues the session."""

STEP_OUTCOMES = (STEP_END, STEP_SKIPPED, STEP_DRY_RUN, STEP_CARRIED, STEP_ABANDONED)
"""Events that settle what happened to a step."""
WRITER_EVENTS = (RUN_START, SESSION_START, SESSION_RESUME)
"""Events that name a process (``pid``) that may still append to the journal."""

Event = dict[str, Any]


def runbook_facts(meta: dict[str, Any]) -> dict[str, Any]:
    """What a record states of its runbook (from the notebook's ``metadata.runbook``): the
    runner's and a fleet's ``run_start`` keep it, so a record sealed after its writer died
    still names its runbook and the sha256 that ``resume`` compares."""
    return {k: meta.get(k) for k in ("id", "title", "source_sha256")}


@dataclass(frozen=True)
class RunFacts:
    """What the journal says about a run as a whole (its first session and runner events)."""

    session: Event = field(default_factory=dict)
    """The first ``session_start`` (the kernel's view: runbook, steps, mode, notebook)."""
    runner: Event = field(default_factory=dict)
    """The ``run_start`` of ``runbook run``, when the run was headless."""
    started_at: str = ""

    @classmethod
    def from_events(cls, events: list[Event]) -> RunFacts:
        """Fold the facts from a run's events."""
        session = next((e for e in events if e.get("event") == SESSION_START), {})
        runner = next((e for e in events if e.get("event") == RUN_START), {})
        return cls(session, runner, str(events[0].get("at") or "") if events else "")

    @property
    def runbook(self) -> dict[str, Any]:
        """The kernel's view of the runbook, else the runner's (a kill before the kernel)."""
        return dict(self.session.get("runbook") or self.runner.get("runbook") or {})

    @property
    def operator(self) -> str:
        return str(self.runner.get("operator") or self.session.get("operator") or "")

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.session.get("parameters") or self.runner.get("parameters") or {})

    @property
    def dry_run(self) -> bool:
        return bool(self.runner.get("dry_run") or self.session.get("dry_run"))

    @property
    def mode(self) -> str | None:
        return self.session.get("mode") or ("headless" if self.runner else None)

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.session.get("steps") or [])

    @property
    def notebook(self) -> str | None:
        return self.session.get("notebook")

    @property
    def resumes(self) -> str | None:
        """The run this one resumes (``runbook resume``), if any."""
        return self.runner.get("resumes") or self.session.get("resumes") or None


def check_states(events: list[Event]) -> dict[str, Event]:
    """The last ``check`` event of every item that was ticked or unticked, by item id.

    A ``check_carried`` (a tick taken over from an earlier run of a resume chain)
    reads as the ``check`` it copies: same ``by``, same ``at`` (when it was ticked
    then), plus ``in``, the run where it was ticked. An approval's tick reads with
    the time of its signature (``signed_at``).
    """
    states: dict[str, Event] = {}
    for e in events:
        if "id" not in e:
            continue
        if e.get("event") == CHECK:
            states[e["id"]] = {**e, "at": e["signed_at"]} if e.get("signed_at") else e
        elif e.get("event") == CHECK_CARRIED:
            states[e["id"]] = {**e, "event": CHECK, "at": e.get("checked_at")}
    return states


def open_steps(events: list[Event]) -> list[str]:
    """Steps that started and never ended (the writer died, or the step is still running)."""
    running: dict[str, None] = {}
    for event in events:
        if event.get("event") == STEP_START:
            running[str(event.get("step"))] = None
        elif event.get("event") in STEP_OUTCOMES:
            running.pop(str(event.get("step")), None)
    return list(running)


def fleet_results(events: list[Event]) -> dict[str, Any] | None:
    """A fleet record's ``fleet`` as its journal tells it (for recovery), or None for a run.

    Every target named at the start, in order: the ``target_end`` of those that ended
    (without their event bookkeeping), ``not started`` for the others.
    """
    start = next((e for e in events if e.get("event") == RUN_START), {})
    if start.get("kind") != "fleet":
        return None
    ended = {str(e.get("target")): e for e in events if e.get("event") == TARGET_END}
    began = {str(e.get("target")) for e in events if e.get("event") == TARGET_START}
    bookkeeping = ("event", "at", "seq", "source")
    targets = []
    for name in (str(t.get("target")) for t in start.get("targets") or []):
        if name in ended:
            targets.append({k: v for k, v in ended[name].items() if k not in bookkeeping})
        else:  # started: its own record (naming this fleet) says how it ended
            targets.append({"target": name, "status": UNKNOWN if name in began else NOT_STARTED})
    return {
        **(start.get("fleet") or {}),
        "targets": targets,
        "not_started": [t["target"] for t in targets if t["status"] == NOT_STARTED],
        "stopped": "the fleet's controller ended before it sealed this record",
    }
