"""Benchmark step execution: plain bash, bare papermill and the runbook runtime, side by side.

Every path runs with N trivial steps (``true``) and with none, so per step =
(total at N − total at 0) / N, and "beyond bash" subtracts what bash itself costs
per step (``bash -e -o pipefail -c true``):

* the floor: ``bash -c true`` and ``bash -e -o pipefail -c true`` × N (subprocess);
* bare papermill: N ``%%bash`` cells through ``papermill.execute_notebook`` in-process
  (with its default per-cell saves and without);
* our runtime: a runbook of N steps, converted, executed (a) by plain papermill
  (interactive mode: the finish cell seals the record) and (b) by ``runbook run``
  in-process (``converter.runner.run.run_runbook``);
* the step executor alone, in this process: ``converter.runtime.shell.run_bash`` and
  all of ``%%step`` (``run_step_cell``) against ``subprocess.run``, no kernel, no papermill.

Target (DESIGN.md §7): under 10 ms per step beyond bash.

Usage: ``python benchmarks/bench_execution.py [--steps 50] [--repeat 3] [--no-write]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import busy_note, load, machine, median_cpu_s, median_s, stamp, table, write_sections

TARGET_MS = 10.0


def runbook_text(n: int) -> str:
    """A runbook of ``n`` steps, each one ``true`` under a ``#### 1-k.`` heading."""
    steps = "".join(f"#### 1-{k}. Step {k}\n\n```bash\ntrue\n```\n\n" for k in range(1, n + 1))
    return f"# Runbook: bench {n}\n\n## Procedure\n\n### Phase 1: Run\n\n{steps}"


def notebooks(n: int) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(a bare notebook of ``n`` ``%%bash`` cells, the runbook of ``n`` steps converted by us)."""
    from converter.markdown.parse import parse_text
    from converter.notebook.build import build_notebook

    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    bare = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%%bash\ntrue") for _ in range(n)],
        metadata={"kernelspec": kernelspec},
    )
    return bare, build_notebook(
        parse_text(runbook_text(n), path=f"bench-{n}.md"), source_name=f"bench-{n}.md"
    )


def bash_loop(n: int, argv: list[str]) -> None:
    for _ in range(n):
        subprocess.run(argv, capture_output=True, check=True)


def papermill_run(
    nb: nbformat.NotebookNode, work: Path, *, save: bool = True, **parameters: object
) -> None:
    """``papermill in.ipynb out.ipynb``: from a file, as a user runs it (given the notebook
    object instead, papermill copies every cell into the output's metadata, and its per-cell
    saves then write the notebook twice over)."""
    import papermill

    source = work / "in.ipynb"
    nbformat.write(nb, source)
    papermill.execute_notebook(
        str(source),
        str(work / "out.ipynb"),
        parameters=parameters or None,
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        cwd=str(work),
        request_save_on_cell_execute=save,
    )


def runbook_run(source: Path, records: Path) -> Any:
    """``runbook run`` in-process (headless); its outcome, for a caller that reads the record."""
    from converter.runner.run import RunOptions, run_runbook

    outcome = run_runbook(
        RunOptions(source=source, records=records, progress=False, operator="bench")
    )
    assert outcome.status == "succeeded", outcome
    return outcome


@contextlib.contextmanager
def plain_environment() -> Iterator[None]:
    """No ``RUNBOOK_*`` variable and no JupyterLab session: plain papermill seals at finish."""
    with mock.patch.dict(os.environ):
        for name in [k for k in os.environ if k.startswith("RUNBOOK_") or k == "JPY_SESSION_NAME"]:
            del os.environ[name]
        yield


def executors(script: str, n: int, repeat: int, work: Path) -> tuple[float, ...]:
    """ms per call of ``script`` × n in this process.

    Bash alone, ``run_bash``, all of ``%%step`` (no IPython).
    """
    from converter.runtime import start
    from converter.runtime.magic import run_step_cell
    from converter.runtime.shell import run_bash

    def run_bash_only() -> None:
        for _ in range(n):
            assert (
                run_bash(
                    script,
                    env=dict(os.environ),
                    cwd=str(work),
                    timeout=None,
                    on_output=lambda _text: None,
                ).exit_code
                == 0
            )

    def step_cells() -> None:  # journal, status views, run_bash: what %%step does in the kernel
        steps = [[f"1-{k}", "procedure", f"Step {k}", []] for k in range(1, n + 1)]
        with contextlib.redirect_stdout(io.StringIO()):
            session = start(
                {"records_dir": str(work / "micro"), "runbook_mode": "headless"},
                timeout=None,
                parameters=[],
                runbook={"id": "micro", "title": "micro", "lang": "en"},
                steps=steps,
            )
            for k in range(1, n + 1):
                run_step_cell(session, f"1-{k}", script)

    actions = (partial(bash_loop, n, ["bash", "-c", script]), run_bash_only, step_cells)
    return tuple(median_cpu_s(action, repeat) / n * 1000 for action in actions)


BIG_OUTPUT = r"""
import contextlib, io, json, os, resource, sys, time
def hwm():  # peak RSS of this process since exec (ru_maxrss keeps the forking parent's)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0])
from converter.runtime import start
from converter.runtime.magic import run_step_cell
mb, records = int(sys.argv[1]), sys.argv[2]
with contextlib.redirect_stdout(io.StringIO()):
    session = start({"records_dir": records, "runbook_mode": "headless"}, timeout=None,
                    parameters=[], runbook={"id": "big", "title": "big", "lang": "en"},
                    steps=[["1-1", "procedure", "Step", []]])
    before = hwm()
    t, began = os.times(), time.perf_counter()
    flood = f"head -c {mb * 1000000} /dev/zero | tr '\\0' x | fold -w 99"
    result = run_step_cell(session, "1-1", flood)
    wall, u = time.perf_counter() - began, os.times()
