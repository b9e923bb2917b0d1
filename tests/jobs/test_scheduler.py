"""The scheduler process on the test database: it runs every job at once, records the schedule,
and stops cleanly. (Exactly-once across processes needs PostgreSQL: test_exactly_once_pg.)"""

from __future__ import annotations

import threading
import time

import pytest


@pytest.fixture
def fast_election(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_ELECTION_RETRY_SECONDS", 1)
    # Webhook delivery polls every second: here every job runs once, at start.
    monkeypatch.setitem(app.config, "JOB_DELIVER_WEBHOOKS_SECONDS", 3600)
    monkeypatch.setitem(app.config, "JOB_QUEUE_REMINDERS_SECONDS", 3600)
    monkeypatch.setitem(app.config, "JOB_MATCH_WAITLIST_SECONDS", 3600)
    monkeypatch.setitem(app.config, "JOB_EXPIRE_OFFERS_SECONDS", 3600)


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def start_scheduler(app):
    from scheduler.jobs.process import run_scheduler

    stop = threading.Event()
    errors: list[BaseException] = []

    def target():
        try:
            run_scheduler(app, stop)
        except BaseException as exc:  # surfaced by the test, not lost in a thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return stop, thread, errors


def test_scheduler_runs_each_job_at_start_then_on_schedule(app, api, fake_jobs, fast_election):
    calls = fake_jobs()
    stop, thread, errors = start_scheduler(app)
    try:
        assert wait_for(lambda: all(n == 1 for n in calls.values())), calls
        assert wait_for(lambda: all(j["outcome"] == "ok" for j in api.get("/jobs")))
        jobs = {j["name"]: j for j in api.get("/jobs")}
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and errors == []
    from scheduler.jobs.registry import JOBS

    assert calls == dict.fromkeys(JOBS, 1) and "flag_overdue_rems_forms" in calls
    for job in jobs.values():
        gap = (_parse(job["next_run_at"]) - _parse(job["last_started_at"])).total_seconds()
        assert abs(gap - job["interval_seconds"]) < 5, job


def test_a_crashing_job_does_not_stop_the_scheduler(app, fake_jobs, fast_election):
    def broken(app, now):
        raise RuntimeError("boom")

    calls = fake_jobs(broken)
    stop, thread, errors = start_scheduler(app)
    try:
        assert wait_for(lambda: all(n == 1 for n in calls.values())), calls
        time.sleep(1.2)  # a leadership check passes; the process is still up
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert errors == []


def test_scheduler_options_guard_against_pileups(app):
    from scheduler.extensions import db
    from scheduler.jobs.locks import AdvisoryLock
    from scheduler.jobs.process import build_scheduler
    from scheduler.jobs.registry import JOBS

    with app.app_context():
        scheduler = build_scheduler(app, AdvisoryLock(db.engine, 0))
    # Job defaults apply once the scheduler starts; paused, nothing runs.
    thread = threading.Thread(target=scheduler.start, kwargs={"paused": True}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: scheduler.running)
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
        thread.join(5)
    assert set(JOBS) <= set(jobs)
    for name in JOBS:
        job = jobs[name]
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == app.config["JOB_MISFIRE_GRACE_SECONDS"]
        assert job.trigger.interval.total_seconds() == app.config[JOBS[name].interval_key]


def test_create_app_starts_no_scheduler():
    """Gunicorn imports wsgi:app in every worker: nothing there may start a scheduler."""
    before = {t.name for t in threading.enumerate()}
    from scheduler import create_app

    create_app("testing")
    after = {t.name for t in threading.enumerate()}
    assert after == before


def _parse(value):
    from datetime import datetime

    return datetime.fromisoformat(value)
