"""``runbook plan`` and ``runbook approve``: four eyes before a run (see docs/format.md)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_options import (
    ALLOWED_SIGNERS_OPTION,
    PARAMETER_OPTION,
    PARAMETERS_FILE_OPTION,
    RECORDS_OPTION,
    TARGETS_OPTION,
)


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@PARAMETER_OPTION
@PARAMETERS_FILE_OPTION
@click.option(
    "--role-not-applicable",
    "not_applicable",
    multiple=True,
    metavar="ROLE",
    help="A conditional role that does not apply to this run (part of what approvers sign).",
)
@RECORDS_OPTION
@TARGETS_OPTION
def plan(
    source: Path,
    parameters: tuple,
    parameters_file: Path | None,
    not_applicable: tuple[str, ...],
    records: Path,
    targets_file: Path | None,
) -> None:
    """Write the plan of a run for approvers to read and sign: plan.json and plan.html.

    Parameters are resolved exactly as `runbook run` resolves them (secrets as ***).
    Prints the steps, the roles that must approve, and the plan id as the last line.
    With --targets FILE the plan covers the whole fleet: every target's values, one digest.

    Example: runbook plan templates/runbook-template.ja.md -p target_host db1
    """
    from .parameters import load_parameters_file
    from .runner.approvals import make_plan
    from .runner.source import load_notebook

    given = load_parameters_file(parameters_file) if parameters_file else {}
    given.update({name: value for name, value in parameters})
    nb = load_notebook(source)
    targets = None
    if targets_file:
        from .fleet import fleet_parameters

        targets = fleet_parameters(nb, targets_file, given)
    plan_id, directory, body = make_plan(
        source, nb, given, frozenset(given), Path(records), tuple(not_applicable), targets
    )
    from .records.plantext import lang_of, say

    lang = lang_of(body)
    none = say(lang, "none")
    click.echo(say(lang, "runbook", id=body["runbook"]["id"], sha=body["source_sha256"]))
    for name, value in body["parameters"].items():
        click.echo(f"  {name} = {value}")
    for target, values in (targets or {}).items():
        click.echo(f"  target {target}: " + ", ".join(f"{k} = {v}" for k, v in values.items()))
    for step in body["steps"]:
        click.echo(say(lang, "step", step=step["step"]))
        for line in step["code"].splitlines():
            click.echo(f"    {line}")
    click.echo(say(lang, "roles_required", roles=", ".join(body["roles_required"]) or none))
    if body["roles_not_applicable"]:
        roles = ", ".join(body["roles_not_applicable"])
        click.echo(say(lang, "roles_not_applicable", roles=roles))
    click.echo(say(lang, "digest", digest=body["digest"]))
    click.echo(say(lang, "plan", path=directory))
    for role in body["roles_required"]:
        click.echo(say(lang, "approve_command", plan=plan_id, role=role))
    click.echo(plan_id)


@click.command()
@click.argument("plan_ref", metavar="PLAN")
@click.option("--role", required=True, help="The role approved (as listed by runbook plan).")
@click.option(
    "--key",
    required=True,
    type=click.Path(path_type=Path),
    help="The approver's OpenSSH private key (or public key with its half in ssh-agent).",
)
@click.option("--comment", default="", help="Kept with the approval and signed with it.")
@ALLOWED_SIGNERS_OPTION
@RECORDS_OPTION
def approve(
    plan_ref: str,
    role: str,
    key: Path,
    comment: str,
    allowed_signers: str | None,
    records: Path,
) -> None:
    """Sign a plan's digest and ROLE with your key (namespace runbook-approval).

    Your principal is found in the allowed signers; an unknown key or role exits 2.
    Prints the roles still missing.

    Example: runbook approve 20261130T094500Z-1a2b3c4d --role 'SRE Lead' --key ~/.ssh/id_ed25519
    """
    from .records.plans import approve as sign
    from .records.plans import (
        environ_allowed_signers,
        find_plan,
        read_approvals,
        read_plan,
        verify_approvals,
    )
    from .records.plantext import lang_of, say

    directory = find_plan(Path(records), plan_ref)
    signers = environ_allowed_signers(allowed_signers)
    approval = sign(directory, role, str(key), signers, comment)
    body = read_plan(directory)
    lang = lang_of(body)
    click.echo(
        say(
            lang,
            "approved",
            role=approval["role"],
            principal=approval["principal"],
            at=approval["signed_at"],
        )
    )
    done = {
        a["role"] for a in verify_approvals(body, read_approvals(directory), signers) if a["valid"]
    }
    missing = [r for r in body["roles_required"] if r not in done]
    click.echo(say(lang, "missing", roles=", ".join(missing)) if missing else say(lang, "complete"))
