"""``runbook records …``: the evidence archive's commands, and the evidence options.

Split from :mod:`converter.cli` (which adds this group) to keep both short; the
same rules hold: a thin click layer, heavy imports inside the commands, every
help ending with an example, errors mapped to exit codes by ``cli.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .records.evidence import Evidence


SIGNING_KEY_OPTION = click.option(
    "--signing-key",
    envvar="RUNBOOK_SIGNING_KEY",
    metavar="KEY",
    help="OpenSSH private key (or .pub of an ssh-agent key) that signs each manifest "
    "(env RUNBOOK_SIGNING_KEY).",
)
ALLOWED_SIGNERS_OPTION = click.option(
    "--allowed-signers",
    envvar="RUNBOOK_ALLOWED_SIGNERS",
    metavar="FILE",
    help="OpenSSH allowed_signers file naming who may sign (env RUNBOOK_ALLOWED_SIGNERS).",
)
WITNESS_OPTION = click.option(
    "--witness",
    envvar="RUNBOOK_WITNESS",
    metavar="PATH",
    help="Append-only file outside the archive, one line per sealed record (env RUNBOOK_WITNESS).",
)


def evidence_settings(
    signing_key: str | None, allowed_signers: str | None, witness: str | None
) -> Evidence:
    """The evidence options as one value (nothing is proven yet)."""
    from .records.evidence import Evidence

    return Evidence(signing_key, allowed_signers, witness)


PARAMETER_OPTION = click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter value, converted by its declared type.",
)
PARAMETERS_FILE_OPTION = click.option(
    "-f",
    "--parameters-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping of parameter values.",
)
TARGETS_OPTION = click.option(
    "--targets",
    "targets_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A fleet: CSV or YAML file, one target per row (column 'target', the rest parameters).",
)


def fleet_options(command: Any) -> Any:
    """``run``'s fleet options: the targets file and the rollout controls."""
    options = [
        TARGETS_OPTION,
        click.option("--jobs", type=click.IntRange(min=1),
                     help="With --targets: targets running at once (default 1; with --dask, "
                     "the cluster's worker threads)."),
        click.option("--canary", type=click.IntRange(min=0), default=0,
                     help="Run the first K targets alone; stop unless all succeed."),
        click.option("--max-failures", type=click.IntRange(min=1),
                     help="Start no new target once F targets did not succeed."),
        click.option("--batch-size", type=click.IntRange(min=1),
                     help="Run the targets in waves of B (each wave waits for the one before)."),
        click.option("--dask", metavar="ADDRESS",
                     help="Run the targets on this dask.distributed scheduler (pip: [fleet])."),
        click.option("--fleet-member", nargs=2, hidden=True, metavar="FLEET TARGET"),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


RECORDS_OPTION = click.option(
    "--records",
    type=click.Path(path_type=Path),
    envvar="RUNBOOK_RECORDS",
    default="records",
    show_default=True,
    help="Records directory (env RUNBOOK_RECORDS).",
)


@click.group()
def records() -> None:
    """Read the evidence archive: list, show, verify, export, reindex, repair.

    Example: runbook records list --status failed --since 2026-11-01
    """


@records.command("list")
@RECORDS_OPTION
@click.option("--runbook", help="Only this runbook id.")
@click.option(
    "--status", type=click.Choice(["succeeded", "failed", "blocked", "interrupted", "running"])
)
@click.option("--operator", help="Only runs by this operator.")
@click.option("--since", help="Started on or after (ISO date or time, UTC).")
@click.option("--until", help="Started before (ISO date or time, UTC).")
@click.option("--limit", type=int, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
def records_list(
    records: Path,
    runbook: str | None,
    status: str | None,
    operator: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List runs, newest first (from the index; see reindex).

    Columns: status (dry runs as "dry run"), STOPPED AT (the step where a failed,
    blocked or interrupted run stopped), rollback outcome, operator, start,
    duration, and approvers when any run has them; --json carries the same.
    Runs whose process is gone without sealing their record are sealed as
    interrupted first; runs still going are listed as running.

    Example: runbook records list --runbook sqlite-phone-number --json
    """
    import json

    from .records.index import RunFilter, list_runs, matches, running_row
    from .records.indexdb import require_directory
    from .records.recover import settle
    from .records.report import list_rows, list_table

    require_directory(records)
    where = RunFilter(runbook, status, operator, since, until, limit)
    running = settle(records)[1]
    rows = [] if status == "running" else list_runs(records, where)
    live = [
        row
        for row in (running_row(records, d, events) for d, events in running)
        if matches(row, where)
    ]
    if live:
        resumed = {row.get("resumes") for row in live}  # a chain shows once: its latest run
        rows = [row for row in rows if row["run_id"] not in resumed]
        rows = sorted(
            rows + live, key=lambda r: (str(r["started_at"] or ""), r["run_id"]), reverse=True
        )
        rows = rows[:limit] if limit else rows
    rows = list_rows(records, rows)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(list_table(rows))  # one write: 10,000 rows in a few milliseconds


@records.command("show")
@click.argument("run")
@RECORDS_OPTION
def records_show(run: str, records: Path) -> None:
    """Show one run (run id, unique prefix, record path, or "last"): parameters,
    steps, checks, failure and rollback.

    Example: runbook records show last
    """
    from .records.index import find_run
    from .records.report import load_view, show_text

    click.echo(show_text(load_view(find_run(records, run))))


@records.command("export")
@click.argument("run")
@RECORDS_OPTION
@click.option(
    "--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True
)
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Write here instead of stdout.")
def records_export(run: str, records: Path, fmt: str, out: Path | None) -> None:
    """Export a self-contained report of one run for auditors (works offline).

    Example: runbook records export 20261128T1334 --format html -o run.html
    """
    from .records.index import find_run
    from .records.report import export_html, export_markdown, load_view

    view = load_view(find_run(records, run))
    text = export_html(view) if fmt == "html" else export_markdown(view)
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(str(out))
    else:
        click.echo(text, nl=False)


@records.command("verify")
@click.argument("run", required=False)
@RECORDS_OPTION
@click.option("--all", "check_all", is_flag=True, help="Every record and the whole chain.")
@ALLOWED_SIGNERS_OPTION
@click.option("--require-signatures", is_flag=True, help="An unsigned record is a failure.")
@WITNESS_OPTION
def records_verify(
    run: str | None,
    records: Path,
    check_all: bool,
    allowed_signers: str | None,
    require_signatures: bool,
    witness: str | None,
) -> None:
    """Recompute every hash and walk the previous-chain; check signatures against the
    allowed signers and the archive against the witness; exit 1 naming what changed.

    Example: runbook records verify --all --allowed-signers ~/.config/runbook/allowed_signers
    """
    from .records.damage import checkpoint_notes, unsealed_damage
    from .records.indexdb import require_directory
    from .records.verify import Report, VerifyOptions, verify_archive, verify_chain, verify_record

    require_directory(records)
    options = VerifyOptions(allowed_signers, require_signatures, witness)
    if run and not check_all:
        from .records.index import find_run

        run_dir = find_run(records, run)
        report = Report(
            checked=1, problems=verify_record(records, run_dir, options) + verify_chain(records)
        )
        checked = [run_dir]
    else:
        report = verify_archive(records, options)
        checked = sorted(d for d in records.glob("*/*") if d.is_dir())
    damaged = unsealed_damage(records, [records / path for path in report.unsealed])
    problems = [str(p) for p in report.problems] + damaged
    for problem in problems:
        click.echo(f"FAIL {problem}")
    for signed in report.signed:
        click.echo(f"ok   {signed}")
    for note in report.notes:
        click.echo(f"note {note}")
    for path in report.unsealed:
        click.echo(
            f"note {path}: not sealed yet (running, or interrupted: run 'runbook records reindex')"
        )
    for checkpoint in checkpoint_notes(records, checked):
        click.echo(f"note {checkpoint}")
    click.echo(f"{report.checked} record(s) checked, {len(problems)} problem(s)")
    raise SystemExit(1 if problems else 0)


@records.command("repair")
@RECORDS_OPTION
@click.option("--operator", envvar="RUNBOOK_OPERATOR", help="Who repairs (env RUNBOOK_OPERATOR).")
@SIGNING_KEY_OPTION
@ALLOWED_SIGNERS_OPTION
@WITNESS_OPTION
def records_repair(
    records: Path,
    operator: str | None,
    signing_key: str | None,
    allowed_signers: str | None,
    witness: str | None,
) -> None:
    """Record a missing or inconsistent chain head as a repair record in the chain.

    Nothing is rebuilt silently: the repair record says who repaired, when, what
    the head named and where the chain resumes; `records verify` shows it from
    then on. Prints the repair record's directory as the last line.

    Example: runbook records repair --records /var/lib/runbook/records
    """
    from .parameters import operator_name
    from .records.repair import repair_chain

    attestation = evidence_settings(signing_key, allowed_signers, witness).open()
    who = attestation.signer.principal if attestation.signer else operator_name(operator)
    repair = repair_chain(records, operator=who, attestation=attestation)
    if repair is None:
        click.echo("the chain head is sound: nothing to repair")
        return
    click.echo(f"repaired: {repair.summary}")
    click.echo(str(repair.run_dir))


@records.command("reindex")
@RECORDS_OPTION
def records_reindex(records: Path) -> None:
    """Seal abandoned runs as interrupted, then rebuild the index from the manifests.

    Example: runbook records reindex --records /var/lib/runbook/records
    """
    from .records.index import reindex
    from .records.recover import finalize_abandoned

    sealed = finalize_abandoned(records) if records.is_dir() else []
    for run_dir in sealed:
        click.echo(f"sealed as interrupted: {run_dir}")
    click.echo(f"indexed {reindex(records)} record(s)")
