"""The witness and repair (issue 9, items 5 and 6): history cannot be cut or rewritten quietly.

Three real runs make an archive with a witness kept outside it; each test attacks
its own copy the way someone who can write the records directory could, and
checks what ``run``, ``records verify``, ``records verify --witness`` and
``records repair`` say.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from reliability import record_trial

pytestmark = pytest.mark.integration

TINY = """
    ---
    id: tiny
    lang: en
    ---

    # Runbook: Tiny

    ## Procedure

    #### 1-1. Say hello

    ```bash
    echo hello
    ```
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, write_runbook, run_inprocess) -> Path:
    """``<dir>/records`` (three chained runs) and ``<dir>/elsewhere/witness.log``."""
    work = tmp_path_factory.mktemp("witnessed")
    (work / "elsewhere").mkdir()
    source = write_runbook(work, TINY, "tiny.md")
    for _ in range(3):
        result = run_inprocess(
            [
                "run",
                source,
                "--records",
                work / "records",
                "--no-progress",
                "--witness",
                work / "elsewhere" / "witness.log",
            ],
            cwd=work,
        )
        assert result.rc == 0, result.stdout + result.stderr
    return work


@pytest.fixture
def archive(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built archive and its witness (the runbook too)."""
    shutil.copytree(built, tmp_path / "a")
    return tmp_path / "a"


def _oldest_first(records: Path) -> list[Path]:
    by_sha = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p.parent
        for p in records.glob("*/*/manifest.json")
    }
    sha, order = (records / ".chain-head").read_text().split()[0], []
    while sha:
        order.append(by_sha[sha])
        sha = json.loads((by_sha[sha] / "manifest.json").read_text())["previous"]
    return order[::-1]


def _cli(run_inprocess, archive: Path, *args: object):
    return run_inprocess([*args, "--records", archive / "records"], cwd=archive)


def _verify(run_inprocess, archive: Path, *, witness: bool = False):
    extra = ["--witness", archive / "elsewhere" / "witness.log"] if witness else []
    return _cli(run_inprocess, archive, "records", "verify", "--all", *extra)


def _fails(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL")]


def _run(run_inprocess, archive: Path, *extra: object):
    return _cli(run_inprocess, archive, "run", archive / "tiny.md", "--no-progress", *extra)


def test_untouched_archive_agrees_with_its_witness(run_inprocess, archive):
    result = _verify(run_inprocess, archive, witness=True)
    assert result.rc == 0 and "3 record(s) checked, 0 problem(s)" in result.stdout, result.stdout
    witness = (archive / "elsewhere" / "witness.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in witness.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[1]["previous"] == lines[0]["sha256"]


def test_cut_newest_record_and_head_refuses_runs_until_repaired(run_inprocess, archive):
    records = archive / "records"
    newest = _oldest_first(records)[-1]
    shutil.rmtree(newest)
    (records / ".chain-head").unlink()
    before = sorted(records.glob("*/*"))
    refused = _run(run_inprocess, archive)
    assert refused.rc == 2, refused.stdout + refused.stderr
    assert "runbook records repair" in refused.stderr
    assert sorted(records.glob("*/*")) == before, "nothing ran, no record was created"
    assert _verify(run_inprocess, archive).rc == 1

    repaired = _cli(
        run_inprocess,
        archive,
        "records",
        "repair",
        "--operator",
        "bob",
        "--witness",
        archive / "elsewhere" / "witness.log",
    )
    assert repaired.rc == 0, repaired.stdout + repaired.stderr
    assert repaired.stdout.startswith("repaired: the chain head is missing")
    after = _verify(run_inprocess, archive)
    assert after.rc == 0, after.stdout
    notes = [line for line in after.stdout.splitlines() if line.startswith("note")]
    assert len(notes) == 1 and "chain repaired by bob at " in notes[0]
    assert "the chain head is missing" in notes[0]
    witnessed = _verify(run_inprocess, archive, witness=True)
    assert witnessed.rc == 1
    expected = (
        f"FAIL tiny/{newest.name}: deleted: newest record witnessed as seq 3 "
        f"(run {newest.name}) is missing from the archive"
    )
    assert _fails(witnessed) == [expected]
    nxt = _run(run_inprocess, archive)
    assert nxt.rc == 0, nxt.stderr
    manifest = json.loads((nxt.record_dir / "manifest.json").read_text())
    repair = repaired.record_dir / "manifest.json"
    assert manifest["previous"] == hashlib.sha256(repair.read_bytes()).hexdigest()
    assert "chain repaired by bob" in _verify(run_inprocess, archive).stdout  # from then on
    record_trial("attack:delete-newest-record-and-chain-head", 1, 0)


def test_head_naming_a_deleted_record_is_repaired_with_what_was_missing(run_inprocess, archive):
    records = archive / "records"
    newest = _oldest_first(records)[-1]
    shutil.rmtree(newest)
    refused = _run(run_inprocess, archive)
    assert refused.rc == 2 and "runbook records repair" in refused.stderr
    repaired = _cli(run_inprocess, archive, "records", "repair", "--operator", "bob")
    assert repaired.rc == 0, repaired.stderr
    note = next(
        line
        for line in _verify(run_inprocess, archive).stdout.splitlines()
        if line.startswith("note")
    )
    assert "the newest record named by the chain head is missing" in note
    assert f"tiny/{newest.name}/manifest.json" in note


def test_repair_of_a_sound_chain_changes_nothing(run_inprocess, archive):
    result = _cli(run_inprocess, archive, "records", "repair")
    assert result.rc == 0 and "nothing to repair" in result.stdout
    assert not (archive / "records" / "chain-repair").exists()


def test_unrepaired_gap_in_the_middle_still_fails(run_inprocess, archive):
    middle = _oldest_first(archive / "records")[1]
    shutil.rmtree(middle)
    assert "nothing to repair" in _cli(run_inprocess, archive, "records", "repair").stdout
    result = _verify(run_inprocess, archive)
    assert result.rc == 1 and "the record before this one is missing" in result.stdout
    witnessed = _verify(run_inprocess, archive, witness=True)
    assert f"FAIL tiny/{middle.name}: deleted: record witnessed as seq 2" in witnessed.stdout


def test_rewritten_history_passes_the_chain_but_not_the_witness(run_inprocess, archive):
    records = archive / "records"
    order = _oldest_first(records)
    previous = None
    for number, run_dir in enumerate(order):  # rewrite the oldest, recompute every later hash
        path = run_dir / "manifest.json"
        manifest = json.loads(path.read_text())
        if number == 0:
            manifest["operator"] = "someone-else"
        manifest["previous"] = previous
        path.write_text(json.dumps(manifest, indent=2) + "\n")
        previous = hashlib.sha256(path.read_bytes()).hexdigest()
    (records / ".chain-head").write_text(f"{previous} tiny/{order[-1].name}/manifest.json\n")
    assert _verify(run_inprocess, archive).rc == 0  # the chain alone is fooled
    result = _verify(run_inprocess, archive, witness=True)
    assert result.rc == 1
    fails = _fails(result)
    assert len(fails) == 3, fails
    for run_dir, line in zip(order, fails):
        assert line.startswith(f"FAIL tiny/{run_dir.name}: rewritten: the witness holds")
    refused = _run(run_inprocess, archive, "--witness", archive / "elsewhere" / "witness.log")
    assert refused.rc == 2 and "not the chain head" in refused.stderr
    record_trial("attack:rewrite-record-and-recompute-later-hashes", 1, 0)


def test_verify_of_one_run_checks_it_against_the_witness(run_inprocess, archive):
    records = archive / "records"
    newest = _oldest_first(records)[-1]
    path = newest / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["operator"] = "someone-else"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (records / ".chain-head").write_text(f"{sha} tiny/{newest.name}/manifest.json\n")
    args = ("records", "verify", newest.name)
    assert _cli(run_inprocess, archive, *args).rc == 0  # the chain alone is fooled
    witness = archive / "elsewhere" / "witness.log"
    result = _cli(run_inprocess, archive, *args, "--witness", witness)
    assert result.rc == 1, result.stdout
    assert _fails(result) == [
        f"FAIL tiny/{newest.name}: rewritten: the witness holds manifest sha256 "
        + next(
            f"{line['sha256'][:12]}… (seq 3); the archive's hashes to {sha[:12]}…"
            for line in map(json.loads, witness.read_text().splitlines())
            if line["seq"] == 3
        )
    ]


def test_rolled_back_head_forks_and_the_witness_names_both(run_inprocess, archive):
    records = archive / "records"
    oldest, middle, newest = _oldest_first(records)
    sha = hashlib.sha256((middle / "manifest.json").read_bytes()).hexdigest()
    (records / ".chain-head").write_text(f"{sha} tiny/{middle.name}/manifest.json\n")
    witness = archive / "elsewhere" / "witness.log"
    refused = _run(run_inprocess, archive, "--witness", witness)
    assert refused.rc == 2 and "rolled back" in refused.stderr
    forked = _run(run_inprocess, archive)  # without the witness, the run is sealed after middle
    assert forked.rc == 0
    assert (
        f"tiny/{newest.name}/manifest.json: record is not in the chain"
        in _verify(run_inprocess, archive).stdout
    )
    # What a witness written by a runner that never compared it with the head would now hold:
    manifest = forked.record_dir / "manifest.json"
    line = {
        "seq": 3,
        "run_id": forked.record_dir.name,
        "record": f"tiny/{forked.record_dir.name}",
        "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "previous": sha,
    }
    with witness.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    fails = _fails(_verify(run_inprocess, archive, witness=True))
    assert any(
        f"FAIL tiny/{forked.record_dir.name}: fork: follows the same manifest as "
        f"tiny/{newest.name}" in f
        for f in fails
    ), fails
    assert oldest.is_dir()
    record_trial("attack:roll-back-chain-head", 1, 0)


def test_an_altered_newest_manifest_stays_a_failure_after_repair(run_inprocess, archive):
    """The newest manifest edited in place (sed -i on its operator): repair linked the
    altered manifest as its 'previous', and verify then passed."""
    records = archive / "records"
    newest = _oldest_first(records)[-1] / "manifest.json"
    text = newest.read_text(encoding="utf-8")
    operator = json.loads(text)["operator"]
    altered = text.replace(f'"operator": {json.dumps(operator)}', '"operator": "mallory"')
    assert altered != text
    newest.unlink()  # as sed -i does: a new file in its place
    newest.write_text(altered, encoding="utf-8")
    where = newest.relative_to(records).as_posix()
    before = _verify(run_inprocess, archive)
    assert before.rc == 1
    assert f"FAIL {where}: manifest altered: its sha256 no longer matches .chain-head" in (
        before.stdout
    )
    repaired = _cli(run_inprocess, archive, "records", "repair", "--operator", "bob")
    assert repaired.rc == 0, repaired.stdout + repaired.stderr
    after = _verify(run_inprocess, archive)
    assert after.rc == 1, after.stdout
    repair = repaired.record_dir.relative_to(records).as_posix()
    expected = (
        f"FAIL {where}: manifest altered: its sha256 no longer matches the .chain-head "
        f"that the repair record {repair}/manifest.json found"
    )
    assert _fails(after) == [expected]
