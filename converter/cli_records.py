"""``runbook records …``: the evidence archive's commands.

Split from :mod:`converter.cli` (which adds this group) to keep both short; the
same rules hold: a thin click layer, heavy imports inside the commands, every
help ending with an example, errors mapped to exit codes by ``cli.main``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .cli_options import (
    ALLOWED_SIGNERS_OPTION,
    RECORDS_OPTION,
    SIGNING_KEY_OPTION,
    WITNESS_OPTION,
    evidence_settings,
)

if TYPE_CHECKING:
    from .records.verify import VerifyOptions


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
    from .records import listing
    from .records.indexdb import require_directory
    from .records.unsealed import anything_to_settle

    require_directory(records)
    where = listing.RunFilter(runbook, status, operator, since, until, limit)
    running = []
    if anything_to_settle(records):  # else nothing to seal, nothing running: skip the imports
        from .records.recover import settle

        running = settle(records)[1]
    every_row = _all_rows(records)
    live = []
    if running:
        from .records.index import running_row

        live = [running_row(records, d, events) for d, events in running]
        live = [row for row in live if listing.matches(row, where)]
    if as_json and not live and status != "running":
        for piece in listing.listed_json(records, where, every_row):
            click.echo(piece, nl=False, color=True)  # JSON has no ANSI codes to strip
        click.echo()
        return
    rows = []
    if status != "running":
        rows = listing.listed_runs(records, where, every_row, for_table=not as_json)
    if live:
        rows = listing.merge_running(
            rows, listing.as_listed(listing.list_rows(records, live)), limit
        )
    click.echo(listing.json_text(rows) if as_json else listing.table_text(rows))  # one write


def _all_rows(records: Path) -> Callable[[], list[dict[str, Any]]]:
    """Every index row from the manifests (only read when the index must be rebuilt)."""

    def rows() -> list[dict[str, Any]]:
        from .records.index import scan_rows

        return scan_rows(records)

    return rows


@records.command("show")
@click.argument("run")
@RECORDS_OPTION
def records_show(run: str, records: Path) -> None:
    """Show one run (run id, unique prefix, record path, or "last"): parameters,
    steps, checks, failure and rollback.

    Example: runbook records show last
    """
    from .records.index import find_run
    from .records.listing import printable
    from .records.report import load_view, show_text

    click.echo(printable(show_text(load_view(find_run(records, run)))))


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
@click.option(
    "--require-signatures",
    is_flag=True,
    help="An unsigned record is a failure (needs --allowed-signers).",
)
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
    from .records.store import archive_of
    from .records.verify import VerifyOptions

    if require_signatures and not allowed_signers:  # a signature nobody checks proves nothing
        raise click.UsageError(
            "--require-signatures needs --allowed-signers FILE (or RUNBOOK_ALLOWED_SIGNERS): "
            "without it no signature can be checked, and a forged one would pass"
        )
    if allowed_signers:
        from .records.signing import require_allowed_signers

        require_allowed_signers(allowed_signers)  # before any record: one clear refusal
    options = VerifyOptions(allowed_signers, require_signatures, witness)
    archive = archive_of(records)
    if archive is None:
        _verify(run, _records_of(run, records), check_all, options, ([], []))
    import shutil
    import tempfile

    from .records.mirror import snapshot
    from .records.remote import check_links
    from .records.versions import history

    if run and Path(run).is_dir():  # the record directory `runbook run` printed (the mirror's)
        run = Path(run).name
    # What the store holds now, in a fresh directory: never the mirror's (older) copy.
    fresh = Path(tempfile.mkdtemp(prefix="runbook-verify-"))
    try:
        snap = snapshot(archive, fresh)
        links, in_flight = check_links(archive, snap.objects, history(archive))
        found = [f"{name}: {problem}" for name, problem in links]
        found += [
            f"{record}: the store keeps it for less than its manifest's retention"
            for record in snap.short
        ]
        notes = [f"{record}: {text}" for record, text in sorted(snap.retention.items())]
        notes += [f"{name}: {text}" for name, text in in_flight]
        extra = (found, notes)
        unsealed = "files in the store without a manifest (a seal in progress, or deleted)"
        _verify(run, fresh, check_all, options, extra, unsealed)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def _records_of(run: str | None, records: Path) -> Path:
    """The records root to verify RUN in: a record directory named by its path implies its
    own root (``<records>/<runbook>/<run>``) unless --records (or RUNBOOK_RECORDS) names one."""
    given = Path(run) if run else None
    if given is None or not given.is_dir() or given.name == run:
        return records
    source = click.get_current_context().get_parameter_source("records")
    if source is click.core.ParameterSource.DEFAULT:
        return given.resolve().parent.parent
    return records


def _record_under(records: Path, run_dir: Path, run: str) -> Path:
    """``run_dir`` as a record of ``records`` (verify names files relative to the root)."""
    try:
        inside = run_dir.resolve().relative_to(records.resolve())
    except ValueError:
        inside = None
    if inside is None or len(inside.parts) != 2:
        raise click.UsageError(
            f"{run}: not a record directory of the records {records} "
            "(give --records the directory that holds it)"
        )
    return records / inside


def _verify(
    run: str | None,
    records: Path,
    check_all: bool,
    options: VerifyOptions,
    extra: tuple[list[str], list[str]],
    unsealed: str = "not sealed yet (running, or interrupted: run 'runbook records reindex')",
) -> NoReturn:
    """Verify a local records root; ``extra`` adds (problems, notes) found in the store."""
    from .records.damage import checkpoint_notes, unsealed_damage
    from .records.indexdb import require_directory
    from .records.verify import verify_archive, verify_run

    require_directory(records)
    if run and not check_all:
        from .records.index import find_run

        run_dir = _record_under(records, find_run(records, run), run)
        report = verify_run(records, run_dir, options)
        checked = [run_dir]
    else:
        report = verify_archive(records, options)
        checked = sorted(d for d in records.glob("*/*") if d.is_dir())
    damaged = unsealed_damage(records, [records / path for path in report.unsealed])
    problems = [str(p) for p in report.problems] + damaged + extra[0]
    for problem in problems:
        click.echo(f"FAIL {problem}")
    for signed in report.signed:
        click.echo(f"ok   {signed}")
    for note in [*report.notes, *extra[1]]:
        click.echo(f"note {note}")
    for path in report.unsealed:
        click.echo(f"note {path}: {unsealed}")
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
    from .errors import RecordError
    from .parameters import operator_name
    from .records.repair import repair_chain
    from .records.store import archive_of

    if archive_of(records) is not None:
        raise RecordError(
            "a shared archive's chain lives in its store (.chain/ objects, never rolled back): "
            "repair is for a local records directory; see 'runbook records verify --all'",
            path=str(records),
        )
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
