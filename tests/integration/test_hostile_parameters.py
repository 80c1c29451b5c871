"""Hostile parameter values reach the step byte for byte and execute nothing.

One runbook declares a parameter per value (p01, p02, …) and one step writes each
with ``printf '%s' "$pNN" > out/pNN``; a single run covers them all. Values travel
the real path: ``-p NAME VALUE`` on the command line → typed validation → papermill's
injected cell → the kernel → bash's environment. Every value that would do something
if it were pasted into a command targets a sentinel file, which must not appear.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SENTINELS = "sentinels"  # directory (relative to the work dir) that must stay empty


def hostile_values(sentinels: Path) -> list[str]:
    s = str(sentinels)
    control = "".join(chr(c) for c in range(1, 32))  # every C0 control except NUL
    return [
        f"$(touch {s}/cmd-subst)",
        f"`touch {s}/backticks`",
        f"; touch {s}/semicolon",
        "; rm -rf ./x",
        f"&& touch {s}/and",
        f"| touch {s}/pipe",
        f"\ntouch {s}/newline\n",
        f"'; touch {s}/single-quote; '",
        f'"; touch {s}/double-quote; "',
        f'$(touch {s}/nested-"$(touch {s}/inner)")',
        "it's a \"quoted\" 'value'",
        "tab\there\tand\tthere",
        "line1\nline2\r\nline3\r",
        "*",
        "~",
        "~root/.ssh",
        "-e",
        "--help",
        "-n",
        "--",
        "%s %d %n %%",
        "\\",
        "\\n\\t\\\\ not escapes",
        "日本語のパラメータ値（テスト）",
        "emoji 🚀🔥👩‍💻 and flags 🇯🇵",
        "x" * 10_000,
        json.dumps({"key": "value", "list": [1, 2, 3], "nested": {"q": "\"'`$"}}),
        "' OR 1=1 --",
        "${HOME}",
        "$HOME $PATH $$ $! $? $0 $@",
        "$((1+1))",
        "${IFS}",
        control,
        "\x1b[31mred\x1b[0m \x07bell",
        "  leading and trailing spaces  ",
        f"<(touch {s}/procsub)",
        f">{s}/redirect",
        "\u2028\u2029\u202e\ufeff zero\u200bwidth",
        "__RUNBOOK_STATE_END__",
        f"a=b; export PATH=/nonexistent; touch {s}/export",
        "!!",
        "C:\\Windows\\System32",
        "null",
        "None",
        "True",
        "0x1F",
        "1e309",
    ]


def build_runbook(count: int) -> str:
    declarations = "".join(
        f"  p{i:02d}:\n    type: str\n    default: unset\n" for i in range(1, count + 1)
    )
    writes = "".join(f"printf '%s' \"$p{i:02d}\" > out/p{i:02d}\n" for i in range(1, count + 1))
    return (
        "---\nid: hostile-parameters\nlang: en\nparameters:\n" + declarations + "---\n\n"
        "# Runbook: Hostile parameter values\n\n## Procedure\n\n#### 1-1. Write every value\n\n"
        "```bash\nmkdir -p out\n" + writes + "echo wrote-all-values\n```\n"
    )


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, run_cli):
    work = tmp_path_factory.mktemp("hostile")
    sentinels = work / SENTINELS
    sentinels.mkdir()
    victim = work / "x"
    victim.mkdir()
    (victim / "keep").write_text("keep me")
    values = hostile_values(sentinels)
    source = work / "hostile.md"
    source.write_text(build_runbook(len(values)), encoding="utf-8")
    args = ["run", str(source), "--records", str(work / "records"), "--no-progress"]
    for i, value in enumerate(values, start=1):
        args += ["-p", f"p{i:02d}", value]
    result = run_cli(args, cwd=work)
    return work, values, result


def test_there_are_at_least_30_values(hostile_run):
    _, values, _ = hostile_run
    assert len(values) >= 30
    assert len(set(values)) == len(values)
    assert all("\0" not in v for v in values)


def test_run_succeeds(hostile_run):
    _, _, result = hostile_run
    assert result.rc == 0, result.stdout + result.stderr
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "succeeded"


def test_values_reach_the_step_byte_for_byte(hostile_run):
    work, values, _ = hostile_run
    wrong = []
    for i, value in enumerate(values, start=1):
        got = (work / "out" / f"p{i:02d}").read_bytes()
        if got != value.encode("utf-8"):
            wrong.append((f"p{i:02d}", value[:60], got[:60]))
    assert not wrong, wrong


def test_nothing_executes(hostile_run):
    work, _, _ = hostile_run
    assert sorted(p.name for p in (work / SENTINELS).iterdir()) == []
    assert (work / "x" / "keep").read_text() == "keep me"
    stray = {p.name for p in work.iterdir()} - {SENTINELS, "x", "out", "records", "hostile.md"}
    assert stray == set()


def test_values_recorded_unchanged_in_manifest(hostile_run):
    _, values, result = hostile_run
    parameters = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))[
        "parameters"
    ]
    for i, value in enumerate(values, start=1):
        assert parameters[f"p{i:02d}"] == value, f"p{i:02d}"
