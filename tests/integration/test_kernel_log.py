"""What the kernel prints on the operator's terminal during ``runbook run``."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from clitools import run_runbook

pytestmark = pytest.mark.integration

RUNBOOK = (
    "# Runbook: kernel log\n\n## Procedure\n\n### Phase 1: Run\n\n"
    "#### 1-1. Noop\n\n```bash\ntrue\n```\n"
)


def test_a_headless_run_keeps_the_shutdown_interrupt_line_off_the_terminal(tmp_path: Path) -> None:
    """jupyter_client interrupts the kernel before shutting it down; when the signal lands in
    a request's tail, ipykernel logs "KeyboardInterrupt caught in kernel." at ERROR level on
    a run that succeeded. The line is logged here on purpose (the race is rare); any other
    kernel error still reaches the terminal."""
    source = tmp_path / "kernel-log.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    notebook = tmp_path / "kernel-log.ipynb"
    converted = run_runbook("convert", source, "-o", notebook, cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "log = get_ipython().kernel.log\n"
            "log.error('KeyboardInterrupt caught in kernel.')\n"
            "log.error('runbook-test: another kernel error')\n"
        )
    )
    nbformat.write(nb, notebook)

    done = run_runbook(
        "run", notebook, "--records", tmp_path / "records", "--no-progress", cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert "runbook-test: another kernel error" in done.stderr
    assert "KeyboardInterrupt caught" not in done.stderr
