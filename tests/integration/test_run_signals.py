"""``runbook run`` stopped from outside: SIGTERM/SIGINT/SIGKILL of the runner, kernel death.

Every test starts the real runner (``runbook run``) as a subprocess, with a real kernel,
papermill and bash, and a records directory of its own. Each test has a unique marker:
it is in the runner's environment (so the kernel and every step process inherit it)
and in the step's text (so the step shells carry it on their command line). "No
process left" means: no live process mentions the marker, and the step's background
pid and the kernel pid are gone. Waits poll with deadlines; nothing sleeps blindly.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from reliability import record_trial

from converter.markdown.parse import parse_text
from converter.notebook.build import build_notebook

pytestmark = pytest.mark.integration

START_DEADLINE_S = 90.0  # kernel start + first step, generous for a loaded machine
EXIT_DEADLINE_S = 15.0  # from the signal to the runner's exit
GONE_DEADLINE_S = 5.0  # for the step's processes, once the runner or kernel is gone
MARK_VAR = "RBTEST_MARK"


# -- processes -----------------------------------------------------------------------------


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def is_alive(pid: int) -> bool:
    """A process exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def marked_processes(marker: str) -> list[int]:
    """Live processes (other than this one) whose command line or environment holds ``marker``."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            blob = Path(f"/proc/{entry}/cmdline").read_bytes()
            blob += Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in blob and is_alive(int(entry)):
            found.append(int(entry))
    return found


def assert_nothing_left(marker: str, *pids: int | None) -> None:
    """Within a few seconds no marked process and none of ``pids`` is alive."""

    def gone() -> bool:
        return not marked_processes(marker) and not any(p and is_alive(p) for p in pids)

    assert wait_until(gone, GONE_DEADLINE_S), (
        f"left behind: marked={[(p, cmdline(p)[:200]) for p in marked_processes(marker)]} "
        f"pids={[p for p in pids if p and is_alive(p)]}"
    )


# -- the runner ----------------------------------------------------------------------------


def runbook_argv() -> list[str]:
    exe = shutil.which("runbook")
    return [exe] if exe else [sys.executable, "-m", "converter.cli"]


class Runner:
    """One ``runbook run`` subprocess: stdout/stderr in files, its own records directory."""

    def __init__(self, tmp_path: Path, source: Path, *args: str, marker: str):
        self.records = tmp_path / "records"
        self.stdout_path = tmp_path / "runner.out"
        self.stderr_path = tmp_path / "runner.err"
        # Our environment without RUNBOOK_* (an operator's settings must not leak in).
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
        env.update(PYTHONIOENCODING="utf-8", **{MARK_VAR: marker})
        argv = [*runbook_argv(), "run", str(source), "--records", str(self.records), *args]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                argv,
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # a Ctrl-C of pytest is not the test's signal
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def describe(self) -> str:
        return f"rc={self.proc.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr[-3000:]}"

    def journal_path(self) -> Path | None:
        found = sorted(self.records.glob("*/*/journal.jsonl"))
        assert len(found) <= 1, f"one run, one record: {found}"
        return found[0] if found else None

    def events(self) -> list[dict]:
        """The journal's complete lines so far (the last one may be mid-write)."""
        path = self.journal_path()
        if path is None:
            return []
        events = []
        for line in path.read_bytes().split(b"\n"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def has_event(self, event: str, step: str | None = None) -> bool:
        return any(e.get("event") == event and e.get("step") == step for e in self.events())

    def kernel_pid(self) -> int | None:
        pids = [e["pid"] for e in self.events() if e.get("event") == "session_start"]
        return pids[-1] if pids else None

    def wait_for(self, ready, what: str) -> None:
        """Block until ``ready()``; fail if the runner ends first or the deadline passes."""
        wait_until(lambda: self.proc.poll() is not None or ready(), START_DEADLINE_S, 0.02)
        assert self.proc.poll() is None, f"runner ended before {what}\n{self.describe()}"
        assert ready(), f"no {what} within {START_DEADLINE_S}s\n{self.describe()}"

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runner still running after {timeout}s\n{self.describe()}")

    def record_dir(self) -> Path:
        path = self.journal_path()
        assert path is not None, f"no record directory under {self.records}\n{self.describe()}"
        return path.parent

    def manifest(self) -> dict:
        return json.loads((self.record_dir() / "manifest.json").read_text(encoding="utf-8"))

    def printed_record_dir(self) -> Path:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, self.describe()
        return Path(lines[-1])


@pytest.fixture
def marker(tmp_path):
    """A unique marker; at teardown, kill (by pid) whatever still carries it or is our runner."""
    value = f"rbtest-{uuid.uuid4().hex}"
    yield value
    for pid in marked_processes(value):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def start(tmp_path, marker):
    """``start(source, *args) -> Runner``; the runner is killed and reaped at teardown."""
    runners: list[Runner] = []

    def _start(source: Path, *args: str) -> Runner:
        runner = Runner(tmp_path, source, *args, marker=marker)
        runners.append(runner)
        return runner

    yield _start
    for runner in runners:
        if runner.proc.poll() is None:
            os.killpg(runner.proc.pid, signal.SIGKILL)  # its own session: only the runner
        runner.proc.wait(30)


# -- runbooks ------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def long_step_runbook(tmp_path: Path, marker: str) -> tuple[Path, Path]:
    """Step 1-1 prints, starts a background sleep, then sleeps; step 1-2 follows."""
    bg_pid = tmp_path / "bg.pid"
    source = write(
        tmp_path / "signals.md",
        f"""
        ---
        id: signal-test
        lang: en
        ---

        # Runbook: Signal test

        ## Procedure

        #### 1-1. Long step

        ```bash
        export RBTEST_STEP={marker}
        echo "started $((40 + 2))"
        sleep 300 & echo $! > {bg_pid}
        sleep 200
        ```

        #### 1-2. After

        ```bash
        echo "after $((40 + 2))"
        ```
        """,
    )
    return source, bg_pid


TWO_STEPS = """
    ---
    id: kernel-death
    lang: en
    ---

    # Runbook: Kernel death

    ## Procedure

    #### 1-1. First

    ```bash
    echo "first $((40 + 2))"
    ```

    #### 1-2. Second

    ```bash
    echo "second $((40 + 2))"
    ```
    """


def notebook_with_cell(tmp_path: Path, code: str, *, before: str | None = None) -> Path:
    """TWO_STEPS's generated notebook with a Python cell ``code`` after step 1-1
    (or right before step ``before``)."""
    nb = build_notebook(parse_text(textwrap.dedent(TWO_STEPS).lstrip("\n")))
    index = (
        nb.cells.index(step_cell(nb, before))
        if before
        else nb.cells.index(step_cell(nb, "1-1")) + 1
    )
    nb.cells.insert(index, nbformat.v4.new_code_cell(code))
    path = tmp_path / "runbook.ipynb"
    nbformat.write(nb, path)
    return path


# -- records -------------------------------------------------------------------------------


def wait_for_long_step(runner: Runner, bg_pid_file: Path) -> None:
    """Until step 1-1 of ``long_step_runbook`` has started and written its background pid."""

    def ready() -> bool:
        written = bg_pid_file.exists() and bg_pid_file.read_text().strip()
        return bool(written) and runner.has_event("step_start", "1-1")

    runner.wait_for(ready, "step 1-1 running with its background job")


def step_cell(nb: nbformat.NotebookNode, step: str) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"%%step {step}")]
    assert len(cells) == 1, f"one cell for step {step}"
    return cells[0]


