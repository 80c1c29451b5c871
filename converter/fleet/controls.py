"""Rollout controls: how many targets run at once, in which waves, and when the fleet stops.

The rules teams know from AWS Systems Manager's rate control and Ansible's
``serial``: a canary wave runs first and alone (the fleet stops unless all of it
succeeded), the rest runs in batches (each waits for the one before), at most
``jobs`` at a time, and once ``max_failures`` targets did not succeed no new
target starts (the running ones finish). The scheduling is the same whichever
executor runs the targets (local processes or a Dask cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

CANARY_FAILED = "the canary did not succeed"
MAX_FAILURES = "max failures reached"
SIGNALLED = "interrupted by a signal"


@dataclass(frozen=True)
class Controls:
    """The rollout controls of one fleet, as its record states them."""

    jobs: int = 1
    """Targets running at once (0: as many as the executor has slots: a Dask cluster's threads)."""
    canary: int = 0
    """The first K targets run alone first; the fleet stops unless all succeed."""
    max_failures: int | None = None
    """Stop starting targets once this many did not succeed (None: never stop)."""
    batch_size: int | None = None
    """Targets per wave after the canary (None: one wave)."""
    rollback_on_failure: bool = False
    """Each failed target runs its rollback steps."""
    executor: str = "local"
    """``local`` processes or ``dask`` (and its scheduler's address)."""

    def as_record(self) -> dict[str, Any]:
        """The controls as the fleet's manifest holds them."""
        return asdict(self)


def waves(names: list[str], controls: Controls) -> list[list[str]]:
    """The targets in the order of their waves: the canary, then batches."""
    canary = names[: controls.canary]
    rest = names[controls.canary :]
    size = controls.batch_size or len(rest) or 1
    return ([canary] if canary else []) + [rest[i : i + size] for i in range(0, len(rest), size)]


class Executor(Protocol):
    """Where targets run: submit one, wait until some have finished."""

    def submit(self, name: str) -> Any:
        """Start the target's run; a future of :func:`converter.fleet.worker.run_target`."""

    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        """The futures that finished (maybe none, after a short wait)."""


def schedule(
    names: list[str],
    controls: Controls,
    executor: Executor,
    *,
    finished: Callable[[str, Any], bool],
    started: Callable[[str], None],
    stopping: Callable[[], bool],
) -> str | None:
    """Run the targets by the controls; the reason the fleet stopped early, or None.

    ``finished(name, future)`` says whether the target succeeded; ``stopping()`` turns
    true on a signal (no new target starts; the running ones are stopped by it).
    """
    failures = 0
    stop: str | None = None
    plan = waves(names, controls)
    for number, wave in enumerate(plan):
        pending = list(wave)
        running: dict[Any, str] = {}
        while pending or running:
            while pending and len(running) < controls.jobs and stop is None and not stopping():
                name = pending.pop(0)
                started(name)
                running[executor.submit(name)] = name
            if not running:
                break
            for future in executor.wait_any(list(running)):
                if not finished(running.pop(future), future):
                    failures += 1
                    if controls.max_failures and failures >= controls.max_failures:
                        stop = stop or MAX_FAILURES
        if stopping():
            return SIGNALLED
        if stop:
            return stop
        if number == 0 and controls.canary and failures:
            return CANARY_FAILED
    return None
