"""A check is ticked only by an act that happened, and every file of a record says so alike.

``--confirm all`` is the operator's confirmation of every gate the run *reaches*:
a gate is ticked when its step is about to run, a step's verification list once
that step succeeded, the post-run list once the procedure finished, rollback
lists only in a rollback that ran, approvals never. The rollback pass never
ticks again. The manifest, record.ipynb, rollback.ipynb, record.html and both
exports show the same states and times (tests/evidence.py reads them).
"""

from __future__ import annotations

import html
import json

import pytest
from evidence import disagreements, from_manifest, status_disagreements

pytestmark = pytest.mark.integration

RUNBOOK = """\
---
id: evidence-demo
lang: en
approvals: none  # the approval list stays a list nobody ticks (test_approvals.py signs one)
parameters:
  fail:
    type: bool
    default: false
---

# Runbook: evidence

## Prerequisites

- [ ] Backup window agreed

## Procedure

#### 1-1. First

```bash
echo one
```

**Verify**:
- [ ] One was printed

#### 1-2. Second

```bash
if [ "$fail" = true ]; then echo "second failed on purpose"; exit 3; fi
```

**Verify**:
- [ ] Second is fine

#### 1-3. Third

```bash
echo three
```

**Verify**:
- [ ] Three was printed

## Rollback

#### 1. Undo

```bash
echo undo
```

**Verify**:
- [ ] Undone

## Checklists

### Post-execution

- [ ] Monitoring checked

## Approval

- [ ] Reviewer: bob
"""


EXPECTING = """\
---
id: evidence-expect
lang: en
---

# Runbook: expected result

## Procedure

#### 1-1. Greet

```bash
echo "hello from the step"
```

**Expected result**:

```text {match=contains}
goodbye
```
"""


def exports(run_cli, records, record):
    shown = run_cli(["records", "show", record.name, "--records", str(records)])
    md = run_cli(["records", "export", record.name, "--format", "md", "--records", str(records)])
    page = run_cli(
        ["records", "export", record.name, "--format", "html", "--records", str(records)]
    )
    assert shown.rc == md.rc == page.rc == 0, shown.stderr + md.stderr + page.stderr
    return {"show": shown.stdout, "export.md": md.stdout, "export.html": html.unescape(page.stdout)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, run_inprocess):
    work = tmp_path_factory.mktemp("evidence")
    source = work / "evidence.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    records = work / "records"
    base = ["run", str(source), "--records", str(records), "--confirm", "all", "--no-progress"]
    ok = run_inprocess(base, cwd=work)
    failed = run_inprocess([*base, "-p", "fail", "true", "--rollback-on-failure"], cwd=work)
    return records, ok, failed


@pytest.fixture(scope="module")
def mismatch(tmp_path_factory, run_inprocess):
    work = tmp_path_factory.mktemp("expect")
    (work / "expect.md").write_text(EXPECTING, encoding="utf-8")
    records = work / "records"
    run = run_inprocess(
        ["run", str(work / "expect.md"), "--records", str(records), "--no-progress"], cwd=work
    )
    assert run.rc == 1, run.stdout + run.stderr
    return records, run


def ticked(record):
    return {item for item, state in from_manifest(record).items() if state.checked}


def test_succeeded_run_ticks_only_what_it_reached(runs):
    _, ok, _ = runs
    assert ok.rc == 0, ok.stdout + ok.stderr
    assert ticked(ok.record_dir) == {
        "prerequisites-1.1",
        "1-1.verify.1",
        "1-2.verify.1",
        "1-3.verify.1",
        "checklists-1.1",
    }  # no rollback ran (its list stays unticked); approvals are never a parameter


def test_failed_and_rolled_back_run_never_confirms_what_did_not_happen(runs):
    _, _, failed = runs
    assert failed.rc == 1, failed.stdout + failed.stderr
    assert "rollback: succeeded" in failed.stdout
    # 1-2 failed: neither its list nor anything after it is confirmed; the rollback ran: its is.
    assert ticked(failed.record_dir) == {"prerequisites-1.1", "1-1.verify.1", "rollback-1.verify.1"}


