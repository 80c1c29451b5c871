"""A step's line in JupyterLab: ``running`` only when there is something to wait for.

A real kernel runs the converted notebook cell by cell (tests/labdrive.py). A step that
prints says ``running`` before its first output; one that runs silently says it once it has
run for ``RUNNING_AFTER_S``; a quick silent step shows only its final line (one display
message, not a line and its update). The counter in the setup cell moves when a step
settles, not when it starts.
"""

from __future__ import annotations

import pytest
from labdrive import LabNotebook

from converter.runtime.views import RUNNING_AFTER_S

pytestmark = pytest.mark.integration

RUNBOOK = f"""
    ---
    id: lines
    lang: en
    ---

    # Runbook: Lines

    ## Procedure

    #### 1-1. Quick and silent

    ```bash
    true
    ```

    #### 1-2. Prints

    ```bash
    echo first-output
    ```

    #### 1-3. Slow and silent

    ```bash
    sleep {RUNNING_AFTER_S * 4}
    ```
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    lab = LabNotebook(tmp_path_factory.mktemp("lines"), RUNBOOK)
    try:
        assert lab.run("setup").status == "ok"
        replies = {step: lab.run(f"step/{step}") for step in ("1-1", "1-2", "1-3")}
        yield replies
    finally:
        lab.close()


def test_a_quick_silent_step_shows_only_its_final_line(ran):
    reply = ran["1-1"]
    assert reply.status == "ok", reply
    # its line, then the setup cell's counter moving once
    assert reply.kinds == ("display_data", "update_display_data"), reply
    assert "running" not in reply.text and "[1-1] Quick and silent: succeeded" in reply.text


def test_a_step_that_prints_says_it_runs_before_its_output(ran):
    reply = ran["1-2"]
    assert reply.kinds[0] == "display_data" and "stream" in reply.kinds, reply
    running = reply.text.index("[1-2] Prints: running")
    assert running < reply.text.index("first-output") < reply.text.index("Prints: succeeded")


def test_a_slow_silent_step_says_it_runs(ran):
    reply = ran["1-3"]
    assert reply.kinds[:2] == ("display_data", "update_display_data"), reply
    assert reply.text.index("running") < reply.text.index("Slow and silent: succeeded")
