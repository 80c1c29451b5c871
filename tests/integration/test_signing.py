"""Signed records (issue 9, item 4): real ssh-keygen, real keys made by the test.

A signing key signs every manifest (``manifest.json.sig``, namespace
``runbook-record``); ``records verify --allowed-signers`` checks each signature and
names its principal; a manifest changed and re-signed by a key outside the file
fails; ``--require-signatures`` fails unsigned records; a key that cannot sign
stops the run before its record exists; the operator is the signer's principal.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from reliability import record_trial
from sshkeys import allowed_signers, make_key, require_ssh_keygen

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


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    require_ssh_keygen()
    alice, mallory = make_key(tmp_path, "alice"), make_key(tmp_path, "mallory")
    return {"alice": alice, "mallory": mallory, "allowed": allowed_signers(tmp_path, alice)}


def _run(run_inprocess, write_runbook, tmp_path: Path, *extra: object, env=None):
    source = write_runbook(tmp_path, TINY, "tiny.md")
    return run_inprocess(
        ["run", source, "--records", tmp_path / "records", "--no-progress", *extra],
        cwd=tmp_path,
        env=env,
    )


def _verify(run_inprocess, tmp_path: Path, *extra: object):
    return run_inprocess(
        ["records", "verify", "--all", "--records", tmp_path / "records", *extra], cwd=tmp_path
    )


def _resign(manifest: Path, key: Path, records: Path) -> None:
    """What an attacker with write access and their own key does: edit, re-sign, fix the head."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["operator"] = "mallory"
    manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    signature = manifest.with_name("manifest.json.sig")
    signature.unlink()
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", "runbook-record", str(manifest)],
        check=True,
        capture_output=True,
    )
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    (records / ".chain-head").write_text(
        f"{sha} {manifest.relative_to(records).as_posix()}\n", encoding="utf-8"
    )


def test_signed_run_names_its_signer(run_inprocess, write_runbook, tmp_path, keys):
    result = _run(
        run_inprocess,
        write_runbook,
        tmp_path,
        "--signing-key",
        keys["alice"],
        "--allowed-signers",
        keys["allowed"],
        "--operator",
        "somebody-else",
    )
    assert result.rc == 0, result.stdout + result.stderr
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["operator"] == "alice"
    assert manifest["signer"]["principal"] == "alice"
    assert manifest["signer"]["fingerprint"].startswith("SHA256:")
    assert (
        (result.record_dir / "manifest.json.sig")
        .read_text()
        .startswith("-----BEGIN SSH SIGNATURE-----")
    )
    assert "manifest.json.sig" not in manifest["files"]
    checked = _verify(
        run_inprocess, tmp_path, "--allowed-signers", keys["allowed"], "--require-signatures"
    )
    assert checked.rc == 0, checked.stdout
    assert f"ok   tiny/{result.record_dir.name}: signed by alice" in checked.stdout
    assert "1 record(s) checked, 0 problem(s)" in checked.stdout
    one = run_inprocess(
        ["records", "verify", result.record_dir.name, "--records", tmp_path / "records",
         "--allowed-signers", keys["allowed"]],
        cwd=tmp_path,
    )  # fmt: skip
    assert one.rc == 0, one.stdout
    assert f"ok   tiny/{result.record_dir.name}: signed by alice" in one.stdout


def test_key_from_the_environment_and_its_comment_as_principal(
    run_inprocess, write_runbook, tmp_path, keys
):
    result = _run(
        run_inprocess, write_runbook, tmp_path, env={"RUNBOOK_SIGNING_KEY": str(keys["alice"])}
    )
    assert result.rc == 0, result.stderr
    assert json.loads((result.record_dir / "manifest.json").read_text())["operator"] == "alice"
    assert (result.record_dir / "manifest.json.sig").is_file()


def test_manifest_resigned_by_an_outsider_fails(run_inprocess, write_runbook, tmp_path, keys):
    result = _run(run_inprocess, write_runbook, tmp_path, "--signing-key", keys["alice"])
    assert result.rc == 0, result.stderr
    records = tmp_path / "records"
    _resign(result.record_dir / "manifest.json", keys["mallory"], records)
    assert _verify(run_inprocess, tmp_path).rc == 0  # the hash chain alone cannot tell
    checked = _verify(run_inprocess, tmp_path, "--allowed-signers", keys["allowed"])
    assert checked.rc == 1, checked.stdout
    fails = [line for line in checked.stdout.splitlines() if line.startswith("FAIL")]
    expected = (
        f"FAIL tiny/{result.record_dir.name}/manifest.json.sig: signed by a key "
        "that is not in the allowed signers"
    )
    assert fails == [expected]
    record_trial("attack:edit-manifest-and-resign-with-outside-key", 1, 0)


def test_manifest_changed_without_resigning_fails(run_inprocess, write_runbook, tmp_path, keys):
    result = _run(run_inprocess, write_runbook, tmp_path, "--signing-key", keys["alice"])
    manifest = result.record_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"alice"', '"bob"', 1), encoding="utf-8")
    checked = _verify(run_inprocess, tmp_path, "--allowed-signers", keys["allowed"])
    assert checked.rc == 1
    assert "signature does not verify for alice" in checked.stdout