def cell_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(str(output["data"].get("text/plain", "")))
    return "".join(parts)


def manifest_step(manifest: dict, step: str) -> dict:
    (entry,) = [s for s in manifest["steps"] if s["id"] == step]
    return entry


def assert_sealed_interrupted(runner: Runner) -> tuple[Path, dict]:
    """Exit 130, record dir printed last, sealed as ``interrupted`` with its notebook and HTML."""
    assert runner.proc.returncode == 130, runner.describe()
    record = runner.record_dir()
    assert runner.printed_record_dir() == record
    manifest = runner.manifest()
    assert manifest["status"] == "interrupted"
    assert set(manifest["files"]) >= {"journal.jsonl", "record.ipynb", "record.html"}
    assert not (record / "STOP").exists(), "the stop flag is not part of the record"
    nb = nbformat.read(record / "record.ipynb", as_version=4)
    assert nb.metadata["runbook"]["verdict"]["run_status"] == "interrupted"
    events = runner.events()
    assert (events[-1]["event"], events[-1]["status"]) == ("run_end", "interrupted")
    return record, manifest


# -- the runner is signalled ---------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_step_interrupts_it_and_keeps_the_record(tmp_path, marker, start, signum):
    source, bg_pid_file = long_step_runbook(tmp_path, marker)
    runner = start(source)
    wait_for_long_step(runner, bg_pid_file)
    bg_pid = int(bg_pid_file.read_text())
    kernel = runner.kernel_pid()
    assert is_alive(bg_pid) and kernel and is_alive(kernel)
    assert len(marked_processes(marker)) >= 4, "runner, kernel, step shells and sleeps are marked"

    sent = time.monotonic()
    runner.proc.send_signal(signum)
    runner.wait(EXIT_DEADLINE_S)
    assert time.monotonic() - sent < EXIT_DEADLINE_S

    record, manifest = assert_sealed_interrupted(runner)
    assert manifest_step(manifest, "1-1")["status"] == "interrupted"
    assert manifest_step(manifest, "1-2")["status"] == "not_run"
    assert manifest["failure"]["step"] == "1-1"
    nb = nbformat.read(record / "record.ipynb", as_version=4)
    assert "started 42" in cell_text(step_cell(nb, "1-1"))
    assert "after 42" not in json.dumps(nb)
    assert "started 42" in (record / "record.html").read_text(encoding="utf-8")
    events = runner.events()
    (end,) = [e for e in events if e.get("event") == "step_end" and e.get("step") == "1-1"]
    assert end["status"] == "interrupted"
    assert not runner.has_event("step_start", "1-2")

    assert_nothing_left(marker, bg_pid, kernel)
    record_trial(f"{signal.Signals(signum).name} of the runner mid-step", 1, 0)


