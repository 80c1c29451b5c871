"""Benchmark how a run grows with its runbook, the interactive path, and a 100 MB step in a kernel.

Three questions of issue 15, each answered side by side in one run:

* **Linear**: the marginal cost of a step between N = 100 and 1,000 and between 1,000 and
  5,000 steps, ``runbook run`` (headless) against bare papermill without per-cell saves on
  the same number of ``%%bash`` cells (target: at most 1.3×, at both sizes).
* **Interactive**: the runtime in interactive mode (what JupyterLab and plain papermill run:
  live counter, "running" lines, per-line summary, sealed by the finish cell) against the
  headless path, per step (target: at most 1.5×).
* **Output**: one step printing 100 MB inside a real kernel, through ``runbook run``: its cost
  and the kernel's peak memory (targets: at most 1.5 s, under 100 MB).

Usage: ``python benchmarks/bench_growth.py [--sizes 100,1000,5000] [--interactive-sizes
100,500] [--big-mb 100] [--repeat 2] [--no-write]``
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_execution import notebooks, papermill_run, plain_environment, runbook_run, runbook_text
from common import busy_note, cpu_s, load, machine, stamp, table, write_sections

LINEAR_TARGET = 1.3
INTERACTIVE_TARGET = 1.5
BIG_SECONDS, BIG_MIB = 1.5, 100
REPEATED_UP_TO = 1000  # sizes run in --runs rounds; a run of 5,000 steps takes minutes

# The step's shell is a child of the kernel.
KERNEL_MEMORY = "grep -E '^(VmHWM|VmRSS):' /proc/$PPID/status"


def timed(action) -> tuple[float, float]:
    """(CPU seconds of this process and its children, wall seconds) of one call."""
    cpu, wall = cpu_s(), time.perf_counter()
    action()
    return cpu_s() - cpu, time.perf_counter() - wall


def headless(n: int, work: Path) -> tuple[float, float]:
    """:func:`timed` ``runbook run`` of an ``n``-step runbook."""
    source = work / f"grow-{n}.md"
    source.write_text(runbook_text(n), encoding="utf-8")
    return timed(partial(runbook_run, source, work / "records"))


Runs = dict[int, list[tuple[float, float]]]  # size → (CPU, wall) of each run, in round order


def marginal(costs: Runs, a: int, b: int) -> tuple[float, float]:
    """(CPU, wall) ms per step between sizes ``a`` and ``b``.

    With as many runs at both sizes (run in rounds: a, b, a, b, ...), the median of each
    round's difference, so a slow spell of the shared machine shifts both sizes of a round
    alike; otherwise the difference of the medians.
    """
    if len(costs[a]) == len(costs[b]):
        return tuple(  # type: ignore[return-value]
            statistics.median((y[i] - x[i]) / (b - a) * 1000 for x, y in zip(costs[a], costs[b]))
            for i in (0, 1)
        )
    (ac, aw), (bc, bw) = median_of(costs[a]), median_of(costs[b])
    return (bc - ac) / (b - a) * 1000, (bw - aw) / (b - a) * 1000


def over(ours: float, reference: float) -> float:
    """``ours / reference``; infinite when the reference's difference is not positive (tiny
    sizes: ``os.times`` counts in 10 ms ticks, so two close sizes can cost the same)."""
    return ours / reference if reference > 0 else math.inf


def median_of(costs: list[tuple[float, float]]) -> tuple[float, float]:
    """(median CPU, median wall) of several runs of one path at one size."""
    return statistics.median(c for c, _ in costs), statistics.median(w for _, w in costs)


def growth(sizes: list[int], work: Path, runs: int = 1) -> tuple[Runs, Runs]:
    """Each path at each size: ``runs`` rounds over the sizes up to :data:`REPEATED_UP_TO`
    steps (smallest first, the two paths alternating), then one run of each larger size."""
    ours: Runs = {n: [] for n in sizes}
    bare: Runs = {n: [] for n in sizes}
    small = [n for n in sizes if n <= REPEATED_UP_TO]
    rounds = [small] * runs + [[n for n in sizes if n > REPEATED_UP_TO]]
    for number, group in enumerate(rounds, 1):
        for n in group:
            print(f"  N = {n} (round {number}): runbook run, bare papermill ...", file=sys.stderr)
            ours[n].append(headless(n, work))
            bare_nb = notebooks(n)[0]
            bare[n].append(timed(lambda nb=bare_nb: papermill_run(nb, work, save=False)))
    return ours, bare


def interactive(sizes: list[int], work: Path, runs: int = 1) -> tuple[Runs, Runs]:
    """The runbook notebook through plain papermill (interactive mode, without per-cell
    saves) and ``runbook run`` (headless), side by side in ``runs`` rounds over ``sizes``."""
    inter: Runs = {n: [] for n in sizes}
    head: Runs = {n: [] for n in sizes}
    records = str(work / "records")
    for number in range(1, runs + 1):
        for n in sizes:
            print(
                f"  N = {n} (round {number}): headless, then through papermill ...", file=sys.stderr
            )
            head[n].append(headless(n, work))
            run = partial(papermill_run, notebooks(n)[1], work, save=False, records_dir=records)
            inter[n].append(timed(run))
    return inter, head


def big_step(mb: int, repeat: int, work: Path) -> dict:
    """A 3-step runbook (memory, flood, memory) against the same with a silent middle step."""

    def text(flood: int) -> str:
        body = f"head -c {flood} /dev/zero | tr '\\\\0' x | fold -w 99" if flood else "true"
        return (
            "# Runbook: big\n\n## Procedure\n\n### Phase 1: Run\n\n"
            f"#### 1-1. Before\n\n```bash\n{KERNEL_MEMORY}\n```\n\n"
            f"#### 1-2. Flood\n\n```bash\n{body}\n```\n\n"
            f"#### 1-3. After\n\n```bash\n{KERNEL_MEMORY}\n```\n"
        )

    rows: dict[str, list] = {"quiet": [], "flood": []}
    memory: dict[str, int] = {}
    for _ in range(repeat):
        for name, size in (("quiet", 0), ("flood", mb * 1_000_000)):
            source = work / f"big-{name}.md"
            source.write_text(text(size), encoding="utf-8")
            outcome = None

            def run(source: Path = source) -> None:
                nonlocal outcome
                outcome = runbook_run(source, work / "records")

            rows[name].append(timed(run))
            nb = nbformat.read(outcome.run_dir / "record.ipynb", as_version=4)
            shown = " ".join(
                o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if "text" in o
            )
            kib = [int(v) for v in re.findall(r"VmHWM:\s+(\d+) kB", shown)]
            memory[f"{name}_before"] = min(memory.get(f"{name}_before", 10**9), kib[0])
            memory[f"{name}_peak"] = max(memory.get(f"{name}_peak", 0), kib[-1])
    med = {k: median_of(v) for k, v in rows.items()}
    return {
        "cpu": med["flood"][0] - med["quiet"][0],
        "wall": med["flood"][1] - med["quiet"][1],
        **memory,
    }


def section(args: argparse.Namespace) -> str:
    """Measure; print the tables; return this script's Markdown section."""
    work = Path(tempfile.mkdtemp(prefix="runbook-bench-growth-"))
    load_before = load()
    with plain_environment():
        print("  warm-up ...", file=sys.stderr)
        growth([1], work)
        ours, bare = growth(args.sizes, work, args.runs)
        inter, inter_head = interactive(args.interactive_sizes, work, args.runs)
        print(f"  one step printing {args.big_mb} MB in a kernel ...", file=sys.stderr)
        big = big_step(args.big_mb, args.repeat, work)
    load_after = load()
    shutil.rmtree(work, ignore_errors=True)

    linear_rows = []
    for a, b in itertools.pairwise(args.sizes):
        (oc, ow), (bc, bw) = marginal(ours, a, b), marginal(bare, a, b)
        ratio = over(oc, bc)
        linear_rows.append(
            (
                f"{a:,} → {b:,}",
                f"{ow:.1f} ms (CPU {oc:.1f} ms)",
                f"{bw:.1f} ms (CPU {bc:.1f} ms)",
                f"{ratio:.2f}× (wall {over(ow, bw):.2f}×)",
                "yes" if ratio <= LINEAR_TARGET else "**no**",
            )
        )
    totals = [
        (
            f"{n:,}",
            f"{median_of(ours[n])[1]:.1f} s (CPU {median_of(ours[n])[0]:.1f} s)",
            f"{median_of(bare[n])[1]:.1f} s (CPU {median_of(bare[n])[0]:.1f} s)",
        )
        for n in args.sizes
    ]
    linear_table = table(
        (
            "Between N =",
            "`runbook run`, per step",
            "bare papermill, no saves, per step",
            f"Ratio, CPU (≤ {LINEAR_TARGET}×)",
            "Met",
        ),
        linear_rows,
    )
    totals_table = table(
        ("N", "`runbook run` (whole run)", "bare papermill, no saves (whole run)"), totals
    )
    inter_rows = []
    isz = args.interactive_sizes
    for n in isz:
        (nc, nw), (hc, hw) = median_of(inter[n]), median_of(inter_head[n])
        inter_rows.append(
            (
                f"whole run, N = {n:,}",
                f"{hw:.1f} s (CPU {hc:.1f} s)",
                f"{nw:.1f} s (CPU {nc:.1f} s)",
                "—",
                "—",
            )
        )
    for a, b in itertools.pairwise(isz):
        (hc, hw), (nc, nw) = marginal(inter_head, a, b), marginal(inter, a, b)
        inter_rows.append(
            (
                f"**per step**, N = {a:,} → {b:,}",
                f"{hw:.1f} ms (CPU {hc:.1f} ms)",
                f"{nw:.1f} ms (CPU {nc:.1f} ms)",
                f"{over(nc, hc):.2f}× (wall {over(nw, hw):.2f}×)",
                "yes" if over(nc, hc) <= INTERACTIVE_TARGET else "**no**",
            )
        )
    inter_table = table(
        (
            "",
            "headless (`runbook run`)",
            "interactive (papermill, no per-cell saves)",
            f"Interactive ÷ headless, CPU (≤ {INTERACTIVE_TARGET}×)",
            "Met",
        ),
        inter_rows,
    )
    big_met = big["wall"] <= BIG_SECONDS and big["flood_peak"] < BIG_MIB * 1024
    big_table = table(
        (
            "Step",
            f"Cost (≤ {BIG_SECONDS} s)",
            f"Kernel peak RSS (< {BIG_MIB} MiB)",
            "Kernel before the step",
            "Met",
        ),
        [
            (
                f"`runbook run`: one step printing {args.big_mb} MB (100-byte lines)",
                f"{big['wall']:.2f} s (CPU {big['cpu']:.2f} s)",
                f"{big['flood_peak'] / 1024:.0f} MiB",
                (
                    f"{big['flood_before'] / 1024:.0f} MiB "
                    f"(with a silent step: peak {big['quiet_peak'] / 1024:.0f} MiB)"
                ),
                "yes" if big_met else "**no**",
            )
        ],
    )
    print(linear_table, totals_table, inter_table, big_table, sep="\n\n")
    sizes = ",".join(map(str, args.sizes))
    isizes = ",".join(map(str, args.interactive_sizes))
    return f"""## Growth with the runbook, the interactive path, and a 100 MB step in a kernel

Generated by `python benchmarks/bench_growth.py --sizes {sizes} --interactive-sizes {isizes} \
--big-mb {args.big_mb} --repeat {args.repeat} --runs {args.runs}` on {stamp()}.

- Machine: {machine()}; load average {load_before} before, {load_after} \
after{busy_note(load_before)}.
- Method: {args.runs} rounds over the sizes up to {REPEATED_UP_TO:,} steps (smallest first, \
the two paths
  alternating), then one run of each larger size (a run of 5,000 steps takes minutes), after a
  warm-up; a step is `true` under a `####` heading. CPU is this process and its children (the
  kernel, bash), from `os.times`; "Met" is judged on CPU (the machine is shared: other work
  delays a run without adding to its CPU time), wall-clock time is shown too. Marginal cost per
  step between two sizes = (cost at the larger − cost at the smaller) / (difference in steps),
  so start-up and fixed costs cancel: the median of the rounds' differences where both sizes
  ran in every round, else the difference of the medians. Whole runs show medians.

Linear growth: `runbook run` against bare papermill with `request_save_on_cell_execute=False`
on the same number of `%%bash` cells (target: at most {LINEAR_TARGET}× at both sizes).

{linear_table}

{totals_table}

The interactive path: the same converted notebook through `papermill.execute_notebook` (in
{args.runs} rounds, each running `runbook run` and then papermill at every size), so the
runtime runs in interactive mode (a live counter in the setup cell, a "running" line per step,
one summary line per step with its own display id, sealed by the finish cell), against
`runbook run`, both without papermill's per-cell saves: this is what the runtime itself costs
in interactive mode (JupyterLab saves only when asked). papermill's default
`request_save_on_cell_execute=True` adds its own rewrite of the whole notebook around every
cell, whatever the notebook runs, so that cost grows with N (the execution section shows it for
bare `%%bash` and for the runbook; a 1,000-step runbook took this machine over 15 minutes).

{inter_table}

One step printing {args.big_mb} MB inside a real kernel (`runbook run` of three steps: the kernel's
memory, the flood, the kernel's memory again, read from `/proc/<kernel>/status` by the steps
themselves), against the same runbook with a silent middle step; medians of {args.repeat}.
The output streams to the step's log; only `OUTPUT_CAP_BYTES` stay in the kernel and the notebook.

{big_table}
"""


def parse_sizes(text: str) -> list[int]:
    return [int(k) for k in text.split(",") if k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[100, 1000, 5000])
    parser.add_argument("--interactive-sizes", type=parse_sizes, default=[100, 500])
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2, help="runs of the 100 MB pair (median)")
    parser.add_argument(
        "--runs", type=int, default=3, help=f"runs per size up to {REPEATED_UP_TO} steps (median)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    text = section(args)
    if not args.no_write:
        write_sections({"growth": text}, command=None, **({"out": args.out} if args.out else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
