"""What an operator and an auditor see of a record: the header of ``record.html``, a failed
step's own status line (never a success badge, never papermill's banner), the dry run kept
as a ``plan`` record, and the parameter form of the setup cell."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

pytestmark = pytest.mark.integration

RUNBOOK = """\
---
id: header-demo
title: Header demo
lang: en
parameters:
  word:
    type: str
    default: hello
    pattern: '^[a-z]+$'
---

# Runbook: Header demo

## Procedure

#### 1-1. Say it

```bash
echo "said $word"
```

**Expected result**:
```text {match=contains}
said goodbye
```

#### 1-2. Never reached

```bash
echo unreachable
```
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    path = tmp_path_factory.mktemp("header")
    (path / "header.md").write_text(RUNBOOK, encoding="utf-8")
    return path


def _header(record) -> str:
    page = (record / "record.html").read_text(encoding="utf-8")
    match = re.search(r'<div class="runbook-record-header".*?</table></div>', page, re.DOTALL)
    assert match, "record.html has no header"
    assert page.index(match.group(0)) < page.index("Say it")  # it opens the page
    return match.group(0)


def test_a_failed_run_says_so_in_the_header_and_on_its_step(work, run_inprocess):
    result = run_inprocess(
        [
            "run",
            "header.md",
            "--records",
            str(work / "records"),
            "--operator",
            "dora",
            "--no-progress",
        ],
        cwd=work,
    )
    assert result.rc == 1, result.stdout + result.stderr
    header = _header(result.record_dir)
    assert 'data-status="failed"' in header
    assert "Stopped at" in header and "1-1" in header and "expected result not found" in header
    assert "dora" in header and "word = hello" in header and "Rollback" in header
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["started_at"] in header and manifest["finished_at"] in header
    page = (result.record_dir / "record.html").read_text(encoding="utf-8")
    assert "An Exception was encountered" not in page and "papermill-error-cell" not in page
    nb = nbformat.read(result.record_dir / "record.ipynb", as_version=4)
    assert not any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)
    step = next(c for c in nb.cells if c.source.startswith("%%step 1-1"))
    badges = [o["data"]["text/html"] for o in step.outputs if "text/html" in o.get("data", {})]
    assert any("runbook-failed" in b for b in badges), badges
    assert not any("runbook-succeeded" in b for b in badges), badges
    assert not re.search(r'runbook-succeeded" data-step="1-1"', page)


def test_a_dry_run_is_a_plan_record_shown_as_a_dry_run(work, run_inprocess):
    result = run_inprocess(
        [
            "run",
            "header.md",
            "--dry-run",
            "--records",
            str(work / "records"),
            "--no-progress",
            "-p",
            "word",
            "bye",
        ],
        cwd=work,
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert "[1-1] Say it" in result.stdout and 'echo "said bye"' in result.stdout
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "plan" and manifest["dry_run"] is True
    assert "dry run: nothing ran" in _header(result.record_dir)
    listed = run_inprocess(["records", "list", "--records", str(work / "records")], cwd=work)
    row = next(line for line in listed.stdout.splitlines() if result.record_dir.name in line)
    assert "dry run" in row, listed.stdout
    as_json = run_inprocess(["records", "list", "--json", "--records", str(work / "records")])
    kinds = {r["run_id"]: r["kind"] for r in json.loads(as_json.stdout)}
    assert kinds[result.record_dir.name] == "plan"


def test_an_interactive_record_opens_with_its_header_and_the_form_changes_what_steps_see(
    tmp_path, monkeypatch
):
    from converter.errors import ParameterError
    from converter.records.journal import read_journal
    from converter.runtime import start
    from converter.runtime.form import apply_value
    from converter.runtime.magic import run_step_cell
    from converter.runtime.session import _resumable

    monkeypatch.setenv("RUNBOOK_RECORDS", str(tmp_path / "records"))
    monkeypatch.chdir(tmp_path)
    namespace = {"operator": "erin", "runbook_mode": "interactive", "word": "hello"}
    declared = [{"name": "word", "type": "str", "default": "hello", "pattern": "^[a-z]+$"}]
    session = start(
        namespace,
        runbook={"id": "form-demo", "title": "Form demo", "lang": "en"},
        parameters=declared,
        steps=[("1-1", "procedure", "Say it", [])],
        timeout=None,
    )
    (word,) = session.parameters.declarations
    with pytest.raises(ParameterError, match="does not match pattern"):
        apply_value(session, word, "Not Valid")
    assert session.parameters.values["word"] == "hello"
    apply_value(session, word, "goodbye")
    result = run_step_cell(session, "1-1", 'echo "said $word"')
    assert result.output.strip() == "said goodbye"
    changes = [
        e for e in read_journal(session.run_dir / "journal.jsonl") if e["event"] == "parameter_set"
    ]
    assert [(e["name"], e["value"], e["previous"], e["by"]) for e in changes] == [
        ("word", "goodbye", "hello", "erin")
    ]
    # "Run All" re-runs the parameters cell (word = "hello"): the same run goes on
    assert _resumable(session, session.runbook, session.settings, {"word": "hello"}) is session
    session.finish()
    manifest = json.loads((session.run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"] == {"word": "goodbye"} and manifest["kind"] == "run"
    header = _header(session.run_dir)
    assert 'data-status="succeeded"' in header and "erin" in header
    assert "word = goodbye" in header and "interactive" in header
