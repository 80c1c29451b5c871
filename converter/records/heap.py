"""Keep the collector's full passes off the large, long-lived objects a seal works on.

Sealing a 5,000-step record parses, copies and renders notebooks of hundreds of thousands
of objects; every full collection walks all of them (and everything else the process
holds: a runner's papermill notebook, a kernel's session) although none of them is
garbage. Inside :func:`frozen_heap` the objects that exist when it starts, and any that
:func:`freeze_more` adds, are left out of those passes (``gc.freeze``); the cyclic garbage
made meanwhile is still collected. Blocks nest (the seal freezes, the page inside it
freezes its copy of the notebook) and the heap is unfrozen when the outermost block ends.
A process that froze its heap itself (a pre-forking server) is left as it was.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # open frozen_heap blocks (of any thread); gc.freeze is process-wide


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze what exists now; unfreeze when the outermost block ends."""
    global _depth
    with _lock:
        ours = _depth > 0 or gc.get_freeze_count() == 0
        if ours:
            gc.freeze()
            _depth += 1
    try:
        yield
    finally:
        if ours:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    gc.unfreeze()


def freeze_more() -> None:
    """Inside a :func:`frozen_heap` block: also freeze what was made since (a big copy)."""
    with _lock:
        if _depth > 0:
            gc.freeze()
