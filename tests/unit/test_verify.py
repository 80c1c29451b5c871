"""``runbook records verify``: every altered byte and every missing record is found and named.

The chain under attack is made of three real records (three ``runbook run``s,
built once per module); each test tampers with its own copy. The scale test uses
the synthetic generator of ``benchmarks/synthetic.py`` (real sealing and chaining
through ``converter.records.manifest.finalize_record``, no kernel).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reliability import record_trial

from converter.records.index import RunFilter, list_runs
from converter.records.layout import CHAIN_HEAD, INDEX
from converter.records.verify import verify_all

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300

CHAINED = """
    ---
    id: verify-chain
    lang: en
    parameters:
      label:
        type: str
        default: one
    ---

    # Runbook: Chain link

    ## Procedure

    #### 1-1. Say which

    ```bash
    echo "link-output-$label"
    ```
"""


def runbook(
    *args: object,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> subprocess.CompletedProcess:
    """``runbook ARGS`` through this interpreter, without the caller's RUNBOOK_* settings."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    child.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "converter", *map(str, args)],
        cwd=cwd,
        env=child,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def chain_order(records: Path) -> list[Path]:
    """Record directories from the oldest to the newest.

    Found by following ``previous`` from the chain head.
    """
    by_sha = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p for p in records.glob("*/*/manifest.json")
    }
    sha = (records / CHAIN_HEAD).read_text(encoding="utf-8").split()[0]
    order = []
    while sha is not None:
        manifest = by_sha[sha]
        order.append(manifest.parent)
        sha = json.loads(manifest.read_text(encoding="utf-8"))["previous"]
    return list(reversed(order))


def rel(records: Path, path: Path) -> str:
    return path.relative_to(records).as_posix()


def failures(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]


def flip_byte(path: Path, offset: int | None = None) -> None:
    path.chmod(0o644)  # sealed files are read-only (root ignores that; other users do not)
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] = ord("#") if data[at] != ord("#") else ord("%")
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    """A records dir holding a chain of three real records (the runs are started together)."""
    work = tmp_path_factory.mktemp("chain")
    source = work / "chain.md"
    source.write_text(textwrap.dedent(CHAINED).lstrip(), encoding="utf-8")
    child = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "converter",
                "run",
                str(source),
                "--records",
                str(work / "records"),
                "--no-progress",
                "-p",
                "label",
                label,
            ],
            cwd=work,
            env=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("one", "two", "three")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
        assert proc.returncode == 0, out + err
    records = work / "records"
    assert len(chain_order(records)) == 3
    return records


@pytest.fixture
def records(chain, tmp_path) -> Path:
    """This test's own copy of the three-record chain."""
    copy = tmp_path / "records"
    shutil.copytree(chain, copy)
    return copy


@pytest.mark.integration
def test_untouched_chain_verifies(records):
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 0, result.stdout + result.stderr
    assert failures(result) == []
    assert "3 record(s) checked, 0 problem(s)" in result.stdout


@pytest.mark.integration
@pytest.mark.parametrize("name", ["record.ipynb", "record.html", "journal.jsonl"])
def test_one_changed_byte_is_named(records, name):
    middle = chain_order(records)[1]
    flip_byte(middle / name)
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    assert failures(result) == [
        f"FAIL {rel(records, middle / name)}: altered: sha256 differs from the manifest"
    ]
    record_trial(f"one changed byte in {name} (CLI verify)", 1, 0)


@pytest.mark.integration
def test_changed_byte_in_a_log_is_named(records):
    middle = chain_order(records)[1]
    log = next((middle / "logs").glob("*.log"))
    flip_byte(log, 0)
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1
    assert [rel(records, log) in line for line in failures(result)] == [True]
    record_trial("one changed byte in a step log (CLI verify)", 1, 0)


@pytest.mark.integration
def test_changed_byte_in_a_manifest_breaks_the_link_to_its_successor(records):
    _oldest, middle, newest = chain_order(records)
    manifest = middle / "manifest.json"
    data = manifest.read_bytes()
    at = data.index(b'"operator": "') + len(b'"operator": "')  # still valid JSON: an edited value
    flip_byte(manifest, at)
    assert json.loads(manifest.read_bytes())["operator"] != json.loads(data)["operator"]
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = failures(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"FAIL {rel(records, manifest)}: ")
    assert "sha256 no longer matches the 'previous' of its successor" in lines[0]
    assert rel(records, newest / "manifest.json") in lines[0]
    record_trial("one changed value in a manifest (CLI verify)", 1, 0)


@pytest.mark.integration
def test_unparseable_manifest_is_named(records):
    oldest, middle, _newest = chain_order(records)
    flip_byte(middle / "manifest.json", 0)  # "{" -> "#": not JSON any more
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1
    lines = failures(result)
    manifest = rel(records, middle / "manifest.json")
    assert all(line.startswith(f"FAIL {manifest}: ") for line in lines), lines
    assert any("no longer matches the 'previous' of its successor" in line for line in lines), lines
    assert any("unreadable" in line for line in lines), lines
    assert rel(records, oldest) not in " ".join(lines)  # the chain is followed past the broken link
    record_trial("unparseable manifest (CLI verify)", 1, 0)


