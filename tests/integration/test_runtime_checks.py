"""Expected-result checks, the output cap, the summary, untick journaling, manual commands.

Real runs through ``runbook run`` (papermill, kernel, bash); the untick test drives
the real ipywidgets observers of a checklist in this process.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

pytestmark = pytest.mark.integration

CHECKS = """\
---
id: checks
lang: en
---
# Checks

## Procedure

#### 1-1. Status

```bash
echo "status: ok"
```

**Expected result**:
```text {match=contains}
status: ok
```

#### 1-2. Lots of output

```bash
seq 1 300000
```

#### 1-3. Version

```bash
echo "version: 1.9.0"
```

**Expected result**:
```text {match=regex}
^version: 2\\.\\d+
```

#### 1-4. Never reached

```bash
touch reached.flag
```

## Troubleshooting

### Problem 1: Anything

```bash
touch troubleshooting-ran.flag
```
"""


@pytest.fixture(scope="module")
def checks_run(tmp_path_factory, run_inprocess):
    work = tmp_path_factory.mktemp("checks")
    (work / "checks.md").write_text(CHECKS, encoding="utf-8")
    result = run_inprocess(
        ["run", "checks.md", "--records", str(work / "records"), "--no-progress"], cwd=work
    )
    return work, result


def test_a_regex_check_that_does_not_match_fails_its_step_and_stops_the_run(checks_run) -> None:
    work, result = checks_run
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert result.rc == 1
    assert manifest["failure"]["step"] == "1-3"
    assert "expected result not found" in manifest["failure"]["reason"]
    steps = {s["id"]: s["status"] for s in manifest["steps"]}
    assert steps["1-1"] == "succeeded" and steps["1-3"] == "failed" and steps["1-4"] == "not_run"
    assert not (work / "reached.flag").exists()


def test_a_contains_check_that_matches_is_journaled_ok(checks_run) -> None:
    _, result = checks_run
    events = [
        json.loads(line) for line in (result.record_dir / "journal.jsonl").read_text().splitlines()
    ]
    checks = {(e["step"], e["ok"]) for e in events if e["event"] == "expect"}
    assert checks == {("1-1", True), ("1-3", False)}


FIRST_BLOCK_CHECK = """\
# Check after the first block

## Procedure

#### 1-1. Two blocks

```bash
echo "status: broken"
```

**Expected result**:
```text {match=contains}
status: ok
```

```bash
touch second-block-ran.flag
```
"""


def _run(tmp_path, run_inprocess, text: str):
    """``runbook run`` of the runbook ``text`` in ``tmp_path``: (the result, its manifest)."""
    (tmp_path / "runbook.md").write_text(text, encoding="utf-8")
    result = run_inprocess(
        ["run", "runbook.md", "--records", str(tmp_path / "records"), "--no-progress"],
        cwd=tmp_path,
    )
    return result, json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))


def test_a_check_after_the_first_block_checks_that_block(tmp_path, run_inprocess) -> None:
    """It was bound to the step's last block, read before that block ran: "not run", passed."""
    result, manifest = _run(tmp_path, run_inprocess, FIRST_BLOCK_CHECK)
    assert result.rc == 1 and manifest["failure"]["step"] == "1-1"
    assert "expected result not found" in manifest["failure"]["reason"]
    assert not (tmp_path / "second-block-ran.flag").exists()


UNREADABLE_STATE = """\
---
id: unreadable
lang: en
---
# Unreadable state

## Procedure

#### 1-1. Leaves a dump the parser cannot read

```bash
export CARRIED=1
# stands in for an export -p this runtime does not understand
__runbook_dump() { printf '%s\\0??\\n\\0__RUNBOOK_STATE_END__\\0' / >"$__runbook_state"; }
```

#### 1-2. Would run without the state

```bash
touch second.flag
```
"""


