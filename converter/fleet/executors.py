"""Where a fleet's targets run: processes on this machine, or an existing Dask cluster.

Both run :func:`converter.fleet.worker.run_target` (one fresh ``runbook`` process,
so one fresh kernel, per target); the controls (:mod:`.controls`) decide what is
submitted when. A Dask worker needs this package installed and the same records
location (an absolute path it can write: one chain, locked as for local runs).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import RunbookError
from ..records import layout
from .worker import run_target

WAIT_S = 0.5
"""How long one wait lasts before the scheduler looks at its stop flag again."""


class _Bound:
    """What every target's run needs: its command line, the directory, the fleet's record
    (its stop file, its claims)."""

    _argv: Callable[[str], list[str]]
    _cwd: str
    _fleet_dir: Path

    def bind(self, argv: Callable[[str], list[str]], cwd: str, fleet_dir: Path) -> None:
        """Set once the fleet's record exists (the command names it)."""
        self._argv, self._cwd, self._fleet_dir = argv, cwd, fleet_dir

    def _task(self, name: str) -> tuple[list[str], dict[str, str]]:
        """:func:`run_target`'s arguments for target ``name``."""
        return self._argv(name), {
            "cwd": self._cwd,
            "stop_file": str(self._fleet_dir / layout.STOP_FILE),
            "claim_file": str(self._fleet_dir / layout.target_claim(name)),
        }


class LocalExecutor(_Bound):
    """``--jobs N``: N threads, each waiting on one ``runbook`` process."""

    def __init__(self, jobs: int):
        self._jobs = jobs
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)

    def slots(self) -> int:
        """How many targets can run at once."""
        return self._jobs

    def submit(self, name: str) -> concurrent.futures.Future:
        """Start the target's process in a free thread."""
        argv, where = self._task(name)
        return self._pool.submit(run_target, argv, **where)

    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        """The finished futures, after at most :data:`WAIT_S`."""
        done, _ = concurrent.futures.wait(
            list(futures), timeout=WAIT_S, return_when=concurrent.futures.FIRST_COMPLETED
        )
        return list(done)

    def close(self) -> None:
        """Wait for the threads (every process has ended by now)."""
        self._pool.shutdown(wait=True)


class DaskExecutor(_Bound):
    """``--dask ADDRESS``: one task per target on an existing ``dask.distributed`` scheduler."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise RunbookError(
                "--dask needs dask.distributed: pip install 'runbook-notebooks[fleet]'"
            ) from None
        try:
            self._client = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise RunbookError(f"--dask {address}: cannot reach the scheduler: {exc}") from None

    def slots(self) -> int:
        """The cluster's worker threads: how many targets can run at once."""
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, name: str) -> Any:
        """Send the target's run to a worker (never cached: ``pure=False``; a task Dask runs
        again after losing its worker starts nothing: see :func:`run_target`)."""
        argv, where = self._task(name)
        return self._client.submit(run_target, argv, **where, pure=False)

    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        """The finished futures, after at most :data:`WAIT_S` (polled: no default client)."""
        pending = list(futures)
        deadline = time.monotonic() + WAIT_S
        while True:
            done = [f for f in pending if f.done()]
            if done or time.monotonic() > deadline:
                return done
            time.sleep(0.05)

    def close(self) -> None:
        """Leave the cluster as it was found: only this client goes."""
        self._client.close()


def outcome_of(future: Any) -> dict[str, Any]:
    """What :func:`run_target` returned, or the error that kept it from returning."""
    try:
        return dict(future.result())
    except Exception as exc:  # noqa: BLE001 - a lost worker or a task error is this target's failure
        return {"exit_code": None, "record": None, "error": f"{type(exc).__name__}: {exc}"}
