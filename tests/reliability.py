"""What fault and attack tests tried, for docs/RELIABILITY.md.

``record_trial(fault, trials, lost)`` appends one JSON line to the file named by
``RUNBOOK_RELIABILITY_LOG`` when it is set (and does nothing otherwise), so a
report can say "killed at each of 11 sealing points: 0 records lost, 0 forks".
"""

from __future__ import annotations

import json
import os
import time


def record_trial(fault: str, trials: int, lost: int, **detail: object) -> None:
    """Note that ``fault`` was tried ``trials`` times and ``lost`` of them lost or hid evidence."""
    path = os.environ.get("RUNBOOK_RELIABILITY_LOG")
    if not path:
        return
    line = {"fault": fault, "trials": trials, "lost": lost, "at": time.time(), **detail}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