@pytest.mark.integration
def test_deleted_middle_record_is_named_by_its_successor(records):
    oldest, middle, newest = chain_order(records)
    shutil.rmtree(middle)
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = failures(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"FAIL {rel(records, newest / 'manifest.json')}: the record before this one is missing"
    )
    assert rel(records, oldest) not in lines[0]
    record_trial("history: a record deleted from the middle", 1, 0)


@pytest.mark.integration
def test_deleted_newest_record_is_named_via_the_chain_head(records):
    _oldest, _middle, newest = chain_order(records)
    shutil.rmtree(newest)
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = failures(result)
    manifest = rel(records, newest / "manifest.json")
    assert lines == [f"FAIL {manifest}: newest record is missing (named by .chain-head)"]
    record_trial("history: the newest record deleted", 1, 0)


@pytest.mark.integration
def test_a_deleted_manifest_of_a_run_that_ended_is_a_problem_not_a_seal_to_finish(records):
    """Its journal ends with run_end and the chain names a manifest that is gone: the
    manifest was deleted after sealing (re-sealing it, as for an unsealed run, would not
    bring back what the chain names)."""
    _oldest, middle, _newest = chain_order(records)
    middle.chmod(0o755)
    (middle / "manifest.json").unlink()
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    manifest = rel(records, middle / "manifest.json")
    assert f"FAIL {manifest}: missing: the run ended and the chain names a manifest" in (
        result.stdout
    )
    assert "reindex" not in result.stdout, result.stdout


@pytest.mark.integration
def test_deleted_chain_head_is_a_problem(records):
    (records / CHAIN_HEAD).unlink()
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1
    assert any(CHAIN_HEAD in line for line in failures(result))
    record_trial("history: .chain-head deleted", 1, 0)


@pytest.mark.integration
def test_file_added_after_sealing_is_named(records):
    middle = chain_order(records)[1]
    (middle / "extra.txt").write_text("planted\n", encoding="utf-8")
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1
    assert failures(result) == [
        (
            f"FAIL {rel(records, middle / 'extra.txt')}: file not listed in the manifest "
            "(added after sealing)"
        )
    ]
    record_trial("a file added to a sealed record", 1, 0)


@pytest.mark.integration
def test_swapped_renamed_or_moved_records_are_named(records):
    """The bytes are intact, but ``records show RUN`` would print another run."""
    first, second, third = chain_order(records)
    swap = first.parent / "swap"
    first.rename(swap)
    second.rename(first)
    swap.rename(second)
    (records / "other-runbook").mkdir()
    moved = records / "other-runbook" / third.name
    third.rename(moved)
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    found = failures(result)
    assert (
        f"FAIL {rel(records, first)}: holds run {second.name!r}: the directory was renamed or moved"
        in found
    )
    assert (
        f"FAIL {rel(records, second)}: holds run {first.name!r}: the directory was renamed or moved"
        in found
    )
    assert any(
        line.startswith(f"FAIL {rel(records, moved)}: holds a run of runbook 'verify-chain'")
        for line in found
    )
    record_trial("record directories swapped or moved (CLI verify)", 1, 0)


@pytest.mark.integration
@pytest.mark.parametrize(
    "kind", ["symlink-to-dir", "dangling-symlink", "fifo", "symlink-for-a-file"]
)
def test_links_and_special_files_in_a_record_are_named(records, kind):
    middle = chain_order(records)[1]
    if kind == "symlink-to-dir":
        (middle / "link").symlink_to(middle.parent)
    elif kind == "dangling-symlink":
        (middle / "link").symlink_to("/nonexistent")
    elif kind == "fifo":
        os.mkfifo(middle / "link")
    else:  # the listed file replaced by a link to a copy with the same bytes
        copy = middle.parent / "copy.html"
        shutil.copy(middle / "record.html", copy)
        (middle / "record.html").unlink()
        (middle / "record.html").symlink_to(copy)
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1, result.stdout + result.stderr
    name = "record.html" if kind == "symlink-for-a-file" else "link"
    assert f"FAIL {rel(records, middle / name)}: not a regular file" in result.stdout


@pytest.mark.integration
@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[:100],
        lambda text: "[]",
        lambda text: json.dumps({**json.loads(text), "steps": "x"}),
        lambda text: json.dumps({**json.loads(text), "run_id": {"a": 1}}),
        lambda text: text.replace('"', "\u00ff", 1),
    ],
    ids=["truncated", "a-list", "steps-a-string", "run-id-an-object", "not-json"],
)
def test_a_damaged_manifest_is_named_by_show_export_and_list(records, tmp_path, damage):
    """Reading commands say which manifest is damaged (exit 2), never a traceback."""
    middle = chain_order(records)[1]
    manifest = middle / "manifest.json"
    manifest.chmod(0o644)
    manifest.write_text(damage(manifest.read_text(encoding="utf-8")), encoding="utf-8")
    (records / INDEX).unlink()
    for command in (("show", middle.name), ("export", middle.name, "-o", tmp_path / "out")):
        result = runbook("records", *command, "--records", records)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "manifest" in result.stderr, result.stderr
    listed = runbook("records", "list", "--records", records)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert runbook("records", "verify", "--all", "--records", records).returncode == 1


