"""The ``runbook`` command: a thin click layer over the Python API.

Errors are mapped to exit codes in one place (:func:`main`): bad input is 2 with
a ``path:line: message``, never a traceback. Heavy modules are imported inside
the commands so ``runbook --help`` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import RunbookError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runbook-notebooks")
def cli() -> None:
    """Turn Markdown runbooks into executable notebooks and keep every run as evidence.

    Example: runbook convert templates/ -o notebooks/
    """


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Output directory (or one .ipynb file).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing notebooks that are stale.")
def convert(sources: tuple[str, ...], out: Path | None, check: bool) -> None:
    """Convert Markdown runbooks (files, directories, globs) into notebooks.

    Example: runbook convert templates/ -o notebooks/ --check
    """
    from . import convert as conv

    conversions, errors = conv.plan_all(conv.find_sources(list(sources)), out)
    if errors:
        for error in errors:
            click.echo(f"{error}", err=True)
        raise SystemExit(2)
    if check:
        outdated = conv.stale(conversions)
        for path in outdated:
            click.echo(f"stale: {path} (run: runbook convert {' '.join(sources)}{' -o ' + str(out) if out else ''})")
        raise SystemExit(1 if outdated else 0)
    conv.write_all(conversions)
    for conversion in conversions:
        click.echo(f"{conversion.source} -> {conversion.target}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn input errors into ``path:line: message`` and exit 2."""
    try:
        cli.main(args=argv, prog_name="runbook", standalone_mode=False)
    except RunbookError as exc:
        click.echo(f"error: {exc}", err=True)
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
