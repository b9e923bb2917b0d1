"""Exactly once across processes, on PostgreSQL: advisory locks decide, not the code.

Session-level advisory locks belong to database connections, not to OS processes, so two
threads with their own connections compete exactly as two scheduler processes on two machines
would.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from tests.support import pg

from .test_scheduler import start_scheduler, wait_for


@pytest.fixture(scope="module")
def pg_app():
    url = pg.fresh_database("regimen_jobs_once")
    from flask_migrate import upgrade

    from scheduler import create_app

    # Every job's second run must be the failover's (webhook delivery polls every second).
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, SCHEDULER_ELECTION_RETRY_SECONDS=1,
                     JOB_DELIVER_WEBHOOKS_SECONDS=3600, JOB_QUEUE_REMINDERS_SECONDS=3600,
                     JOB_MATCH_WAITLIST_SECONDS=3600, JOB_EXPIRE_OFFERS_SECONDS=3600)
    with app.app_context():
        upgrade()
    yield app
    from scheduler.extensions import db

    with app.app_context():
        db.engine.dispose()
    engine = sa.create_engine(pg.admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_job_runs(pg_app):
    yield
    from scheduler.extensions import db

    with pg_app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM job_runs"))


def _engine(app):
    from scheduler.extensions import db

    with app.app_context():
        return db.engine


def test_two_runners_at_the_same_moment_run_the_job_once(pg_app, fake_jobs):
    from scheduler.jobs.runner import run_job

    calls = fake_jobs(lambda app, now: time.sleep(0.5) or 1)
    barrier = threading.Barrier(8)
    results = []

    def contender(i):
        barrier.wait()
        results.append(run_job(pg_app, "expire_holds", runner=f"contender-{i}"))

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert calls["expire_holds"] == 1
    assert sorted(r.outcome for r in results) == ["ok"] + ["skipped"] * 7


def test_different_jobs_do_not_block_each_other(pg_app, fake_jobs):
    from scheduler.jobs.runner import run_job

    calls = fake_jobs(lambda app, now: time.sleep(0.3) or 0)
    barrier = threading.Barrier(len(calls))
    results = []

    def contender(name):
        barrier.wait()
        results.append(run_job(pg_app, name))

    threads = [threading.Thread(target=contender, args=(n,)) for n in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.outcome for r in results] == ["ok"] * len(calls) and set(calls.values()) == {1}


def test_election_has_one_winner_and_a_successor(pg_app):
    from scheduler.jobs.locks import ELECTION_LOCK_ID, AdvisoryLock

    engine = _engine(pg_app)
    first, second = AdvisoryLock(engine, ELECTION_LOCK_ID), AdvisoryLock(engine, ELECTION_LOCK_ID)
    assert first.acquire() is True
    try:
        assert second.acquire() is False
        assert first.held() and not second.held()
    finally:
        first.release()
    assert second.acquire() is True
    second.release()


def test_a_runner_whose_connection_dies_loses_the_election(pg_app):
    """The runner's machine vanishes: PostgreSQL drops its session and the lock with it."""
    from scheduler.jobs.locks import ELECTION_LOCK_ID, AdvisoryLock

    engine = _engine(pg_app)
    runner, standby = AdvisoryLock(engine, ELECTION_LOCK_ID), AdvisoryLock(engine, ELECTION_LOCK_ID)
    assert runner.acquire()
    pid = runner._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert wait_for(lambda: not runner.held(), timeout=5)
    assert standby.acquire()
    runner.release()  # must not raise on the dead connection
    standby.release()


def test_two_scheduler_processes_run_each_job_once_and_fail_over(pg_app, fake_jobs):
    calls = fake_jobs()
    stop_a, thread_a, errors_a = start_scheduler(pg_app)
    stop_b = thread_b = None
    try:
        assert wait_for(lambda: all(n == 1 for n in calls.values())), calls
        stop_b, thread_b, errors_b = start_scheduler(pg_app)
        time.sleep(2.5)  # b retries the election twice and stands by
        assert calls == {name: 1 for name in calls}
        stop_a.set()  # the runner goes away; b takes over and runs every job at once
        thread_a.join(10)
        assert not thread_a.is_alive()
        assert wait_for(lambda: all(n == 2 for n in calls.values())), calls
        time.sleep(1.5)
        assert calls == {name: 2 for name in calls}
    finally:
        stop_a.set()
        if stop_b is not None:
            stop_b.set()
            thread_b.join(10)
        thread_a.join(10)
    assert errors_a == [] and errors_b == []
