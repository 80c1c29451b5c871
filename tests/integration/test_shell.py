"""run_bash against real bash processes: streaming, order, kills, carried state, injection."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from processes import is_gone, live_members, proc_stat, wait_until

from converter.runtime.shell import ShellResult, run_bash
from converter.runtime.stepstate import STATE_DIR_PREFIX

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    """An on_output that keeps each chunk and when it arrived."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.times: list[float] = []

    def __call__(self, text: str) -> None:
        self.chunks.append(text)
        self.times.append(time.monotonic())

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def run(script: str, tmp_path: Path, *, timeout: float | None = 10, **env: str):
    out = Recorder()
    result = run_bash(
        script, env={**os.environ, **env}, cwd=str(tmp_path), timeout=timeout, on_output=out
    )
    return result, out


# -- bash options and process setup ------------------------------------------------------


def test_errexit_stops_at_first_failure(tmp_path):
    result, out = run("false; echo after", tmp_path)
    assert result.exit_code == 1
    assert "after" not in out.text


def test_pipefail_fails_the_pipeline(tmp_path):
    result, _ = run("false | true", tmp_path)
    assert result.exit_code == 1


def test_exit_code_is_returned(tmp_path):
    result, _ = run("exit 7", tmp_path)
    assert (result.exit_code, result.timed_out, result.interrupted) == (7, False, False)


