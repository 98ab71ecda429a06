"""``modelyard keys …`` and ``modelyard audit …``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli.context import console, err_console, print_json, workspace

keys_app = typer.Typer(help="API keys (stored hashed; shown once).", no_args_is_help=True)
audit_app = typer.Typer(help="The keyed, sealed hash-chained audit log.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | deployer | developer | predictor | viewer")],
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")],
    endpoint: Annotated[
        list[str] | None, typer.Option(help="Limit a predictor key to these endpoints.")
    ] = None,
    expires_in_days: Annotated[float | None, typer.Option(help="Expire after N days.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key.")] = False,
) -> None:
    """Create an API key; the key is printed once and only its hash is kept."""
    from modelyard.security.keys import KeyService

    with workspace() as ws:
        info, key = KeyService(ws.store).create(
            name=name,
            role=role,
            endpoints=endpoint,
            expires_in_days=expires_in_days,
            actor=ws.actor,
        )
    if quiet:
        typer.echo(key)
        return
    console.print(f"created key [bold]{info.prefix}[/] ({info.name}, role {info.role})")
    console.print(key, highlight=False, soft_wrap=True)
    err_console.print("store it now: it cannot be shown again")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (prefix, name, role, expiry, revocation); never the keys themselves."""
    from modelyard.security.keys import KeyService

    with workspace() as ws:
        infos = KeyService(ws.store).list()
    if as_json:
        print_json([i.__dict__ for i in infos])
        return
    table = Table("prefix", "name", "role", "endpoints", "created", "expires", "revoked")
    for i in infos:
        table.add_row(
            i.prefix,
            i.name,
            i.role,
            ",".join(i.endpoints) if i.endpoints else "*",
            f"{i.created_at:%Y-%m-%d %H:%M}",
            f"{i.expires_at:%Y-%m-%d %H:%M}" if i.expires_at else "-",
            f"{i.revoked_at:%Y-%m-%d %H:%M}" if i.revoked_at else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (or the key).")],
) -> None:
    """Revoke a key; running servers refuse it within a second."""
    from modelyard.security.keys import KeyService

    with workspace() as ws:
        info = KeyService(ws.store).revoke(prefix, actor=ws.actor)
    console.print(f"revoked key [bold]{info.prefix}[/] ({info.name})")


@keys_app.command("rotate-secret")
def rotate(
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
    accept_audit_problems: Annotated[
        bool,
        typer.Option(
            "--accept-audit-problems",
            help="Rotate even if `audit verify` fails; the problems are recorded in the "
            "rotation's audit entry.",
        ),
    ] = False,
) -> None:
    """Re-sign every model artifact and re-chain the audit log under a new server secret."""
    from modelyard.security.rotation import rotate_secret

    if not yes:
        typer.confirm(
            "Re-sign every model version and re-chain the audit log with a new server secret?",
            abort=True,
        )
    with workspace() as ws:
        new_secret, count = rotate_secret(
            ws.store, ws.settings, actor=ws.actor, accept_audit_problems=accept_audit_problems
        )
        env_managed = bool(ws.settings.secret_key)
    console.print(f"re-signed {count} model versions; audit log re-chained and resealed")
    if env_managed:
        console.print("set MODELYARD_SECRET_KEY to this value on every replica, then restart:")
        typer.echo(new_secret)
    else:
        console.print(f"new secret written to {ws.settings.secret_path}; restart servers")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the keyed hash chain and its seal: any edited, deleted (newest included) or
    forged entry, and a missing or invalid seal, is reported (exit 1)."""
    from modelyard.store.repositories.audit import AuditRepository

    with workspace() as ws, ws.store.session() as session:
        report = AuditRepository(session).verify()
    if report.problems:
        for problem in report.problems:
            err_console.print(f"[red]✗[/] {escape(problem)}", highlight=False)
        raise typer.Exit(1)
    sealed = f", sealed at entry {report.seal.last_id}" if report.seal and report.entries else ""
    console.print(f"[green]✓[/] audit log intact: {report.entries} entries{sealed}")


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(help="Newest N entries.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the newest audit entries."""
    from modelyard.store.repositories.audit import AuditRepository

    with workspace() as ws, ws.store.session() as session:
        entries = AuditRepository(session).entries(limit=limit)
    if as_json:
        print_json([e.__dict__ for e in entries])
        return
    table = Table("id", "at", "actor", "action", "target")
    for e in entries:
        table.add_row(str(e.id), f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target)
    console.print(table)
