"""A secret parameter never reaches a record file, in any spelling a step prints it in.

The secret comes only from ``RUNBOOK_SECRET_TOKEN``; steps echo it plainly, to
stderr, inside a URL, base64-, hex- and URL-encoded, split across output chunks,
through an exported variable in a later step, and in a failing step's error. Then
every byte of every file in the record is scanned for every spelling.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from converter.records.journal import read_journal

pytestmark = pytest.mark.integration

SECRETS_RUNBOOK = """
    ---
    id: secret-handling
    lang: en
    parameters:
      token:
        type: str
        secret: true
        required: true
        description: API token (RUNBOOK_SECRET_TOKEN)
      user:
        type: str
        default: deployer
      marker:
        type: str
        default: ran-a-step
    ---

    # Runbook: Secret handling

    ## Procedure

    #### 1-1. Plainly, and the whole environment

    ```bash
    touch -- "$marker"
    echo "token is $token"
    env | grep -i token || true
    ```

    #### 1-2. To stderr

    ```bash
    echo "stderr token: $token" >&2
    ```

    #### 1-3. Inside a URL

    ```bash
    echo "cloning https://$user:$token@git.example.com/repo.git"
    echo "https://user:$token@host"
    ```

    #### 1-4. Base64

    ```bash
    printf %s "$token" | base64
    printf %s "$token" | base64 | tr '+/' '-_' | tr -d '='
    printf '%s:%s' "$user" "$token" | base64
    printf 'x%s' "$token" | base64
    printf 'xy%s' "$token" | base64
    ```

    #### 1-5. Hex

    ```bash
    if command -v xxd >/dev/null; then
      printf %s "$token" | xxd -p
      printf %s "$token" | xxd -p -u
    else
      python3 -c 'import os; print(os.environ["token"].encode().hex())'
    fi
    printf %s "$token" | od -An -tx1 | tr -d ' \\n'; echo
    python3 -c 'import os; print(os.environ["token"].encode().hex().upper())'
    ```

    #### 1-6. URL-encoded and split across output chunks

    ```bash
    python3 -c 'import os, urllib.parse as u; print(u.quote(os.environ["token"], safe=""))'
    python3 -c 'import os, urllib.parse as u; print(u.quote_plus(os.environ["token"]))'
    for ((i = 0; i < ${#token}; i++)); do printf %s "${token:i:1}"; sleep 0.02; done; echo
    ```

    #### 1-7. Into an exported variable

    ```bash
    export DERIVED_AUTH="Bearer $token"
    ```

    #### 1-8. Used by a later step

    ```bash
    echo "Authorization: $DERIVED_AUTH"
    ```

    #### 1-9. Fails with the secret in its error

    ```bash
    echo "fatal: authentication failed for $token" >&2
    exit 3
    ```