CONTINUED = """\
# Runbook: Failure allowed

## Procedure

#### 1-1. Backup

```bash {continue_on_error=true}
exit 7
```

**Verify**:

- [ ] backup verified

#### 1-2. Next

```bash
echo next
```
"""


def test_confirm_all_never_ticks_the_list_of_a_step_that_failed(tmp_path, run_inprocess):
    """continue_on_error lets the run go on, but 'backup verified' after a failed backup
    would be a false tick: --confirm all stops there; naming the list is the operator's act."""
    source = tmp_path / "continued.md"
    source.write_text(CONTINUED, encoding="utf-8")
    base = ["run", str(source), "--records", str(tmp_path / "records"), "--no-progress"]
    blocked = run_inprocess([*base, "--confirm", "all"], cwd=tmp_path)
    assert blocked.rc == 3, blocked.stdout + blocked.stderr
    assert ticked(blocked.record_dir) == set()
    named = run_inprocess([*base, "--confirm", "all", "--confirm", "1-1.verify"], cwd=tmp_path)
    assert named.rc == 0, named.stdout + named.stderr
    assert ticked(named.record_dir) == {"1-1.verify.1"}


def test_rollback_pass_keeps_the_first_ticks_and_their_times(runs):
    _, _, failed = runs
    events = [
        json.loads(line) for line in (failed.record_dir / "journal.jsonl").read_text().splitlines()
    ]
    checks = [e["id"] for e in events if e["event"] == "check"]
    assert len(checks) == len(set(checks)), checks  # nothing ticked twice
    rollback_start = next(
        e["at"] for e in events if e["event"] == "pass_start" and e["name"] == "rollback"
    )
    manifest = from_manifest(failed.record_dir)
    assert manifest["prerequisites-1.1"].at < rollback_start < manifest["rollback-1.verify.1"].at


@pytest.mark.parametrize("which", ["ok", "failed"])
def test_every_file_of_the_record_tells_the_same_story(runs, run_cli, which):
    records, ok, failed = runs
    record = (ok if which == "ok" else failed).record_dir
    assert not disagreements(record, exports(run_cli, records, record))
    assert not status_disagreements(record)


def test_exports_keep_the_failure_and_open_with_the_header(runs, run_cli):
    records, _, failed = runs
    texts = exports(run_cli, records, failed.record_dir)
    for name in ("export.md", "export.html"):
        text = texts[name]
        assert "second failed on purpose" in text, name  # the failing step's output, from its log
        assert "status: failed, exit 3," in text and "reason: exited with status 3" in text, name
        for header in (
            "status     failed",
            "operator",
            "started    20",
            "finished   20",
            "fail = True",
            "rollback   succeeded",
            "failure    failed at 1-2",
        ):
            assert header in text, (name, header)


def test_an_expected_result_failure_keeps_the_output_it_judged(mismatch, run_cli):
    records, run = mismatch
    texts = exports(run_cli, records, run.record_dir)
    for name in ("export.md", "export.html"):
        assert "hello from the step" in texts[name], name
        assert "expected result not found" in texts[name], name
    # the check failed the step after it ran: its line in every file says so
    assert not status_disagreements(run.record_dir)


@pytest.mark.parametrize(
    ("extra", "rc", "statuses"),
    [
        (["--dry-run"], 0, {"1-1": "dry_run", "rollback-1": "skipped"}),
        ([], 3, {"1-1": "blocked"}),  # no --confirm: the first gate stops the run
    ],
    ids=["dry-run", "blocked"],
)
def test_steps_that_did_not_run_keep_their_line_in_every_file(
    tmp_path, run_inprocess, extra, rc, statuses
):
    """Headless, a step that ran gets its line at sealing; every other outcome (a dry run, a
    gate that blocked, a rollback step not in rollback mode) keeps the line the kernel showed,
    with its reason."""
    source = tmp_path / "evidence.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    args = ["run", str(source), "--records", str(tmp_path / "records"), "--no-progress"]
    result = run_inprocess([*args, *extra], cwd=tmp_path)
    assert result.rc == rc, result.stdout + result.stderr
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    shown = {s["id"]: s["status"] for s in manifest["steps"]}
    assert {step: shown[step] for step in statuses} == statuses
    assert not status_disagreements(result.record_dir)
