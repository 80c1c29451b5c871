"""A shared archive on a real S3 store: ``--records s3://bucket/prefix``.

The store is SeaweedFS ``weed mini`` started by the tests (tests/s3store.py), its
buckets created with S3 Object Lock. Each "machine" is a separate ``RUNBOOK_CACHE``
(its local mirror), so two processes share nothing but the store: the chain stays
one chain only because the store's conditional writes say so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import pytest
from s3store import SECRET_KEY, free_ports
from sshkeys import allowed_signers, make_key

from converter.records.remote import IN_FLIGHT

pytestmark = [pytest.mark.integration, pytest.mark.s3]

RUNBOOK = """
    ---
    id: shared-quick
    lang: en
    parameters:
      n:
        type: int
        default: 0
    ---

    # Runbook: One quick step

    ## Procedure

    #### 1-1. Leave a mark

    ```bash
    echo "run-number-$n"
    touch "$MARK_DIR/ran-$n"
    ```
"""
_BUCKETS = count(1)


def new_bucket(store, *, object_lock: bool = True) -> str:
    """A fresh bucket per test (names must be unique in the session's store)."""
    return store.make_bucket(
        f"evidence-{next(_BUCKETS)}-{int(time.time())}", object_lock=object_lock
    )


def machine(store, tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    """The environment of one machine: the store's variables and its own cache (mirror)."""
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return {**store.env(), "RUNBOOK_CACHE": str(tmp_path / name / "cache"), **extra}


def chain_objects(store, url: str) -> list[str]:
    """The archive's chain objects, ascending."""
    root = url.removeprefix("s3://")
    return sorted(p.rsplit("/", 1)[1] for p in store.filesystem().find(f"{root}/.chain"))


@pytest.fixture(scope="module")
def archive(s3_store, run_cli, write_runbook, tmp_path_factory):
    """One signed run sealed into a fresh bucket with 2 days of COMPLIANCE retention."""
    tmp = tmp_path_factory.mktemp("s3archive")
    url = f"s3://{new_bucket(s3_store)}/team-a"
    source = write_runbook(tmp, RUNBOOK)
    key = make_key(tmp, "alice")
    signers = allowed_signers(tmp, key)
    env = machine(s3_store, tmp, "alpha", MARK_DIR=str(tmp), RUNBOOK_SIGNING_KEY=str(key))
    args = ["run", source, "--records", url, "--retain-days", "2", "-p", "n", "1", "--no-progress"]
    result = run_cli(args, cwd=tmp, env=env)
    assert result.rc == 0, result.stderr
    return {"url": url, "tmp": tmp, "result": result, "source": source, "signers": signers}


def test_a_run_seals_and_uploads_its_record(archive, s3_store):
    fs = s3_store.filesystem()
    run_id = Path(archive["result"].stdout.splitlines()[-1]).name
    root = archive["url"].removeprefix("s3://")
    names = {p[len(root) + 1 :] for p in fs.find(root)}
    record = f"shared-quick/{run_id}"
    for name in ("manifest.json", "record.ipynb", "record.html", "journal.jsonl", "logs/1-1.log"):
        assert f"{record}/{name}" in names
    assert chain_objects(s3_store, archive["url"]) == ["0000000001"]
    manifest = json.loads(fs.cat_file(f"{root}/{record}/manifest.json"))
    assert manifest["status"] == "succeeded" and manifest["sequence"] == 1
    link = json.loads(fs.cat_file(f"{root}/.chain/0000000001"))
    assert link["manifest"] == f"{record}/manifest.json"
    assert link["text"].encode("utf-8") == fs.cat_file(f"{root}/{record}/manifest.json")


def test_records_commands_read_the_url_from_another_machine(archive, s3_store, run_cli):
    url, tmp = archive["url"], archive["tmp"]
    run_id = Path(archive["result"].stdout.splitlines()[-1]).name
    other = machine(s3_store, tmp, "beta")  # an empty cache: everything comes from the store
    listed = run_cli(["records", "list", "--records", url, "--json"], cwd=tmp, env=other)
    assert listed.rc == 0, listed.stderr
    assert [row["run_id"] for row in json.loads(listed.stdout)] == [run_id]
    shown = run_cli(["records", "show", run_id[:12], "--records", url], cwd=tmp, env=other)
    assert shown.rc == 0 and "succeeded" in shown.stdout and "1-1" in shown.stdout
    out = tmp / "report.html"
    exported = run_cli(["records", "export", run_id, "--records", url, "-o", out], env=other)
    assert exported.rc == 0 and "run-number-1" in out.read_text(encoding="utf-8")
    verify = ["records", "verify", "--all", "--records", url, "--require-signatures"]
    verified = run_cli([*verify, "--allowed-signers", archive["signers"]], cwd=tmp, env=other)
    assert verified.rc == 0, verified.stdout
    assert f"ok   shared-quick/{run_id}: signed by alice" in verified.stdout
    assert "1 record(s) checked, 0 problem(s)" in verified.stdout
    # an auditor's read-only keys read the archive too
    auditor = {**other, **s3_store.env(reader=True), "RUNBOOK_CACHE": str(tmp / "auditor")}
    audited = run_cli(["records", "list", "--records", url, "--json"], cwd=tmp, env=auditor)
    assert audited.rc == 0, audited.stderr
    assert [row["run_id"] for row in json.loads(audited.stdout)] == [run_id]


def test_retention_is_recorded_and_reported(archive, s3_store, run_cli):
    url, tmp = archive["url"], archive["tmp"]
    run_id = Path(archive["result"].stdout.splitlines()[-1]).name
    root = url.removeprefix("s3://")
    fs = s3_store.filesystem()
    manifest = json.loads(fs.cat_file(f"{root}/shared-quick/{run_id}/manifest.json"))
    stated = manifest["retention"]
    until = datetime.strptime(stated["until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert stated["mode"] == "COMPLIANCE"
    assert timedelta(days=1.9) < until - datetime.now(timezone.utc) < timedelta(days=2.1)
    head = fs.call_s3(
        "head_object", Bucket=root.split("/")[0], Key=f"team-a/shared-quick/{run_id}/record.html"
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    verified = run_cli(
        ["records", "verify", "--all", "--records", url], env=machine(s3_store, tmp, "gamma")
    )
    day = until.strftime("%Y-%m-%d")
    assert re.search(
        rf"note shared-quick/{run_id}: retention: COMPLIANCE until {day}", verified.stdout
    )


def test_a_locked_record_version_cannot_be_deleted(archive, s3_store, run_cli):
    url, tmp = archive["url"], archive["tmp"]
    run_id = Path(archive["result"].stdout.splitlines()[-1]).name
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    fs = s3_store.filesystem()
    key = f"{prefix}/shared-quick/{run_id}/manifest.json"
    versions = fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key)["Versions"]
    versions = [v for v in versions if v["Key"] == key]  # not manifest.json.sig
    assert len(versions) == 1
    for bypass in (False, True):  # COMPLIANCE: not even with the governance bypass
        with pytest.raises(PermissionError) as refused:
            fs.call_s3(
                "delete_object",
                Bucket=bucket,
                Key=key,
                VersionId=versions[0]["VersionId"],
                BypassGovernanceRetention=bypass,
            )
        error = refused.value.__cause__.response  # the store's own answer
        assert error["Error"]["Code"] == "AccessDenied"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    auditor = machine(s3_store, tmp, "delta")
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0 and "0 problem(s)" in verified.stdout
    # A plain DELETE is allowed: a delete marker hides the newest version. verify says so;
    # the locked version is still there, and removing the marker brings the record back.
    fs.rm_file(f"{bucket}/{key}")
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 1
    assert ".chain/0000000001: names shared-quick/" in verified.stdout
    markers = fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key)["DeleteMarkers"]
    (marker,) = [m for m in markers if m["Key"] == key]
    fs.call_s3("delete_object", Bucket=bucket, Key=key, VersionId=marker["VersionId"])
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0 and "0 problem(s)" in verified.stdout
    single = run_cli(["records", "verify", run_id, "--records", url], env=auditor)
    assert single.rc == 0 and "1 record(s) checked, 0 problem(s)" in single.stdout


def test_two_runs_at_once_keep_one_chain(s3_store, start_cli, run_cli, write_runbook, tmp_path):
    url = f"s3://{new_bucket(s3_store)}/fleet"
    source = write_runbook(tmp_path, RUNBOOK)
    procs = [
        start_cli(
            ["run", source, "--records", url, "-p", "n", str(n), "--no-progress"],
            cwd=tmp_path,
            env=machine(s3_store, tmp_path, f"host{n}", MARK_DIR=str(tmp_path)),
        )
        for n in (1, 2)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    assert chain_objects(s3_store, url) == ["0000000001", "0000000002"]
    auditor = machine(s3_store, tmp_path, "auditor")
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0, verified.stdout
    assert "2 record(s) checked, 0 problem(s)" in verified.stdout
    listed = run_cli(["records", "list", "--records", url, "--json"], env=auditor)
    assert len(json.loads(listed.stdout)) == 2


RACER = """
import sys, pathlib
import converter.records.remote as remote
from converter.records.manifest import create_record_dir
from converter.records.publish import finalize_shared
from converter.records.store import open_archive
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
archive = open_archive(url)
written, lost = remote._put, []
def counted(*args, **kwargs):  # the real (conditional) write, its outcome counted
    won = written(*args, **kwargs)
    lost.extend([] if won else [args[1]])
    return won
remote._put = counted
for i in range(n):
    run_dir, run_id = create_record_dir(archive.mirror, name)
    (run_dir / "journal.jsonl").write_text(f'{{"n": {i}}}\\n')
    sealed = finalize_shared(archive, run_dir, {"run_id": run_dir.name, "status": "succeeded"})
    print(sealed["sequence"], flush=True)
print("lost", *lost, file=sys.stderr)
"""


def test_two_writers_racing_for_the_chain_never_fork(s3_store, run_cli, tmp_path):
    """Two machines seal 8 records each into one archive at once.

    Both are held after composing their first manifest (both after the same, empty
    head) and released together: both try to create .chain/0000000001, the store lets
    one win, the other reads the new head and takes another place.
    """
    url = f"s3://{new_bucket(s3_store)}/race"
    barrier = tmp_path / "go"
    procs = []
    for name in ("left", "right"):
        env = {**_clean_env(), **machine(s3_store, tmp_path, name)}
        env["RUNBOOK_FAULT"] = f"wait:remote:composed:{barrier}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RACER, url, name, "8"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    for _ in range(1200):  # both have uploaded their first record and wait at the barrier
        if _both_waiting(s3_store, url, 2) or any(p.poll() is not None for p in procs):
            break
        time.sleep(0.1)
    barrier.touch()
    places, lost = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        places.append([int(line) for line in out.split()])
        lost += err.decode().split("lost", 1)[1].split()
    assert sorted(places[0] + places[1]) == list(range(1, 17))  # every place won exactly once
    assert ".chain/0000000001" in lost  # the first place was contested: one writer lost it
    assert chain_objects(s3_store, url) == [f"{n:010d}" for n in range(1, 17)]
    auditor = machine(s3_store, tmp_path, "audit")
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0, verified.stdout
    assert "16 record(s) checked, 0 problem(s)" in verified.stdout


def _both_waiting(store, url: str, writers: int) -> bool:
    """Both writers have uploaded their first record's files (they wait right after)."""
    root = url.removeprefix("s3://")
    try:
        found = store.filesystem().find(root)
    except FileNotFoundError:
        return False
    return len({p.split("/")[2] for p in found if p.endswith("journal.jsonl")}) >= writers


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "AWS_"))}


DOTTED = """
    ---
    id: dotted
    lang: en
    ---

    # Runbook: Dotted

    ## Procedure

    ```bash
    echo setting-up > "$RUNBOOK_RUN_DIR/.setup.log"
    ```
"""


def test_a_dot_file_the_manifest_lists_is_uploaded(s3_store, run_cli, write_runbook, tmp_path):
    """A file a step keeps in its record whose name starts with a dot was hashed into the
    manifest but never uploaded, and the record failed verify for ever."""
    url = f"s3://{new_bucket(s3_store, object_lock=False)}/dots"
    source = write_runbook(tmp_path, DOTTED, "dotted.md")
    env = machine(s3_store, tmp_path, "writer")
    ran = run_cli(["run", source, "--records", url, "--no-progress"], cwd=tmp_path, env=env)
    assert ran.rc == 0, ran.stdout + ran.stderr
    record = f"dotted/{Path(ran.stdout.splitlines()[-1]).name}"
    root = url.removeprefix("s3://")
    fs = s3_store.filesystem()
    manifest = json.loads(fs.cat_file(f"{root}/{record}/manifest.json"))
    assert ".setup.log" in manifest["files"]
    uploaded = {p[len(root) + 1 :] for p in fs.find(root)}
    assert {f"{record}/{name}" for name in manifest["files"]} <= uploaded
    verified = run_cli(
        ["records", "verify", "--all", "--records", url], env=machine(s3_store, tmp_path, "audit")
    )
    assert verified.rc == 0, verified.stdout
    assert "1 record(s) checked, 0 problem(s)" in verified.stdout


def test_a_changed_object_is_detected(s3_store, run_cli, tmp_path):
    url = f"s3://{new_bucket(s3_store)}/tampered"
    env = {**_clean_env(), **machine(s3_store, tmp_path, "writer")}
    subprocess.run([sys.executable, "-c", RACER, url, "tamper", "2"], env=env, check=True)
    fs = s3_store.filesystem()
    root = url.removeprefix("s3://")
    journal = min(p for p in fs.find(root) if p.endswith("journal.jsonl"))
    fs.pipe_file(journal, b'{"n": "rewritten"}\n')  # an overwrite: a newer version
    verified = run_cli(
        ["records", "verify", "--all", "--records", url], env=machine(s3_store, tmp_path, "audit")
    )
    assert verified.rc == 1
    record = journal[len(root) + 1 :]
    assert f"FAIL {record}: altered: sha256 differs from the manifest" in verified.stdout


def test_unreachable_store_or_bad_url_is_a_clear_error(s3_store, run_cli, write_runbook, tmp_path):
    source = write_runbook(tmp_path, RUNBOOK)
    env = machine(s3_store, tmp_path, "m", MARK_DIR=str(tmp_path))
    (port,) = free_ports(1)
    nowhere = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    wrong = {"AWS_SECRET_ACCESS_KEY": SECRET_KEY + "-wrong"}
    cases = [
        (["run", source, "--records", "s3://evidence/x"], nowhere, "cannot reach the archive"),
        (["run", source, "--records", "s3://no-such-bucket-here/x"], {}, "no such bucket"),
        (["records", "list", "--records", "s3://"], {}, "names no bucket"),
        (["records", "list", "--records", f"s3://AKIA:{SECRET_KEY}/x@evidence/x"], {},
         "must not hold credentials"),
        (["run", source, "--records", f"s3://{SECRET_KEY}@evidence/x"], {},
         "must not hold credentials"),
        (["records", "verify", "--all", "--records", "s3://evidence/x"], wrong, "denied"),
    ]  # fmt: skip
    for args, extra, message in cases:
        result = run_cli(args, cwd=tmp_path, env={**env, **extra})
        assert result.rc == 2, (args, result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert SECRET_KEY not in result.stdout + result.stderr
    assert not list(tmp_path.glob("ran-*"))  # no record, no run
    cache = Path(env["RUNBOOK_CACHE"])
    assert not cache.exists() or not [p for p in cache.rglob("*") if SECRET_KEY in str(p)]


def test_an_archive_that_cannot_take_the_record_runs_nothing(
    s3_store, run_cli, write_runbook, tmp_path
):
    source = write_runbook(tmp_path, RUNBOOK)
    locked = f"s3://{new_bucket(s3_store)}/x"
    plain = f"s3://{new_bucket(s3_store, object_lock=False)}/x"
    reader = {
        **machine(s3_store, tmp_path, "m", MARK_DIR=str(tmp_path)),
        **s3_store.env(reader=True),
    }
    result = run_cli(["run", source, "--records", locked], cwd=tmp_path, env=reader)
    assert result.rc == 2 and "cannot upload .probe" in result.stderr, result.stderr
    env = machine(s3_store, tmp_path, "m", MARK_DIR=str(tmp_path))
    result = run_cli(
        ["run", source, "--records", plain, "--retain-days", "3"], cwd=tmp_path, env=env
    )
    assert result.rc == 2 and "needs a bucket with S3 Object Lock" in result.stderr, result.stderr
    assert not list(tmp_path.glob("ran-*"))  # no step ran
    assert chain_objects(s3_store, locked) == [] and chain_objects(s3_store, plain) == []


def test_a_writer_killed_after_winning_its_place_is_finished_by_the_next(
    s3_store, run_cli, tmp_path
):
    """Killed between creating its chain object and writing its manifest (the commit point)."""
    url = f"s3://{new_bucket(s3_store)}/crash"
    dead = {**_clean_env(), **machine(s3_store, tmp_path, "dead")}
    dead["RUNBOOK_FAULT"] = "seal:remote:claimed"
    crashed = subprocess.run([sys.executable, "-c", RACER, url, "dead", "1"], env=dead, check=False)
    assert crashed.returncode == 137
    assert chain_objects(s3_store, url) == ["0000000001"]
    auditor = machine(s3_store, tmp_path, "audit")
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0, verified.stdout
    assert f".chain/0000000001: {IN_FLIGHT}" in verified.stdout
    alive = {**_clean_env(), **machine(s3_store, tmp_path, "alive")}
    subprocess.run([sys.executable, "-c", RACER, url, "alive", "1"], env=alive, check=True)
    assert chain_objects(s3_store, url) == ["0000000001", "0000000002"]
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0, verified.stdout
    assert "2 record(s) checked, 0 problem(s)" in verified.stdout


def _sealed_two(s3_store, tmp_path, name: str) -> tuple[str, str, dict]:
    """Two records sealed with COMPLIANCE retention; (url, the newest record, writer env)."""
    url = f"s3://{new_bucket(s3_store)}/{name}"
    env = {**_clean_env(), **machine(s3_store, tmp_path, "writer"), "RUNBOOK_RETAIN_DAYS": "1"}
    subprocess.run([sys.executable, "-c", RACER, url, name, "2"], env=env, check=True)
    root = url.removeprefix("s3://")
    link = json.loads(s3_store.filesystem().cat_file(f"{root}/.chain/0000000002"))
    return url, link["manifest"].rsplit("/", 1)[0], env


def _versions(fs, bucket: str, key: str) -> tuple[list[str], list[str]]:
    """(version ids, delete marker ids) of exactly ``key``."""
    found = fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key)
    ids = [v["VersionId"] for v in found.get("Versions", []) if v["Key"] == key]
    return ids, [m["VersionId"] for m in found.get("DeleteMarkers", []) if m["Key"] == key]


def test_the_newest_record_deleted_without_a_version_id_is_named(
    s3_store, run_cli, write_runbook, tmp_path
):
    """A DELETE of .chain/<last> and the newest manifest leaves delete markers: verify
    names both (it said 'files without a manifest', 0 problems), no run takes the hidden
    place, the mirror keeps its copy, and removing the markers restores the record."""
    url, record, env = _sealed_two(s3_store, tmp_path, "deleted")
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    fs = s3_store.filesystem()
    keys = [f"{prefix}/.chain/0000000002", f"{prefix}/{record}/manifest.json"]
    for key in keys:
        fs.rm_file(f"{bucket}/{key}")
    auditor = {**machine(s3_store, tmp_path, "audit"), **s3_store.env(reader=True)}
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 1, verified.stdout
    for key in keys:
        (version,), (marker,) = _versions(fs, bucket, key)
        name = key.removeprefix(f"{prefix}/")
        assert f"FAIL {name}: deleted: a delete marker ({marker}) hides version {version}" in (
            verified.stdout
        )
    source = write_runbook(tmp_path, RUNBOOK)
    mark = {**env, "MARK_DIR": str(tmp_path), "RUNBOOK_RETAIN_DAYS": ""}
    ran = run_cli(["run", source, "--records", url, "--no-progress"], cwd=tmp_path, env=mark)
    assert ran.rc == 2 and ".chain/0000000002 was deleted" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr and not list(tmp_path.glob("ran-*"))
    assert _versions(fs, bucket, f"{prefix}/.chain/0000000003") == ([], [])
    listed = run_cli(["records", "list", "--records", url, "--json"], env=env)
    assert listed.rc == 0, listed.stderr
    assert list((tmp_path / "writer" / "cache").glob(f"archives/*/{record}/manifest.json"))
    for key in keys:
        (marker,) = _versions(fs, bucket, key)[1]
        fs.call_s3("delete_object", Bucket=bucket, Key=key, VersionId=marker)
    verified = run_cli(["records", "verify", "--all", "--records", url], env=auditor)
    assert verified.rc == 0, verified.stdout
    assert "2 record(s) checked, 0 problem(s)" in verified.stdout


def test_the_newest_record_overwritten_is_named_with_its_versions(s3_store, run_cli, tmp_path):
    """The newest manifest and its chain object rewritten consistently (new versions, the
    same retention) passed verify; a record is written once, so a second version fails."""
    url, record, _env = _sealed_two(s3_store, tmp_path, "forged")
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    fs = s3_store.filesystem()
    chain_key, manifest_key = f"{prefix}/.chain/0000000002", f"{prefix}/{record}/manifest.json"
    link = json.loads(fs.cat_file(f"{bucket}/{chain_key}"))
    forged = link["text"].replace('"status": "succeeded"', '"status": "forged"')
    assert forged != link["text"]
    stated = json.loads(forged)["retention"]
    until = datetime.strptime(stated["until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    lock = {"ObjectLockMode": stated["mode"], "ObjectLockRetainUntilDate": until}
    for key, body in ((manifest_key, forged), (chain_key, json.dumps({**link, "text": forged}))):
        data = body.encode("utf-8")
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, ContentMD5=md5, **lock)
    verified = run_cli(
        ["records", "verify", "--all", "--records", url], env=machine(s3_store, tmp_path, "audit")
    )
    assert verified.rc == 1, verified.stdout
    for key in (chain_key, manifest_key):
        versions, markers = _versions(fs, bucket, key)
        assert len(versions) == 2 and not markers
        name = key.removeprefix(f"{prefix}/")
        assert f"FAIL {name}: overwritten: 2 versions" in verified.stdout
        assert all(v in verified.stdout for v in versions)
