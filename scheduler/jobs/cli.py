"""``flask --app wsgi scheduler run | run-once JOB | status``."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import AppGroup

from .registry import JOBS


@click.group("scheduler", cls=AppGroup,
             help="Background jobs: run the scheduler process, or one job now.")
def scheduler_cli():
    pass


@scheduler_cli.command("run")
def run_command():
    """Run the job scheduler in the foreground (one per machine; they elect a runner)."""
    from .process import run_scheduler

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our runner logs every run's outcome; APScheduler's per-run lines would only repeat them.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    run_scheduler(current_app._get_current_object())


@scheduler_cli.command("run-once")
@click.argument("job", type=click.Choice(sorted(JOBS)))
def run_once_command(job):
    """Run one job now, with the same lock and bookkeeping as the scheduler."""
    from .runner import run_job

    result = run_job(current_app._get_current_object(), job, runner="cli")
    if result.outcome == "ok":
        click.echo(f"{job}: ok, {result.result} changed")
    elif result.outcome == "skipped":
        click.echo(f"{job}: skipped, {result.message}")
    else:
        raise click.ClickException(f"{job}: {result.message}")


@scheduler_cli.command("status")
def status_command():
    """Last run, outcome and next run of every job (what GET /api/v1/jobs shows)."""
    from ..models.types import utcnow
    from ..services.access import SYSTEM_PRINCIPAL
    from .status import job_status

    for row in job_status(SYSTEM_PRINCIPAL, current_app.config, utcnow()):
        late = " LATE" if row["late"] else ""
        click.echo(f"{row['name']}\t{row['outcome'] or 'never run'}\t"
                   f"last={row['last_started_at'] or '-'}\tnext={row['next_run_at'] or '-'}"
                   f"{late}\t{row['message'] or ''}")
