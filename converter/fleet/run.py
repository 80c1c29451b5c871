"""``runbook run --targets``: one runbook over many targets, by the rollout controls.

One linear orchestrator: read and validate every target (one bad row refuses the
fleet), check the approved plan for every target, open the fleet's record, run
each target as its own ``runbook run`` (its own record, whose manifest names the
fleet and the target), then seal the fleet's record into the same chain. A
signal stops scheduling, SIGTERMs the running targets (they seal as
``interrupted``) and seals the fleet as ``interrupted``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import RunbookError
from ..markdown.approvals import required_roles
from ..parameters import DEFAULT_RECORDS, check_text, from_declaration, operator_name
from ..records import events as ev
from ..records import layout
from ..records.carry import claim
from ..records.chain import check_chain
from ..records.evidence import Evidence
from ..records.journal import utc_now
from ..records.manifest import load_manifest, sanitize_runbook_id
from ..records.plans import DEFAULT_MAX_AGE, environ_allowed_signers, find_plan
from ..records.plantext import say
from ..records.recover import finalize_abandoned
from ..runner.approvals import Blocked, gate, spec_of
from ..runner.run import EXIT_CODES
from ..runner.source import load_notebook, notebook_sha256
from .controls import SIGNALLED, Controls, schedule
from .executors import DaskExecutor, LocalExecutor, outcome_of
from .record import NOT_STARTED, open_fleet, seal_fleet
from .targets import given_values, read_targets, resolve_targets
from .worker import STOPPED


@dataclass(frozen=True)
class FleetOptions:
    """Everything ``runbook run --targets`` accepts, as one value."""

    source: Path
    targets: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    """The ``-f``/``-p`` values common to every target (a row's own values win)."""
    controls: Controls = field(default_factory=Controls)
    dask: str | None = None
    """The address of an existing ``dask.distributed`` scheduler."""
    confirm: tuple[str, ...] = ()
    records: Path = Path(DEFAULT_RECORDS)
    timeout: float | None = None
    operator: str | None = None
    progress: bool = True
    evidence: Evidence = field(default_factory=Evidence)
    plan: str | None = None
    max_age: timedelta = DEFAULT_MAX_AGE


@dataclass(frozen=True)
class Work:
    """One target to run: a fresh ``runbook run``, or a ``runbook resume`` of its stopped run."""

    target: str
    values: dict[str, str]
    shown: dict[str, Any]
    resume: str | None = None


@dataclass(frozen=True)
class FleetOutcome:
    """Where the fleet's record is and what happened to each target."""

    status: str
    fleet_dir: Path
    manifest: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def run_fleet(options: FleetOptions) -> FleetOutcome:
    """Validate every target and the plan, then run the fleet and seal its record."""
    check_text("the runbook path", str(options.source))
    check_text("the records directory", str(options.records))
    nb = load_notebook(options.source)
    meta = nb.metadata["runbook"]
    targets = read_targets(options.targets)
    declared = tuple(from_declaration(d) for d in meta.get("parameters", []))
    resolved = resolve_targets(targets, declared, options.parameters, path=str(options.targets))
    attestation = options.evidence.open()
    operator = (
        attestation.signer.principal if attestation.signer else operator_name(options.operator)
    )
    review = None
    needed = [] if options.plan else required_roles(spec_of(nb))
    if needed:  # a fleet is approved once, before any target starts
        lang = "ja" if meta.get("lang") == "ja" else "en"
        roles = ("、" if lang == "ja" else ", ").join(needed)
        where = {"source": options.source, "targets": options.targets}
        raise Blocked(say(lang, "fleet_needs_plan", roles=roles, **where))
    for target in targets if options.plan else ():  # each row against the plan, up front
        found, problems = gate(
            options.source,
            nb,
            options.plan,
            records=options.records,
            parameters_shown=resolved[target.name].shown(),
            operator=operator,
            allowed_signers=environ_allowed_signers(options.evidence.allowed_signers),
            max_age=options.max_age,
            target=target.name,
        )
        if problems:
            raise Blocked(f"blocked by plan {options.plan}: " + "; ".join(problems))
        review = review or found
    kept = (review, find_plan(options.records, str(options.plan))) if review else None
    names = {p.name for p in declared}
    work = [
        Work(t.name, given_values(t, _as_text(options.parameters), names), resolved[t.name].shown())
        for t in targets
    ]
    start = {
        "runbook_source": str(options.source.resolve()),
        # what recovery seals (and resume compares) if the controller dies
        "runbook": ev.runbook_facts(meta),
        "notebook_sha256": notebook_sha256(options.source, nb),
        "targets_file": str(options.targets),
        "parameters": _as_text(options.parameters),
        "targets": [{"target": w.target, "values": w.values} for w in work],
        "fleet": {"controls": options.controls.as_record(), "targets": [w.target for w in work]},
        "confirm": list(options.confirm),
        "timeout": options.timeout,
        "plan": options.plan,
        "resumes": None,
    }
    return drive(options, meta, work, operator, attestation, kept, start, carried=[])


def drive(
    options: FleetOptions,
    meta: dict[str, Any],
    work: list[Work],
    operator: str,
    attestation: Any,
    review: Any,
    start: dict[str, Any],
    carried: list[dict[str, Any]],
) -> FleetOutcome:
    """Open the fleet's record, run the work by the controls, seal the record."""
    records = options.records.resolve()
    if records.is_dir():
        check_chain(records, attestation.witness)  # a broken head: refuse before any target
        finalize_abandoned(records, attestation)
    runbook = ev.runbook_facts(meta)
    by_name = {w.target: w for w in work}
    results = {r["target"]: r for r in carried}
    for w in work:
        results[w.target] = {"target": w.target, "status": NOT_STARTED, "parameters": w.shown}
    controls = options.controls
    executor = DaskExecutor(options.dask) if options.dask else LocalExecutor(controls.jobs or 1)
    if not controls.jobs:  # not given: one per worker thread (Dask), else one
        controls = replace(controls, jobs=executor.slots())
    with _stop_on_signals() as stop:
        started_at = utc_now()
        resumes = start.get("resumes")
        earlier = records / sanitize_runbook_id(str(runbook["id"])) / str(resumes)
        with claim(records, earlier) if resumes else nullcontext():  # one resume per fleet
            fleet_dir, journal = open_fleet(
                records, runbook, operator=operator, start=start, review=review
            )
        stop["file"] = str(fleet_dir / layout.STOP_FILE)
        if stop["signalled"]:
            Path(stop["file"]).touch()
        argv = _argv_maker(options, records, fleet_dir.name, operator, by_name)
        executor.bind(argv, os.getcwd(), fleet_dir)
        display = _Display(len(work), options.progress)

        def started(name: str) -> None:
            journal.write(ev.TARGET_START, source="fleet", target=name)
            display.started()

        def finished(name: str, future: Any) -> bool:
            result = _result(name, outcome_of(future), by_name[name].shown, records)
            results[name] = result
            journal.write(ev.TARGET_END, source="fleet", **result)
            display.finished(result["status"] == "succeeded")
            return result["status"] == "succeeded"

        try:
            reason = schedule(
                [w.target for w in work],
                controls,
                executor,
                finished=finished,
                started=started,
                stopping=lambda: stop["signalled"],
            )
        finally:
            executor.close()
            display.close()
        if reason:
            journal.write(ev.FLEET_STOP, source="fleet", reason=reason)
        ordered = [results[t["target"]] for t in start["targets"]]  # the targets file's order
        status = _fleet_status(ordered, reason)
        manifest = seal_fleet(
            fleet_dir,
            journal,
            runbook,
            status=status,
            reason=reason,
            results=ordered,
            fleet={
                "controls": controls.as_record(),
                **({"dask": options.dask} if options.dask else {}),
            },
            operator=operator,
            started_at=started_at,
            parameters=start["parameters"],
            attestation=attestation,
            resumes=start.get("resumes"),
        )
    shown = options.records / fleet_dir.relative_to(records)  # as the user named the records
    return FleetOutcome(status, shown, manifest)


def _argv_maker(
    options: FleetOptions, records: Path, fleet_id: str, operator: str, by_name: dict[str, Work]
) -> Any:
    """The ``runbook`` command line of one target (absolute paths: a Dask worker runs it too)."""
    common = ["--records", str(records), "--no-progress", "--operator", operator]
    common += [a for c in options.confirm for a in ("--confirm", c)]
    if options.controls.rollback_on_failure:
        common.append("--rollback-on-failure")

    def argv(name: str) -> list[str]:
        work = by_name[name]
        member = ["--fleet-member", fleet_id, name]
        if work.resume:  # the run continues with its own values and timeout
            command = [sys.executable, "-m", "converter", "resume", work.resume]
        else:
            command = [sys.executable, "-m", "converter", "run", str(options.source.resolve())]
            command += [a for k, v in work.values.items() for a in ("-p", k, v)]
            if options.timeout:
                command += ["--timeout", str(options.timeout)]
        command += common + member
        if options.plan:
            days = options.max_age.total_seconds() / 86400
            command += ["--plan", options.plan, "--max-age", repr(days)]
        evidence = options.evidence
        for flag, value in (
            ("--signing-key", evidence.signing_key),
            ("--allowed-signers", evidence.allowed_signers),
            ("--witness", evidence.witness),
        ):
            if value:
                command += [flag, str(value)]
        return command

    return argv


def _result(
    name: str, outcome: dict[str, Any], shown: dict[str, Any], records: Path
) -> dict[str, Any]:
    """A target's line in the fleet's manifest, from its record when it has one."""
    result: dict[str, Any] = {
        "target": name,
        "parameters": shown,
        "exit_code": outcome["exit_code"],
    }
    if outcome.get("record"):
        run_dir = Path(outcome["record"])
        manifest = load_manifest(run_dir)
        result.update(
            status=manifest["status"],
            run_id=manifest["run_id"],
            record=run_dir.resolve().relative_to(records).as_posix(),
            rollback=(manifest.get("rollback") or {}).get("status"),
        )
    elif outcome.get("error") == STOPPED:
        result["status"] = NOT_STARTED
    else:
        result.update(status="error", error=outcome.get("error") or "no record")
    return result


def _fleet_status(results: list[dict[str, Any]], reason: str | None) -> str:
    if reason == SIGNALLED:
        return "interrupted"
    statuses = {r["status"] for r in results}
    if statuses == {"succeeded"}:
        return "succeeded"
    if statuses <= {"succeeded", "blocked", NOT_STARTED} and "blocked" in statuses:
        return "blocked"
    return "failed"


def _as_text(values: dict[str, Any]) -> dict[str, str]:
    """Command-line values as ``-p`` text (a ``-f`` file's lists as JSON)."""
    import json

    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, Any]]:
    """SIGTERM/SIGINT: stop scheduling, and (the stop file) stop the running targets."""
    state: dict[str, Any] = {"signalled": False, "file": None}

    def handler(signum: int, _frame: Any) -> None:
        state["signalled"] = True
        if state["file"]:
            Path(state["file"]).touch()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield state
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class _Display:
    """The live display on stderr: targets done, running, failed and not started (tqdm)."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.total, self.running, self.failed, self.done = total, 0, 0, 0
        self.bar = tqdm(total=total, desc="fleet", unit="target", file=sys.stderr,
                        disable=not enabled, dynamic_ncols=True)  # fmt: skip
        self._show()

    def started(self) -> None:
        self.running += 1
        self._show()

    def finished(self, succeeded: bool) -> None:
        self.running -= 1
        self.done += 1
        self.failed += 0 if succeeded else 1
        self.bar.update(1)
        self._show()

    def _show(self) -> None:
        waiting = self.total - self.done - self.running
        self.bar.set_postfix_str(
            f"running {self.running}, failed {self.failed}, not started {waiting}"
        )

    def close(self) -> None:
        self.bar.close()


def fleet_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The manifest of a fleet's record, or None when the record is a single run's."""
    try:
        manifest = load_manifest(run_dir)
    except RunbookError:
        return None
    return manifest if manifest.get("kind") == "fleet" else None
