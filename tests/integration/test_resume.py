"""``runbook resume``: a stopped run continues where it stopped, with the shell state it had.

A three-step runbook: 1-1 exports variables (one holding a secret) and changes
directory, 1-2 fails until a file exists, 1-3 writes what it sees. The first run
fails; the file is created; the resumed run does not run 1-1 again, 1-3 sees the
variables and the directory, and both records verify and are linked.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import time
from pathlib import Path

import pytest
from evidence import disagreements, status_disagreements

pytestmark = pytest.mark.integration

SECRET = "tok-7f3c9a-resume-secret"

RUNBOOK = """\
---
id: resume-demo
lang: en
parameters:
  work:
    required: true
  token:
    secret: true
---

# Runbook: resume

## Procedure

#### 1-1. Prepare

```bash
mkdir -p "$work/sub"
cd "$work/sub"
export GREETING="hello from step one"
export AUTH="Bearer $token"
export VAULT_TOKEN="$(printf 'vault-%s-credential' fetched)"
echo ran >> "$work/step1.count"
echo "prepared in $(pwd)"
```

**Expected result**:

```text {match=contains}
prepared in
```

**Verify**:
- [ ] The directory exists

#### 1-2. Needs the file

```bash
test -f "$work/ready"
if [ -f "$work/slow" ]; then touch "$work/started"; sleep 60; fi
```

#### 1-3. Use the state

```bash
echo "greeting=$GREETING"
test "$AUTH" = "Bearer $token"
{ echo "$GREETING"; pwd; } > "$work/step3.txt"
```

## Rollback

#### 1. Undo