def test_script_is_the_c_argument_of_bash_in_a_new_session(tmp_path):
    script = "tr '\\0' '\\n' </proc/$$/cmdline; cat /proc/$$/stat"
    result, out = run(script, tmp_path)
    lines = out.text.split("\n")
    assert lines[1:8] == ["--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script]
    stat = lines[8].rsplit(")", 1)[1].split()
    assert stat[3] != str(os.getsid(0))  # a session of its own
    assert stat[2] == stat[3]  # in the group the kills target
    assert result.exit_code == 0


def test_an_environment_too_large_to_start_bash_names_its_largest_variable(tmp_path):
    result, out = run("echo never", tmp_path, BIG="x" * 200_000)  # one string over 128 KiB
    assert result.exit_code == 126 and result.not_started is not None
    assert "E2BIG" in result.not_started and "largest is BIG (200005 bytes" in result.not_started
    assert "never" not in out.text


def test_stdin_is_dev_null(tmp_path):
    result, out = run("cat; echo done", tmp_path, timeout=5)
    assert (result.exit_code, out.text) == (0, "done\n")


def test_pythonunbuffered_is_set_and_rc_files_are_not_read(tmp_path):
    (tmp_path / ".bashrc").write_text("echo bashrc\n")
    (tmp_path / ".bash_profile").write_text("echo profile\n")
    _, out = run('printf %s "$PYTHONUNBUFFERED"', tmp_path, HOME=str(tmp_path))
    assert out.text == "1"


def test_user_bash_env_is_still_sourced_once(tmp_path):
    (tmp_path / "env.sh").write_text("echo from-bash-env\n")
    result, out = run("echo script", tmp_path, BASH_ENV=str(tmp_path / "env.sh"))
    assert out.text == "from-bash-env\nscript\n"
    assert result.exports == {}


# -- output ---------------------------------------------------------------------------


def test_interleaved_stdout_and_stderr_keep_their_order(tmp_path):
    result, out = run("for i in $(seq 300); do echo o$i; echo e$i >&2; done", tmp_path)
    expected = "".join(f"o{i}\ne{i}\n" for i in range(1, 301))
    assert out.text == expected
    assert result.output_bytes == len(expected)


def test_japanese_output_survives_a_split_multibyte_char(tmp_path):
    # "日" is e6 97 a5: the pause makes the pipe deliver it in two reads.
    result, out = run("echo 日本語; printf '\\xe6'; sleep 0.3; printf '\\x97\\xa5\\n'", tmp_path)
    assert out.text == "日本語\n日\n"
    assert "\ufffd" not in out.text
    assert result.output_bytes == len("日本語\n日\n".encode())


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    result, out = run("printf 'a\\xffb\\n'", tmp_path)
    assert (result.exit_code, out.text) == (0, "a\ufffdb\n")


def test_sparse_output_streams_live(tmp_path):
    start = time.monotonic()
    result, out = run("echo first; sleep 1; echo second", tmp_path)
    assert out.text == "first\nsecond\n"
    assert out.chunks[0] == "first\n"
    assert out.times[0] - start < 0.6  # seen long before the step ends
    assert result.duration_s >= 1


def test_continuous_output_is_batched(tmp_path):
    result, out = run("for i in $(seq 60); do echo line$i; sleep 0.01; done", tmp_path)
    assert out.text == "".join(f"line{i}\n" for i in range(1, 61))
    assert len(out.chunks) <= result.duration_s / 0.1 + 3
    gaps = [b - a for a, b in zip(out.times, out.times[1:])]
    assert all(gap >= 0.08 for gap in gaps[:-1]), gaps  # the last is the final flush


# -- background jobs, timeouts, interrupts, dead kernels -------------------------------


@pytest.mark.parametrize("job_control", ["", "set -m; "], ids=["same-group", "own-group"])
def test_background_child_does_not_hang_the_step(tmp_path, job_control):
    """Killed when the step ends, also from a group of its own (set -m) holding the output."""
    pidfile = tmp_path / "pid"
    result, out = run(f"{job_control}sleep 30 & echo $! > {pidfile}; echo started", tmp_path)
    assert (result.exit_code, out.text) == (0, "started\n")
    assert result.duration_s < 1.5
    assert wait_until(lambda: is_gone(int(pidfile.read_text())), 2)


def test_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"echo start; (sleep 300 & echo $! > {pidfile}); sleep 100"
    result, out = run(script, tmp_path, timeout=1)
    assert (result.exit_code, result.timed_out, result.interrupted) == (124, True, False)
    assert out.text.startswith("start\n")
    assert 1 <= result.duration_s < 4
    assert wait_until(lambda: is_gone(int(pidfile.read_text())), 2)


def test_timeout_stops_processes_in_other_groups_of_the_step(tmp_path):
    """timeout(1) and set -m jobs lead groups of their own within the step's session."""
    wrapped, job = tmp_path / "wrapped", tmp_path / "job"
    script = (
        f"(set -m; sleep 300 & echo $! > {job}); "
        f"timeout 120 bash -c 'echo $$ > {wrapped}; sleep 100'"
    )
    result, _ = run(script, tmp_path, timeout=1)
    assert (result.exit_code, result.timed_out) == (124, True)
    assert result.duration_s < 4
    for pidfile in (wrapped, job):
        assert wait_until(lambda p=pidfile: is_gone(int(p.read_text())), 2), pidfile.name


def test_timeout_lets_the_script_clean_up_once(tmp_path):
    script = "trap 'echo cleanup; exit 9' TERM; echo start; sleep 100"
    result, out = run(script, tmp_path, timeout=0.5)
    assert result.exit_code == 124
    assert out.text.count("cleanup") == 1


def test_timeout_sigkills_a_script_that_ignores_term(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done"
    result, _ = run(script, tmp_path, timeout=0.5)
    assert result.timed_out and result.exit_code == 124
    assert 2 <= result.duration_s < 4  # the 2 s grace, then SIGKILL
    assert wait_until(lambda: is_gone(int(pidfile.read_text())), 2)


def test_keyboard_interrupt_kills_the_group_and_returns(tmp_path):
    pidfile = tmp_path / "pid"
    out = Recorder()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))

    def on_output(text: str) -> None:
        out(text)
        if "ready" in out.text and timer.ident is None:
            timer.start()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        script = f"(sleep 300 & echo $! > {pidfile}); echo ready; sleep 100"
        result = run_bash(
            script, env=dict(os.environ), cwd=str(tmp_path), timeout=20, on_output=on_output
        )
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert (result.exit_code, result.interrupted, result.timed_out) == (130, True, False)
    assert result.duration_s < 3
    assert wait_until(lambda: is_gone(int(pidfile.read_text())), 2)


def test_an_error_in_on_output_kills_the_group_and_propagates(tmp_path):
    pidfile = tmp_path / "pid"

    def on_output(text: str) -> None:
        raise RuntimeError("display failed")

    script = f"(sleep 300 & echo $! > {pidfile}); echo x; sleep 100"
    with pytest.raises(RuntimeError, match="display failed"):
        run_bash(script, env=dict(os.environ), cwd=str(tmp_path), timeout=20, on_output=on_output)
    assert wait_until(lambda: is_gone(int(pidfile.read_text())), 2)


def test_a_script_that_closes_its_output_is_still_waited_for(tmp_path):
    result, out = run("echo before; exec >/dev/null 2>&1; sleep 0.5; echo hidden", tmp_path)
    assert (result.exit_code, out.text) == (0, "before\n")
    assert result.duration_s >= 0.5


PARENT = """
import sys
from converter.runtime.shell import run_bash
run_bash(sys.argv[1], env={"PATH": "/usr/bin:/bin"}, cwd=sys.argv[2], timeout=None,
         on_output=lambda text: print(text, end="", flush=True))
"""