@pytest.mark.parametrize(
    ("fence", "last", "code"),
    [("```bash", "", 0), ("```bash {continue_on_error=true}", "false", 1)],
    ids=["succeeded", "failure-allowed"],
)
def test_a_state_dump_that_cannot_be_read_fails_its_step(
    tmp_path, run_inprocess, fence, last, code
) -> None:
    """Not a step that ran without what the previous one exported, and not a traceback;
    continue_on_error allows a command's failure, not a state that was lost."""
    text = UNREADABLE_STATE.replace("```bash\nexport CARRIED=1", f"{fence}\nexport CARRIED=1")
    text = text.replace('"$__runbook_state"; }\n', f'"$__runbook_state"; }}\n{last}\n', 1)
    result, manifest = _run(tmp_path, run_inprocess, text)
    assert result.rc == 1 and manifest["failure"]["step"] == "1-1"
    assert "could not be read" in manifest["failure"]["reason"]
    steps = {s["id"]: (s["status"], s.get("exit_code")) for s in manifest["steps"]}
    assert steps == {"1-1": ("failed", code), "1-2": ("not_run", None)}
    assert not (tmp_path / "second.flag").exists()


def test_long_output_is_cut_in_the_notebook_and_kept_whole_in_the_log(checks_run) -> None:
    _, result = checks_run
    log = (result.record_dir / "logs" / "1-2.log").read_text(encoding="utf-8")
    assert log.splitlines()[-1] == "300000" and len(log.splitlines()) == 300000
    nb = nbformat.read(result.record_dir / "record.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("%%step 1-2"))
    shown = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert len(shown.encode()) < 250_000
    assert "full output is in logs/1-2.log" in shown
    assert "300000\n" not in shown


def test_troubleshooting_commands_never_run_headless(checks_run) -> None:
    work, _ = checks_run
    assert not (work / "troubleshooting-ran.flag").exists()


def test_the_summary_lists_every_step_with_status_exit_code_and_duration(
    tmp_path, run_inprocess
) -> None:
    (tmp_path / "ok.md").write_text(
        "---\nid: ok\nlang: en\n---\n# OK\n\n"
        "## Procedure\n\n#### 1-1. One\n\n```bash\necho one\n```\n\n"
        "#### 1-2. Two\n\n```bash\nexit 0\n```\n\n"
        "## Rollback\n\n#### Step 1: Undo\n\n```bash\necho undo\n```\n",
        encoding="utf-8",
    )
    result = run_inprocess(
        ["run", "ok.md", "--records", str(tmp_path / "records"), "--no-progress"], cwd=tmp_path
    )
    assert result.rc == 0
    nb = nbformat.read(result.record_dir / "record.ipynb", as_version=4)
    finish = next(c for c in nb.cells if c.get("id") == "finish")
    texts = [o.get("data", {}).get("text/plain", "") for o in finish.outputs]
    lines = "\n".join(texts).splitlines()
    assert lines[0] == "Summary: 3/3 steps settled: ✅ 2 succeeded, ⏭ 1 skipped", lines
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in (re.match(r"^\S+ \[(\S+)\] .*?: (\S+)(?: \((.*)\))?$", line) for line in lines)
        if m
    }
    status, detail = rows["1-1"]
    assert status == "succeeded" and detail.startswith("exit 0, ") and detail.endswith(" s")
    assert float(detail.split(", ")[1].removesuffix(" s")) >= 0
    assert rows["1-2"][0] == "succeeded"
    assert rows["rollback-1"][0] == "skipped"


def test_ticking_and_unticking_a_checklist_widget_is_journaled_with_operator_and_time(
    tmp_path, monkeypatch
) -> None:
    import ipywidgets

    from converter.records.journal import read_journal
    from converter.runtime import start

    monkeypatch.setenv("RUNBOOK_RECORDS", str(tmp_path / "records"))
    namespace = {"operator": "alice", "runbook_mode": "interactive"}
    session = start(
        namespace,
        runbook={"id": "ticks", "title": "Ticks", "lang": "en"},
        parameters=[],
        steps=[("1-1", "procedure", "One", [])],
        timeout=None,
    )
    session.checklist(
        "1-1.verify", "Verify", [("1-1.verify.1", "backup exists", False)], role="verify"
    )
    boxes = [
        w
        for w in _all_widgets()
        if isinstance(w, ipywidgets.Checkbox) and "runbook-check-1-1-verify-1" in w._dom_classes
    ]
    box = boxes[-1]
    box.value = True
    box.value = False
    ticks = [e for e in read_journal(session.run_dir / "journal.jsonl") if e["event"] == "check"]
    assert [(e["id"], e["checked"], e["by"], e["via"]) for e in ticks] == [
        ("1-1.verify.1", True, "alice", "widget"),
        ("1-1.verify.1", False, "alice", "widget"),
    ]
    assert all(e["at"].endswith("Z") for e in ticks)
    assert session.checks["1-1.verify"]["1-1.verify.1"].checked is False


