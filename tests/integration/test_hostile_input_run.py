"""Issue 11 end to end: prose never runs, secrets are never shown, bad input is exit 2
before any evidence directory exists, and a vanished working directory is a step failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from clitools import cli_env, runbook_command

pytestmark = pytest.mark.integration

FENCE = "```"
SECRETS = f"""---
id: secrets
parameters:
  key:
    secret: true
    pattern: "^[A-Z]+$"
  num:
    secret: true
    type: int
  optional_token:
    secret: true
  label:
    type: str
    default: x
---

# Secrets

## Procedure

#### 1-1. Show

{FENCE}bash
touch "$RUNBOOK_RUN_DIR/../../../ran-a-step" 2>/dev/null || true
echo "label=$label"
{FENCE}
"""


def run_bytes(args: list[str | bytes], cwd: Path, env: dict[str, str | bytes] | None = None):
    """``runbook ARGS`` with raw bytes allowed in argv and the environment (non-UTF-8)."""
    environ: dict[bytes, bytes] = {
        k.encode(): v.encode("utf-8", "surrogateescape") for k, v in cli_env().items()
    }
    for key, value in (env or {}).items():
        environ[key.encode()] = value if isinstance(value, bytes) else value.encode()
    proc = subprocess.run(
        [*runbook_command(), *args],
        cwd=cwd,
        env=environ,  # type: ignore[arg-type]
        capture_output=True,
        timeout=180,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def secrets_runbook(tmp_path: Path) -> Path:
    source = tmp_path / "s.md"
    source.write_text(SECRETS, encoding="utf-8")
    return source


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RUNBOOK_SECRET_KEY", "lowercase-SECRET"), ("RUNBOOK_SECRET_NUM", "NOTANUMBERSECRET")],
)
def test_a_secret_failing_its_declaration_is_named_never_shown(
    tmp_path, secrets_runbook, variable, value
):
    env = {"RUNBOOK_SECRET_KEY": "GOOD", variable: value}
    records = tmp_path / "records"
    rc, out, err = run_bytes(
        ["run", str(secrets_runbook), "--records", str(records)], tmp_path, env
    )
    assert rc == 2, err
    assert value.encode() not in out + err
    assert b"Traceback" not in err
    assert variable.removeprefix("RUNBOOK_SECRET_").lower().encode() in err
    assert not records.exists(), "bad input leaves no record directory"


def test_under_plain_papermill_the_secret_reaches_no_file(tmp_path, secrets_runbook):
    notebook = tmp_path / "s.ipynb"
    rc, _, err = run_bytes(["convert", str(secrets_runbook), "-o", str(notebook)], tmp_path)
    assert rc == 0, err
    secret = "lowercase-SECRET"
    proc = subprocess.run(
        ["papermill", str(notebook), str(tmp_path / "out.ipynb"), "--no-progress-bar"],
        cwd=tmp_path,
        env=cli_env({"RUNBOOK_SECRET_KEY": secret}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode != 0, "a bad secret must stop the run"
    assert secret not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert "RUNBOOK_SECRET_KEY" in (tmp_path / "out.ipynb").read_text(encoding="utf-8")


def test_an_unset_optional_secret_is_recorded_as_not_set(tmp_path, secrets_runbook):
    records = tmp_path / "records"
    rc, _, err = run_bytes(
        ["run", str(secrets_runbook), "--records", str(records), "--no-progress"],
        tmp_path,
        {"RUNBOOK_SECRET_KEY": "GOOD"},
    )
    assert rc == 0, err
    manifest = json.loads(next(records.glob("*/*/manifest.json")).read_text(encoding="utf-8"))
    assert manifest["parameters"]["key"] == "***"
    assert manifest["parameters"]["optional_token"] == "not set"
    assert manifest["parameters"]["num"] == "not set"


@pytest.mark.parametrize(
    "case",
    [
        "nul-in-file",
        "over-128k",
        "p-not-utf8",
        "operator-not-utf8",
        "secret-not-utf8",
        "file-not-utf8",
    ],
)
def test_bad_values_are_exit_2_before_anything_runs(tmp_path, secrets_runbook, case):
    records = tmp_path / "records"
    args: list[str | bytes] = ["run", str(secrets_runbook), "--records", str(records)]
    env: dict[str, str | bytes] = {"RUNBOOK_SECRET_KEY": "GOOD"}
    values = tmp_path / "values.yaml"
    if case == "nul-in-file":
        values.write_text('label: "a\\0b"\n', encoding="utf-8")
        args += ["-f", str(values)]
    elif case == "over-128k":
        values.write_text("label: " + "x" * (128 * 1024) + "\n", encoding="utf-8")
        args += ["-f", str(values)]
    elif case == "p-not-utf8":
        args += ["-p", "label", b"caf\xe9"]
    elif case == "operator-not-utf8":
        args += ["--operator", b"op\xff"]
    elif case == "secret-not-utf8":
        env["RUNBOOK_SECRET_KEY"] = b"AB\xffCD"
    else:
        values.write_bytes(b"label: caf\xe9\n")
        args += ["-f", str(values)]
    rc, out, err = run_bytes(args, tmp_path, env)
    assert rc == 2, (out, err)
    assert b"Traceback" not in err and err.strip(), err
    assert len(err.strip().splitlines()) == 1, err
    assert not records.exists(), "bad input leaves no record directory"
    assert not (tmp_path / "ran-a-step").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["records", "show", b"2026\xff"],
        ["records", "export", b"2026\xff"],
        ["records", "verify", b"2026\xff"],
        ["resume", b"2026\xff"],
        ["records", "list", "--operator", b"op\xff"],
        ["convert", b"b\xff.md"],
    ],
    ids=["show", "export", "verify", "resume", "list-filter", "convert-file-name"],
)
def test_arguments_that_are_not_utf8_are_refused_without_a_traceback(tmp_path, args):
    if args[0] != "convert":
        args = [*args, "--records", str(tmp_path / "records")]
    rc, out, err = run_bytes(args, tmp_path)
    assert rc == 2, (out, err)
    assert b"Traceback" not in err and b"is not UTF-8 text" in err, err
    assert not list(tmp_path.iterdir()), "nothing written"


def test_an_error_quoting_a_value_never_shows_a_secret_inside_it(tmp_path):
    """A token pasted into a plain parameter is quoted by its pattern error: masked."""
    source = tmp_path / "url.md"
    source.write_text(
        '---\nparameters:\n  url: {pattern: "^https://[a-z.]+/$"}\n  token: {secret: true}\n'
        f'---\n\n# T\n\n{FENCE}bash\necho "$url"\n{FENCE}\n',
        encoding="utf-8",
    )
    args = ["run", str(source), "-p", "url", "https://u:SuperSecret123@h", "--records", "r"]
    rc, out, err = run_bytes(args, tmp_path, {"RUNBOOK_SECRET_TOKEN": "SuperSecret123"})
    assert rc == 2, (out, err)
    assert b"parameter 'url'" in err and b"https://u:***@h" in err, err
    assert b"SuperSecret123" not in out + err


def test_a_deleted_working_directory_is_a_step_failure_naming_it(tmp_path, run_inprocess):
    source = tmp_path / "cwd.md"
    source.write_text(
        f"# T\n\n## Procedure\n\n#### 1-1. Leave a dangling cwd\n\n{FENCE}bash\n"
        f'mkdir -p gone && cd gone && rmdir "$PWD"\n{FENCE}\n\n'
        f"#### 1-2. Next\n\n{FENCE}bash\necho never\n{FENCE}\n",
        encoding="utf-8",
    )
    result = run_inprocess(
        ["run", str(source), "--records", str(tmp_path / "records"), "--no-progress"],
        cwd=tmp_path,
    )
    assert result.rc == 1, result.stdout + result.stderr
    assert result.record_dir is not None
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
    steps = {s["id"]: s["status"] for s in manifest["steps"]}
    assert steps["1-1"] == "succeeded" and steps["1-2"] == "failed"
    reason = manifest["failure"]["reason"]
    assert "working directory" in reason and str(tmp_path / "gone") in reason
    assert "kernel" not in reason.lower()


def test_a_value_and_a_directory_that_are_not_utf8_are_carried_byte_for_byte(
    tmp_path, run_inprocess
):
    """Exported values and directory names are bytes to the shell; the journal keeps them
    escaped, and a resumed run hands the next step the same bytes."""
    source = tmp_path / "bytes.md"
    source.write_text(
        f"# T\n\n## Procedure\n\n#### 1-1. Odd bytes\n\n{FENCE}bash\n"
        "export D=$'\\xff\\xfe bad'; mkdir -p $'odd\\xffdir'; cd $'odd\\xffdir'\n"
        f"{FENCE}\n\n#### 1-2. Next\n\n{FENCE}bash\n"
        'test -e ../go; printf "%s|%s" "$D" "$PWD" > ../seen\n'
        f"{FENCE}\n",
        encoding="utf-8",
    )
    records = str(tmp_path / "records")
    first = run_inprocess(["run", str(source), "--records", records, "--no-progress"], cwd=tmp_path)
    assert first.rc == 1, first.stdout + first.stderr  # 1-2 waits for ../go
    manifest = json.loads((first.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in manifest["steps"]] == ["succeeded", "failed"]
    assert "kernel" not in manifest["failure"]["reason"].lower()
    (tmp_path / "go").touch()
    second = run_inprocess(
        ["resume", first.record_dir.name, "--records", records, "--no-progress"], cwd=tmp_path
    )
    assert second.rc == 0, second.stdout + second.stderr
    expected = b"\xff\xfe bad|" + os.fsencode(str(tmp_path)) + b"/odd\xffdir"
    assert (tmp_path / "seen").read_bytes() == expected
    assert run_inprocess(["records", "verify", "--all", "--records", records]).rc == 0


def test_runbook_run_dir_is_absolute_whatever_records_path_is_given(tmp_path, run_inprocess):
    source = tmp_path / "rundir.md"
    source.write_text(
        f'# T\n\n{FENCE}bash\ncd /; test -d "$RUNBOOK_RUN_DIR"; echo "$RUNBOOK_RUN_DIR"\n{FENCE}\n',
        encoding="utf-8",
    )
    result = run_inprocess(["run", "rundir.md", "--records", "rel", "--no-progress"], cwd=tmp_path)
    assert result.rc == 0, result.stdout + result.stderr
    (log,) = (tmp_path / result.record_dir).glob("logs/*.log")
    shown = log.read_text(encoding="utf-8").strip()
    assert os.path.isabs(shown) and Path(shown).samefile(tmp_path / result.record_dir)


def test_typed_and_multiline_secrets_are_masked_as_the_step_sees_them(tmp_path, run_inprocess):
    """The step sees the converted value: 0042917 typed int is 42917, a list is one item a
    line; a PEM key printed indented shows its lines one by one."""
    source = tmp_path / "typed.md"
    source.write_text(
        "---\nparameters:\n  api_keys: {type: list, secret: true}\n"
        "  pin: {type: int, secret: true}\n  pem: {secret: true}\n---\n\n# T\n\n"
        f"{FENCE}bash\n"
        'while IFS= read -r k; do echo "key $k"; done <<<"$api_keys"\n'
        'echo "pin $pin"; printf "%s\\n" "$pem" | sed "s/^/  /"\n'
        f"{FENCE}\n",
        encoding="utf-8",
    )
    pem = (
        "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
        "BKcwggSjAgEAAoIBAQC7\n-----END KEY-----"
    )
    env = {
        "RUNBOOK_SECRET_API_KEYS": "key-alpha-111,key-beta-222",
        "RUNBOOK_SECRET_PIN": "0042917",
        "RUNBOOK_SECRET_PEM": pem,
    }
    records = tmp_path / "records"
    result = run_inprocess(
        ["run", str(source), "--records", str(records), "--no-progress"], cwd=tmp_path, env=env
    )
    assert result.rc == 0, result.stdout + result.stderr
    log = next(result.record_dir.glob("logs/*.log")).read_text(encoding="utf-8")
    assert log.count("key ***") == 2 and "pin ***" in log, log
    for path in records.rglob("*"):
        if path.is_file() and path.suffix != ".sqlite":
            text = path.read_text(encoding="utf-8", errors="replace")
            for leaked in (
                "key-alpha-111",
                "key-beta-222",
                "42917",
                "MIIEvQIBADAN",
                "BKcwggSjAgEA",
            ):
                assert leaked not in text, (path, leaked)


def test_steps_see_the_operators_terminal_settings_not_the_kernels(tmp_path, run_inprocess):
    """ipykernel forces colours on and pagers off for itself; a step forced into colour
    writes escape codes into its log and its expected-result checks."""
    source = tmp_path / "env.md"
    source.write_text(
        f"# T\n\n{FENCE}bash\n"
        "for v in TERM PAGER FORCE_COLOR CLICOLOR_FORCE CLICOLOR MPLBACKEND JPY_PARENT_PID; do\n"
        '  echo "$v=${!v-unset}"; done\n'
        f"{FENCE}\n",
        encoding="utf-8",
    )
    result = run_inprocess(
        ["run", str(source), "--records", str(tmp_path / "records"), "--no-progress"],
        cwd=tmp_path,
        env={"TERM": "vt100", "PAGER": "less"},
    )
    assert result.rc == 0, result.stdout + result.stderr
    log = next(result.record_dir.glob("logs/*.log")).read_text(encoding="utf-8")
    assert log.split() == [
        "TERM=vt100",
        "PAGER=less",
        "FORCE_COLOR=unset",
        "CLICOLOR_FORCE=unset",
        "CLICOLOR=unset",
        "MPLBACKEND=unset",
        "JPY_PARENT_PID=unset",
    ]


def test_records_show_and_list_put_no_control_character_on_the_terminal(tmp_path, run_inprocess):
    """An escape sequence in a parameter (or an output) must not retitle, move or write the
    clipboard of whoever reads the record; an operator name is one line of plain text."""
    source = tmp_path / "esc.md"
    source.write_text(
        f"---\nparameters:\n  name: {{default: x}}\n---\n\n# T\n\n{FENCE}bash\n"
        "printf 'out \\033]52;c;Zm9v\\007 \\033[2K\\rfake\\n'; exit 3\n"
        f"{FENCE}\n",
        encoding="utf-8",
    )
    records = str(tmp_path / "records")
    run = ["run", str(source), "--records", records, "--no-progress"]
    result = run_inprocess([*run, "-p", "name", "x\x1b]52;c;Zm9v\x07\ry"], cwd=tmp_path)
    assert result.rc == 1, result.stdout + result.stderr
    for command in (["records", "show", "last"], ["records", "list"]):
        shown = run_inprocess([*command, "--records", records], cwd=tmp_path)
        assert shown.rc == 0, shown.stderr
        assert not any(ch in shown.stdout for ch in "\x1b\x07\r"), repr(shown.stdout)
    assert (
        "x\\x1b]52;c;Zm9v\\x07\\x0dy"
        in run_inprocess(["records", "show", "last", "--records", records], cwd=tmp_path).stdout
    )
    for operator in ("ali\nce", "mallory\x1b[2K\ralice"):
        refused = run_inprocess([*run, "--operator", operator], cwd=tmp_path)
        assert refused.rc == 2 and "control character" in refused.stderr, refused.stderr


def test_prose_in_console_blocks_never_runs(tmp_path, run_inprocess):
    sentinel = tmp_path / "PROSE_RAN"
    source = tmp_path / "console.md"
    source.write_text(
        f"# T\n\n## Procedure\n\n#### 1-1. Script\n\n{FENCE}console\n# touch {sentinel}\n"
        f"echo script-ran\n{FENCE}\n\n#### 1-2. Session\n\n{FENCE}console\n$ echo session-ran\n"
        f"session-ran\n# touch {sentinel}\n{FENCE}\n\n#### 1-3. Output only\n\n{FENCE}console\n$\n"
        f"nothing\n{FENCE}\n",
        encoding="utf-8",
    )
    result = run_inprocess(
        ["run", str(source), "--records", str(tmp_path / "records"), "--no-progress"],
        cwd=tmp_path,
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert not sentinel.exists()
    manifest = json.loads((result.record_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in manifest["steps"]] == ["1-1", "1-2"]
    logs = "".join(p.read_text(encoding="utf-8") for p in result.record_dir.glob("logs/*"))
    assert "script-ran" in logs and "session-ran" in logs


def test_a_japanese_file_name_runs_into_its_own_record_directory(tmp_path, run_inprocess):
    source = tmp_path / "運用手順.md"
    source.write_text(f"# 手順\n\n{FENCE}bash\necho ok\n{FENCE}\n", encoding="utf-8")
    result = run_inprocess(
        ["run", str(source), "--records", str(tmp_path / "records"), "--no-progress"],
        cwd=tmp_path,
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert result.record_dir is not None
    assert result.record_dir.parent.name.startswith("runbook-")


@pytest.mark.parametrize("name", ["records{db_path}", "records{x}", "records{}", "records{0"])
def test_braces_in_the_records_path_are_taken_literally(tmp_path, run_inprocess, name):
    """papermill passes its notebook paths through ``str.format`` with the parameters: a
    records directory with braces failed the run, or named another file."""
    source = tmp_path / "braces.md"
    source.write_text(
        "---\nparameters:\n  db_path:\n    type: str\n    default: x.db\n---\n"
        f"# Braces\n\n{FENCE}bash\necho ok\n{FENCE}\n",
        encoding="utf-8",
    )
    records = tmp_path / name
    result = run_inprocess(
        ["run", str(source), "--records", str(records), "--no-progress"], cwd=tmp_path
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert result.record_dir.parent.parent == records
    nb = nbformat.read(result.record_dir / "record.ipynb", as_version=4)
    assert nb.metadata.papermill.output_path == str(result.record_dir / "record.ipynb")


def test_a_step_line_is_never_evaluated_by_ipython(tmp_path, run_inprocess):
    """IPython expands ``{expr}`` and ``$name`` in a magic's line before the magic runs:
    in a ``%%step`` line (a notebook edited by hand) that ran code before any check."""
    (tmp_path / "line.md").write_text(
        "# Line\n\n## Procedure\n\n#### 1-1. A\n\n```bash\necho a\n```\n", encoding="utf-8"
    )
    assert run_inprocess(["convert", "line.md"], cwd=tmp_path).rc == 0
    notebook = tmp_path / "line.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in nb.cells if c.source.startswith("%%step")]
    pwned = tmp_path / "PWNED"
    cell.source = cell.source.replace(
        "%%step 1-1", f"%%step 1-1 kind={{__import__('pathlib').Path({str(pwned)!r}).touch()}}"
    )
    nbformat.write(nb, notebook)
    result = run_inprocess(
        ["run", "line.ipynb", "--records", "records", "--dry-run", "--no-progress"], cwd=tmp_path
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert not pwned.exists()