def test_no_process_outlives_a_killed_parent(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"sleep 300 & echo $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; sleep 300"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, script, str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)},  # its state dir
        stdout=subprocess.DEVNULL,
    )
    group = None
    try:
        assert wait_until(pidfile.exists, 10)
        child = int(pidfile.read_text())
        group = int(proc_stat(child)["pgrp"])
        assert group != os.getpgid(0) and live_members(group)
        state_dirs = list(tmp_path.glob(f"{STATE_DIR_PREFIX}*"))
        assert len(state_dirs) == 1 and (state_dirs[0] / "prelude.sh").is_file()
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not live_members(group), 3), live_members(group)
        assert is_gone(child)
        # its atexit never ran: the reaper removes the private state directory
        assert wait_until(lambda: not state_dirs[0].exists(), 3), list(state_dirs[0].iterdir())
    finally:
        parent.kill()
        parent.wait()
        if group is not None and live_members(group):
            os.killpg(group, signal.SIGKILL)  # do not leave a failed run's sleeps behind


# -- state carried to the next step ---------------------------------------------------


def test_cwd_and_exports_are_carried(tmp_path):
    (tmp_path / "サブ dir").mkdir()
    script = textwrap.dedent("""\
        cd 'サブ dir'
        export NEW='line1
        line2' QUOTED="it's \\"quoted\\" \\$(not run) \\`nor this\\`" JA='日本語 テスト'
        export CHANGED=after SAME=same
        NOT_EXPORTED=1
        export PATH="$PATH:/opt/x"
        """)
    result, _ = run(script, tmp_path, CHANGED="before", SAME="same")
    assert result.exit_code == 0
    assert result.cwd == str(tmp_path / "サブ dir")
    assert result.exports == {
        "NEW": "line1\nline2",
        "QUOTED": 'it\'s "quoted" $(not run) `nor this`',
        "JA": "日本語 テスト",
        "CHANGED": "after",
        "PATH": os.environ["PATH"] + ":/opt/x",
    }


def test_unchanged_environment_carries_nothing(tmp_path):
    result, _ = run("cd ..; cd - >/dev/null; f() { :; }; export -f f FOO", tmp_path, FOO="x")
    assert result.exports == {}  # not PWD, OLDPWD, SHLVL, _, nor our own variables
    assert result.cwd == str(tmp_path)


def test_unset_variables_are_reported_so_they_stay_unset(tmp_path):
    result, _ = run(
        "unset A; export -n B; export D=4", tmp_path, A="1", B="2", C="3", **{"a-b": "5"}
    )
    assert result.exports == {"D": "4"}
    assert set(result.unset) == {"A", "B"}  # not C (kept), nor a-b (no shell name: passed on)


def test_state_is_carried_whatever_umask_the_step_sets(tmp_path):
    """umask 0222 made the state file read-only for the dump's append (any user but a root
    that may override file permissions: this runs without that capability)."""
    script = textwrap.dedent(f"""\
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from converter.runtime.shell import run_bash
        r = run_bash("umask 0222; export AFTER=yes; cd /tmp", env=dict(os.environ), cwd="/",
                     timeout=10, on_output=lambda t: None)
        print(r.exports, r.cwd)
        """)
    caps = "-dac_override,-dac_read_search"
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        command = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "{'AFTER': 'yes'} /tmp"


def test_state_is_carried_when_the_script_fails(tmp_path):
    result, _ = run("cd /; export X=1; false; export Y=2", tmp_path)
    assert (result.exit_code, result.cwd, result.exports) == (1, "/", {"X": "1"})


def test_a_users_exit_trap_runs_and_state_is_still_carried(tmp_path):
    script = "trap 'echo trap saw $?' EXIT; cd /; export X=1; exit 3"
    result, out = run(script, tmp_path)
    assert (result.exit_code, out.text) == (3, "trap saw 3\n")
    assert (result.cwd, result.exports) == ("/", {"X": "1"})


def test_resetting_the_exit_trap_keeps_state(tmp_path):
    result, _ = run("trap 'echo x' EXIT INT; trap - EXIT INT; cd /; export X=1", tmp_path)
    assert (result.cwd, result.exports) == ("/", {"X": "1"})


def test_subshells_do_not_overwrite_the_state(tmp_path):
    script = "(trap 'echo sub' EXIT; cd /; export X=1); cd /tmp; echo $(export Y=2; pwd)"
    result, out = run(script, tmp_path)
    assert out.text == "sub\n/tmp\n"
    assert (result.cwd, result.exports) == ("/tmp", {})