@pytest.mark.parametrize("when", ["run_start", "pass_start"])
def test_signal_before_any_step_runs_nothing_and_seals_the_record(tmp_path, marker, start, when):
    """Whatever the runner is doing (importing, starting the kernel, running the setup
    cell), a SIGTERM before the first step ends the run in order: no step starts."""
    source, _ = long_step_runbook(tmp_path, marker)
    runner = start(source)
    runner.wait_for(lambda: runner.has_event(when), f"the {when} event")

    runner.proc.send_signal(signal.SIGTERM)
    runner.wait(EXIT_DEADLINE_S + 30)  # may wait for the kernel to come up and stop

    record, manifest = assert_sealed_interrupted(runner)
    assert not runner.has_event("step_start", "1-1")
    assert {s["status"] for s in manifest["steps"]} == {"not_run"}
    assert "started 42" not in (record / "record.html").read_text(encoding="utf-8")
    assert_nothing_left(marker, runner.kernel_pid())
    record_trial(f"SIGTERM of the runner at {when}", 1, 0)


def test_signal_during_a_python_cell_stops_before_the_next_step(tmp_path, marker, start):
    flag = tmp_path / "cell.started"
    source = notebook_with_cell(
        tmp_path,
        f"import pathlib, time\npathlib.Path({str(flag)!r}).touch()\ntime.sleep(120)",
        before="1-1",
    )
    runner = start(source)
    runner.wait_for(flag.exists, "the Python cell running")
    kernel = runner.kernel_pid()

    runner.proc.send_signal(signal.SIGTERM)
    runner.wait(EXIT_DEADLINE_S)

    _, manifest = assert_sealed_interrupted(runner)
    assert not runner.has_event("step_start", "1-1")
    assert manifest_step(manifest, "1-1")["status"] == "not_run"
    assert_nothing_left(marker, kernel)
    record_trial("SIGTERM of the runner during a Python cell", 1, 0)


