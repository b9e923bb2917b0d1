"""What ``GET /jobs`` answers: every job, its last run and its next one (admin only)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from ..errors import Forbidden
from ..extensions import db
from ..models import JobRun
from ..services.access import ADMIN, Principal
from .registry import JOBS


def job_status(who: Principal, config, now: datetime) -> list[dict]:
    who.require(ADMIN)
    if who.scoped:
        # Jobs run across every clinic; their messages and counts are not one tenant's.
        raise Forbidden("background jobs span every clinic; only an unscoped admin key reads them")
    runs = {run.name: run for run in db.session.scalars(select(JobRun))}
    grace = timedelta(seconds=config["JOB_MISFIRE_GRACE_SECONDS"])
    out = []
    for spec in JOBS.values():
        run = runs.get(spec.name) or JobRun(name=spec.name)
        out.append({
            "name": spec.name, "description": spec.description,
            "interval_seconds": int(spec.interval(config).total_seconds()),
            "last_started_at": run.last_started_at, "last_finished_at": run.last_finished_at,
            "outcome": run.outcome, "message": run.message, "last_result": run.last_result,
            "runner": run.runner, "next_run_at": run.next_run_at,
            # Due long ago and not run: no scheduler process is running (or it is stuck).
            "late": run.next_run_at is not None and run.next_run_at + grace < now,
        })
    return out
