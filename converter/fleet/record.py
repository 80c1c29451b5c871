"""The fleet's own record: opened before any target starts, sealed into the same chain last.

It is a record like any run's (``<records>/<runbook-id>/<run-id>/``), of kind
``fleet``: ``journal.jsonl`` (``run_start`` with ``kind: fleet`` and the
controller's pid, then one ``target_start``/``target_end`` per target),
``record.ipynb`` and ``record.html`` (the summary table), the plan and its
approvals when the runbook needs them, and ``manifest.json`` whose ``fleet``
holds every target's run id and status, the targets never started and the
controls. It is sealed by the one seal path (:func:`converter.records.seal_run`),
so it is hashed, chained, signed and witnessed like every record; a controller
killed outright leaves it to recovery, which seals it as ``interrupted``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..records import events as ev
from ..records import layout
from ..records.evidence import Attestation
from ..records.fleetview import write_fleet_summary
from ..records.journal import Journal
from ..records.liveness import this_writer
from ..records.manifest import create_record_dir
from ..records.mask import SecretMasker
from ..records.plans import Review, record_approvals
from ..records.seal import Seal, seal_run
from ..records.verdict import Verdict

NOT_STARTED = ev.NOT_STARTED


def open_fleet(
    records: Path,
    runbook: dict[str, Any],
    *,
    operator: str,
    start: dict[str, Any],
    review: tuple[Review, Path] | None,
) -> tuple[Path, Journal]:
    """Create the fleet's record and journal its ``run_start`` (``start``: what resume needs)."""
    fleet_dir, run_id = create_record_dir(records, str(runbook["id"]))
    journal = Journal(fleet_dir / layout.JOURNAL, masker=SecretMasker([]))
    journal.write(
        ev.RUN_START,
        source="fleet",
        kind="fleet",
        **this_writer(),
        run_id=run_id,
        operator=operator,
        **start,
    )
    write_fleet_summary(fleet_dir, runbook, [], "running")
    if review is not None:

        def write(event: str, **fields: object) -> None:
            journal.write(event, source="fleet", **fields)

        record_approvals(review[0], review[1], fleet_dir, write, [], operator)
    return fleet_dir, journal


def seal_fleet(
    fleet_dir: Path,
    journal: Journal,
    runbook: dict[str, Any],
    *,
    status: str,
    reason: str | None,
    results: list[dict[str, Any]],
    fleet: dict[str, Any],
    operator: str,
    started_at: str,
    parameters: dict[str, Any],
    attestation: Attestation,
    resumes: str | None,
) -> dict[str, Any]:
    """Write the summary, end the journal and seal the fleet's record; its manifest.

    ``reason`` is why the fleet stopped early (None: every target had its turn).
    """
    unfinished = [r["target"] for r in results if r["status"] != "succeeded"]
    names = ", ".join(unfinished)
    summary = f"{len(unfinished)} of {len(results)} targets did not succeed: {names}"
    why = (f"{reason}; {summary}" if reason else summary) if unfinished else None
    journal.write(ev.FLEET_END, source="fleet", status=status, reason=why)
    journal.write(ev.RUN_END, source="fleet", status=status)
    journal.close()
    write_fleet_summary(fleet_dir, runbook, results, status, reason)
    return seal_run(
        Seal(
            run_dir=fleet_dir,
            runbook={**runbook, "steps": [], "checklists": []},
            status=status,
            verdict=Verdict(status, None, why),
            rollback=None,
            operator=operator,
            started_at=started_at,
            parameters=parameters,
            dry_run=False,
            mode="headless",
            masker=SecretMasker([]),
            attestation=attestation,
            resumes=resumes,
            kind="fleet",
            fleet={
                **fleet,
                "targets": results,
                "not_started": [r["target"] for r in results if r["status"] == NOT_STARTED],
                "stopped": reason,
            },
        )
    )


def summary_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """TARGET, STATUS, ROLLBACK, RUN (or why it has none): one row per target, in file order."""
    rows = []
    for r in results:
        error = (r.get("error") or "").strip().splitlines()
        rows.append([r["target"], r["status"], r.get("rollback") or "",
                     r.get("run_id") or (error[-1] if error else "")])  # fmt: skip
    return rows


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain text table, columns padded to their widest cell."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines
    )
