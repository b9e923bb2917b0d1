"""The real jobs against the booking service, with a controlled clock: each run does what the
database says is due, and a second run changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from .conftest import T0


def _enrollment(app, enrollment_id):
    from scheduler.extensions import db
    from scheduler.models import Enrollment

    with app.app_context():
        enrollment = db.session.get(Enrollment, enrollment_id)
        return enrollment.status, sorted(a.status for a in enrollment.appointments), \
            enrollment.horizon_end, len(enrollment.appointments)


def test_holds_expire_on_time_and_only_once(app, api, enroll, run, clock):
    plan = enroll()
    confirmed = enroll(name="Bo B.")
    api.post(f"/enrollments/{confirmed['id']}/confirm", expect=200)
    clock.move_to(T0 + timedelta(minutes=14))
    first = run("expire_holds")
    assert (first.outcome, first.result) == ("ok", 0)
    assert _enrollment(app, plan["id"])[0] == "held"
    clock.move_to(T0 + timedelta(minutes=15, seconds=1))
    second = run("expire_holds")
    assert (second.outcome, second.result) == ("ok", 1)
    status, appointment_statuses, *_ = _enrollment(app, plan["id"])
    assert status == "expired" and set(appointment_statuses) == {"cancelled"}
    assert _enrollment(app, confirmed["id"])[0] == "booked"
    audit = api.get(f"/audit?entity_type=enrollments&entity_id={plan['id']}")
    assert audit[0]["actor"] == "job:expire_holds" and audit[0]["after"]["status"] == "expired"
    before = _enrollment(app, plan["id"])
    clock.move_to(T0 + timedelta(hours=3))
    third = run("expire_holds")
    assert (third.outcome, third.result) == ("ok", 0)
    assert _enrollment(app, plan["id"]) == before
    api.post(f"/enrollments/{plan['id']}/confirm", expect=409)


def test_horizon_extends_open_ended_maintenance_once(app, api, enroll, run, clock):
    plan = enroll(start_on="2027-01-04")
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    _, _, horizon, count = _enrollment(app, plan["id"])
    assert run("extend_horizons").result == 0  # still a full horizon ahead
    clock.move_to(datetime.combine(horizon, T0.timetz()) - timedelta(days=30))
    extended = run("extend_horizons")
    assert (extended.outcome, extended.result) == ("ok", 1)
    status, statuses, new_horizon, new_count = _enrollment(app, plan["id"])
    assert new_horizon > horizon and new_count > count
    assert status == "booked" and set(statuses) == {"booked"}
    again = run("extend_horizons")
    assert (again.outcome, again.result) == ("ok", 0)
    assert _enrollment(app, plan["id"])[2:] == (new_horizon, new_count)


def test_horizon_extends_after_the_last_booster_was_cancelled(app, api, enroll, run, clock):
    """A cancelled last booster keeps its key; the continuation numbers after it and still
    keeps the gap rules from the last booster that will take place."""
    plan = enroll(start_on="2027-01-04")
    booked = api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    boosters = [a for a in booked["appointments"] if a["phase"] == "maintenance"]
    assert boosters, "the template's open-ended maintenance phase placed nothing"
    api.post(f"/appointments/{boosters[-1]['id']}/cancel", expect=200)
    _, _, horizon, count = _enrollment(app, plan["id"])
    clock.move_to(datetime.combine(horizon, T0.timetz()) - timedelta(days=30))
    extended = run("extend_horizons")
    assert (extended.outcome, extended.result) == ("ok", 1), extended.message
    after = api.get(f"/enrollments/{plan['id']}")
    keys = [a["key"] for a in after["appointments"] if a["phase"] == "maintenance"]
    assert len(keys) == len(set(keys)) and len(keys) > len(boosters)
    assert boosters[-1]["key"] in keys  # the cancelled one is still there, as cancelled
    live = sorted(a["start"] for a in after["appointments"]
                  if a["phase"] == "maintenance" and a["status"] == "booked")
    assert live[0] == boosters[0]["start"]


def test_overdue_bookings_are_flagged_once(app, api, enroll, run, clock):
    from scheduler.extensions import db
    from scheduler.models import Appointment

    plan = enroll()
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    first = plan["appointments"][0]
    end = datetime.fromisoformat(first["end"])
    clock.move_to(end + timedelta(minutes=59))
    assert run("flag_overdue").result == 0
    clock.move_to(end + timedelta(minutes=61))
    assert run("flag_overdue").result == 1
    with app.app_context():
        assert db.session.get(Appointment, first["id"]).overdue_at is not None
    assert run("flag_overdue").result == 0
    second = plan["appointments"][1]
    clock.move_to(datetime.fromisoformat(second["start"]))
    api.post(f"/appointments/{second['id']}/check-in", expect=200)


def test_job_runs_are_recorded_for_get_jobs(api, enroll, run, clock):
    enroll()
    clock.move_to(T0 + timedelta(minutes=20))
    run("expire_holds")
    jobs = {j["name"]: j for j in api.get("/jobs")}
    assert jobs["expire_holds"]["outcome"] == "ok" and jobs["expire_holds"]["last_result"] == 1
    assert jobs["expire_holds"]["runner"] == "test"
    assert jobs["flag_overdue"]["outcome"] is None