@pytest.mark.integration
def test_verify_does_not_trust_the_index(records):
    """Deleting or rewriting index.sqlite changes nothing: verification reads only the records."""
    middle = chain_order(records)[1]
    (records / INDEX).unlink()
    assert runbook("records", "verify", "--all", "--records", records).returncode == 0
    flip_byte(middle / "record.html")
    result = runbook("records", "verify", "--all", "--records", records)
    assert result.returncode == 1
    assert not (records / INDEX).exists()  # verify did not (re)build it either
    record_trial("index deleted before verify (verify never reads it)", 1, 0)


@pytest.mark.integration
def test_verify_one_run_by_prefix(records):
    _oldest, middle, _newest = chain_order(records)
    assert runbook("records", "verify", middle.name[:-3], "--records", records).returncode == 0
    flip_byte(middle / "journal.jsonl")
    result = runbook("records", "verify", middle.name, "--records", records)
    assert result.returncode == 1
    assert rel(records, middle / "journal.jsonl") in result.stdout


@pytest.mark.integration
def test_verify_one_run_by_its_directory_outside_the_default_records(records, tmp_path):
    """The path `runbook run` printed, from anywhere: its own root is implied; a --records
    that does not hold it is bad input naming it (it was a ValueError traceback)."""
    middle = chain_order(records)[1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for given in (middle, Path(os.path.relpath(middle, elsewhere))):
        result = runbook("records", "verify", given, cwd=elsewhere)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 record(s) checked, 0 problem(s)" in result.stdout
    named = runbook("records", "verify", middle, "--records", records, cwd=elsewhere)
    assert named.returncode == 0, named.stdout + named.stderr
    other = tmp_path / "other-records"
    other.mkdir()
    refused = runbook("records", "verify", middle, "--records", other, cwd=elsewhere)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert str(middle) in refused.stderr and "Traceback" not in refused.stderr
    flip_byte(middle / "journal.jsonl")
    failed = runbook("records", "verify", middle, cwd=elsewhere)
    assert failed.returncode == 1 and rel(records, middle / "journal.jsonl") in failed.stdout


# --------------------------------------------------------------------------- synthetic records


def load_synthetic():
    spec = importlib.util.spec_from_file_location("synthetic", REPO / "benchmarks" / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_records_verify_and_list(tmp_path):
    synthetic = load_synthetic()
    records = tmp_path / "records"
    made = synthetic.generate(records, 50, size="small")
    assert len(made) == 50
    count, problems, unsealed = verify_all(records)
    assert (count, problems, unsealed) == (50, [], [])
    rows = list_runs(records, RunFilter())
    assert len(rows) == 50
    assert [r["started_at"] for r in rows] == sorted((r["started_at"] for r in rows), reverse=True)
    assert {r["status"] for r in rows} <= {"succeeded", "failed", "blocked", "interrupted"}
    # the chain is real: from the head back to the first record through every manifest
    assert [p.name for p in chain_order(records)] == [p.name for p in made]


def test_synthetic_tampering_is_found_in_process(tmp_path):
    synthetic = load_synthetic()
    records = tmp_path / "records"
    made = synthetic.generate(records, 20, size="small", index=False)
    flip_byte(made[7] / "record.ipynb")
    shutil.rmtree(made[12])
    count, problems, _ = verify_all(records)
    assert count == 19
    named = {(p.path, p.message.split(":")[0]) for p in problems}
    assert (rel(records, made[7] / "record.ipynb"), "altered") in named
    assert any(
        p.path == rel(records, made[13] / "manifest.json")
        and "before this one is missing" in p.message
        for p in problems
    )
    assert len(problems) == 2, problems
    record_trial("synthetic archive: a byte changed and a record deleted", 2, 0)


@pytest.mark.slow
def test_every_single_byte_change_in_every_record_file_is_found(tmp_path):
    """Exhaustive: each byte of each file of a sealed record (manifest included), changed alone."""
    synthetic = load_synthetic()
    records = tmp_path / "records"
    made = synthetic.generate(records, 2, size="small", index=False)
    target = made[1]
    where = rel(records, target)
    files = sorted(p for p in target.rglob("*") if p.is_file())
    assert len(files) >= 5
    trials = missed = 0
    for path in files:
        path.chmod(0o644)
        data = path.read_bytes()
        fd = os.open(path, os.O_WRONLY)
        try:
            for at in range(len(data)):
                os.pwrite(fd, bytes([data[at] ^ 0x01]), at)
                problems = verify_all(records, workers=1)[1]
                if not any(p.path.startswith(where) for p in problems):
                    missed += 1
                trials += 1
                os.pwrite(fd, data[at : at + 1], at)
        finally:
            os.close(fd)
    assert verify_all(records)[1] == []
    record_trial("every single-byte change in every record file", trials, missed)
    assert missed == 0
