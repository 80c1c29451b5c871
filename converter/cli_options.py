"""The options several commands share (evidence, parameters, records location, fleets),
and what every command checks of its arguments and its error messages.

One definition per option, so ``run``, ``resume``, ``plan``, ``approve`` and the
``records`` group spell them, their environment variables and their help alike.
"""

from __future__ import annotations

import os
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


def records_location(ctx: click.Context, param: click.Parameter, value: str | None) -> Path:
    """``--records DIR|URL``: a local records root, or the up-to-date mirror of a shared archive."""
    if (
        value == ""
        and ctx.get_parameter_source(str(param.name)) is click.core.ParameterSource.COMMANDLINE
    ):
        raise click.BadParameter("is empty; give a directory or an archive URL", ctx, param)
    if value is None or "://" not in value:  # a plain path: no need to import the store
        return Path(value or "records")
    from .records.store import is_remote, local_path

    if not is_remote(value):
        return local_path(value)
    from .records.mirror import refresh
    from .records.store import open_archive

    archive = open_archive(value)
    refresh(archive)
    return archive.mirror


TARGETS_OPTION = click.option(
    "--targets",
    "targets_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A fleet: CSV or YAML file, one target per row (column 'target', the rest parameters).",
)


FLEET_MEMBER_OPTION = click.option("--fleet-member", nargs=2, hidden=True, metavar="FLEET TARGET")
"""Set by a fleet on each target's ``run``/``resume``: the fleet's run id and the target."""


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
        FLEET_MEMBER_OPTION,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


RECORDS_OPTION = click.option(
    "--records",
    envvar="RUNBOOK_RECORDS",
    default="records",
    show_default=True,
    callback=records_location,
    metavar="DIR|URL",
    help="Records directory, or a shared archive URL such as s3://bucket/prefix "
    "(env RUNBOOK_RECORDS).",
)
RETAIN_DAYS_OPTION = click.option(
    "--retain-days",
    type=click.IntRange(min=1),
    envvar="RUNBOOK_RETAIN_DAYS",
    metavar="N",
    help="On an s3:// archive with Object Lock: keep the sealed record undeletable for N days "
    "(COMPLIANCE retention; env RUNBOOK_RETAIN_DAYS).",
)


def prepare_writes(records: Path, retain_days: int | None) -> None:
    """Before a run on a shared archive: prove it takes writes (and locks, with --retain-days)."""
    import os

    from .records.objectlock import RETAIN_DAYS_ENV
    from .records.store import archive_of

    archive = archive_of(records)
    if archive is None:
        source = click.get_current_context().get_parameter_source("retain_days")
        if retain_days is not None and source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(
                "--retain-days needs a shared archive with S3 Object Lock (--records s3://…)"
            )
        return
    if retain_days is not None:
        os.environ[RETAIN_DAYS_ENV] = str(retain_days)  # read where the record is sealed
    from .records.remote import prepare_writes as prove

    prove(archive)


def non_text_argument(args: list[str]) -> str | None:
    """The refusal of the first argument that is not UTF-8 (it arrives as surrogate escapes,
    and would end in a traceback wherever it is used), naming what it follows; else None."""
    for index, arg in enumerate(args):
        if not _is_text(arg):
            after = f" (after {_shown(args[index - 1])})" if index else ""
            return f"error: argument {index + 1}{after} is not UTF-8 text: {_shown(arg)}"
    return None


def without_secrets(text: str) -> str:
    """An error may quote a value that holds a secret (a URL with a token given as a plain
    parameter): mask every ``RUNBOOK_SECRET_*`` value in it, as records are masked."""
    from .parameters import environment_secrets

    secrets = environment_secrets(os.environ)
    if not secrets:
        return text
    from .records.mask import SecretMasker

    return SecretMasker(secrets).mask(text)


def _shown(arg: str) -> str:
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_text(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
