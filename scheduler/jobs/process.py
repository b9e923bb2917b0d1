"""The scheduler process: win the election, then run every job on its interval.

Every ``flask --app wsgi scheduler run`` process competes for one session-level advisory lock.
The winner schedules the jobs; the others wait and retry every
``SCHEDULER_ELECTION_RETRY_SECONDS``, so when the runner dies (its connection closes and the
lock with it) a standby takes over within that time. The runner re-checks that it still holds
the lock at the same rhythm and steps down if it lost it. Per-job locks (``runner``) cover the
moment of a handover, when the old runner may still be finishing a job.
"""

from __future__ import annotations

import logging
import signal
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from ..extensions import db
from ..models.types import utcnow
from .locks import ELECTION_LOCK_ID, AdvisoryLock
from .registry import JOBS
from .runner import record_schedule, run_job, runner_label

log = logging.getLogger(__name__)

LEADERSHIP_JOB = "_leadership"


def build_scheduler(app: Flask, election: AdvisoryLock,
                    stop: threading.Event | None = None) -> BlockingScheduler:
    config = app.config
    scheduler = BlockingScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(max_workers=len(JOBS) + 1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": config["JOB_MISFIRE_GRACE_SECONDS"]},
    )
    label = runner_label()
    now = utcnow()
    for spec in JOBS.values():
        def next_run(name=spec.name):
            job = scheduler.get_job(name)
            return job.next_run_time if job else None

        # First run at once: a new runner catches up on whatever waited during the handover.
        scheduler.add_job(run_job, "interval", seconds=spec.interval(config).total_seconds(),
                          id=spec.name, name=spec.name, next_run_time=now,
                          kwargs={"app": app, "name": spec.name, "runner": label,
                                  "next_run": next_run})

    def keep_leadership():
        if stop is not None and stop.is_set():
            scheduler.shutdown(wait=False)
        elif not election.held():
            log.error("lost the scheduler election lock; stepping down")
            scheduler.shutdown(wait=False)

    scheduler.add_job(keep_leadership, "interval", id=LEADERSHIP_JOB, name=LEADERSHIP_JOB,
                      seconds=config["SCHEDULER_ELECTION_RETRY_SECONDS"])
    return scheduler


def run_scheduler(app: Flask, stop: threading.Event | None = None) -> None:
    """Block forever (or until ``stop`` is set / SIGTERM): stand by, lead, stand by again."""
    stop = stop or threading.Event()
    retry = app.config["SCHEDULER_ELECTION_RETRY_SECONDS"]
    current: dict = {}

    def on_signal(signum, frame):
        stop.set()
        if current.get("scheduler"):
            current["scheduler"].shutdown(wait=False)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    with app.app_context():
        engine = db.engine
    election = AdvisoryLock(engine, ELECTION_LOCK_ID)
    announced_standby = False
    while not stop.is_set():
        try:
            leader = election.acquire()
        except Exception:
            log.exception("scheduler election failed (database unreachable?); retrying")
            leader = False
        if not leader:
            if not announced_standby:
                log.info("another scheduler process is the runner; standing by")
                announced_standby = True
            stop.wait(retry)
            continue
        announced_standby = False
        log.info("this process (%s) is the job runner", runner_label())
        scheduler = build_scheduler(app, election, stop)
        current["scheduler"] = scheduler
        if stop.is_set():
            break
        _publish_schedule(app)
        try:
            scheduler.start()  # blocks until shutdown
        finally:
            current.pop("scheduler", None)
            if scheduler.running:
                scheduler.shutdown(wait=True)
            election.release()
    log.info("scheduler process stopped")


def _publish_schedule(app: Flask) -> None:
    """Every job's first run is now: say so in ``GET /jobs`` before the runs report back."""
    now = utcnow()
    for spec in JOBS.values():
        try:
            record_schedule(app, spec.name, now)
        except Exception:
            log.exception("could not record the schedule of %s", spec.name)