@pytest.mark.parametrize(
    "env",
    [
        {"POSIXLY_CORRECT": "1"},
        {"SHELLOPTS": "braceexpand:hashall:interactive-comments:posix"},
    ],
)
def test_a_shell_started_in_posix_mode_still_reads_the_prelude(tmp_path, env):
    """Posix mode skips BASH_ENV: without care, no gate, no reaper, nothing carried."""
    result, out = run("cd /; export X=1; echo ${__RUNBOOK_GATE-gated}", tmp_path, **env)
    assert (result.exit_code, out.text, result.cwd, result.exports) == (
        0,
        "gated\n",
        "/",
        {"X": "1"},
    )


def test_posixly_correct_is_carried_and_puts_the_script_in_posix_mode(tmp_path):
    result, _ = run("export POSIXLY_CORRECT=y", tmp_path)
    assert result.exports == {"POSIXLY_CORRECT": "y"}
    again, out = run("shopt -o posix; export Y=1", tmp_path, **result.exports)
    assert "on" in out.text and again.exports == {"Y": "1"}


def test_a_users_variable_named_like_bash_is_carried(tmp_path):
    result, _ = run("export BASHO=poet BASH_XTRACEFD=2", tmp_path)
    assert result.exports == {"BASHO": "poet"}  # BASH_* are bash's own


def test_a_debug_trap_left_to_functions_does_not_write_into_the_dump(tmp_path):
    """set -T hands the script's DEBUG trap to the dump function: its output went into the
    state file, which then could not be read."""
    result, out = run("set -T; trap 'echo dbg' DEBUG; cd /; export X=1", tmp_path)
    assert (result.cwd, result.exports, result.state_unreadable) == ("/", {"X": "1"}, None)
    assert "dbg" in out.text


def test_an_unreadable_dump_carries_nothing_and_says_so(tmp_path):
    script = (
        "export X=1; __runbook_dump() { builtin printf "
        "'%s\\0??\\n\\0__RUNBOOK_STATE_END__\\0' / >\"$__runbook_state\"; }"
    )
    result, _ = run(script, tmp_path)
    assert (result.exit_code, result.cwd, result.exports) == (0, str(tmp_path), {})
    assert result.state_unreadable == "export -p: unexpected text at byte 0"


def test_a_value_ending_in_a_big5_backslash_byte_is_carried(tmp_path, legacy_locales):
    """許 is A5 5C in Big5: dumped raw in the step's locale, its 5C read as an escape."""
    value = os.fsdecode(b"\xa5\x5cn\t\xa5\x5c")
    result, _ = run(
        'export V="$SRC"', tmp_path, LOCPATH=str(legacy_locales), LC_ALL="zh_TW.BIG5", SRC=value
    )
    assert (result.exports, result.state_unreadable) == ({"V": value}, None)


def test_xtrace_does_not_show_the_state_dump(tmp_path):
    _, out = run("set -x; trap 'echo t' EXIT; echo x", tmp_path)
    assert "runbook" not in out.text


# -- parameters arrive as environment variables ---------------------------------------


HOSTILE = [
    "$(touch {marker})",
    "`touch {marker}`",
    "; touch {marker}",
    "&& touch {marker}",
    "| touch {marker}",
    "'; touch {marker}; '",
    '"; touch {marker}; "',
    "$((1+1))",
    "${HOME}",
    "$HOME",
    "\\$HOME",
    "'",
    '"',
    "\\",
    "a\nb",
    "a\tb",
    "\r\n",
    " leading space",
    "trailing space ",
    "*",
    "~",
    "~root",
    "-e",
    "-n",
    "--help",
    "-",
    "%s%d%n",
    "日本語の値",
    "x" * 100_000,
    "!!",
    "{a,b}",
    "[abc]",
    "$'\\x41'",
    "<(touch {marker})",
    "> {marker}",
    "\x1b[31mred",
    "",
    "; rm -rf /tmp/x",
]


@pytest.mark.parametrize("template", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_parameter_values_arrive_byte_for_byte(tmp_path, template):
    marker = tmp_path / "marker"
    value = template.format(marker=marker) if "{marker}" in template else template
    result, out = run('printf %s "$VAL"', tmp_path, VAL=value)
    assert result.exit_code == 0
    assert out.text == value
    assert not marker.exists()
    assert result.exports == {}


# -- the record ---------------------------------------------------------------------


def test_record_fields(tmp_path):
    result, _ = run("echo 日本", tmp_path)
    assert isinstance(result, ShellResult)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", result.started_at)
    assert 0 < result.duration_s < 5
    assert result.output_bytes == len("日本\n".encode())
