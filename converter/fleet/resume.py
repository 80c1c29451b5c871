"""``runbook resume FLEET_RUN``: continue the targets of a fleet that did not succeed.

A new fleet record that ``resumes`` the old one, with the same runbook, targets,
values and controls. A target that succeeded is carried over (its run is named,
not run again); one whose run stopped failed, blocked or interrupted (and was not
rolled back) continues that run (``runbook resume``: its succeeded steps are not
run again); one never started, or that could not start, runs afresh.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import RecordError
from ..parameters import operator_name
from ..records import events as ev
from ..records import layout
from ..records.evidence import Evidence
from ..records.index import find_run
from ..records.journal import read_journal, read_journal_prefix
from ..records.liveness import writer_alive
from ..records.manifest import load_manifest
from ..records.plans import DEFAULT_MAX_AGE
from ..records.recover import finalize_abandoned
from ..runner.source import load_notebook, notebook_sha256
from .controls import Controls
from .run import FleetOptions, FleetOutcome, Work, drive, fleet_manifest

RESUMABLE = ("failed", "blocked", "interrupted")
_JOURNAL_OWN = (
    "event", "at", "seq", "source", "kind", "pid", "host", "boot_id", "run_id", "operator",
)  # fmt: skip
"""Fields of the old ``run_start`` that the new fleet's journal writes afresh."""


def _since_fleet(fleet_dir: Path) -> list[Path]:
    """The records of the fleet's runbook from the fleet's second on, newest first: a run id
    is ``<UTC second>-<random>``, so a target started within the fleet's own second may sort
    either side of it."""
    started = fleet_dir.name.partition("-")[0]
    return [
        run_dir
        for run_dir in sorted(fleet_dir.parent.iterdir(), reverse=True)
        if run_dir.name.partition("-")[0] >= started
    ]