def test_a_deleted_signature_of_a_signed_record_fails(run_inprocess, write_runbook, tmp_path, keys):
    """The manifest names its signer: a missing .sig is removal, not an unsigned record."""
    result = _run(run_inprocess, write_runbook, tmp_path, "--signing-key", keys["alice"])
    assert result.rc == 0, result.stderr
    (result.record_dir / "manifest.json.sig").unlink()
    for extra in ((), ("--allowed-signers", keys["allowed"])):
        checked = _verify(run_inprocess, tmp_path, *extra)
        assert checked.rc == 1, checked.stdout
        assert (
            f"FAIL tiny/{result.record_dir.name}/manifest.json.sig: missing: the manifest says "
            "'alice' signed it"
        ) in checked.stdout


def test_unsigned_records_fail_only_when_signatures_are_required(
    run_inprocess, write_runbook, tmp_path, keys
):
    result = _run(run_inprocess, write_runbook, tmp_path)
    assert result.rc == 0
    assert not (result.record_dir / "manifest.json.sig").exists()
    assert _verify(run_inprocess, tmp_path, "--allowed-signers", keys["allowed"]).rc == 0
    checked = _verify(
        run_inprocess, tmp_path, "--allowed-signers", keys["allowed"], "--require-signatures"
    )
    assert checked.rc == 1
    assert f"FAIL tiny/{result.record_dir.name}/manifest.json: unsigned" in checked.stdout


def test_signatures_are_required_only_with_allowed_signers_to_check_them(
    run_inprocess, write_runbook, tmp_path, keys
):
    """A garbage manifest.json.sig passed --require-signatures when nothing checked it."""
    result = _run(run_inprocess, write_runbook, tmp_path, "--signing-key", keys["alice"])
    assert result.rc == 0, result.stderr
    signature = result.record_dir / "manifest.json.sig"
    signature.chmod(0o644)
    signature.write_text("garbage\n", encoding="utf-8")
    refused = _verify(run_inprocess, tmp_path, "--require-signatures")
    assert refused.rc == 2, refused.stdout + refused.stderr
    assert "--require-signatures needs --allowed-signers" in refused.stderr
    checked = _verify(
        run_inprocess, tmp_path, "--require-signatures", "--allowed-signers", keys["allowed"]
    )
    assert checked.rc == 1, checked.stdout


@pytest.mark.parametrize("where", ["missing", "a-directory"])
def test_allowed_signers_that_are_no_file_are_bad_input(
    run_inprocess, write_runbook, tmp_path, keys, where
):
    """A missing file or a directory made every valid signature FAIL (exit 1)."""
    result = _run(run_inprocess, write_runbook, tmp_path, "--signing-key", keys["alice"])
    assert result.rc == 0, result.stderr
    path = tmp_path / "nowhere" if where == "missing" else tmp_path
    for run in ("--all", result.record_dir.name):
        checked = run_inprocess(
            ["records", "verify", run, "--records", tmp_path / "records",
             "--allowed-signers", path],
            cwd=tmp_path,
        )  # fmt: skip
        assert checked.rc == 2, checked.stdout + checked.stderr
        assert str(path) in checked.stderr and "allowed signers" in checked.stderr
        assert "Traceback" not in checked.stderr


@pytest.mark.parametrize("case", ["not-a-key", "missing", "outside-allowed-signers"])
def test_a_key_that_cannot_sign_runs_nothing(run_inprocess, write_runbook, tmp_path, keys, case):
    key = {
        "not-a-key": tmp_path / "garbage",
        "missing": tmp_path / "nope",
        "outside-allowed-signers": keys["mallory"],
    }[case]
    if case == "not-a-key":
        key.write_text("not a key\n", encoding="utf-8")
    result = _run(
        run_inprocess,
        write_runbook,
        tmp_path,
        "--signing-key",
        key,
        "--allowed-signers",
        keys["allowed"],
    )
    assert result.rc == 2, result.stdout + result.stderr
    assert "key" in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "records").glob("*/*")), "no record directory before a signer"


def test_a_key_held_by_ssh_agent_signs(run_inprocess, write_runbook, tmp_path, keys):
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket)}
        for _ in range(100):
            if socket.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        subprocess.run(["ssh-add", str(keys["alice"])], env=env, check=True, capture_output=True)
        keys["alice"].unlink()  # only the agent holds the private key now
        result = _run(
            run_inprocess,
            write_runbook,
            tmp_path,
            "--signing-key",
            f"{keys['alice']}.pub",
            env={"SSH_AUTH_SOCK": str(socket)},
        )
        assert result.rc == 0, result.stdout + result.stderr
        checked = _verify(
            run_inprocess, tmp_path, "--allowed-signers", keys["allowed"], "--require-signatures"
        )
        assert checked.rc == 0 and "signed by alice" in checked.stdout, checked.stdout
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)


def test_a_repair_is_signed_and_its_signer_is_who_repaired(
    run_inprocess, write_runbook, tmp_path, keys
):
    assert _run(run_inprocess, write_runbook, tmp_path, "--signing-key", keys["alice"]).rc == 0
    records = tmp_path / "records"
    (records / ".chain-head").unlink()
    repaired = run_inprocess(
        [
            "records",
            "repair",
            "--records",
            records,
            "--operator",
            "bob",
            "--signing-key",
            keys["alice"],
        ],
        cwd=tmp_path,
    )
    assert repaired.rc == 0, repaired.stdout + repaired.stderr
    manifest = json.loads((repaired.record_dir / "manifest.json").read_text())
    assert manifest["kind"] == "repair" and manifest["operator"] == "alice"
    checked = _verify(
        run_inprocess, tmp_path, "--allowed-signers", keys["allowed"], "--require-signatures"
    )
    assert checked.rc == 0, checked.stdout
    assert f"ok   chain-repair/{repaired.record_dir.name}: signed by alice" in checked.stdout
    assert "chain repaired by alice" in checked.stdout
