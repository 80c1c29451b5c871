"""The ``runbook`` command: a thin click layer over the Python API.

Errors are mapped to exit codes in one place (:func:`main`): bad input is 2 with
a ``path:line: message``, never a traceback. Heavy modules are imported inside
the commands so ``runbook --help`` stays instant.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .cli_approvals import approve, plan
from .cli_options import (
    ALLOWED_SIGNERS_OPTION,
    FLEET_MEMBER_OPTION,
    PARAMETER_OPTION,
    PARAMETERS_FILE_OPTION,
    RECORDS_OPTION,
    RETAIN_DAYS_OPTION,
    SIGNING_KEY_OPTION,
    WITNESS_OPTION,
    evidence_settings,
    fleet_options,
    non_text_argument,
    prepare_writes,
    without_secrets,
)
from .cli_records import records
from .errors import RunbookError

if TYPE_CHECKING:
    from .runner.run import RunOutcome


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="runbook-notebooks")  # no metadata lookup
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

    Prints `path:line: level: message [code]`; exits 1 when any error is found, 2 when
    a runbook cannot be read or parsed at all.

    Example: runbook lint templates/
    """
    from .lint.checks import lint_paths
    from .notebook.convert import find_sources

    findings = lint_paths(find_sources(list(sources)))
    for finding in findings:
        click.echo(str(finding))
    errors = sum(1 for f in findings if f.level == "error")
    click.echo(f"{len(findings)} finding(s), {errors} error(s)", err=True)
    unreadable = any(f.code == "parse-error" for f in findings)
    raise SystemExit(2 if unreadable else 1 if errors else 0)