def test_sigkill_of_runner_keeps_the_journal_and_leaves_no_process(tmp_path, marker, start):
    source, bg_pid_file = long_step_runbook(tmp_path, marker)
    runner = start(source)
    wait_for_long_step(runner, bg_pid_file)
    bg_pid = int(bg_pid_file.read_text())
    kernel = runner.kernel_pid()

    runner.proc.kill()
    assert runner.wait(EXIT_DEADLINE_S) == -signal.SIGKILL

    # The kernel notices its parent is gone and exits; its reaper then kills the step group.
    assert_nothing_left(marker, bg_pid, kernel)

    record = runner.record_dir()
    raw = (record / "journal.jsonl").read_bytes()
    assert raw.endswith(b"\n"), "every journal line is complete"
    events = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert all(isinstance(e, dict) and {"event", "at", "seq"} <= e.keys() for e in events)
    assert events[0]["event"] == "run_start"
    assert (events[-1]["event"], events[-1]["step"]) == ("step_start", "1-1")
    assert not (record / "manifest.json").exists(), "sealing such a record is a later job"
    # The runner wrote the notebook before running it; sealing the abandoned record
    # later fills in what the journal and logs/ hold, up to the kill.
    assert nbformat.read(record / "record.ipynb", as_version=4).cells
    from converter.records.recover import finalize_abandoned

    assert finalize_abandoned(record.parent.parent) == [record]
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "interrupted"
    assert manifest_step(manifest, "1-1")["status"] == "interrupted"
    # Its times are the journal's: it ran until its last event, not until it was sealed.
    assert manifest["finished_at"] == events[-1]["at"]
    # Every file tells the same story: the step is interrupted, not still "running".
    shown = cell_text(step_cell(nbformat.read(record / "record.ipynb", as_version=4), "1-1"))
    assert "started 42" in shown and "interrupted" in shown and "running" not in shown
    page = (record / "record.html").read_text(encoding="utf-8")
    assert 'runbook-interrupted" data-step="1-1"' in page and "runbook-running" not in page
    record_trial("SIGKILL of the runner mid-step, sealed by recovery", 1, 0)


def test_sigkill_during_the_rollback_keeps_both_passes_verdicts(tmp_path, marker, start):
    """Recovery judges each pass apart, as the runner would have: the main pass failed at
    1-2, the rollback pass was interrupted at its step; every file says the same."""
    started = tmp_path / "undoing"
    source = write(
        tmp_path / "rollback.md",
        f"""
        ---
        id: rollback-kill
        lang: en
        ---

        # Runbook: Killed while rolling back

        ## Procedure

        #### 1-1. Work

        ```bash
        echo work
        ```

        #### 1-2. Break

        ```bash
        exit 3
        ```

        ## Rollback

        ### Rollback steps

        #### Step 1: Slow undo

        ```bash
        export RBTEST_STEP={marker}
        echo undoing; touch {started}; sleep 200
        ```
        """,
    )
    runner = start(source, "--rollback-on-failure")
    runner.wait_for(started.exists, "the rollback step running")
    runner.proc.kill()
    assert runner.wait(EXIT_DEADLINE_S) == -signal.SIGKILL
    record = runner.record_dir()
    from converter.records.recover import finalize_abandoned

    wait_until(lambda: not marked_processes(marker), GONE_DEADLINE_S)
    assert finalize_abandoned(record.parent.parent) == [record]
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "interrupted"
    assert [(s["id"], s["status"], s["exit_code"]) for s in manifest["steps"]] == [
        ("1-1", "succeeded", 0),
        ("1-2", "failed", 3),
        ("rollback-1", "interrupted", None),
    ]
    assert manifest["failure"]["step"] == "1-2"
    assert (manifest["rollback"]["status"], manifest["rollback"]["failed_step"]) == (
        "interrupted",
        "rollback-1",
    )
    rolled = nbformat.read(record / "rollback.ipynb", as_version=4)
    assert "undoing" in cell_text(step_cell(rolled, "rollback-1"))
    page = (record / "record.html").read_text(encoding="utf-8")
    for step, status in (("1-2", "failed"), ("rollback-1", "interrupted")):
        assert f'runbook-{status}" data-step="{step}"' in page


# -- the kernel dies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason_words"),
    [
        ("import os; os._exit(1)", ("kernel died", "stopped")),
        ("import sys; sys.exit(0)", ("stopped",)),
    ],
    ids=["os._exit", "sys.exit(0)"],
)
def test_kernel_stopping_between_steps_fails_the_run(tmp_path, start, code, reason_words):
    runner = start(notebook_with_cell(tmp_path, code), "--confirm", "all")
    rc = runner.wait(START_DEADLINE_S)

    assert rc == 1, runner.describe()  # papermill alone: 138 for os._exit, 0 for sys.exit(0)
    manifest = runner.manifest()
    assert manifest["status"] == "failed"
    reason = manifest["failure"]["reason"].lower()
    assert any(word in reason for word in reason_words), reason
    assert manifest_step(manifest, "1-1")["status"] == "succeeded"
    assert manifest_step(manifest, "1-2")["status"] == "not_run"
    assert not any(e.get("step") == "1-2" for e in runner.events())
    assert not runner.has_event("session_end")
    record = runner.record_dir()
    assert runner.printed_record_dir() == record
    assert (record / "record.html").exists()
    nb = nbformat.read(record / "record.ipynb", as_version=4)
    assert nb.metadata["runbook"]["verdict"]["status"] == "failed"
    assert "first 42" in cell_text(step_cell(nb, "1-1"))
    assert "second 42" not in json.dumps(nb)
    record_trial(f"the kernel exits between steps ({code.split(';')[-1].strip()})", 1, 0)