def _all_widgets():
    from ipywidgets.widgets import widget

    return list(widget._instances.values())  # ipywidgets 8: the registry of live widgets


def _interactive_session(tmp_path, monkeypatch, steps, notebook=None):
    from converter.runtime import start

    monkeypatch.setenv("RUNBOOK_RECORDS", str(tmp_path / "records"))
    monkeypatch.chdir(tmp_path)
    if notebook is not None:
        monkeypatch.setenv("RUNBOOK_NOTEBOOK", str(notebook))
    return start(
        {"operator": "alice", "runbook_mode": "interactive"},
        runbook={"id": "guided", "title": "Guided", "lang": "en"},
        parameters=[],
        steps=steps,
        timeout=None,
    )


def _buttons(description):
    import ipywidgets

    return [
        w
        for w in _all_widgets()
        if isinstance(w, ipywidgets.Button) and w.description == description
    ]


def test_a_succeeded_step_asks_before_running_again(tmp_path, monkeypatch) -> None:
    from converter.runtime.magic import run_step_cell

    session = _interactive_session(tmp_path, monkeypatch, [("1-1", "procedure", "Count", [])])
    code = "echo run >> count.txt\n"
    run_step_cell(session, "1-1", code)
    run_step_cell(session, "1-1", code)  # "Run All" again: must not run a second time by itself
    assert (tmp_path / "count.txt").read_text().splitlines() == ["run"]
    _buttons("Run again")[-1].click()  # the operator confirms
    assert (tmp_path / "count.txt").read_text().splitlines() == ["run", "run"]


def test_the_rollback_button_switches_to_rollback_mode_and_runs_the_rollback_cells(
    tmp_path, monkeypatch
) -> None:
    from converter.markdown.parse import parse_text
    from converter.notebook.build import build_notebook, write_notebook
    from converter.records.journal import read_journal
    from converter.runtime.magic import run_step_cell

    text = (
        "---\nid: guided\nlang: en\n---\n# Guided\n\n"
        "## Procedure\n\n#### 1-1. Change\n\n```bash\necho changed > state\n```\n\n"
        "## Rollback\n\n#### Step 1: Restore\n\n```bash\necho restored > state\n```\n\n"
        "#### Step 2: Show\n\n```bash\ncat state\n```\n"
    )
    notebook = tmp_path / "guided.ipynb"
    write_notebook(build_notebook(parse_text(text, path="guided.md")), notebook)
    steps = [
        ("1-1", "procedure", "Change", []),
        ("rollback-1", "rollback", "Restore", []),
        ("rollback-2", "rollback", "Show", []),
    ]
    session = _interactive_session(tmp_path, monkeypatch, steps, notebook=notebook)
    run_step_cell(session, "1-1", "echo changed > state\n")
    run_step_cell(
        session, "rollback-1", "echo restored > state\n"
    )  # "Run All" passes it: not in rollback mode
    assert (tmp_path / "state").read_text() == "changed\n"
    session.rollback_panel()
    _buttons("Start rollback")[-1].click()
    assert (tmp_path / "state").read_text() == "restored\n"
    events = read_journal(session.run_dir / "journal.jsonl")
    assert [e["event"] for e in events if e["event"] == "rollback_mode"] == ["rollback_mode"]
    assert [(e["step"], e["status"]) for e in events if e["event"] == "step_end"][-2:] == [
        ("rollback-1", "succeeded"),
        ("rollback-2", "succeeded"),
    ]
