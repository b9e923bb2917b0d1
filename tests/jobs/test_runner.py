"""One run of a job: bookkeeping, failures that never escape, GET /jobs, the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.factories import Api

from .conftest import T0


def test_a_run_is_recorded(app, run, fake_jobs, clock):
    from scheduler.extensions import db
    from scheduler.models import JobRun

    calls = fake_jobs(lambda app, now: 7)
    result = run("flag_overdue")
    assert (result.outcome, result.result) == ("ok", 7)
    assert calls["flag_overdue"] == 1 and calls["expire_holds"] == 0
    with app.app_context():
        row = db.session.get(JobRun, "flag_overdue")
        assert (row.outcome, row.last_result, row.runner, row.message) == ("ok", 7, "test", None)
        assert row.last_started_at == T0 and row.last_finished_at == T0


def test_the_job_gets_the_clock(run, fake_jobs, clock):
    seen = []
    fake_jobs(lambda app, now: seen.append(now) or 0)
    clock.move_to(T0 + timedelta(days=3))
    run("expire_holds")
    assert seen == [T0 + timedelta(days=3)]


def test_a_failing_job_is_recorded_and_never_raises(app, run, fake_jobs, clock):
    from scheduler.extensions import db
    from scheduler.models import JobRun

    fake_jobs(lambda app, now: 3)
    run("expire_holds")

    def broken(app, now):
        raise RuntimeError("disk on fire")

    fake_jobs(broken)
    result = run("expire_holds")
    assert result.outcome == "error" and "RuntimeError: disk on fire" in result.message
    with app.app_context():
        row = db.session.get(JobRun, "expire_holds")
        assert row.outcome == "error" and "disk on fire" in row.message
        assert row.last_result == 3  # the last successful run's, kept


def test_a_failing_job_leaves_no_half_write(app, run, fake_jobs, clock):
    from scheduler.extensions import db
    from scheduler.models import Clinic

    def half(app, now):
        db.session.add(Clinic(name="half-written", timezone="UTC"))
        db.session.flush()
        raise RuntimeError("stopped halfway")

    fake_jobs(half)
    assert run("extend_horizons").outcome == "error"
    with app.app_context():
        assert db.session.query(Clinic).filter_by(name="half-written").count() == 0


def test_an_unreachable_database_is_an_error_not_an_exception(app, run, fake_jobs,
                                                              monkeypatch):
    from scheduler.jobs import runner

    def no_database(engine, lock_id):
        raise ConnectionError("database went away")

    monkeypatch.setattr(runner, "try_lock", no_database)
    calls = fake_jobs()
    result = run("expire_holds")
    assert result.outcome == "error" and "database went away" in result.message
    assert calls["expire_holds"] == 0


def test_get_jobs_is_admin_only(client, keys, app):
    for role in ("manager", "front_desk", "viewer"):
        Api(client, keys(role)).call("GET", "/jobs", expect=403)
    assert client.get("/api/v1/jobs").status_code == 401


def test_get_jobs_lists_every_job(api, run, fake_jobs, clock):
    fake_jobs()
    jobs = api.get("/jobs")
    from scheduler.jobs.registry import JOBS

    assert [j["name"] for j in jobs] == list(JOBS)
    assert {"expire_holds", "extend_horizons", "flag_overdue",
            "flag_overdue_rems_forms", "deliver_webhooks",
            "queue_reminders"} <= set(JOBS)
    assert all(j["outcome"] is None and j["next_run_at"] is None and not j["late"]
               for j in jobs)
    assert {j["name"]: j["interval_seconds"] for j in jobs} == {
        "expire_holds": 60, "extend_horizons": 3600, "flag_overdue": 300,
        "flag_overdue_rems_forms": 3600, "deliver_webhooks": 1,
        "queue_reminders": 5, "match_waitlist": 3, "expire_offers": 30,
        "prune_calendar_changes": 3600}
    run("expire_holds")
    first = api.get("/jobs")[0]
    assert first["outcome"] == "ok" and first["last_started_at"].startswith("2026-12-01T15:00")


def test_get_jobs_says_when_the_scheduler_is_not_running(app, api, clock):
    from scheduler.jobs.runner import record_schedule

    record_schedule(app, "expire_holds", T0)
    assert api.get("/jobs")[0]["late"] is False
    clock.move_to(T0 + timedelta(hours=1))
    assert api.get("/jobs")[0]["late"] is True


def test_cli_run_once(app, fake_jobs):
    fake_jobs(lambda app, now: 2)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["scheduler", "run-once", "expire_holds"])
    assert result.exit_code == 0, result.output
    assert "expire_holds: ok, 2 changed" in result.output
    status = runner.invoke(args=["scheduler", "status"])
    assert status.exit_code == 0 and "expire_holds\tok" in status.output
    assert runner.invoke(args=["scheduler", "run-once", "nope"]).exit_code == 2


def test_cli_run_once_fails_loudly(app, fake_jobs):
    def broken(app, now):
        raise ValueError("bad state")

    fake_jobs(broken)
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "flag_overdue"])
    assert result.exit_code == 1 and "bad state" in result.output


@pytest.mark.parametrize("name", ["expire_holds", "extend_horizons", "flag_overdue"])
def test_real_jobs_run_on_an_empty_database(run, name):
    result = run(name)
    assert (result.outcome, result.result) == ("ok", 0), result.message
