"""How tests start a child ``runbook``: the executable, and an environment free of RUNBOOK_*.

A plain module (not a conftest), so any test file can import it by name: two
``conftest`` modules (integration, browser) cannot both be imported as
``conftest`` in one pytest session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def runbook_command() -> list[str]:
    """The ``runbook`` executable (the installed entry point, or the module as a fallback)."""
    exe = shutil.which("runbook")
    return [exe] if exe else [sys.executable, "-m", "converter.cli"]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child ``runbook``: ours without RUNBOOK_*, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    base.setdefault("PYTHONIOENCODING", "utf-8")
    base.update(env or {})
    return base


def run_runbook(*args: object, cwd: object, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``runbook ARGS`` in a child (text output); never raises on a non-zero exit."""
    return subprocess.run(
        [*runbook_command(), *[str(a) for a in args]],
        cwd=str(cwd),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
