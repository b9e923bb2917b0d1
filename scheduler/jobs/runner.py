"""One run of one job: take its lock, record it in ``job_runs``, call the body, never raise.

The scheduler thread that calls this must survive anything a job does (a bug, a database
restart), so every failure ends as ``outcome='error'`` with a message, and a log line.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy.exc import IntegrityError

from ..audit import Actor, acting_as
from ..extensions import db
from ..models import JobRun
from ..models.types import utcnow
from .locks import try_lock
from .registry import JOBS

log = logging.getLogger(__name__)

MESSAGE_MAX = 2000


@dataclass(frozen=True)
class RunResult:
    name: str
    outcome: str
    """ok, error, or skipped (another process holds the job's lock)."""
    result: int | None = None
    message: str | None = None


def runner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(app: Flask, name: str, *, runner: str | None = None,
            next_run: Callable[[], datetime | None] | None = None) -> RunResult:
    """Run job ``name`` once unless it is running elsewhere. ``next_run`` reports the schedule."""
    spec = JOBS[name]
    runner = runner or runner_label()
    try:
        with app.app_context():
            with try_lock(db.engine, spec.lock_id) as got:
                if not got:
                    log.info("job %s is running in another process; skipped", name)
                    return RunResult(name, "skipped", message="running in another process")
                return _locked_run(app, spec, runner, next_run)
    except Exception as exc:  # the database is gone, the lock connection broke, ...
        log.exception("job %s could not run", name)
        return RunResult(name, "error", message=_describe(exc))


def _locked_run(app, spec, runner, next_run) -> RunResult:
    started = utcnow()
    _record(spec.name, last_started_at=started, last_finished_at=None, outcome="running",
            message=None, runner=runner)
    try:
        with acting_as(Actor(f"job:{spec.name}")):
            changed = spec.body(app, started)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s failed", spec.name)
        outcome = RunResult(spec.name, "error", message=_describe(exc))
    else:
        log.info("job %s: %s changed", spec.name, changed)
        outcome = RunResult(spec.name, "ok", result=changed)
    fields = {"last_finished_at": utcnow(), "outcome": outcome.outcome,
              "message": outcome.message}
    if outcome.outcome == "ok":
        fields["last_result"] = outcome.result
    upcoming = next_run() if next_run else None
    if upcoming is not None:
        fields["next_run_at"] = upcoming
    _record(spec.name, **fields)
    return outcome


def _record(name: str, **fields) -> None:
    for attempt in (1, 2):
        run = db.session.get(JobRun, name) or JobRun(name=name)
        for key, value in fields.items():
            setattr(run, key, value)
        db.session.add(run)
        try:
            db.session.commit()
            return
        except IntegrityError:
            # Two first-ever runs created the row at once (SQLite has no job lock): merge.
            db.session.rollback()
            if attempt == 2:
                raise


def record_schedule(app: Flask, name: str, next_run_at: datetime | None) -> None:
    with app.app_context():
        _record(name, next_run_at=next_run_at)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:MESSAGE_MAX]
