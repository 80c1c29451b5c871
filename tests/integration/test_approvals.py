"""Four eyes (issue 10): plan, signed approvals by other people, then run.

Real ssh-keygen, real keys made by the test: Alice and Bob approve, Carol runs.
"""

from __future__ import annotations

import html
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from evidence import disagreements
from sshkeys import allowed_signers, make_key, require_ssh_keygen

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

FOUR_EYES = """
    ---
    id: four-eyes
    lang: en
    parameters:
      target:
        type: str
        default: db1
    ---

    # Runbook: Four eyes

    ## Prerequisites

    ```bash
    echo "tool-check-ran"
    ```

    ## Procedure

    #### 1-1. Say hello

    ```bash
    echo "hello $target"
    ```

    ## Approval

    - [ ] Operator: the person who runs
    - [ ] Reviewer: reads the plan
    - [ ] Approver (if production is affected): signs off
"""


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    require_ssh_keygen()
    made = {name: make_key(tmp_path, name) for name in ("alice", "bob", "carol", "mallory")}
    trusted = allowed_signers(
        tmp_path,
        made["alice"],
        made["bob"],
        made["carol"],
        namespaces="runbook-record,runbook-approval",
    )
    return {**made, "allowed": trusted}


def _plan(run_inprocess, tmp_path: Path, source: Path, *extra: object) -> str:
    result = run_inprocess(
        ["plan", source, "--records", tmp_path / "records", *extra], cwd=tmp_path
    )
    assert result.rc == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _approve(run_inprocess, tmp_path: Path, keys, plan: str, role: str, who: str, *extra):
    return run_inprocess(
        [
            "approve",
            plan,
            "--role",
            role,
            "--key",
            keys[who],
            "--allowed-signers",
            keys["allowed"],
            "--records",
            tmp_path / "records",
            *extra,
        ],
        cwd=tmp_path,
    )


