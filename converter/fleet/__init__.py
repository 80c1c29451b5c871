"""Fleets: one runbook over many targets (``runbook run --targets``), locally or on Dask.

Bottom up: ``targets`` (the targets file, validated row by row), ``controls``
(canary, batches, jobs, max failures), ``worker`` (one target: a fresh ``runbook``
process), ``executors`` (local processes or a ``dask.distributed`` cluster),
``record`` (the fleet's own record, sealed into the chain), ``run`` (the
orchestrator) and ``resume`` (continue what did not succeed). Each target's run
is the runner's, unchanged, in its own process; the fleet never reaches a kernel.
"""

from .controls import Controls
from .record import NOT_STARTED, summary_rows, table
from .resume import resume_fleet
from .run import FleetOptions, FleetOutcome, fleet_manifest, run_fleet
from .targets import Target, fleet_parameters, read_targets, resolve_targets

__all__ = [
    "NOT_STARTED",
    "Controls",
    "FleetOptions",
    "FleetOutcome",
    "Target",
    "fleet_manifest",
    "fleet_parameters",
    "read_targets",
    "resolve_targets",
    "resume_fleet",
    "run_fleet",
    "summary_rows",
    "table",
]
