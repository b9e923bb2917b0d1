"""Operator commands: ``flask --app wsgi api-key ...``, ``demo``, ``scheduler ...``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .services import keys


def register_cli(app: Flask) -> None:
    app.cli.add_command(api_key)
    from .demo import demo_command

    app.cli.add_command(demo_command)
    from .jobs.cli import scheduler_cli

    app.cli.add_command(scheduler_cli)


@click.group("api-key", cls=AppGroup, help="Create, list and revoke API keys.")
def api_key():
    pass


@api_key.command("create")
@click.option("--role", required=True,
              type=click.Choice(["admin", "manager", "front_desk", "viewer"]))
@click.option("--clinic", "clinics", type=int, multiple=True,
              help="Scope the key to this clinic (repeat for several). Default: every clinic.")
@click.option("--label", default="", help="A note saying whose key this is.")
def create_key(role, clinics, label):
    """Print a new key as the last line: it is shown once and stored only as a hash."""
    from .errors import DomainError

    try:
        key, secret = keys.create_key(role, list(clinics), label)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    scope = ",".join(str(c) for c in sorted(key.clinic_ids)) if key.clinic_ids else "all clinics"
    click.echo(f"Created key #{key.id} (role {role}, {scope}). "
               "Store it now; it is not shown again:")
    click.echo(secret)


@api_key.command("list")
def list_keys():
    for key in keys.list_keys():
        scope = ",".join(str(c) for c in sorted(key.clinic_ids)) if key.clinic_ids else "all"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(f"#{key.id}\t{key.prefix}…\t{key.role}\tclinics={scope}\t{state}\t{key.label}")


@api_key.command("revoke")
@click.argument("key_id", type=int)
def revoke_key(key_id):
    from .errors import DomainError

    try:
        keys.revoke_key(key_id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Revoked key #{key_id}")