```bash
{ echo "$GREETING"; pwd; } > "$work/rollback.txt"
```
"""


def manifest(record: Path) -> dict:
    return json.loads((record / "manifest.json").read_text(encoding="utf-8"))


def statuses(record: Path) -> dict[str, str]:
    return {s["id"]: s["status"] for s in manifest(record)["steps"]}


def continue_line(stdout: str) -> list[str]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("to continue: ")]
    return shlex.split(line.removeprefix("to continue: "))


@pytest.fixture
def demo(tmp_path, write_runbook):
    source = write_runbook(tmp_path, RUNBOOK, "resume.md")
    records = tmp_path / "records"
    env = {"RUNBOOK_SECRET_TOKEN": SECRET}
    run = ["run", source, "-p", "work", tmp_path, "--records", records, "--no-progress"]
    return tmp_path, source, records, env, run


def resume_args(run_id: str, records: Path, *extra: str) -> list:
    return ["resume", run_id, "--records", records, "--no-progress", *extra]


def assert_no_secret(records: Path) -> None:
    for path in records.rglob("*"):
        if path.is_file() and path.suffix != ".sqlite":
            text = path.read_text(encoding="utf-8", errors="replace")
            assert SECRET not in text and "vault-fetched-credential" not in text, path


def test_failed_run_fixed_and_resumed(demo, run_inprocess, run_cli):
    work, _source, records, env, run = demo
    first = run_inprocess([*run, "--confirm", "all"], cwd=work, env=env)
    assert first.rc == 1, first.stdout + first.stderr
    a = first.record_dir
    assert continue_line(first.stdout)[:3] == ["runbook", "resume", a.name]

    (work / "ready").touch()
    second = run_inprocess(resume_args(a.name, records), cwd=work, env=env)
    assert second.rc == 0, second.stdout + second.stderr
    b = second.record_dir
    assert b != a and b.parent == a.parent

    assert (work / "step1.count").read_text().splitlines() == ["ran"]  # 1-1 ran once
    assert (work / "step3.txt").read_text().splitlines() == [
        "hello from step one",
        str(work / "sub"),
    ]

    m = manifest(b)
    assert m["resumes"] == a.name and m["status"] == "succeeded"
    assert statuses(b)["1-1"] == f"succeeded (in {a.name})"
    assert statuses(b)["1-2"] == statuses(b)["1-3"] == "succeeded"
    assert not status_disagreements(b)  # the carried step's line says so in every file
    assert not status_disagreements(a)
    assert {s["id"]: s.get("in") for s in m["steps"]}["1-1"] == a.name
    # The tick of the first run is carried as a fact of the first run: same person, same time.
    first_check = {c["id"]: c for c in manifest(a)["checks"]}["1-1.verify.1"]
    carried = {c["id"]: c for c in m["checks"]}["1-1.verify.1"]
    assert first_check["checked"] and carried == first_check

    (restored,) = [
        json.loads(line)
        for line in (b / "journal.jsonl").read_text(encoding="utf-8").splitlines()
        if '"state_restored"' in line
    ]
    assert restored["exported"] == ["AUTH", "GREETING"]
    assert restored["not_restored"] == ["VAULT_TOKEN"]  # a credential a step fetched: withheld

    verify = run_cli(["records", "verify", "--all", "--records", records])
    assert verify.rc == 0, verify.stdout
    for record in (a, b):
        assert run_cli(["records", "verify", record.name, "--records", records]).rc == 0
    shown = run_cli(["records", "show", a.name, "--records", records]).stdout
    assert f"chain      {a.name} (failed) -> {b.name} (succeeded)" in shown
    assert "final      succeeded" in shown
    listed = json.loads(run_cli(["records", "list", "--json", "--records", records]).stdout)
    assert [(r["run_id"], r["status"], r["resumes"]) for r in listed] == [
        (b.name, "succeeded", a.name)
    ]
    assert_no_secret(records)
    texts = {
        "show": run_cli(["records", "show", b.name, "--records", records]).stdout,
        "export.md": run_cli(
            ["records", "export", b.name, "--format", "md", "--records", records]
        ).stdout,
    }
    assert not disagreements(b, texts)

    again = run_inprocess(resume_args(a.name, records), cwd=work, env=env)
    assert again.rc == 2 and "already resumed by" in again.stderr, again.stderr
    done = run_inprocess(resume_args(b.name, records), cwd=work, env=env)
    assert done.rc == 2 and "succeeded" in done.stderr, done.stderr


def test_blocked_run_prints_the_resume_command_and_resumes_with_confirm_all(demo, run_inprocess):
    work, _source, records, env, run = demo
    (work / "ready").touch()
    first = run_inprocess(run, cwd=work, env=env)
    assert first.rc == 3, first.stdout + first.stderr
    command = continue_line(first.stdout)
    assert command == [
        "runbook",
        "resume",
        first.record_dir.name,
        "--confirm",
        "1-1.verify",
        "--records",
        str(records),
    ]
    assert statuses(first.record_dir)["1-1"] == "succeeded"

    second = run_inprocess(
        resume_args(first.record_dir.name, records, "--confirm", "all"), cwd=work, env=env
    )
    assert second.rc == 0, second.stdout + second.stderr
    assert (work / "step1.count").read_text().splitlines() == ["ran"]
    checks = {c["id"]: c for c in manifest(second.record_dir)["checks"]}
    assert checks["1-1.verify.1"]["checked"] and checks["1-1.verify.1"]["by"]


def test_changed_runbook_or_missing_secret_is_refused(demo, run_inprocess):
    work, source, records, env, run = demo
    first = run_inprocess([*run, "--confirm", "all"], cwd=work, env=env)
    assert first.rc == 1
    missing = run_inprocess(resume_args(first.record_dir.name, records), cwd=work)
    assert missing.rc == 2 and "RUNBOOK_SECRET_TOKEN" in missing.stderr, missing.stderr
    source.write_text(RUNBOOK.replace("echo ran", "echo changed"), encoding="utf-8")
    changed = run_inprocess(resume_args(first.record_dir.name, records), cwd=work, env=env)
    assert changed.rc == 2 and "changed since run" in changed.stderr, changed.stderr
    assert len(list(records.glob("*/*/manifest.json"))) == 1  # nothing ran


def test_resumed_run_interrupted_by_sigterm_resumes_again(demo, run_inprocess, start_cli, run_cli):
    work, _source, records, env, run = demo
    first = run_inprocess([*run, "--confirm", "all"], cwd=work, env=env)
    assert first.rc == 1
    (work / "ready").touch()
    (work / "slow").touch()
    proc = start_cli(resume_args(first.record_dir.name, records), cwd=work, env=env)
    deadline = time.monotonic() + 120
    while not (work / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout.decode() + stderr.decode()
    second = Path(stdout.decode().splitlines()[-1])
    second = second if second.is_absolute() else work / second
    assert manifest(second)["status"] == "interrupted"

    (work / "slow").unlink()
    third = run_inprocess(resume_args(second.name, records), cwd=work, env=env)
    assert third.rc == 0, third.stdout + third.stderr
    m = manifest(third.record_dir)
    assert m["resumes"] == second.name
    assert statuses(third.record_dir)["1-1"] == f"succeeded (in {first.record_dir.name})"
    assert (work / "step1.count").read_text().splitlines() == ["ran"]
    assert (work / "step3.txt").read_text().splitlines()[0] == "hello from step one"
    assert run_cli(["records", "verify", "--all", "--records", records]).rc == 0
    shown = run_cli(["records", "show", third.record_dir.name, "--records", records]).stdout
    assert (
        " -> ".join(
            f"{r} ({s})"
            for r, s in (
                (first.record_dir.name, "failed"),
                (second.name, "interrupted"),
                (third.record_dir.name, "succeeded"),
            )
        )
        in shown
    )
    listed = json.loads(run_cli(["records", "list", "--json", "--records", records]).stdout)
    assert [r["run_id"] for r in listed] == [third.record_dir.name]


def test_rollback_after_resume_sees_the_restored_state(demo, run_inprocess):
    work, _source, records, env, run = demo
    first = run_inprocess([*run, "--confirm", "all"], cwd=work, env=env)
    assert first.rc == 1
    second = run_inprocess(
        resume_args(first.record_dir.name, records, "--rollback-on-failure"), cwd=work, env=env
    )
    assert second.rc == 1, second.stdout + second.stderr
    assert "rollback: succeeded" in second.stdout
    assert (work / "rollback.txt").read_text().splitlines() == [
        "hello from step one",
        str(work / "sub"),
    ]
    assert (work / "step1.count").read_text().splitlines() == ["ran"]
    assert "to continue" not in second.stdout  # rolled back: start anew
    events = [
        json.loads(line)
        for line in (second.record_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [e["step"] for e in events if e["event"] == "step_carried"] == ["1-1"]  # once
    restored = [e for e in events if e["event"] == "state_restored"]
    assert [e["cwd"] for e in restored] == [str(work / "sub")] * 2  # resumed, then rollback pass
    assert all("GREETING" in e["exported"] and "AUTH" in e["exported"] for e in restored)
    refused = run_inprocess(resume_args(second.record_dir.name, records), cwd=work, env=env)
    assert refused.rc == 2 and "rolled back" in refused.stderr
    assert os.path.isdir(work / "sub")


def test_a_notebook_that_changed_since_the_run_is_refused(demo, run_inprocess):
    import nbformat

    work, source, records, env, _run = demo
    notebook = work / "resume.ipynb"
    converted = run_inprocess(["convert", source, "-o", notebook], cwd=work)
    assert converted.rc == 0, converted.stderr
    run = ["run", notebook, "-p", "work", work, "--records", records, "--no-progress"]
    first = run_inprocess([*run, "--confirm", "all"], cwd=work, env=env)
    assert first.rc == 1, first.stdout + first.stderr
    nb = nbformat.read(notebook, as_version=4)
    step = next(c for c in nb.cells if c.source.startswith("%%step 1-3"))
    step.source += "\necho one more command"
    nbformat.write(nb, notebook)
    changed = run_inprocess(resume_args(first.record_dir.name, records), cwd=work, env=env)
    assert changed.rc == 2 and "notebook changed since run" in changed.stderr, changed.stderr


def test_an_unset_variable_stays_unset_in_later_steps_and_after_resume(tmp_path, run_inprocess):
    """unset http_proxy in one step: the next step, and a resumed run, run without it."""
    fence = "```"
    source = tmp_path / "unset.md"
    source.write_text(
        f"# T\n\n## Procedure\n\n#### 1-1. Flag\n\n{fence}bash\nexport FEATURE=on\n{fence}\n\n"
        f"#### 1-2. Drop\n\n{fence}bash\nunset FEATURE http_proxy\n{fence}\n\n"
        f"#### 1-3. Use\n\n{fence}bash\n"
        'echo "${FEATURE-unset} ${http_proxy-unset}" >> seen; test -e go\n'
        f"{fence}\n",
        encoding="utf-8",
    )
    records = str(tmp_path / "records")
    env = {"http_proxy": "http://proxy.invalid:3128"}
    first = run_inprocess(
        ["run", str(source), "--records", records, "--no-progress"], cwd=tmp_path, env=env
    )
    assert first.rc == 1, first.stdout + first.stderr
    (tmp_path / "go").touch()
    second = run_inprocess(resume_args(first.record_dir.name, records), cwd=tmp_path, env=env)
    assert second.rc == 0, second.stdout + second.stderr
    assert (tmp_path / "seen").read_text().splitlines() == ["unset unset", "unset unset"]


def test_a_record_altered_after_sealing_is_not_resumed(demo, run_inprocess):
    """Its journal says what succeeded and what the shell carried: forging a success there
    must not skip a failed step."""
    work, _source, records, env, run = demo
    first = run_inprocess([*run, "--confirm", "all"], cwd=work, env=env)
    assert first.rc == 1, first.stdout + first.stderr
    journal = first.record_dir / "journal.jsonl"
    journal.chmod(0o644)
    journal.write_text(journal.read_text(encoding="utf-8").replace('"failed"', '"succeeded"'))
    refused = run_inprocess(resume_args(first.record_dir.name, records), cwd=work, env=env)
    assert refused.rc == 2, refused.stdout + refused.stderr
    assert "does not verify" in refused.stderr and "journal.jsonl" in refused.stderr


def test_a_run_killed_before_its_kernel_started_is_sealed_and_resumes(demo, run_inprocess):
    """Its journal holds only the runner's run_start: recovery seals it with the runbook's
    id and sha256 from there, so resume does not take it for a changed runbook."""
    import subprocess
    import sys

    work, _source, records, env, run = demo
    killed = subprocess.run(
        [sys.executable, "-m", "converter", *map(str, run), "--confirm", "all"],
        cwd=work,
        env={**os.environ, **env, "RUNBOOK_FAULT": "seal:run:started"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == 137, killed.stdout + killed.stderr
    assert run_inprocess(["records", "list", "--records", records], cwd=work).rc == 0  # seals it
    (record,) = [d for d in (records / "resume-demo").iterdir() if (d / "manifest.json").exists()]
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "interrupted"
    assert manifest["runbook"]["id"] == "resume-demo" and manifest["runbook"]["source_sha256"]
    resumed = run_inprocess(
        [*resume_args(record.name, records), "--confirm", "all"], cwd=work, env=env
    )
    assert resumed.rc in (0, 1), resumed.stdout + resumed.stderr  # it ran, as any resume does
    assert "changed" not in resumed.stderr
