"""Benchmark the evidence archive: ``records list``, \
``records verify --all`` and ``records reindex``.

Generates N synthetic sealed records (``benchmarks/synthetic.py``: real
``finalize_record`` sealing and chaining, realistic file sizes), then measures,
in one run and side by side:

* ``runbook records list`` as a subprocess (what an operator waits for,
  interpreter start-up included) and :func:`converter.records.index.list_runs` in-process;
* ``runbook records verify --all`` as a subprocess and :func:`converter.records.verify.verify_all`
  in-process, as records per second (every file of every record re-hashed, the
  whole chain walked);
* ``records reindex`` (rebuilding the SQLite index from every manifest).

Prints a Markdown table and writes it, with the machine and the method, as its
section of ``docs/BENCHMARKS.md`` (``benchmarks/run_all.py`` runs every benchmark).
Targets (issue 4): list well under 1 s for 10,000 records; verify at least 1,000 records/s.

Usage: ``python benchmarks/bench_records.py [--records 10000] [--size realistic|small]
[--repeat 5]``
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from common import busy_note, load, machine, stamp, write_sections
from synthetic import generate

from converter.records.index import RunFilter, list_runs, reindex
from converter.records.layout import INDEX
from converter.records.verify import verify_all

LIST_TARGET_S = 0.5  # issue 15: all 50,000 under 0.5 s (issue 4 asked 1 s at 10,000)
FILTER_TARGET_S = 1.0  # issue 4: a filtered list
LIMIT_TARGET_S = 0.050  # issue 15: `records list --limit 20`, whole process
HELP_TARGET_S = 0.100  # issue 15: `runbook --help`, whole process
START_UP_ROUNDS = 15  # rounds of the five start-up rows (about 0.3 s a round)
VERIFY_TARGET_PER_S = 1000.0


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(median seconds, best seconds, last result) over ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - began)
    return statistics.median(times), min(times), result


def child_cpu() -> float:
    """CPU seconds of every reaped child process so far (user + system)."""
    import resource  # finer than os.times (clock ticks of 10 ms)

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cli(repeat: int, *args: object, python: str | None = None) -> tuple[float, float, float]:
    """(median wall, best wall, median CPU) seconds of ``runbook ARGS`` as a fresh process."""
    return timed_clis(repeat, {"": cli(*args, python=python)})[""]


def timed_clis(
    repeat: int, commands: dict[str, Callable[[], subprocess.CompletedProcess]]
) -> dict[str, tuple[float, float, float]]:
    """:func:`timed_cli` of several commands, alternating them round by round: a burst of
    other work on this shared machine then slows every row of a round alike, not one row."""
    for run in commands.values():
        run()  # warm-up: page cache, bytecode
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, run in commands.items():
            cpu, began = child_cpu(), time.perf_counter()
            run()
            walls[name].append(time.perf_counter() - began)
            cpus[name].append(child_cpu() - cpu)
    return {
        name: (statistics.median(walls[name]), min(walls[name]), statistics.median(cpus[name]))
        for name in commands
    }


def cli(*args: object, python: str | None = None) -> Callable[[], subprocess.CompletedProcess]:
    """``runbook ARGS`` as a fresh process (``-c CODE``: a bare interpreter), by ``python``
    (default: :data:`INSTALLED`, else this interpreter)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_")}
    interpreter = python or INSTALLED or sys.executable

    def run() -> subprocess.CompletedProcess:
        done = subprocess.run(
            [interpreter, *(() if args[0] == "-c" else ("-m", "converter")), *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=tempfile.gettempdir(),  # not the checkout: the install's import path finds it
        )
        if done.returncode != 0:
            raise SystemExit(
                f"runbook {' '.join(map(str, args))} exited {done.returncode}:\n"
                f"{done.stdout}{done.stderr}"
            )
        return done

    return run


INSTALLED: str | None = None
"""The interpreter of :func:`installed_python` once made (subprocess rows run it)."""


def installed_python(base: Path) -> str:
    """An interpreter that imports this checkout as a regular install would: no editable finder.

    ``pip install -e .`` adds an import hook (``__editable___…_finder``) that imports
    ``pathlib`` and ``importlib.util`` at every start (about 10 ms for a bare interpreter;
    ``runbook`` imports them anyway, so less for it); a regular install, or
    ``pip install -e . --config-settings editable_mode=compat``, is a plain entry on the
    import path instead. A virtual
    environment under ``base`` (no pip) gets a ``.pth`` naming this checkout and this
    environment's site-packages, plus this environment's other ``.pth`` files.
    """
    import sysconfig
    import venv

    target = base / "installed"
    venv.EnvBuilder(with_pip=False).create(target)
    python = str(target / "bin" / "python")
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = Path(sysconfig.get_paths()["purelib"])
    (site / "00-runbook-checkout.pth").write_text(f"{REPO}\n{ours}\n", encoding="utf-8")
    for pth in ours.glob("*.pth"):
        if not pth.name.startswith("__editable__"):
            shutil.copy(pth, site / pth.name)
    return python


def read_and_hash(records: Path) -> int:
    """Read every file under ``records`` and hash it (what any verification must do)."""
    import hashlib

    count = 0
    for path in records.rglob("*"):
        if path.is_file():
            hashlib.sha256(path.read_bytes()).hexdigest()
            count += 1
    return count


def size_of(records: Path) -> tuple[int, int]:
    total = files = 0
    for path in records.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
            files += 1
    return total, files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, default=10_000, help="how many synthetic records (default 10000)"
    )
    parser.add_argument("--size", choices=("realistic", "small"), default="realistic")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per measurement; the median is reported"
    )
    parser.add_argument(
        "--dir", type=Path, help="generate here (default: a temporary directory, removed after)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    return parser.parse_args(argv)


def section(args: argparse.Namespace) -> str:
    """Generate the records, measure, print the table; return this script's Markdown section."""
    base = args.dir or Path(tempfile.mkdtemp(prefix="runbook-bench-"))
    records = base / "records"
    if records.exists():
        shutil.rmtree(records)
    load_before = load()
    print(f"generating {args.records} {args.size} records under {records} ...", file=sys.stderr)
    began = time.perf_counter()
    generate(records, args.records, size=args.size)
    generated_s = time.perf_counter() - began
    total_bytes, total_files = size_of(records)
    n = args.records
    rows: list[tuple[str, str, str, str]] = []

    def add(what: str, target: str, result: str, met: bool | None) -> None:
        rows.append((what, target, result, "—" if met is None else ("yes" if met else "**no**")))
        print(f"  {what}: {result}", file=sys.stderr)

    print("measuring ...", file=sys.stderr)
    # An installed package has its bytecode compiled (pip does it); this checkout may not
    # (PYTHONDONTWRITEBYTECODE), and compiling every module would be timed as start-up.
    compileall.compile_dir(REPO / "converter", quiet=1)
    global INSTALLED
    INSTALLED = installed_python(base)
    limit_20 = ("records", "list", "--limit", "20", "--records", records)
    start_up = timed_clis(
        START_UP_ROUNDS,
        {
            "floor": cli("-c", "import click"),
            "version": cli("--version"),
            "help": cli("--help"),
            "limit": cli(*limit_20),
            "editable": cli(*limit_20, python=sys.executable),
        },
    )
    floor, _, floor_cpu = start_up["floor"]
    startup, _, startup_cpu = start_up["version"]
    add(
        "interpreter + `import click` (`python -c 'import click'`: the floor of any command)",
        "—",
        f"{floor * 1000:.0f} ms (CPU {floor_cpu * 1000:.0f} ms)",
        None,
    )
    add(
        "interpreter + CLI start-up (`runbook --version`)",
        "—",
        f"{startup * 1000:.0f} ms (CPU {startup_cpu * 1000:.0f} ms)",
        None,
    )
    median, _, cpu = start_up["help"]
    add(
        "`runbook --help` (subprocess)",
        f"< {HELP_TARGET_S * 1000:.0f} ms",
        f"{median * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)",
        cpu < HELP_TARGET_S,
    )
    median, _, cpu = start_up["limit"]
    add(
        f"`runbook records list --limit 20` ({n:,} records, subprocess)",
        f"< {LIMIT_TARGET_S * 1000:.0f} ms",
        f"{median * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)",
        cpu < LIMIT_TARGET_S,
    )
    median, _, cpu = start_up["editable"]
    add(
        "the same through this environment's interpreter (`pip install -e .`: its finder included)",
        "—",
        f"{median * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)",
        None,
    )

    assert len(cli("records", "list", "--records", records)().stdout.splitlines()) >= n + 1
    for label, extra in (("table of all", ()), ("`--json`, all", ("--json",))):
        median, _, cpu = timed_cli(args.repeat, "records", "list", *extra, "--records", records)
        add(
            f"`runbook records list` ({label} {n:,} runs, subprocess)",
            f"< {LIST_TARGET_S * 1000:.0f} ms",
            f"{median * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)",
            cpu < LIST_TARGET_S,
        )
    median, best, _ = timed(
        cli(
            "records",
            "list",
            "--records",
            records,
            "--status",
            "failed",
            "--operator",
            "bob",
            "--since",
            "2026-02-01",
            "--limit",
            "20",
        ),
        args.repeat,
    )
    add(
        "`runbook records list --status … --operator … --since … --limit 20` (subprocess)",
        f"< {FILTER_TARGET_S:.0f} s",
        f"{median * 1000:.0f} ms (best {best * 1000:.0f} ms)",
        median < FILTER_TARGET_S,
    )
    median, best, listed = timed(lambda: list_runs(records, RunFilter()), args.repeat)
    assert len(listed) == n
    add(
        f"`list_runs` in-process (all {n:,} rows)",
        "—",
        f"{median * 1000:.1f} ms (best {best * 1000:.1f} ms)",
        None,
    )

    verify_repeat = max(1, min(args.repeat, 3))
    median, best, done = timed(
        cli("records", "verify", "--all", "--records", records), verify_repeat
    )
    assert f"{n} record(s) checked, 0 problem(s)" in done.stdout, done.stdout[-500:]
    add(
        f"`runbook records verify --all` ({n:,} records, subprocess)",
        f"≥ {VERIFY_TARGET_PER_S:,.0f} records/s",
        f"{n / median:,.0f} records/s ({median:.2f} s)",
        n / median >= VERIFY_TARGET_PER_S,
    )
    median, best, result = timed(lambda: verify_all(records), verify_repeat)
    assert result[0] == n and not result[1], result[1][:5]
    add(
        "`verify_all` in-process (default threads)",
        f"≥ {VERIFY_TARGET_PER_S:,.0f} records/s",
        f"{n / median:,.0f} records/s ({median:.2f} s)",
        n / median >= VERIFY_TARGET_PER_S,
    )
    one_thread, best, _ = timed(lambda: verify_all(records, workers=1), 1)
    add(
        "`verify_all` in-process, one thread (reference)",
        "—",
        f"{n / one_thread:,.0f} records/s ({one_thread:.2f} s)",
        None,
    )
    floor, _, _ = timed(lambda: read_and_hash(records), 1)
    add(
        "the floor: read and sha256 every file of the archive, one thread",
        "verify (one thread) ≤ 1.1× this",
        f"{n / floor:,.0f} records/s ({floor:.2f} s); verify is {one_thread / floor:.2f}×",
        one_thread / floor <= 1.1,
    )

    median, best, count = timed(lambda: reindex(records), verify_repeat)
    assert count == n
    add(f"`reindex` in-process ({n:,} manifests)", "—", f"{median:.2f} s (best {best:.2f} s)", None)
    (records / INDEX).unlink()
    median, best, _ = timed(cli("records", "reindex", "--records", records), 1)
    add("`runbook records reindex` from no index (subprocess)", "—", f"{median:.2f} s", None)

    load_after = load()
    table = ["| Measurement | Target | Result | Met |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(table)
    print(text)
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)
    else:
        shutil.rmtree(base / "installed", ignore_errors=True)
    per_record = total_bytes / n / 1024
    busy = busy_note(load_before)
    return f"""## The evidence archive: {n:,} records

Generated by `python benchmarks/bench_records.py --records {n} --size {args.size}` on {stamp()}.

- Machine: {machine()}; load average {load_before} before, {load_after} after{busy}.
- Data: {n:,} synthetic sealed records ({args.size}: {per_record:,.0f} KiB and \
{total_files / n:.1f} files per
  record, {total_bytes / 2**20:,.0f} MiB in all) made by `benchmarks/synthetic.py` through
  `converter.records.manifest.finalize_record`, so hashes and the `previous` chain are real; \
generated in {generated_s:.0f} s.
  Sizes follow a record of the bundled SQLite example (record.html is mostly nbconvert's CSS).
- Method: median of {args.repeat} runs ({verify_repeat} for verify and \
reindex; the first five rows: {START_UP_ROUNDS} rounds, each running the five commands one \
after
  the other, so a burst of other work slows a whole round, not one row); subprocess rows start \
a fresh
  `python -m converter` each time, so they include interpreter start-up \
(first rows), with bytecode compiled as an installed package has it,
  and import the package as a regular install does: from a temporary virtual environment \
whose
  `.pth` names this checkout and this environment's site-packages, without the editable \
install's
  import hook (`pip install -e .` adds one that imports `pathlib` at every start: ≈10 ms for
  a bare interpreter, less for `runbook`, which imports it anyway; \
`pip install -e . --config-settings editable_mode=compat`
  does not); one row shows the editable interpreter for comparison. Where a row shows
  CPU time, its "Met" is judged on CPU: one single-threaded process that waits for
  nothing takes its CPU time on an idle machine, and this machine is shared. Files are in the page
  cache (just written); verification re-reads and re-hashes every byte of every \
record and walks the whole chain.

{text}
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    text = section(args)
    if not args.no_write:
        write_sections({"records": text}, command=None, out=args.out)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
