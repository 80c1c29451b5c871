"""The rollout controls' scheduling, with an executor that runs each target in a thread."""

from __future__ import annotations

import concurrent.futures
import threading

from converter.fleet import Controls
from converter.fleet.controls import CANARY_FAILED, MAX_FAILURES, SIGNALLED, schedule


class Threads:
    """Runs ``outcome(name)`` in a thread per target; notes how many ran at once."""

    def __init__(self, failing: set[str], signal_at: int = 0):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
        self.failing, self.signal_at, self.signalled = failing, signal_at, threading.Event()
        self.lock, self.running, self.most = threading.Lock(), 0, 0

    def _run(self, name: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running == self.signal_at:  # a signal arrives while these run
                self.signalled.set()
        if self.signal_at:
            self.signalled.wait(5)
        with self.lock:
            self.running -= 1
        return name not in self.failing

    def submit(self, name: str) -> concurrent.futures.Future:
        return self.pool.submit(self._run, name)

    def wait_any(self, futures):
        done, _ = concurrent.futures.wait(
            list(futures), timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED
        )
        return list(done)


def run(names, controls, executor, stopping=lambda: False):
    order: list[str] = []
    reason = schedule(
        names,
        controls,
        executor,
        finished=lambda _name, future: future.result(),
        started=order.append,
        stopping=stopping,
    )
    return reason, order


NAMES = [f"t{i}" for i in range(1, 9)]


def test_every_target_runs_in_order_and_jobs_bound_the_parallelism():
    executor = Threads(failing={"t3"})
    reason, order = run(NAMES, Controls(jobs=3), executor)
    assert reason is None and order == NAMES  # a failure without max failures stops nothing
    assert 1 <= executor.most <= 3


def test_a_failed_canary_stops_before_the_rest():
    reason, order = run(NAMES, Controls(jobs=4, canary=2), Threads(failing={"t2"}))
    assert (reason, order) == (CANARY_FAILED, ["t1", "t2"])


def test_max_failures_stops_new_targets():
    reason, order = run(NAMES, Controls(jobs=1, max_failures=2), Threads(failing={"t2", "t4"}))
    assert (reason, order) == (MAX_FAILURES, ["t1", "t2", "t3", "t4"])


def test_batches_wait_for_each_other():
    executor = Threads(failing=set())
    reason, order = run(NAMES, Controls(jobs=8, batch_size=3), executor)
    assert reason is None and order == NAMES and executor.most <= 3


def test_a_signal_starts_nothing_new():
    executor = Threads(failing=set(), signal_at=2)
    reason, order = run(NAMES, Controls(jobs=2), executor, executor.signalled.is_set)
    assert (reason, order) == (SIGNALLED, ["t1", "t2"])
