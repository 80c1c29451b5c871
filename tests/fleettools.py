"""What the fleet tests share: a small runbook, a targets file, the real ``runbook`` command.

A plain module (imported by name, like ``clitools``): ``test_fleet`` and
``test_fleet_dask`` run the same fleet, on local processes and on a Dask cluster.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from clitools import cli_env, runbook_command

from converter.records.layout import CHAIN_HEAD

FLEET_TIMEOUT_S = 900.0  # a dozen kernels on a busy two-core machine

RUNBOOK = """
    ---
    id: fleet-test
    lang: en
    parameters:
      region:
        type: str
        pattern: '[a-z0-9-]+'
        required: true
      fail:
        type: bool
        default: false
      gate:
        type: str
        default: ''
    ---

    # Runbook: Fleet test

    ## Procedure

    #### 1-1. Apply

    ```bash
    if [ -n "$gate" ]; then while [ ! -e "$gate" ]; do sleep 0.1; done; fi
    echo "applied to $region"
    if [ "$fail" = "true" ]; then echo "refused by $region" >&2; exit 3; fi
    ```

    ## Rollback

    ### Rollback steps

    #### Step 1: Revert

    ```bash
    echo "reverted $region"
    ```
"""


def write_runbook(directory: Path) -> Path:
    """The fleet test's runbook: a target fails when its ``fail`` column says true."""
    path = directory / "fleet.md"
    path.write_text(textwrap.dedent(RUNBOOK).lstrip(), encoding="utf-8")
    return path


def write_targets(directory: Path, count: int, failing: tuple[int, ...] = ()) -> Path:
    """``targets.csv``: ``t01``… with a region each; the ``failing`` ones (1-based) fail."""
    lines = ["target,region,fail"]
    lines += [
        f"t{i:02d},region-{i},{'true' if i in failing else 'false'}" for i in range(1, count + 1)
    ]
    path = directory / "targets.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def runbook(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    """``runbook ARGS`` for real, output captured (no progress bar); ``env`` added to ours."""
    return subprocess.run(
        [*runbook_command(), *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=FLEET_TIMEOUT_S,
        check=False,
        **kwargs,
    )


def manifest(path: Path) -> dict[str, Any]:
    """A record's manifest."""
    return json.loads((path / "manifest.json").read_text(encoding="utf-8"))


def fleet_of(stdout: str) -> tuple[Path, dict[str, Any]]:
    """The fleet record the last line names, and its manifest."""
    fleet_dir = Path(stdout.strip().splitlines()[-1])
    return fleet_dir, manifest(fleet_dir)


def chain(records: Path) -> list[Path]:
    """The record directories from the chain head back to the first, through ``previous``."""
    manifests = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p for p in records.glob("*/*/manifest.json")
    }
    sha: str | None = (records / CHAIN_HEAD).read_text(encoding="utf-8").split()[0]
    visited: list[Path] = []
    while sha is not None:
        path = manifests[sha]
        assert path.parent not in visited, "the chain loops"
        visited.append(path.parent)
        sha = json.loads(path.read_text(encoding="utf-8"))["previous"]
    return visited


def check_fleet(records: Path, fleet_dir: Path, expected: dict[str, str]) -> dict[str, Any]:
    """The fleet record and every target's record agree, verify, and are all in one chain.

    ``expected``: target → status. Returns the targets' lines of the fleet manifest, by name.
    """
    fleet = manifest(fleet_dir)
    assert fleet["kind"] == "fleet"
    lines = {t["target"]: t for t in fleet["fleet"]["targets"]}
    assert {name: line["status"] for name, line in lines.items()} == expected
    in_chain = set(chain(records))
    assert fleet_dir in in_chain
    for name, line in lines.items():
        if line.get("run_id") is None:
            continue
        run = manifest(records / line["record"])
        assert run["status"] == line["status"] and run["run_id"] == line["run_id"]
        assert run["fleet"]["target"] == name
        assert run["fleet"]["run_id"] in (fleet_dir.name, fleet.get("resumes"), line.get("in"))
        assert records / line["record"] in in_chain
    shown = runbook(["records", "show", fleet_dir.name, "--records", str(records)], records.parent)
    assert shown.returncode == 0, shown.stderr
    for name, line in lines.items():  # `records show FLEET`: one line per target, its record
        assert re.search(rf"^  {re.escape(name)} +{line['status']} .*{line.get('record') or '-'}$",
                         shown.stdout, re.MULTILINE), shown.stdout  # fmt: skip
    verified = runbook(["records", "verify", "--all", "--records", str(records)], records.parent)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ", 0 problem(s)" in verified.stdout
    return lines
