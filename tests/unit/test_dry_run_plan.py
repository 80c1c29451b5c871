"""``runbook run --dry-run`` on the terminal: the plan, read from the notebook, no kernel.

Each step with its id and title, its commands with the parameter values
substituted for display (secrets ``***``), its expected result, and the gates
that would block with their items; ``--no-record`` keeps nothing but still
validates the parameters.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from converter.cli import cli

RUNBOOK = """\
---
id: plan-demo
lang: en
parameters:
  target:
    type: str
    default: /srv/app
    pattern: '^/[a-z/]+$'
  retries:
    type: int
    default: 3
  token:
    secret: true
---

# Runbook: Plan demo

## Prerequisites

- [ ] Window agreed
- [ ] Backup exists

## Procedure

#### 1-1. Copy

```bash
cp -r "$target" "${target}.bak" --retries=$retries
curl -H "Authorization: $token" https://example.invalid
echo "$HOME stays"
```

**Expected result**:
```text {match=contains}
copied
```

**Verify**:
- [ ] The copy exists

#### 1-2. Switch

```bash
ln -sfn "$target.bak" /srv/current
```

## Rollback

#### 1. Undo

```bash
rm -rf "$target.bak"
```

## Troubleshooting

### Problem 1: Anything

```bash
ls "$target"
```
"""


def _invoke(tmp_path: Path, *args: str):
    source = tmp_path / "plan.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    cwd = tmp_path / "work"
    cwd.mkdir(exist_ok=True)
    records = cwd / "records"
    result = CliRunner().invoke(
        cli,
        ["run", str(source), "--dry-run", "--records", str(records), *args],
        env={"RUNBOOK_SECRET_TOKEN": "s3cr3t-value"},
    )
    return result, list(cwd.rglob("*"))


def test_the_plan_shows_steps_commands_with_values_expected_results_and_gates(tmp_path):
    result, kept = _invoke(tmp_path, "--no-record", "-p", "target", "/srv/web")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[1-1] Copy" in out and "[1-2] Switch" in out
    assert 'cp -r "/srv/web" "/srv/web.bak" --retries=3' in out
    assert 'Authorization: ***"' in out and "s3cr3t-value" not in out
    assert 'echo "$HOME stays"' in out  # not a parameter: left as written
    assert "expected: copied" in out
    assert "would block: prerequisites-1" in out
    assert "[ ] prerequisites-1.1: Window agreed" in out
    assert "[ ] 1-1.verify.1: The copy exists" in out  # 1-2 waits for 1-1's Verify list
    assert "token = ***" in out and "retries = 3" in out
    assert out.index("== procedure") < out.index("== rollback") < out.index("== troubleshooting")
    assert out.rstrip().splitlines()[-1] == "status: planned (dry run, not recorded)"
    assert kept == []  # --no-record: no record, not even a records directory


def test_confirmed_gates_are_not_listed_as_blocking(tmp_path):
    result, _ = _invoke(tmp_path, "--no-record", "--confirm", "all")
    assert result.exit_code == 0, result.output
    assert "would block" not in result.output
    result, _ = _invoke(tmp_path, "--no-record", "--confirm", "prerequisites-1")
    assert "would block: prerequisites-1" not in result.output
    assert "would block: 1-1.verify" in result.output


def test_no_record_still_validates_parameters(tmp_path):
    source = tmp_path / "plan.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["run", str(source), "--dry-run", "--no-record", "-p", "target", "relative"]
    )
    assert result.exit_code != 0
    assert "does not match pattern" in str(result.exception)


def test_no_record_without_dry_run_is_refused(tmp_path):
    source = tmp_path / "plan.md"
    source.write_text(RUNBOOK, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(source), "--no-record"])
    assert result.exit_code == 2 and "only for --dry-run" in result.output


TWO_LISTS = """\
# Two verify lists

## Procedure

#### 1-1. Back up

```bash
echo backup
```

**Verify**:
- [ ] The dump exists

```bash
echo upload
```

**Verify**:
- [ ] The upload is in the bucket

#### 1-2. Migrate

```bash
echo migrate
```
"""


def test_each_verify_list_of_a_step_gates_the_next_step(tmp_path):
    """Both lists had the id 1-1.verify: the record lost one list's items, one gated nothing."""
    source = tmp_path / "two.md"
    source.write_text(TWO_LISTS, encoding="utf-8")
    args = ["run", str(source), "--dry-run", "--no-record", "--confirm"]
    result = CliRunner().invoke(cli, [*args, "1-1.verify"])
    assert result.exit_code == 0, result.output
    assert "would block: 1-1.verify-2" in result.output
    assert "[ ] 1-1.verify-2.1: The upload is in the bucket" in result.output
    result = CliRunner().invoke(cli, [*args, "1-1.verify-2"])
    assert "would block: 1-1.verify" in result.output
    assert "[ ] 1-1.verify.1: The dump exists" in result.output