def test_kernel_killed_during_a_step_fails_that_step(tmp_path, marker, start):
    source = write(
        tmp_path / "kernel-kill.md",
        f"""
        ---
        id: kernel-kill
        lang: en
        ---

        # Runbook: Kernel killed mid-step

        ## Procedure

        #### 1-1. Sleep

        ```bash
        export RBTEST_STEP={marker}
        echo "sleeping $((40 + 2))"
        sleep 30
        ```

        #### 1-2. After

        ```bash
        echo "after $((40 + 2))"
        ```
        """,
    )
    runner = start(source)

    def sleeping() -> bool:
        return any(cmdline(p) == b"sleep\x0030\x00" for p in marked_processes(marker))

    runner.wait_for(sleeping, "step 1-1's sleep")
    kernel = runner.kernel_pid()
    assert kernel and b"ipykernel" in cmdline(kernel)

    os.kill(kernel, signal.SIGKILL)
    rc = runner.wait(60)

    assert rc == 1, runner.describe()
    assert_nothing_left(marker, kernel)
    manifest = runner.manifest()
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "1-1"
    assert "the kernel died while the step was running" in manifest["failure"]["reason"]
    assert manifest_step(manifest, "1-1")["status"] == "failed"
    assert manifest_step(manifest, "1-2")["status"] == "not_run"
    assert runner.printed_record_dir() == runner.record_dir()
    assert (runner.record_dir() / "record.html").exists()
    record_trial("SIGKILL of the kernel mid-step", 1, 0)


# -- random kills --------------------------------------------------------------------------
# SIGKILL of ``runbook run`` at random moments: each trial kills the real runner (no chance
# to clean up) somewhere between start-up and the end of sealing. After every kill the
# runner's processes die with it, ``records list`` seals the abandoned run as
# ``interrupted`` (or finishes an interrupted seal), and ``records verify --all`` finds
# nothing wrong. The seed is fixed, so a failure can be replayed; RUNBOOK_KILL_SEED picks
# another.

KILL_TRIALS = 6
KILL_STEPS = 6


def test_sigkill_at_random_moments_loses_nothing(tmp_path, marker, start):
    body = "\n".join(
        f'#### 1-{n}. Step {n}\n\n```bash\nsleep 0.3; echo "step {n} {marker}"\n```\n'
        for n in range(1, KILL_STEPS + 1)
    )
    source = write(
        tmp_path / "kills.md",
        "---\nid: random-kills\nlang: en\n---\n\n# Runbook: random kills\n\n"
        f"## Procedure\n\n{body}",
    )
    seed = int(os.environ.get("RUNBOOK_KILL_SEED", "20261130"))
    rng = random.Random(seed)
    records = tmp_path / "records"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    lost = 0
    for trial in range(KILL_TRIALS):
        runner = start(source)
        delay = rng.uniform(0.5, 9.0)
        proc = runner.proc
        finished = wait_until(lambda proc=proc: proc.poll() is not None, delay)
        if not finished:
            os.killpg(runner.proc.pid, signal.SIGKILL)
        runner.proc.wait(30)
        assert wait_until(lambda: not marked_processes(marker), GONE_DEADLINE_S + 30), (
            f"trial {trial} (seed {seed}, {delay:.2f} s): processes outlived the killed runner"
        )
        listed = subprocess.run(
            [*runbook_argv(), "records", "list", "--json", "--records", str(records)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        # A run killed before its record had a journal ran nothing (the kernel journals
        # before any step); every run that started must be listed, sealed.
        started = len(list(records.glob("*/*/journal.jsonl")))
        lost += started - len(rows)
        assert all(r["status"] != "running" for r in rows), rows
    verified = subprocess.run(
        [*runbook_argv(), "records", "verify", "--all", "--records", str(records)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    record_trial(
        "kills at random points of a run (SIGKILL at a random moment, many times)",
        KILL_TRIALS,
        lost + (verified.returncode != 0),
    )
    assert lost == 0, f"seed {seed}: {lost} run(s) missing from the archive"
    assert started >= KILL_TRIALS // 2, f"seed {seed}: most kills came before any run started"
    assert verified.returncode == 0, verified.stdout