"""


def make_secret() -> str:
    """24 random characters, with ``+`` and ``/`` so URL and base64 spellings differ."""
    alphabet = string.ascii_letters + string.digits
    chars = [secrets.choice(alphabet) for _ in range(22)] + ["+", "/"]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def spellings(secret: str) -> dict[str, bytes]:
    raw = secret.encode("utf-8")
    forms = {"plain": raw}
    for name, encode in (
        ("base64", base64.b64encode),
        ("base64-urlsafe", base64.urlsafe_b64encode),
    ):
        whole = encode(raw)
        forms[name] = whole
        forms[name + "-unpadded"] = whole.rstrip(b"=")
    forms["hex"] = raw.hex().encode()
    forms["HEX"] = raw.hex().upper().encode()
    forms["url"] = quote(secret, safe="").encode()
    forms["url-lower"] = quote(secret, safe="").lower().encode()
    forms["url-path"] = quote(secret).encode()
    forms["url-plus"] = quote_plus(secret).encode()
    return forms


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory, run_cli, write_runbook):
    work = tmp_path_factory.mktemp("secrets")
    source = write_runbook(work, SECRETS_RUNBOOK)
    secret = make_secret()
    result = run_cli(
        ["run", str(source), "--records", str(work / "records"), "--no-progress"],
        cwd=work,
        env={"RUNBOOK_SECRET_TOKEN": secret},
    )
    return work, source, secret, result


def test_run_reaches_the_failing_step(secret_run):
    _, _, _, result = secret_run
    assert result.rc == 1, result.stdout + result.stderr
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "1-9"
    statuses = {s["id"]: s["status"] for s in manifest["steps"]}
    assert all(statuses[f"1-{i}"] == "succeeded" for i in range(1, 9)), statuses
    assert manifest["parameters"]["token"] == "***"


def test_no_record_file_holds_the_secret_in_any_spelling(secret_run):
    _, _, secret, result = secret_run
    forms = spellings(secret)
    files = sorted(p for p in result.record_dir.rglob("*") if p.is_file())
    assert {"record.ipynb", "record.html", "journal.jsonl", "manifest.json"} <= {
        p.name for p in files
    }
    assert any(p.parent.name == "logs" for p in files)
    leaks = [
        (path.relative_to(result.record_dir).as_posix(), name)
        for path in files
        for name, needle in forms.items()
        if needle in path.read_bytes()
    ]
    assert leaks == []


def test_secret_is_masked_not_dropped(secret_run):
    _, _, _, result = secret_run
    record = result.record_dir
    notebook = (record / "record.ipynb").read_text(encoding="utf-8")
    assert "***" in notebook
    assert "token is ***" in notebook
    assert "cloning https://deployer:***@git.example.com/repo.git" in notebook
    assert "Authorization: Bearer ***" in notebook
    assert "authentication failed for ***" in (record / "logs" / "1-9.log").read_text(
        encoding="utf-8"
    )


def test_cli_output_does_not_show_the_secret(secret_run):
    _, _, secret, result = secret_run
    for needle in spellings(secret).values():
        assert needle.decode() not in result.stdout + result.stderr


def test_secret_given_with_p_is_refused(secret_run, run_inprocess, tmp_path):
    _, source, _, _ = secret_run
    result = run_inprocess(
        [
            "run",
            str(source),
            "--records",
            str(tmp_path / "records"),
            "--no-progress",
            "-p",
            "token",
            "x",
        ],
        cwd=tmp_path,
        env={"RUNBOOK_SECRET_TOKEN": make_secret()},
    )
    assert result.rc == 2, result.stdout + result.stderr
    assert "token" in result.stderr and "RUNBOOK_SECRET_TOKEN" in result.stderr
    assert not (tmp_path / "ran-a-step").exists()


def test_missing_required_secret_is_refused_before_any_step(secret_run, run_inprocess, tmp_path):
    _, source, _, _ = secret_run
    records = tmp_path / "records"
    result = run_inprocess(
        ["run", str(source), "--records", str(records), "--no-progress"], cwd=tmp_path
    )
    assert result.rc == 2, result.stdout + result.stderr
    assert "RUNBOOK_SECRET_TOKEN" in result.stderr
    assert not (tmp_path / "ran-a-step").exists()
    for journal in Path(records).glob("*/*/journal.jsonl") if records.exists() else []:
        assert not [e for e in read_journal(journal) if e.get("event") == "step_start"]


def test_secret_inside_another_parameter_is_masked_in_the_manifest(
    secret_run, run_inprocess, tmp_path
):
    _, source, _, _ = secret_run
    secret = make_secret()
    result = run_inprocess(
        [
            "run",
            str(source),
            "--records",
            str(tmp_path / "records"),
            "--no-progress",
            "-p",
            "user",
            f"svc-{secret}",
            "-p",
            "marker",
            str(tmp_path / "m"),
        ],
        cwd=tmp_path,
        env={"RUNBOOK_SECRET_TOKEN": secret},
    )
    assert result.rc == 1, result.stdout + result.stderr  # 1-9 fails by design
    leaks = [
        path.relative_to(result.record_dir).as_posix()
        for path in sorted(result.record_dir.rglob("*"))
        if path.is_file() and secret.encode() in path.read_bytes()
    ]
    assert leaks == []


OTHER_SECRETS_RUNBOOK = """
    ---
    id: other-secrets
    lang: en
    parameters:
      token:
        type: str
        secret: true
      note:
        type: str
        default: none
    ---

    # Runbook: Other secrets

    ## Procedure

    #### 1-1. The whole environment

    ```bash
    echo "secret variables: $(env | grep -c '^RUNBOOK_SECRET_'); token: ${#token} characters"
    env | sort
    echo "note: $note"
    ```
"""


def _leaks(record: Path, *values: str) -> list[tuple[str, str]]:
    return [
        (path.relative_to(record).as_posix(), name)
        for value in values
        for path in sorted(record.rglob("*"))
        if path.is_file()
        for name, needle in spellings(value).items()
        if needle in path.read_bytes()
    ]


def test_undeclared_secrets_reach_no_step_and_no_record_file(run_cli, write_runbook, tmp_path):
    """A ``RUNBOOK_SECRET_*`` of another runbook (the operator's shell holds many) reaches no
    step, and is masked where it turns up anyway (pasted into a plain parameter)."""
    source = write_runbook(tmp_path, OTHER_SECRETS_RUNBOOK)
    token, other = make_secret(), make_secret()
    result = run_cli(
        ["run", source, "--records", tmp_path / "records", "--no-progress", "-p", "note", other],
        cwd=tmp_path,
        env={"RUNBOOK_SECRET_TOKEN": token, "RUNBOOK_SECRET_OTHER": other},
    )
    assert result.rc == 0, result.stdout + result.stderr
    log = (result.record_dir / "logs" / "1-1.log").read_text(encoding="utf-8")
    assert "secret variables: 0; token: 24 characters" in log
    assert "note: ***" in log
    assert _leaks(result.record_dir, token, other) == []
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"] == {"token": "***", "note": "***"}


def test_undeclared_secrets_stay_out_of_an_interactive_record(tmp_path):
    from labdrive import LabNotebook

    token, other = make_secret(), make_secret()
    lab = LabNotebook(
        tmp_path,
        OTHER_SECRETS_RUNBOOK,
        env={"RUNBOOK_SECRET_TOKEN": token, "RUNBOOK_SECRET_OTHER": other},
    )
    try:
        assert lab.parameters(note=other).status == "ok"
        assert lab.run("setup").status == "ok"
        ran = lab.run("step/1-1")
        assert ran.status == "ok", ran
        assert "secret variables: 0; token: 24 characters" in ran.text
        assert other not in ran.text and token not in ran.text
        assert lab.run("finish").status == "ok"
    finally:
        lab.close()
    assert lab.manifest()["status"] == "succeeded"
    assert _leaks(lab.record(), token, other) == []