cpu = sum(u[:4]) - sum(t[:4])
peak = hwm()
print(json.dumps({"cpu": cpu, "wall": wall, "before_kib": before, "peak_kib": peak,
                  "kept": len(result.output)}))
"""


SEAL = """
import json, os, resource, sys, time
def hwm():  # peak RSS of this process since exec (ru_maxrss keeps the forking parent's)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0])
sys.path.insert(0, "benchmarks")
import nbformat
from bench_execution import notebooks
from converter.records.html import render_html
from converter.records.outputs import status_bundle
nb = notebooks(int(sys.argv[1]))[1]
for cell in nb.cells:  # what a headless run leaves: one status line per step cell
    if cell.cell_type == "code" and cell.source.startswith("%%step"):
        bundle = status_bundle(cell.id, "Step", "succeeded", "exit 0, 0.01 s")
        cell.outputs = [nbformat.v4.new_output("display_data", data=dict(bundle))]
        cell.execution_count = 1
t, began = os.times(), time.perf_counter()
page = render_html(nb, title="bench")
wall, u = time.perf_counter() - began, os.times()
print(json.dumps({"cpu": sum(u[:4]) - sum(t[:4]), "wall": wall, "bytes": len(page),
                  "peak_kib": hwm()}))
"""


# The whole seal of a real headless record (`seal_run`: stamp, record.html, manifest,
# hashes, signature), timed around the runner's own call, after a real `runbook run`.
SEAL_RUN = """
import json, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, "benchmarks")
from bench_execution import plain_environment, runbook_text
import converter.runner.run as run
spent = []
real = run.seal_run
def timed_seal(*args, **kwargs):
    t, began = os.times(), time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        u = os.times()
        spent.append((sum(u[:4]) - sum(t[:4]), time.perf_counter() - began))
run.seal_run = timed_seal
work = Path(tempfile.mkdtemp(prefix="runbook-bench-seal-"))
(work / "rb.md").write_text(runbook_text(int(sys.argv[1])), encoding="utf-8")
with plain_environment():
    out = run.run_runbook(run.RunOptions(source=work / "rb.md", records=work / "records",
                                         progress=False, operator="bench"))
