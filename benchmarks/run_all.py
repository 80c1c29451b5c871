"""Run every benchmark and write ``docs/BENCHMARKS.md``, one section per script.

The scripts run one after the other in this process (never side by side, so
they do not slow each other down): ``bench_records.py`` (the evidence archive),
``bench_execution.py`` (bash, papermill and the runtime, per step),
``bench_growth.py`` (N = 100 to 5,000, the interactive path, 100 MB in a kernel) and
``bench_convert.py`` (our converter and jupytext). ``--only`` runs some of them
and keeps the other sections already in the file.

Usage: ``python benchmarks/run_all.py [--records-n 10000,50000] [--records-size small]
[--steps 50] [--repeat 3] [--growth-sizes 100,1000,5000] [--only execution,convert]``
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DOC, ORDER, load, write_sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records-n",
        default="10000,50000",
        help="synthetic records for bench_records, comma-separated: one table per count",
    )
    parser.add_argument(
        "--records-size",
        choices=("realistic", "small"),
        default="realistic",
        help="record size for bench_records (small: a few KB, for large counts)",
    )
    parser.add_argument("--steps", type=int, default=50, help="steps per run for bench_execution")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        # 5, not 3: now and then a kernel's shutdown waits 2.5 s (ipykernel's control thread
        # does not stop; jupyter_client sends SIGTERM after half its shutdown_wait_time), and
        # two such runs out of three made a median
        help="runs per measurement for bench_execution, rounds for bench_growth (median)",
    )
    parser.add_argument("--big-mb", type=int, default=100, help="MB the flood step prints")
    parser.add_argument(
        "--seal-steps", default="1000,5000", help="record sizes for the record.html table"
    )
    parser.add_argument(
        "--growth-sizes", default="100,1000,5000", help="run sizes (steps) for bench_growth"
    )
    parser.add_argument(
        "--interactive-sizes", default="100,500", help="sizes for the interactive path"
    )
    parser.add_argument(
        "--only", default=",".join(ORDER), help=f"comma-separated subset of {', '.join(ORDER)}"
    )
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    unknown = set(chosen) - set(ORDER)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    sections: dict[str, str] = {}
    for name in (n for n in ORDER if n in chosen):
        print(f"== bench_{name} (load average {load()})", file=sys.stderr)
        if name == "records":
            import bench_records

            sections[name] = "\n".join(
                bench_records.section(
                    bench_records.parse_args(["--records", count, "--size", args.records_size])
                )
                for count in args.records_n.split(",")
            )
        elif name == "execution":
            import bench_execution

            sections[name] = bench_execution.section(
                argparse.Namespace(
                    steps=args.steps,
                    repeat=args.repeat,
                    big_mb=args.big_mb,
                    seal_steps=[int(k) for k in args.seal_steps.split(",")],
                )
            )
        elif name == "growth":
            import bench_growth

            sections[name] = bench_growth.section(
                argparse.Namespace(
                    sizes=bench_growth.parse_sizes(args.growth_sizes),
                    interactive_sizes=bench_growth.parse_sizes(args.interactive_sizes),
                    big_mb=args.big_mb,
                    repeat=2,
                    runs=args.repeat,
                )
            )
        else:
            import bench_convert

            sections[name] = bench_convert.section(argparse.Namespace(repeat=5))
    command = " ".join(
        [
            "python",
            "benchmarks/run_all.py",
            *map(shlex.quote, sys.argv[1:] if argv is None else argv),
        ]
    )
    write_sections(sections, command=command, out=args.out)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
