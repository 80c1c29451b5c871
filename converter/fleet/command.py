"""The command line's side of a fleet: its options as one value, its summary on stdout.

Called by :mod:`converter.cli` (``run --targets``, ``resume FLEET_RUN``); imported
only when a fleet runs, so ``runbook --help`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .controls import Controls
from .record import NOT_STARTED, summary_rows, table
from .run import FleetOptions, FleetOutcome, run_fleet

if TYPE_CHECKING:
    from ..runner.run import RunOptions


def run_fleet_command(options: RunOptions, fleet: dict[str, Any]) -> FleetOutcome:
    """``runbook run --targets``: the command line's values as a fleet's options; run it."""
    controls = Controls(fleet["jobs"] or 0, fleet["canary"], fleet["max_failures"],
                        fleet["batch_size"], options.rollback_on_failure,
                        "dask" if fleet["dask"] else "local")  # fmt: skip
    keep = ("parameters", "confirm", "records", "timeout", "operator", "progress", "evidence")
    return run_fleet(
        FleetOptions(
            source=options.source,
            targets=fleet["targets_file"],
            controls=controls,
            dask=fleet["dask"],
            plan=options.plan,
            max_age=options.max_age,
            **{name: getattr(options, name) for name in keep},
        )
    )


def report_fleet(outcome: FleetOutcome) -> None:
    """The summary table, the failed and never-started targets, the fleet's record last."""
    fleet = outcome.manifest["fleet"]
    click.echo(table(summary_rows(fleet["targets"]), ["TARGET", "STATUS", "ROLLBACK", "RUN"]))
    failed = [
        t["target"] for t in fleet["targets"] if t["status"] not in ("succeeded", NOT_STARTED)
    ]
    click.echo(f"status: {outcome.status}" + (f" ({fleet['stopped']})" if fleet["stopped"] else ""))
    click.echo("did not succeed: " + (", ".join(failed) or "none"))
    click.echo("never started: " + (", ".join(fleet["not_started"]) or "none"))
    if outcome.status != "succeeded":
        click.echo(f"to continue: runbook resume {outcome.fleet_dir.name}")
    click.echo(str(outcome.fleet_dir))
    raise SystemExit(outcome.exit_code)