def _sealed_since(fleet_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The sealed records of :func:`_since_fleet`, with their manifests, newest first."""
    return [
        (run_dir, load_manifest(run_dir))
        for run_dir in _since_fleet(fleet_dir)
        if (run_dir / layout.MANIFEST).is_file()
    ]


def _line(fleet_dir: Path, target: str, run_dir: Path, run: dict[str, Any]) -> dict[str, Any]:
    """A target's line in a fleet's manifest, from the record of its run."""
    rollback = (run.get("rollback") or {}).get("status")
    return {"target": target, "status": run["status"], "run_id": run["run_id"],
            "record": f"{fleet_dir.parent.name}/{run_dir.name}", "rollback": rollback,
            "parameters": run.get("parameters")}  # fmt: skip


def _latest(
    fleet_dir: Path, result: dict[str, Any], sealed: list[tuple[Path, dict[str, Any]]]
) -> dict[str, Any]:
    """A target's line as its latest run states it: the fleet's record names the run the
    fleet started, or none (its controller died, or the task was lost with its worker); the
    run may have ended since, and may have been resumed on its own (``runbook resume RUN``)."""
    name = result["target"]
    if result.get("run_id") is None:
        member = {"run_id": fleet_dir.name, "target": name}
        own = next(((d, m) for d, m in sealed if m.get("fleet") == member), None)
        if own is None:
            return result
        result = _line(fleet_dir, name, *own)
    resumed_by = {m.get("resumes"): (d, m) for d, m in reversed(sealed) if m.get("resumes")}
    seen = set()
    while result["run_id"] in resumed_by and result["run_id"] not in seen:
        seen.add(result["run_id"])
        result = _line(fleet_dir, name, *resumed_by[result["run_id"]])
    return result


def _still_running(fleet_dir: Path, target: str) -> str | None:
    """The run of ``target`` for this fleet whose record is not sealed and whose process is
    alive: a target's run outlives a killed controller (a session of its own)."""
    for run_dir in _since_fleet(fleet_dir):
        journal = run_dir / layout.JOURNAL
        if (run_dir / layout.MANIFEST).exists() or not journal.is_file():
            continue
        events = read_journal_prefix(journal)[0]
        start = next((e for e in events if e.get("event") == ev.RUN_START), {})
        member = start.get("fleet") == {"run_id": fleet_dir.name, "target": target}
        if member and writer_alive(events):
            return run_dir.name
    return None


def resume_fleet(
    run: str, *, records: Path, confirm: tuple[str, ...] = (), operator: str | None = None,
    progress: bool = True, jobs: int | None = None, evidence: Evidence | None = None,
    plan: str | None = None, max_age: timedelta = DEFAULT_MAX_AGE,
) -> FleetOutcome:  # fmt: skip
    """Run the fleet's unfinished targets again, in a new fleet record linked to the old one.

    ``plan`` (default: the fleet's own) is the approved plan every target is checked against.
    """
    if records.is_dir():
        finalize_abandoned(records)
    fleet_dir = find_run(records, run)
    manifest = fleet_manifest(fleet_dir)
    if manifest is None:
        raise RecordError(f"{fleet_dir.name} is not a fleet's record", path=str(fleet_dir))
    if manifest["status"] == "succeeded":
        raise RecordError(f"fleet {fleet_dir.name} succeeded: there is nothing to resume")
    start = next(
        e for e in read_journal(fleet_dir / layout.JOURNAL) if e.get("event") == ev.RUN_START
    )
    source = Path(str(start["runbook_source"]))
    if not source.is_file():
        raise RecordError(f"the runbook of fleet {fleet_dir.name} is gone: {source}")
    nb = load_notebook(source)
    meta = nb.metadata["runbook"]
    recorded = (manifest.get("runbook") or {}).get("source_sha256")
    changed = meta.get("source_sha256") != recorded or start.get("notebook_sha256") not in (
        None,
        notebook_sha256(source, nb),
    )
    if changed:  # its targets would run (or resume) a runbook nobody ran with the others
        raise RecordError(
            f"the runbook changed since fleet {fleet_dir.name}: resuming would run another "
            "version on some targets; start a new fleet",
            path=str(source),
        )
    controls = Controls(**manifest["fleet"]["controls"])
    controls = replace(controls, jobs=jobs or controls.jobs)
    values = {t["target"]: t["values"] for t in start["targets"]}
    carried, work = [], []
    sealed = _sealed_since(fleet_dir)
    for result in manifest["fleet"]["targets"]:
        name = result["target"]
        if result.get("run_id") is None:  # its own record, if any, says how it ended
            running = _still_running(fleet_dir, name)
            if running is not None:  # running it again would run it twice at once
                raise RecordError(
                    f"target {name} of fleet {fleet_dir.name} is still running (run {running}): "
                    "resume once it has ended"
                )
        result = _latest(fleet_dir, result, sealed)
        if result["status"] == "succeeded":
            carried.append({**result, "in": result.get("in") or fleet_dir.name})
            continue
        resumable = result["status"] in RESUMABLE and not result.get("rollback")
        again = result.get("run_id") if resumable else None
        work.append(Work(name, values[name], result.get("parameters") or {}, resume=again))
    evidence = evidence or Evidence.from_environ()
    attestation = evidence.open()
    who = attestation.signer.principal if attestation.signer else operator_name(operator)
    options = FleetOptions(
        source=source,
        targets=Path(str(start.get("targets_file") or "")),
        parameters=dict(start.get("parameters") or {}),
        controls=controls,
        dask=manifest["fleet"].get("dask"),
        confirm=tuple(dict.fromkeys([*(start.get("confirm") or []), *confirm])),
        records=records,
        timeout=start.get("timeout"),
        operator=who,
        progress=progress,
        evidence=evidence,
        plan=plan or start.get("plan"),
        max_age=max_age,
    )
    kept = {k: v for k, v in start.items() if k not in _JOURNAL_OWN}
    new_start: dict[str, Any] = {
        **kept,
        "resumes": fleet_dir.name,
        "confirm": list(options.confirm),
    }
    return drive(options, meta, work, who, attestation, None, new_start, carried=carried)
