"""A progress bar on stderr that names the running step, fed by the journal.

The kernel journals each step as it starts and ends; tailing that file keeps the
runner's view of progress identical to the evidence, with no extra channel.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..records import events as ev


@contextlib.contextmanager
def progress(journal: Path, nb: Any, *, enabled: bool, name: str) -> Iterator[None]:
    """Show ``[n/N] step-id title`` while the block runs (only when ``enabled``)."""
    if not enabled:
        yield
        return
    from tqdm import tqdm

    steps = nb.metadata["runbook"].get("steps", [])
    kinds = {"rollback"} if name == "rollback" else {"procedure", "prerequisite"}
    total = sum(1 for s in steps if s["kind"] in kinds)
    bar = tqdm(total=total, file=sys.stderr, unit="step", desc=name, dynamic_ncols=True, leave=True)
    stop = threading.Event()
    thread = threading.Thread(target=_follow, args=(journal, bar, stop, kinds), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        bar.close()


def _follow(journal: Path, bar: Any, stop: threading.Event, kinds: set[str]) -> None:
    with contextlib.suppress(OSError), journal.open("rb") as handle:
        handle.seek(0, 2)
        while True:
            line = handle.readline()
            if not line:
                if stop.wait(0.1):
                    return
                continue
            with contextlib.suppress(ValueError):
                _update(bar, json.loads(line), kinds)


def _update(bar: Any, event: dict[str, Any], kinds: set[str]) -> None:
    kind = event.get("event")
    if kind == ev.STEP_START:
        bar.set_description_str(f"{event.get('step')} {event.get('title', '')}"[:60])
    elif (
        kind in (ev.STEP_END, ev.STEP_SKIPPED, ev.STEP_DRY_RUN, ev.STEP_CARRIED, ev.BLOCKED)
        and event.get("kind", "procedure") in kinds
    ):
        bar.update(1)