def _blocked_before_any_step(result, *why: str) -> list[dict]:
    """A sealed ``blocked`` record that ran no step, naming ``why``; its journal."""
    assert result.rc == 3, result.stdout + result.stderr
    assert result.record_dir is not None, result.stdout
    manifest = json.loads((result.record_dir / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "blocked"
    assert manifest["failure"]["step"] == "pre-1"
    for text in why:
        assert text in manifest["failure"]["reason"] and text in result.stdout
    lines = (result.record_dir / "journal.jsonl").read_text("utf-8").splitlines()
    journal = [json.loads(line) for line in lines]
    assert not [e for e in journal if e["event"] == "step_start"]
    return journal


def _verify(run_inprocess, tmp_path: Path, keys):
    return run_inprocess(
        [
            "records",
            "verify",
            "--all",
            "--records",
            tmp_path / "records",
            "--allowed-signers",
            keys["allowed"],
        ],
        cwd=tmp_path,
    )


def _run(run_inprocess, tmp_path: Path, keys, source: Path, *extra: object):
    return run_inprocess(
        [
            "run",
            source,
            "--records",
            tmp_path / "records",
            "--no-progress",
            "--signing-key",
            keys["carol"],
            "--allowed-signers",
            keys["allowed"],
            *extra,
        ],
        cwd=tmp_path,
    )


@pytest.fixture
def source(write_runbook, tmp_path: Path) -> Path:
    return write_runbook(tmp_path, FOUR_EYES, "four-eyes.md")


def test_alice_and_bob_approve_carol_runs(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    first = _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice", "--comment", "ok")
    assert first.rc == 0, first.stderr
    assert "missing: Approver" in first.stdout
    second = _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    assert "missing: none" in second.stdout
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    assert result.rc == 0, result.stdout + result.stderr
    approvals = json.loads((result.record_dir / "approvals.json").read_text("utf-8"))
    assert {(a["role"], a["principal"], a["valid"]) for a in approvals} == {
        ("Reviewer", "alice", True),
        ("Approver", "bob", True),
    }
    assert [a["comment"] for a in approvals if a["role"] == "Reviewer"] == ["ok"]
    assert (result.record_dir / "plan.json").is_file()
    manifest = json.loads((result.record_dir / "manifest.json").read_text("utf-8"))
    assert "approvals.json" in json.dumps(manifest)
    journal = (result.record_dir / "journal.jsonl").read_text("utf-8")
    assert '"via": "signature"' in journal and '"by": "alice"' in journal
    signed = {a["principal"]: a["signed_at"] for a in approvals}
    checks = {c["text"].split(":")[0].split(" (")[0]: c for c in manifest["checks"]}
    assert (checks["Reviewer"]["by"], checks["Reviewer"]["at"]) == ("alice", signed["alice"])
    assert (checks["Approver"]["by"], checks["Approver"]["at"]) == ("bob", signed["bob"])
    assert checks["Operator"]["by"] == "carol" and checks["Operator"]["checked"]
    shown = run_inprocess(
        ["records", "show", "last", "--records", tmp_path / "records"], cwd=tmp_path
    )
    assert "Reviewer: alice at" in shown.stdout and "valid signature" in shown.stdout
    assert "“ok”" in shown.stdout  # the comment
    assert {(a["principal"], a["role"]) for a in manifest["approvals"]} == {
        ("alice", "Reviewer"),
        ("bob", "Approver"),
    }
    listed = run_inprocess(
        ["records", "list", "--records", tmp_path / "records"], cwd=tmp_path
    ).stdout.splitlines()
    assert "APPROVERS" in listed[0]
    assert listed[1].endswith("alice (Reviewer), bob (Approver)"), listed
    as_json = run_inprocess(
        ["records", "list", "--json", "--records", tmp_path / "records"], cwd=tmp_path
    )
    assert json.loads(as_json.stdout)[0]["approvers"] == [
        {"principal": "alice", "role": "Reviewer"},
        {"principal": "bob", "role": "Approver"},
    ]
    views = {"show": shown.stdout}
    for fmt in ("md", "html"):
        exported = run_inprocess(
            ["records", "export", "last", "--format", fmt, "--records", tmp_path / "records"],
            cwd=tmp_path,
        )
        views[f"export.{fmt}"] = html.unescape(exported.stdout)
    assert not disagreements(result.record_dir, views)
    page = html.unescape((result.record_dir / "record.html").read_text("utf-8"))
    assert "approved by alice, signature of " + signed["alice"] in page
    verified = run_inprocess(
        [
            "records",
            "verify",
            "--all",
            "--records",
            tmp_path / "records",
            "--allowed-signers",
            keys["allowed"],
        ],
        cwd=tmp_path,
    )
    assert verified.rc == 0, verified.stdout
    approvals[0]["comment"] = "changed"
    kept = result.record_dir / "approvals.json"
    kept.chmod(0o644)
    kept.write_text(json.dumps(approvals), "utf-8")
    tampered = run_inprocess(
        [
            "records",
            "verify",
            "--all",
            "--records",
            tmp_path / "records",
            "--allowed-signers",
            keys["allowed"],
        ],
        cwd=tmp_path,
    )
    assert tampered.rc == 1
    assert "does not verify" in tampered.stdout + tampered.stderr


def test_operator_cannot_approve_own_run(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "carol")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    _blocked_before_any_step(result, "carol cannot approve their own run")
    assert _verify(run_inprocess, tmp_path, keys).rc == 0


def test_a_plan_changed_after_it_was_made_blocks_before_any_step(
    run_inprocess, tmp_path, keys, source
):
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    written = tmp_path / "records" / ".plans" / plan / "plan.json"
    written.write_text(written.read_text("utf-8").replace('"db1"', '"db9"'), "utf-8")
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan, "-p", "target", "db9")
    _blocked_before_any_step(result, "plan.json was changed after it was made")


def test_unknown_key_and_unknown_role_are_refused(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    unknown_key = _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "mallory")
    assert unknown_key.rc == 2, unknown_key.stdout
    unknown_role = _approve(run_inprocess, tmp_path, keys, plan, "Janitor", "alice")
    assert unknown_role.rc == 2
    assert "Janitor" in unknown_role.stderr


def test_changed_parameters_or_runbook_are_refused(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    changed = _run(run_inprocess, tmp_path, keys, source, "--plan", plan, "-p", "target", "db2")
    _blocked_before_any_step(changed, "parameters differ from the plan: target")
    source.write_text(source.read_text("utf-8").replace("hello", "bye"), "utf-8")
    edited = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    _blocked_before_any_step(edited, "runbook changed")


def test_a_notebook_edited_after_approval_is_refused(run_inprocess, tmp_path, keys, source):
    """A notebook's metadata keeps the source_sha256 of its Markdown whatever its cells
    say: the run compares the step commands with the plan's."""
    assert run_inprocess(["convert", source, "-o", tmp_path / "nb"], cwd=tmp_path).rc == 0
    notebook = tmp_path / "nb" / f"{source.stem}.ipynb"
    plan = _plan(run_inprocess, tmp_path, notebook)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    notebook.write_text(notebook.read_text("utf-8").replace("hello", "not approved"), "utf-8")
    edited = _run(run_inprocess, tmp_path, keys, notebook, "--plan", plan)
    _blocked_before_any_step(edited, "runbook changed")


def test_expired_plan_is_refused(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan, "--max-age", "1e-9")
    _blocked_before_any_step(result, "expired")


def test_a_plan_dated_in_the_future_is_refused(run_inprocess, tmp_path, keys, source):
    """A created_at to come (another clock, or an edit before approving) would never expire."""
    from datetime import datetime, timedelta

    from converter.records.plans import check_plan, find_plan, read_plan

    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    directory = find_plan(tmp_path / "records", plan)
    body = read_plan(directory)
    made = datetime.fromisoformat(str(body["created_at"]).replace("Z", "+00:00"))

    def problems(now: datetime) -> list[str]:
        return check_plan(
            directory, source_sha256=body["source_sha256"], parameters=body["parameters"],
            operator="carol", allowed_signers=str(keys["allowed"]), now=now,
        ).problems  # fmt: skip

    assert problems(made + timedelta(minutes=1)) == []
    assert problems(made - timedelta(minutes=1)) == []  # within the clocks' skew
    (why,) = problems(made - timedelta(days=1))
    assert "dated in the future" in why


def test_an_unknown_signer_blocks_before_any_step(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    trusted = keys["allowed"].read_text("utf-8").splitlines()
    keys["allowed"].write_text("\n".join(t for t in trusted if "bob" not in t) + "\n", "utf-8")
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    _blocked_before_any_step(result, "approval of Approver by bob is invalid")


def test_confirm_all_alone_is_blocked_at_the_first_procedure_step(
    run_inprocess, tmp_path, keys, source
):
    result = _run(run_inprocess, tmp_path, keys, source, "--confirm", "all")
    assert result.rc == 3, result.stdout + result.stderr
    manifest = json.loads((result.record_dir / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "blocked"
    assert manifest["failure"]["step"] == "1-1"
    assert "approval missing for: Reviewer, Approver" in manifest["failure"]["reason"]
    assert "blocked: 1-1 approval missing for: Reviewer, Approver" in result.stdout
    statuses = {s["id"]: s["status"] for s in manifest["steps"]}
    assert statuses == {"pre-1": "succeeded", "1-1": "blocked"}  # the tool check ran
    checks = {c["text"].split(":")[0].split(" (")[0]: c for c in manifest["checks"]}
    assert not checks["Reviewer"]["checked"] and not checks["Approver"]["checked"]
    assert "--plan PLAN" in result.stdout  # how to continue once approved
    assert _verify(run_inprocess, tmp_path, keys).rc == 0


def test_a_resume_refused_at_the_approvals_still_carries_what_succeeded(
    run_inprocess, write_runbook, tmp_path, keys
):
    """The refused record takes over the earlier successes, so the next resume does not
    run them again."""
    two_steps = textwrap.dedent(FOUR_EYES).replace(
        '#### 1-1. Say hello\n\n```bash\necho "hello $target"\n```',
        "#### 1-1. Once\n\n```bash\necho once >> trace\n```\n\n"
        "#### 1-2. When ready\n\n```bash\ntest -e go\n```",
    )
    assert "1-2. When ready" in two_steps
    source = write_runbook(tmp_path, two_steps, "four-eyes.md")
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    first = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    assert first.rc == 1, first.stdout + first.stderr
    assert f"runbook resume {first.record_dir.name} --plan {plan}" in first.stdout  # the hint
    (tmp_path / "go").touch()

    def resume(run_id: str, who: str):
        return run_inprocess(
            [
                "resume", run_id, "--plan", plan, "--records", tmp_path / "records",
                "--no-progress", "--signing-key", keys[who], "--allowed-signers", keys["allowed"],
            ],
            cwd=tmp_path,
        )  # fmt: skip

    refused = resume(first.record_dir.name, "alice")  # alice approved: she may not run it
    assert refused.rc == 3, refused.stdout + refused.stderr
    done = resume(refused.record_dir.name, "carol")
    assert done.rc == 0, done.stdout + done.stderr
    assert (tmp_path / "trace").read_text().splitlines() == ["once"]


def test_a_run_blocked_on_approvals_resumes_with_the_approved_plan(
    run_inprocess, tmp_path, keys, source
):
    blocked = _run(run_inprocess, tmp_path, keys, source)
    assert blocked.rc == 3, blocked.stdout + blocked.stderr
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    resumed = run_inprocess(
        [
            "resume",
            blocked.record_dir.name,
            "--plan",
            plan,
            "--records",
            tmp_path / "records",
            "--no-progress",
            "--signing-key",
            keys["carol"],
            "--allowed-signers",
            keys["allowed"],
        ],
        cwd=tmp_path,
    )
    assert resumed.rc == 0, resumed.stdout + resumed.stderr
    manifest = json.loads((resumed.record_dir / "manifest.json").read_text("utf-8"))
    assert manifest["resumes"] == blocked.record_dir.name
    statuses = {s["id"]: s["status"] for s in manifest["steps"]}
    assert statuses["1-1"] == "succeeded"
    assert statuses["pre-1"].startswith("succeeded (in ")  # not run again
    approvals = json.loads((resumed.record_dir / "approvals.json").read_text("utf-8"))
    assert {a["principal"] for a in approvals} == {"alice", "bob"}
    assert _verify(run_inprocess, tmp_path, keys).rc == 0


def test_role_not_applicable_is_signed_and_needs_no_approval(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source, "--role-not-applicable", "Approver")
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    assert result.rc == 0, result.stderr
    refused = run_inprocess(
        ["plan", source, "--records", tmp_path / "records", "--role-not-applicable", "Reviewer"],
        cwd=tmp_path,
    )
    assert refused.rc == 2


def test_japanese_template_roles(run_inprocess, tmp_path):
    source = ROOT / "templates" / "runbook-template.ja.md"
    result = run_inprocess(["plan", source, "--records", tmp_path / "records"], cwd=tmp_path)
    if result.rc != 0:  # required parameters without defaults: the roles still print
        pytest.skip(result.stderr)
    assert "必要な承認: エンジニアリングマネージャー, SRE Lead, セキュリティチーム" in (
        result.stdout
    )


def test_sqlite_example_with_reviewer(run_inprocess, tmp_path, keys):
    source = tmp_path / "sqlite.md"
    text = (ROOT / "templates" / "sqlite-phone-number.ja.md").read_text("utf-8")
    source.write_text(text.replace("approvals: none\n", ""), "utf-8")
    db = ["-p", "db_path", tmp_path / "demo.db"]
    plan = _plan(run_inprocess, tmp_path, source, *db)
    approved = _approve(run_inprocess, tmp_path, keys, plan, "レビュー担当者", "alice")
    assert approved.rc == 0, approved.stderr
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan, "--confirm", "all", *db)
    assert result.rc == 0, result.stdout + result.stderr
    shutil.rmtree(tmp_path / "records")


def test_kernel_blocks_without_plan_and_runs_with_one(
    run_inprocess, tmp_path, keys, source, monkeypatch
):
    """The JupyterLab/papermill path: the ``plan`` setting in the parameters cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.setenv("RUNBOOK_ALLOWED_SIGNERS", str(keys["allowed"]))
    notebook = tmp_path / "four-eyes.ipynb"
    assert run_inprocess(["convert", source, "-o", notebook], cwd=tmp_path).rc == 0
    records = tmp_path / "records"
    settings = {"records_dir": str(records), "operator": "carol", "confirm": ["all"]}
    with pytest.raises(PapermillExecutionError, match="approvals"):
        papermill.execute_notebook(
            str(notebook), str(tmp_path / "blocked.ipynb"), parameters=settings, cwd=tmp_path
        )
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "approved.ipynb"),
        parameters={**settings, "plan": plan},
        cwd=tmp_path,
    )
    kept = sorted(records.glob("four-eyes/*/approvals.json"))
    assert len(kept) == 1
    assert {a["principal"] for a in json.loads(kept[0].read_text("utf-8"))} == {"alice", "bob"}


def test_kernel_runs_only_the_commands_the_plan_approved(
    run_inprocess, tmp_path, keys, source, monkeypatch
):
    """In JupyterLab a cell can be edited after approval (the notebook's metadata still
    names the approved source): the kernel runs a step only as the plan has it."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.setenv("RUNBOOK_ALLOWED_SIGNERS", str(keys["allowed"]))
    notebook = tmp_path / "four-eyes.ipynb"
    assert run_inprocess(["convert", source, "-o", notebook], cwd=tmp_path).rc == 0
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
    edited = notebook.read_text("utf-8").replace('echo \\"hello', 'touch edited; echo \\"hello')
    assert edited != notebook.read_text("utf-8")
    notebook.write_text(edited, "utf-8")
    records = tmp_path / "records"
    settings = {"records_dir": str(records), "operator": "carol", "confirm": ["all"]}
    with pytest.raises(PapermillExecutionError, match="not what plan"):
        papermill.execute_notebook(
            str(notebook),
            str(tmp_path / "edited.ipynb"),
            parameters={**settings, "plan": plan},
            cwd=tmp_path,
        )
    assert not (tmp_path / "edited").exists()
    (journal,) = records.glob("four-eyes/*/journal.jsonl")
    events = [json.loads(line) for line in journal.read_text("utf-8").splitlines()]
    assert [e["step"] for e in events if e["event"] == "step_start"] == ["pre-1"]
    (blocked,) = [e for e in events if e["event"] == "blocked"]
    assert blocked["step"] == "1-1" and plan in blocked["unchecked"][0]


def test_a_rollback_needs_the_approvals_too_and_follows_only_a_change(
    run_inprocess, write_runbook, tmp_path, keys
):
    """A rollback changes systems as the procedure does: without the approved plan its
    steps are blocked (the rollback mode of the notebook, as under papermill); and a run
    that failed at a prerequisite changed nothing, so --rollback-on-failure undoes nothing."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    text = textwrap.dedent(FOUR_EYES).replace('echo "tool-check-ran"', "test -e go") + (
        "\n## Rollback\n\n```bash\ntouch rolled-back\n```\n"
    )
    source = write_runbook(tmp_path, text, "four-eyes.md")
    failed = _run(
        run_inprocess, tmp_path, keys, source, "--confirm", "all", "--rollback-on-failure"
    )
    assert failed.rc == 1, failed.stdout + failed.stderr
    manifest = json.loads((failed.record_dir / "manifest.json").read_text("utf-8"))
    assert manifest["failure"]["step"] == "pre-1" and manifest.get("rollback") is None
    assert not (tmp_path / "rolled-back").exists()
    notebook = tmp_path / "four-eyes.ipynb"
    assert run_inprocess(["convert", source, "-o", notebook], cwd=tmp_path).rc == 0
    settings = {"records_dir": str(tmp_path / "records"), "rollback": True, "confirm": ["all"]}
    with pytest.raises(PapermillExecutionError, match="approvals"):
        papermill.execute_notebook(
            str(notebook), str(tmp_path / "rb.ipynb"), parameters=settings, cwd=tmp_path
        )
    assert not (tmp_path / "rolled-back").exists()


def test_one_person_cannot_approve_two_roles(run_inprocess, tmp_path, keys, source):
    plan = _plan(run_inprocess, tmp_path, source)
    _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    _approve(run_inprocess, tmp_path, keys, plan, "Approver", "alice")
    result = _run(run_inprocess, tmp_path, keys, source, "--plan", plan)
    _blocked_before_any_step(result, "alice approved more than one role")


def test_plan_never_holds_a_secret(run_inprocess, write_runbook, tmp_path):
    text = FOUR_EYES.replace(
        "        default: db1\n",
        "        default: db1\n      token:\n        type: str\n        secret: true\n",
    )
    source = write_runbook(tmp_path, text, "secret.md")
    made = run_inprocess(
        ["plan", source, "--records", tmp_path / "records"],
        cwd=tmp_path,
        env={"RUNBOOK_SECRET_TOKEN": "s3cr3t-value"},
    )
    assert made.rc == 0, made.stderr
    plan = made.stdout.strip().splitlines()[-1]
    written = next((tmp_path / "records" / ".plans").glob(f"{plan}/plan.json"))
    body = json.loads(written.read_text("utf-8"))
    assert body["parameters"]["token"] == "***"
    assert "s3cr3t-value" not in written.read_text("utf-8")
    assert "s3cr3t-value" not in (written.parent / "plan.html").read_text("utf-8")


FOUR_EYES_JA = """
    ---
    id: four-eyes-ja
    lang: ja
    parameters:
      target:
        type: str
        default: db1
    ---

    # Runbook: 四つの目

    ## 前提条件

    ```bash
    echo "tool-check-ran"
    ```

    ## 手順

    #### 1-1. あいさつ

    ```bash
    echo "hello $target"
    ```

    ## 承認

    - [ ] 作業担当者: 実行する人
    - [ ] レビュー担当者: プランを読む
"""


def test_japanese_runbook_plan_approve_and_refusals_are_japanese(
    run_inprocess, write_runbook, tmp_path, keys
):
    source = write_runbook(tmp_path, FOUR_EYES_JA, "four-eyes-ja.md")
    blocked = _run(run_inprocess, tmp_path, keys, source, "--confirm", "all")
    assert blocked.rc == 3, blocked.stdout + blocked.stderr
    assert "承認がありません: レビュー担当者" in blocked.stdout
    made = run_inprocess(["plan", source, "--records", tmp_path / "records"], cwd=tmp_path)
    assert made.rc == 0, made.stderr
    for line in ("ランブック: four-eyes-ja", "ステップ 1-1:", "必要な承認: レビュー担当者"):
        assert line in made.stdout, made.stdout
    plan = made.stdout.strip().splitlines()[-1]
    assert f"承認コマンド: runbook approve {plan} --role 'レビュー担当者' --key KEY" in made.stdout
    page = next((tmp_path / "records" / ".plans").glob(f"{plan}/plan.html"))
    assert "<h2>必要な承認</h2>" in page.read_text("utf-8")
    unknown = _approve(run_inprocess, tmp_path, keys, plan, "SRE Lead", "alice")
    assert unknown.rc == 2
    assert "ロール 'SRE Lead' はこのプランで承認を必要としません" in unknown.stderr
    own = _approve(run_inprocess, tmp_path, keys, plan, "レビュー担当者", "carol")
    assert own.rc == 0, own.stderr
    assert "承認しました: レビュー担当者（carol、" in own.stdout
    assert "未承認: なし（プランの承認がそろいました）" in own.stdout
    refused = _run(run_inprocess, tmp_path, keys, source, "--plan", plan, "-p", "target", "db2")
    _blocked_before_any_step(
        refused, "carol は自分の実行を承認できません", "パラメータがプランと異なります: target"
    )
    targets = tmp_path / "targets.csv"
    targets.write_text("target\ndb1\n", encoding="utf-8")
    fleet = ["--targets", targets, "--records", tmp_path / "records", "--no-progress"]
    unplanned = run_inprocess(["run", source, *fleet], cwd=tmp_path)
    assert unplanned.rc == 3
    assert "ブロック: このランブックには承認が必要です (レビュー担当者)" in unplanned.stderr
    single_plan = run_inprocess(["run", source, *fleet, "--plan", plan], cwd=tmp_path)
    assert single_plan.rc == 3
    assert "このプランはフリートのプランではありません" in single_plan.stderr


def test_english_runbook_messages_stay_english(run_inprocess, tmp_path, keys, source):
    made = run_inprocess(["plan", source, "--records", tmp_path / "records"], cwd=tmp_path)
    assert "roles required: Reviewer, Approver" in made.stdout
    plan = made.stdout.strip().splitlines()[-1]
    assert f"approve: runbook approve {plan} --role 'Reviewer' --key KEY" in made.stdout
    first = _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
    assert "approved: Reviewer by alice at " in first.stdout
    assert "missing: Approver" in first.stdout
    page = next((tmp_path / "records" / ".plans").glob(f"{plan}/plan.html"))
    assert "<h2>Roles required</h2>" in page.read_text("utf-8")


BUTTONS = (
    textwrap.dedent(FOUR_EYES)
    .lstrip()
    .replace(
        "## Approval",
        "#### 1-2. Flip by hand\n\n```bash {manual=true}\ntouch flipped\n```\n\n"
        "## Rollback\n\n```bash\ntouch rolled-back\n```\n\n## Approval",
    )
)


def test_the_buttons_need_the_approvals_and_run_only_what_the_plan_approved(
    run_inprocess, tmp_path, keys
):
    """A click is no way around the approvals: without a complete plan the manual and
    rollback buttons are blocked, and once the plan is approved the manual button runs
    a step only as the plan has it (the cell edited in JupyterLab and run unsaved)."""
    from labdrive import LabNotebook

    lab = LabNotebook(
        tmp_path, BUTTONS, env={"RUNBOOK_ALLOWED_SIGNERS": str(keys["allowed"])}, name="four-eyes"
    )
    edited = lab.cells["step/1-2"].replace("touch flipped", "touch flipped-edited")
    try:
        assert lab.run("setup").status == "ok"
        assert lab.run("step/1-1").ename == "StepBlocked"
        assert lab.run("step/1-2", source=edited).status == "ok"  # manual: a button
        refused = lab.click("runbook-manual")
        assert "StepBlocked: 1-2: approvals" in refused.text, refused

        plan = _plan(run_inprocess, tmp_path, lab.source)
        _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
        _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
        assert lab.parameters(plan=plan).status == "ok"
        assert lab.run("setup").status == "ok"  # the same session goes on, with the plan
        assert lab.run("step/1-1").status == "ok"
        assert lab.run("step/1-2", source=edited).status == "ok"
        refused = lab.click("runbook-manual")
        assert "not what plan" in refused.text, refused
        assert lab.run("step/1-2").status == "ok"  # the approved cell, as the plan has it
        ran = lab.click("runbook-manual")
        assert "succeeded" in ran.text, ran
    finally:
        lab.close()
    assert (tmp_path / "flipped").exists() and not (tmp_path / "flipped-edited").exists()


def test_the_rollback_button_needs_the_approvals(tmp_path, keys):
    from labdrive import LabNotebook

    lab = LabNotebook(
        tmp_path, BUTTONS, env={"RUNBOOK_ALLOWED_SIGNERS": str(keys["allowed"])}, name="four-eyes"
    )
    try:
        assert lab.run("setup").status == "ok"
        assert lab.run("rollback-panel").status == "ok"
        refused = lab.click("runbook-rollback")
        assert "StepBlocked: rollback-step: approvals" in refused.text, refused
    finally:
        lab.close()
    assert not (tmp_path / "rolled-back").exists()


def test_in_jupyterlab_the_operator_is_the_signing_keys_principal(run_inprocess, tmp_path, keys):
    """The record of an interactive run is signed, and names as its operator, the signing
    key's principal: the kernel compares the approvers with that name (not with the
    ``operator`` setting), so Alice cannot approve a plan and run it under another name."""
    from labdrive import LabNotebook

    lab = LabNotebook(
        tmp_path,
        FOUR_EYES,
        env={
            "RUNBOOK_ALLOWED_SIGNERS": str(keys["allowed"]),
            "RUNBOOK_SIGNING_KEY": str(keys["alice"]),
            "RUNBOOK_OPERATOR": "carol",
        },
        name="four-eyes",
    )
    try:
        plan = _plan(run_inprocess, tmp_path, lab.source)
        _approve(run_inprocess, tmp_path, keys, plan, "Reviewer", "alice")
        _approve(run_inprocess, tmp_path, keys, plan, "Approver", "bob")
        assert lab.parameters(plan=plan).status == "ok"
        setup = lab.run("setup")
        assert "Operator: alice" in setup.text, setup
        assert lab.run("step/pre-1").status == "ok"
        refused = lab.run("step/1-1")
        assert refused.ename == "StepBlocked", refused
        assert "alice cannot approve their own run" in refused.evalue
        assert lab.run("finish").status == "ok"
    finally:
        lab.close()
    manifest = lab.manifest()
    assert (manifest["status"], manifest["operator"]) == ("blocked", "alice")
    (start,) = [e for e in lab.journal() if e["event"] == "session_start"]
    assert start["operator"] == "alice"
    assert not [e for e in lab.journal() if e["event"] == "step_start" and e["step"] == "1-1"]