PLAN_OPTION = click.option(
    "--plan", "plan_ref", metavar="PLAN", help="The approved plan (runbook plan)."
)
MAX_AGE_OPTION = click.option(
    "--max-age",
    type=click.FloatRange(min=0, min_open=True),
    default=7.0,
    show_default=True,
    help="Days an approved plan stays valid.",
)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@PARAMETER_OPTION
@PARAMETERS_FILE_OPTION
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
@RETAIN_DAYS_OPTION
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    callback=lambda _ctx, _param, value: _finite(value),
    help="Default per-step timeout in seconds.",
)
@click.option("--operator", envvar="RUNBOOK_OPERATOR", help="Who runs this (env RUNBOOK_OPERATOR).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@PLAN_OPTION
@MAX_AGE_OPTION
@SIGNING_KEY_OPTION
@ALLOWED_SIGNERS_OPTION
@WITNESS_OPTION
@click.option(
    "--no-record",
    is_flag=True,
    help="With --dry-run: print the plan, keep no record (parameters are still validated).",
)
@fleet_options
def run(
    source: Path,
    parameters: tuple,
    parameters_file: Path | None,
    dry_run: bool,
    confirm: tuple,
    rollback_on_failure: bool,
    records: Path,
    retain_days: int | None,
    timeout: float | None,
    operator: str | None,
    no_progress: bool,
    plan_ref: str | None,
    max_age: float,
    signing_key: str | None,
    allowed_signers: str | None,
    witness: str | None,
    no_record: bool,
    fleet_member: tuple[str, str] | None,
    **fleet: Any,
) -> None:
    """Execute a runbook headless (papermill) and write its evidence record.

    Prints the record directory as the last line. Exit codes: 0 succeeded,
    1 a step failed, 2 bad input (also: a key that cannot sign, a broken chain
    head), 3 blocked on confirmation or on missing/invalid approvals, 130
    interrupted. With a signing key the operator recorded is the key's principal.
    A runbook with approval roles runs only with --plan, approved by others.
    --dry-run prints the plan (each step's commands with the parameter values,
    secrets ***, expected results, the gates that would block) and keeps it as
    a record of kind "plan", or none with --no-record.

    --targets FILE runs a fleet: one run (and record) per row, by the rollout
    controls, then a fleet record; prints a summary table and the fleet record last.

    Example: runbook run templates/sqlite-phone-number.ja.md --confirm all -p db_path /tmp/demo.db
    """
    from datetime import timedelta

    from .notebook.convert import stale_sibling
    from .parameters import load_parameters_file
    from .runner.run import RunOptions, run_runbook

    warning = stale_sibling(source)
    if warning:
        click.echo(warning, err=True)
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
        evidence=evidence_settings(signing_key, allowed_signers, witness),
        plan=plan_ref,
        max_age=timedelta(days=max_age),
        fleet=dict(zip(("run_id", "target"), fleet_member)) if fleet_member else None,
    )
    if fleet["targets_file"] and dry_run:
        raise click.UsageError("--dry-run runs no fleet: plan it with runbook plan --targets")
    if no_record and not dry_run:
        raise click.UsageError("--no-record keeps no evidence: it is only for --dry-run")
    if not no_record:
        prepare_writes(records, retain_days)  # no evidence, no execution: fleets included
    if fleet["targets_file"]:
        from .fleet.command import report_fleet, run_fleet_command

        report_fleet(run_fleet_command(options, fleet))
    if dry_run:
        from .runner.plan import dry_run_plan

        click.echo(dry_run_plan(options))
        click.echo()
        if no_record:
            click.echo("status: planned (dry run, not recorded)")
            return
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
@RETAIN_DAYS_OPTION
@click.option("--operator", envvar="RUNBOOK_OPERATOR", help="Who runs this (env RUNBOOK_OPERATOR).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@PLAN_OPTION
@MAX_AGE_OPTION
@SIGNING_KEY_OPTION
@ALLOWED_SIGNERS_OPTION
@WITNESS_OPTION
@click.option("--jobs", type=click.IntRange(min=1), help="A fleet: targets running at once.")
@FLEET_MEMBER_OPTION
def resume(
    run_id: str,
    confirm: tuple,
    rollback_on_failure: bool,
    records: Path,
    retain_days: int | None,
    operator: str | None,
    no_progress: bool,
    plan_ref: str | None,
    max_age: float,
    signing_key: str | None,
    allowed_signers: str | None,
    witness: str | None,
    jobs: int | None,
    fleet_member: tuple[str, str] | None,
) -> None:
    """Continue a failed, blocked or interrupted run where it stopped, in a new linked record:
    succeeded steps are not run again; the rest runs with the same parameters (secrets from
    RUNBOOK_SECRET_*), the earlier and new confirmations, the exports and directory left.
    A run blocked on approvals continues with --plan PLAN once the plan is approved.
    A fleet's record (runbook run --targets) resumes the targets that did not succeed.

    Example: runbook resume 20261128T133457Z-28295569 --confirm all
    """
    from datetime import timedelta

    from .fleet import fleet_manifest, resume_fleet
    from .fleet.command import report_fleet
    from .records.index import find_run
    from .runner.resume import ResumeOptions, resume_runbook

    prepare_writes(records, retain_days)
    progress = not no_progress
    evidence = evidence_settings(signing_key, allowed_signers, witness)
    if records.is_dir() and fleet_manifest(find_run(records, run_id)):
        report_fleet(resume_fleet(run_id, records=records, confirm=confirm, operator=operator,
                                   progress=progress, jobs=jobs, evidence=evidence,
                                   plan=plan_ref, max_age=timedelta(days=max_age)))  # fmt: skip
    options = ResumeOptions(
        run_id,
        confirm,
        rollback_on_failure,
        records,
        operator,
        progress=progress,
        plan=plan_ref,
        max_age=timedelta(days=max_age),
        evidence=evidence,
        fleet=dict(zip(("run_id", "target"), fleet_member)) if fleet_member else None,
    )
    _report(resume_runbook(options), records)


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: a free one).")
@click.option(
    "--records",
    type=click.Path(path_type=Path),
    envvar="RUNBOOK_RECORDS",
    help="Records directory for the runs (env RUNBOOK_RECORDS; default ./records).",
)
@click.option("--operator", envvar="RUNBOOK_OPERATOR", help="Who runs this (env RUNBOOK_OPERATOR).")
@click.option("--open", "open_browser", is_flag=True, help="Open the URL in the default browser.")
def lab(
    path: Path | None,
    port: int | None,
    records: Path | None,
    operator: str | None,
    open_browser: bool,
) -> None:
    """Start JupyterLab on loopback at PATH (default ./notebooks) and print its URL.

    A Markdown runbook is converted first and opened; Ctrl-C stops the server.
    Needs JupyterLab: pip install -e '.[lab]'.

    Example: runbook lab templates/sqlite-phone-number.ja.md --operator alice --port 8888
    """
    from .lab import lab_command

    lab_command(path, port=port, open_browser=open_browser, records=records, operator=operator)


cli.add_command(records)
cli.add_command(plan)
cli.add_command(approve)


def _finite(value: float | None) -> float | None:
    """``--timeout nan`` and ``inf`` pass click's range check; no step could use them."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(
            f"{value} is not a finite number of seconds", param_hint="--timeout"
        )
    return value


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn input errors into ``path:line: message`` and exit 2."""
    refused = non_text_argument(sys.argv[1:] if argv is None else argv)
    if refused:
        click.echo(refused, err=True)
        sys.exit(2)
    try:
        cli.main(args=argv, prog_name="runbook", standalone_mode=False)
    except RunbookError as exc:
        text = without_secrets(str(exc) if exc.path else f"error: {exc}")
        # Non-UTF-8 arguments arrive as surrogate escapes; show them, never crash on them.
        click.echo(text.encode("utf-8", "backslashreplace").decode("utf-8"), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except OSError as exc:  # a file the user named, a full disk: a message, never a traceback
        where = f"{exc.filename}: " if exc.filename else "error: "
        click.echo(f"{where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except SystemExit as exc:
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
