"""The ``runbook`` command: a thin click layer over the Python API.

Errors are mapped to exit codes in one place (:func:`main`): bad input is 2 with
a ``path:line: message``, never a traceback. Heavy modules are imported inside
the commands so ``runbook --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import RunbookError

if TYPE_CHECKING:
    from .runner.run import RunOutcome


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runbook-notebooks")
def cli() -> None:
    """Turn Markdown runbooks into executable notebooks and keep every run as evidence.

    Example: runbook convert templates/ -o notebooks/
    """


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), help="Output directory (or one .ipynb file)."
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 listing notebooks that are stale."
)
def convert(sources: tuple[str, ...], out: Path | None, check: bool) -> None:
    """Convert Markdown runbooks (files, directories, globs) into notebooks.

    Example: runbook convert templates/ -o notebooks/ --check
    """
    from .notebook import convert as conv

    conversions, errors = conv.plan_all(conv.find_sources(list(sources)), out)
    if errors:
        for error in errors:
            click.echo(f"{error}", err=True)
        raise SystemExit(2)
    if check:
        outdated = conv.stale(conversions)
        for path in outdated:
            click.echo(
                f"stale: {path} (run: runbook convert {' '.join(sources)}"
                f"{' -o ' + str(out) if out else ''})"
            )
        raise SystemExit(1 if outdated else 0)
    conv.write_all(conversions)
    for conversion in conversions:
        click.echo(f"{conversion.source} -> {conversion.target}")


@cli.command()
@click.argument("sources", nargs=-1, required=True)
def lint(sources: tuple[str, ...]) -> None:
    """Check runbooks: placeholders, undefined variables, credentials, unconfirmed
    destructive commands, missing rollback, and shellcheck findings per shell block.

    Prints `path:line: level: message [code]`; exits 1 when any error is found.

    Example: runbook lint templates/
    """
    from .lint.checks import lint_paths
    from .notebook.convert import find_sources

    findings = lint_paths(find_sources(list(sources)))
    for finding in findings:
        click.echo(str(finding))
    errors = sum(1 for f in findings if f.level == "error")
    click.echo(f"{len(findings)} finding(s), {errors} error(s)", err=True)
    raise SystemExit(1 if errors else 0)


RECORDS_OPTION = click.option(
    "--records",
    type=click.Path(path_type=Path),
    envvar="RUNBOOK_RECORDS",
    default="records",
    show_default=True,
    help="Records directory (env RUNBOOK_RECORDS).",
)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter value, converted by its declared type.",
)
@click.option(
    "-f",
    "--parameters-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping of parameter values.",
)
@click.option("--dry-run", is_flag=True, help="Show what each step would run; run nothing.")
@click.option(
    "--confirm",
    multiple=True,
    metavar="all|ID",
    help="Confirm a gate headless (checklist or item id, or all).",
)
@click.option(
    "--rollback-on-failure", is_flag=True, help="After a failed step, run the rollback steps."
)
@RECORDS_OPTION
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Default per-step timeout in seconds.",
)
@click.option("--operator", envvar="RUNBOOK_OPERATOR", help="Who runs this (env RUNBOOK_OPERATOR).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def run(
    source: Path,
    parameters: tuple,
    parameters_file: Path | None,
    dry_run: bool,
    confirm: tuple,
    rollback_on_failure: bool,
    records: Path,
    timeout: float | None,
    operator: str | None,
    no_progress: bool,
) -> None:
    """Execute a runbook headless (papermill) and write its evidence record.

    Prints the record directory as the last line. Exit codes: 0 succeeded,
    1 a step failed, 2 bad input, 3 blocked on confirmation, 130 interrupted.

    Example: runbook run templates/sqlite-phone-number.ja.md --confirm all -p db_path /tmp/demo.db
    """
    from .parameters import load_parameters_file
    from .runner.run import RunOptions, run_runbook

    given = load_parameters_file(parameters_file) if parameters_file else {}
    given.update({name: value for name, value in parameters})
    options = RunOptions(
        source=source,
        parameters=given,
        parameters_from_text=frozenset(given),
        dry_run=dry_run,
        confirm=tuple(confirm),
        rollback_on_failure=rollback_on_failure,
        records=records,
        timeout=timeout,
        operator=operator,
        progress=not no_progress,
    )
    _report(run_runbook(options), records)


def _report(outcome: RunOutcome, records: Path) -> None:
    """Status, failure, rollback, how to continue; the record directory last; exit by status."""
    from .runner.resume import resume_hint

    manifest = outcome.manifest
    click.echo(f"status: {outcome.status}" + (" (dry run)" if manifest.get("dry_run") else ""))
    if manifest.get("resumes"):
        click.echo(f"resumes: {manifest['resumes']}")
    failure = manifest.get("failure")
    if failure and failure.get("reason"):
        where = f"{failure['step']} " if failure.get("step") else ""
        click.echo(f"{failure.get('status')}: {where}{failure['reason']}")
    if manifest.get("rollback"):
        click.echo(f"rollback: {manifest['rollback']['status']}")
    hint = resume_hint(outcome, records)
    if hint:
        click.echo(f"to continue: {hint}")
    click.echo(str(outcome.run_dir))
    raise SystemExit(outcome.exit_code)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--confirm", multiple=True, metavar="all|ID", help="Confirm a gate (or all).")
@click.option("--rollback-on-failure", is_flag=True, help="After a failed step, roll back.")
@RECORDS_OPTION
@click.option("--operator", envvar="RUNBOOK_OPERATOR", help="Who runs this (env RUNBOOK_OPERATOR).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def resume(
    run_id: str,
    confirm: tuple,
    rollback_on_failure: bool,
    records: Path,
    operator: str | None,
    no_progress: bool,
) -> None:
    """Continue a failed, blocked or interrupted run where it stopped, in a new linked record:
    succeeded steps are not run again; the rest runs with the same parameters (secrets from
    RUNBOOK_SECRET_*), the earlier and new confirmations, the exports and directory left.

    Example: runbook resume 20261128T133457Z-28295569 --confirm all
    """
    from .runner.resume import ResumeOptions, resume_runbook

    progress = not no_progress
    options = ResumeOptions(run_id, confirm, rollback_on_failure, records, operator, progress)
    _report(resume_runbook(options), records)


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the URL in the default browser.")
def lab(path: Path | None, port: int | None, open_browser: bool) -> None:
    """Start JupyterLab on loopback at PATH (default ./notebooks) and print its URL.

    A Markdown runbook is converted first and opened; Ctrl-C stops the server.

    Example: runbook lab templates/sqlite-phone-number.ja.md
    """
    from .lab import lab_command

    lab_command(path, port=port, open_browser=open_browser)


@cli.group()
def records() -> None:
    """Read the evidence archive: list, show, verify, export, reindex.

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

    Runs whose process is gone without sealing their record are sealed as
    interrupted first; runs still going are listed as running.

    Example: runbook records list --runbook sqlite-phone-number --json
    """
    import json

    from .records.index import RunFilter, list_runs, matches, running_row
    from .records.recover import settle
    from .records.report import runs_table

    where = RunFilter(runbook, status, operator, since, until, limit)
    running = settle(records)[1] if records.is_dir() else []
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
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(runs_table(rows))  # one write: 10,000 rows in a few milliseconds


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
def records_verify(run: str | None, records: Path, check_all: bool) -> None:
    """Recompute every hash and walk the previous-chain; exit 1 naming what changed.

    Example: runbook records verify --all
    """
    from .records.verify import verify_all, verify_chain, verify_record

    if run and not check_all:
        from .records.index import find_run

        run_dir = find_run(records, run)
        problems = verify_record(records, run_dir) + verify_chain(records)
        count, unsealed = 1, list[str]()
    else:
        count, problems, unsealed = verify_all(records)
    for problem in problems:
        click.echo(f"FAIL {problem}")
    for path in unsealed:
        click.echo(
            f"note {path}: not sealed yet (running, or interrupted: run 'runbook records reindex')"
        )
    click.echo(f"{count} record(s) checked, {len(problems)} problem(s)")
    raise SystemExit(1 if problems else 0)


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn input errors into ``path:line: message`` and exit 2."""
    try:
        cli.main(args=argv, prog_name="runbook", standalone_mode=False)
    except RunbookError as exc:
        click.echo(str(exc) if exc.path else f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except SystemExit as exc:
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
