"""Sealing is crash-safe at every point (issue 9, item 6): kill it there, then look.

``RUNBOOK_FAULT=seal:<point>`` makes ``runbook run`` exit with 137 at one named
point of the commit (:data:`converter.records.faults.SEAL_POINTS`: every temp
write, rename, witness append and fsync). After each kill the archive must
verify (an interrupted seal is a note, never a fork), and the next run must
finish the interrupted seal — or, when the kill came before the seal's intent was
durable, seal the run with the status its runner journaled (``run_end``), saying it
was sealed later — and chain after it: signed, witnessed, ``verify --all`` clean.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from reliability import record_trial
from sshkeys import allowed_signers, make_key, require_ssh_keygen

from converter.records.faults import SEAL_POINTS
from converter.records.recover import SEALED_LATER

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = """
    ---
    id: crash
    lang: en
    ---

    # Runbook: Crash

    ## Procedure

    #### 1-1. Say hello

    ```bash
    echo hello
    ```
"""


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> dict[str, str]:
    require_ssh_keygen()
    keys = tmp_path_factory.mktemp("keys")
    alice = make_key(keys, "alice")
    return {
        "RUNBOOK_SIGNING_KEY": str(alice),
        "RUNBOOK_ALLOWED_SIGNERS": str(allowed_signers(keys, alice)),
    }


def _verify(run_inprocess, records: Path, env: dict[str, str]):
    return run_inprocess(
        ["records", "verify", "--all", "--records", records, "--require-signatures"], env=env
    )


def _chain(records: Path) -> list[dict]:
    """Manifests from the head back to the first."""
    by_sha = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p for p in records.glob("*/*/manifest.json")
    }
    sha: str | None = (records / ".chain-head").read_text(encoding="utf-8").split()[0]
    order = []
    while sha is not None:
        manifest = json.loads(by_sha[sha].read_text(encoding="utf-8"))
        order.append(manifest)
        sha = manifest["previous"]
    return order


@pytest.mark.parametrize("point", SEAL_POINTS)
def test_kill_at_every_point_of_sealing(
    point, tmp_path, evidence, write_runbook, run_cli, run_inprocess
):
    source = write_runbook(tmp_path, TINY, "crash.md")
    records = tmp_path / "records"
    env = {**evidence, "RUNBOOK_WITNESS": str(tmp_path / "elsewhere" / "witness.log")}
    (tmp_path / "elsewhere").mkdir()
    killed = run_cli(
        ["run", source, "--records", records, "--no-progress"],
        cwd=tmp_path,
        env={**env, "RUNBOOK_FAULT": f"seal:{point}"},
    )
    assert killed.rc == 137, killed.stdout + killed.stderr
    first_dir = next(records.glob("crash/*"))

    after_kill = _verify(run_inprocess, records, env)
    assert after_kill.rc == 0, after_kill.stdout  # notes at most: an interrupted seal, no fork

    nxt = run_inprocess(
        ["run", source, "--records", records, "--no-progress"], cwd=tmp_path, env=env
    )
    assert nxt.rc == 0, nxt.stdout + nxt.stderr
    final = _verify(run_inprocess, records, env)
    chain = _chain(records)
    witness = (tmp_path / "elsewhere" / "witness.log").read_text().splitlines()
    lost = int(final.rc != 0 or len(chain) != 2 or not (first_dir / "manifest.json").exists())
    record_trial(f"seal:{point}", 1, lost, kind="SIGKILL-equivalent exit during sealing")
    assert final.rc == 0, final.stdout
    assert "note" not in final.stdout, final.stdout
    assert "2 record(s) checked, 0 problem(s)" in final.stdout
    assert [m["run_id"] for m in chain] == [nxt.record_dir.name, first_dir.name]
    assert [m["sequence"] for m in chain] == [2, 1]
    assert final.stdout.count("signed by alice") == 2
    assert [json.loads(line)["seq"] for line in witness] == [1, 2]
    # Killed before the seal's intent was durable, the run is sealed by the next one: with
    # the status its runner journaled (run_end), not as an interrupted run.
    assert chain[1]["status"] == "succeeded"
    assert [s["status"] for s in chain[1]["steps"]] == ["succeeded"]
    assert "failure" not in chain[1]
    if point == "pending:written":
        assert chain[1]["sealed_later"] == SEALED_LATER
        shown = run_inprocess(["records", "show", first_dir.name, "--records", records])
        assert f"sealed     {SEALED_LATER}" in shown.stdout, shown.stdout
    else:  # the seal's intent was durable: the next run finished that very seal
        assert "sealed_later" not in chain[1]


def test_a_kill_while_finishing_an_interrupted_seal_is_finished_by_the_next(tmp_path):
    """Double fault: the replay of an interrupted seal is itself killed at each point."""
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from converter.records.manifest import create_record_dir\n"
        "from converter.records.chain import finalize_record\n"
        "records = Path(sys.argv[1])\n"
        "run_dir, run_id = create_record_dir(records, 'synthetic')\n"
        "(run_dir / 'notes.txt').write_text(run_id)\n"
        "finalize_record(run_dir, manifest={'run_id': run_id, 'status': 'succeeded',\n"
        "                'operator': 'alice', 'finished_at': run_id}, witness=sys.argv[2])\n"
    )
    records, witness = tmp_path / "records", str(tmp_path / "witness.log")
    lost = 0
    for number, point in enumerate(SEAL_POINTS):
        first = subprocess.run(
            [sys.executable, "-c", script, records, witness],
            env={"RUNBOOK_FAULT": "seal:manifest:renamed"},
            capture_output=True,
            check=False,
        )
        assert first.returncode == 137, first.stderr
        again = subprocess.run(
            [sys.executable, "-c", script, records, witness],
            env={"RUNBOOK_FAULT": f"seal:{point}"},
            capture_output=True,
            check=False,
        )
        assert again.returncode in (0, 137), (point, again.stderr)  # unsigned: no signature step
        last = subprocess.run(
            [sys.executable, "-c", script, records, witness], capture_output=True, check=False
        )
        assert last.returncode == 0, (point, last.stderr)
        from converter.records.verify import VerifyOptions, verify_archive

        report = verify_archive(records, VerifyOptions(witness=witness))
        sealed = len(list(records.glob("synthetic/*/manifest.json")))
        lost += int(bool(report.problems))
        assert not report.problems, (point, report.problems)
        assert len(_chain(records)) == sealed
        assert sealed >= 2 * (number + 1), point  # the first seal and the last one, every time
    record_trial("seal:double-fault-during-replay", len(SEAL_POINTS), lost)