assert out.status == "succeeded" and len(spent) == 1, (out.status, spent)
print(json.dumps({"cpu": spent[0][0], "wall": spent[0][1]}))
"""


def fresh(script: str, *args: object) -> dict:
    """Run ``script`` in a fresh interpreter from the repository root; its last line as JSON."""
    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    return json.loads(out.splitlines()[-1])


def seal_render(n: int) -> dict:
    """``record.html`` of an ``n``-step record, in a fresh interpreter: CPU, wall, peak memory."""
    return fresh(SEAL, n)


def seal_whole(n: int) -> dict:
    """The runner's ``seal_run`` of an ``n``-step headless record, in a fresh interpreter."""
    return fresh(SEAL_RUN, n)


def big_output(mb: int, work: Path) -> dict:
    """One ``%%step`` printing ``mb`` MB, in a fresh interpreter: CPU, wall, peak memory."""
    return fresh(BIG_OUTPUT, mb, work / "big")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def section(args: argparse.Namespace) -> str:
    """Measure every path; print the tables; return this script's Markdown section."""
    n, repeat = args.steps, args.repeat
    work = Path(tempfile.mkdtemp(prefix="runbook-bench-exec-"))
    records = work / "records"
    load_before = load()
    for k in (0, n):
        (work / f"bench-{k}.md").write_text(runbook_text(k), encoding="utf-8")
    nbs = {k: notebooks(k) for k in (0, n)}

    def both(label: str, action) -> tuple[float, float]:
        """Medians at N = 0 and at N, interleaved (load drifts), after one warm-up run (imports)."""
        print(f"  {label} ...", file=sys.stderr)
        action(0)
        pairs = [
            (median_s(lambda: action(0), 1), median_s(lambda: action(n), 1)) for _ in range(repeat)
        ]
        return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)

    with plain_environment():
        floor_true = median_s(lambda: bash_loop(n, ["bash", "-c", "true"]), repeat) / n
        floor_step = (
            median_s(lambda: bash_loop(n, ["bash", "-e", "-o", "pipefail", "-c", "true"]), repeat)
            / n
        )
        bare = both("bare papermill", lambda k: papermill_run(nbs[k][0], work))
        unsaved = both(
            "bare papermill, no saves", lambda k: papermill_run(nbs[k][0], work, save=False)
        )
        interactive = both(
            "runbook via papermill",
            lambda k: papermill_run(nbs[k][1], work, records_dir=str(records)),
        )
        assert len(list(records.rglob("manifest.json"))) == 2 * repeat + 1, (
            "the finish cell did not seal every run"
        )
        headless = both("runbook run", lambda k: runbook_run(work / f"bench-{k}.md", records))
        print("  run_bash micro-benchmark ...", file=sys.stderr)
        micro = {script: executors(script, n, repeat, work) for script in ("true", "echo ok")}
        print(f"  one step printing {args.big_mb} MB ...", file=sys.stderr)
        big = big_output(args.big_mb, work)
        seals = {}
        for k in (1, *args.seal_steps):
            print(f"  record.html of {k} steps ...", file=sys.stderr)
            seals[k] = seal_render(k)
        whole_n = min(args.seal_steps)
        print(f"  the whole seal of a run of 1 and of {whole_n} steps ...", file=sys.stderr)
        # one number per run, so paired rounds: each round's difference, then their median
        whole_rounds = [(seal_whole(1), seal_whole(whole_n)) for _ in range(repeat)]
    load_after = load()
    shutil.rmtree(work, ignore_errors=True)

    rows = [
        (
            f"`bash -c 'true'` × {n} (subprocess)",
            "—",
            ms(floor_true * n),
            ms(floor_true),
            "—",
            "—",
            "—",
        ),
        (
            f"`bash -e -o pipefail -c 'true'` × {n} (the floor)",
            "—",
            ms(floor_step * n),
            ms(floor_step),
            "0",
            "—",
            "—",
        ),
    ]
    bare_per = (bare[1] - bare[0]) / n
    for label, (fixed, total), target in (
        (f"bare papermill, {n} × `%%bash` cells", bare, False),
        (
            f"bare papermill, {n} × `%%bash` cells, `request_save_on_cell_execute=False`",
            unsaved,
            False,
        ),
        (
            f"runbook via `papermill.execute_notebook` (interactive, sealed at finish), {n} steps",
            interactive,
            True,
        ),
        (f"`runbook run` (`run_runbook` in-process, headless), {n} steps", headless, True),
    ):
        per = (total - fixed) / n
        beyond = (per - floor_step) * 1000
        met = ("yes" if beyond < TARGET_MS else "**no**") if target else "— (reference)"
        ratio = per / bare_per
        versus = (f"{ratio:.2f}× " + ("yes" if ratio <= 1.0 else "**no**")) if target else "—"
        rows.append((label, ms(fixed), ms(total), ms(per), f"{beyond:.1f} ms", met, versus))
    main_table = table(
        (
            f"Path (N = {n})",
            "Fixed cost (N = 0)",
            f"Total (N = {n})",
            "Per step",
            f"Beyond bash per step (target < {TARGET_MS:.0f} ms)",
            "Met",
            "Per step ÷ bare papermill (issue 15: ≤ 1.0×)",
        ),
        rows,
    )
    micro_table = table(
        (
            "Script",
            "`subprocess.run(['bash', '-c', script])`",
            "`run_bash(script)`",
            "`run_step_cell` (all of `%%step`)",
            "`run_bash` beyond bash",
            "`%%step` beyond bash",
        ),
        [
            (
                f"`{script}`",
                *(f"{x:.1f} ms" for x in (sub, bash, cell)),
                f"{bash - sub:+.1f} ms",
                f"{cell - sub:+.1f} ms",
            )
            for script, (sub, bash, cell) in micro.items()
        ],
    )
    big_table = table(
        ("Step", "CPU (this process + children)", "Wall", "Peak RSS", "Output kept in memory"),
        [
            (
                f"`%%step` printing {args.big_mb} MB (100-byte lines)",
                f"{big['cpu']:.2f} s",
                f"{big['wall']:.2f} s",
                f"{big['peak_kib'] / 1024:.0f} MiB (before: {big['before_kib'] / 1024:.0f} MiB)",
                f"{big['kept']:,} characters",
            )
        ],
    )
    base = seals[1]
    whole_per_ms = statistics.median(
        (big["cpu"] - one["cpu"]) / max(whole_n - 1, 1) * 1000 for one, big in whole_rounds
    )
    whole = {
        key: statistics.median(big[key] for _one, big in whole_rounds) for key in ("cpu", "wall")
    }
    seal_rows = []
    for k in args.seal_steps:
        got = seals[k]
        per_ms = (got["cpu"] - base["cpu"]) / max(k - 1, 1) * 1000
        met = per_ms <= 1 and (k < 5000 or (got["cpu"] < 5 and got["peak_kib"] < 300 * 1024))
        seal_rows.append(
            (
                f"{k:,} steps",
                f"{got['cpu']:.2f} s",
                f"{got['wall']:.2f} s",
                f"{got['peak_kib'] / 1024:.0f} MiB",
                f"{got['bytes'] / 2**20:.1f} MiB",
                f"{per_ms:.1f} ms",
                "yes" if met else "**no**",
            )
        )
    seal_table = table(
        ("record.html of", "CPU", "Wall", "Peak RSS", "Page", "CPU per step (≤ 1 ms)", "Met"),
        [
            (
                "1 step (the fixed cost)",
                f"{base['cpu']:.2f} s",
                f"{base['wall']:.2f} s",
                f"{base['peak_kib'] / 1024:.0f} MiB",
                f"{base['bytes'] / 2**20:.1f} MiB",
                "—",
                "—",
            ),
            *seal_rows,
            (
                f"the whole seal of a real {whole_n:,}-step headless run (`seal_run`)",
                f"{whole['cpu']:.2f} s",
                f"{whole['wall']:.2f} s",
                "—",
                "—",
                f"{whole_per_ms:.2f} ms",
                "yes" if whole_per_ms <= 1 else "**no**",
            ),
        ],
    )
    print(main_table, micro_table, big_table, seal_table, sep="\n\n")
    return f"""## Step execution: bash, papermill and the runbook runtime

Generated by `python benchmarks/bench_execution.py --steps {n} --repeat {repeat}` on {stamp()}.

- Machine: {machine()}; load average {load_before} before, {load_after} \
after{busy_note(load_before)}.
- Method: each path runs once to warm up, then {repeat} times each with N = {n} \
trivial steps (`true`) and with
  none, alternating; medians. Per step = (total at N − total at N = 0) / N, so \
kernel start-up, conversion and
  sealing are the fixed cost; "beyond bash" subtracts the floor, `bash -e -o pipefail -c true`
  ({floor_step * 1000:.1f} ms a call). papermill runs in-process, \
`progress_bar=False`, otherwise its defaults
  ("bare papermill" and the interactive path, which is plain papermill): \
`request_save_on_cell_execute=True`
  rewrites the whole output notebook at the start and at the end of every cell, \
Markdown cells included, so
  that cost grows with N. `runbook run` calls it with `request_save_on_cell_execute=False` \
(the journal is the
  evidence while it runs). A runbook step is two cells (its `####` heading and its \
`%%step` cell, no checklists). Records go to a temporary directory.
- Target (DESIGN.md §7): the runtime's per-step overhead under {TARGET_MS:.0f} ms beyond bash.

{main_table}

The step executor alone, {n} calls in this process (no kernel, no papermill). `run_bash` starts
the step's `bash -e -o pipefail` leading a session of its own, announces its group to the \
process's reaper (one helper
bash per process, started once, which kills the announced groups if the process dies), opens \
the gate of the state-dump
prelude (builtins only: no fork), then pumps the merged output; \
`run_step_cell` adds the journal (one fsync
per step, at its end), the status views and the output log: everything `%%step` does inside the
kernel. These figures are **CPU time** (`os.times`, this process and its children, median of
{repeat}), not wall-clock time: the machine is shared, and other work delays a run without adding
to its CPU time. Whole commands are compared the same way: CPU time over paired, alternating runs.

{micro_table}

One step printing a flood, in a fresh interpreter (no kernel): the output streams to the step's
log as it comes, and only the first `OUTPUT_CAP_BYTES` stay in memory (for the notebook and the
expected-result check, which reads the log when the step printed more).

{big_table}

Sealing renders `record.html` with nbconvert's `HTMLExporter` and `lab` template through a
template of our own (`converter/records/nbpage.py`: each distinct code input highlighted once
with one lexer and formatter per language and no bleach pass over pygments' escaped markup, one
Markdown parser per page, the notebook copied and validated once, the collector's full passes
kept off the notebook while the page renders); `converter/records/html.py` adds the header and
checks for remote references. One fresh interpreter per size, a synthetic record of N steps as a
headless run leaves it (one status line per step). Per step = (CPU at N − CPU at 1) / (N − 1).
The last row is the whole seal as the runner does it after a real `runbook run` of 1 and of N
steps (stamping record.ipynb, record.html, the manifest, hashes and signature; CPU of this
process and its children, e.g. ssh-keygen), one fresh interpreter per run, {repeat} rounds of
both sizes: the median of the rounds' differences.
Targets: at most 1 ms per step plus a fixed cost; 5,000 steps in under 5 s and 300 MB.

{seal_table}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="steps per run, N (default 50)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the median is reported"
    )
    parser.add_argument(
        "--big-mb", type=int, default=100, help="MB the flood step prints (default 100)"
    )
    parser.add_argument(
        "--seal-steps",
        type=lambda text: [int(k) for k in text.split(",")],
        default=[1000, 5000],
        help="record sizes (steps) for the record.html table, comma-separated",
    )
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    args = parser.parse_args(argv)
    text = section(args)
    if not args.no_write:
        write_sections({"execution": text}, command=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
