"""All or nothing, holds, stale and expired proposals, roles, the DST day, the unplaceable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.disruptions.conftest import day_of


def _infusions(plans):
    return sorted((a for p in plans.values() for a in p["appointments"]
                   if a["session_kind"] == "iv_infusion"), key=lambda a: a["start"])


def _nurse(appointment):
    return next(a["resource_id"] for a in appointment["allocations"]
                if a["resource_type"] == "staff")


def _state(api, plans):
    return {a["id"]: (a["start"], a["status"], a["sequence"])
            for p in plans for a in api.get(f"/enrollments/{p}")["appointments"]}


def test_a_stale_proposal_changes_nothing(api, practice, booked):
    plans = booked(2)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "clinic_closure", "clinic_id": practice.clinic,
                                         "start": start, "end": end})
    changed = proposal["changes"][0]["appointment_id"]
    # the desk moves one of them meanwhile, by hand
    later = datetime.fromisoformat(api.get(f"/appointments/{changed}")["start"])
    api.post(f"/appointments/{changed}/reschedule",
             {"not_before": (later + timedelta(days=3)).isoformat()}, expect=200)
    before = _state(api, plans)
    refused = api.post(f"/disruptions/{proposal['id']}/apply", expect=409)
    assert refused["error"]["details"]["reason"] == "stale"
    assert changed in refused["error"]["details"]["changed_appointment_ids"]
    assert _state(api, plans) == before
    assert api.get(f"/clinics/{practice.clinic}")["closures"] == []
    assert api.get(f"/disruptions/{proposal['id']}")["status"] == "proposed"


def test_an_expired_proposal_is_refused_and_its_hold_released(app, api, practice, booked):
    from scheduler.extensions import db
    from scheduler.models import Allocation, Disruption
    from scheduler.services import holds

    plans = booked(2)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "staff_absence", "staff_id": _nurse(target),
                                         "start": start, "end": end})
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Allocation.id)).where(
            Allocation.disruption_id == proposal["id"])) > 0
        db.session.get(Disruption, proposal["id"]).hold_expires_at = \
            datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    refused = api.post(f"/disruptions/{proposal['id']}/apply", expect=409)
    assert refused["error"]["details"]["status"] == "expired"
    assert api.get(f"/disruptions/{proposal['id']}")["status"] == "expired"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Allocation.id)).where(
            Allocation.disruption_id == proposal["id"])) == 0
        assert holds.expire_holds(datetime.now(UTC)) == 0  # nothing left to release


def test_the_expiry_job_releases_open_proposals(app, api, practice, booked):
    from scheduler.services import holds

    plans = booked(1)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "staff_absence", "staff_id": _nurse(target),
                                         "start": start, "end": end})
    with app.app_context():
        assert holds.expire_holds(datetime.now(UTC) + timedelta(days=1)) == 1
    assert api.get(f"/disruptions/{proposal['id']}")["status"] == "expired"


def test_while_open_new_placements_avoid_the_absent_nurse(api, practice, booked):
    plans = booked(1)
    target = _infusions(plans)[0]
    nurse = _nurse(target)
    start, end = day_of(target)
    api.post("/disruptions", {"kind": "staff_absence", "staff_id": nurse,
                              "start": start, "end": end})
    slots = api.get(f"/availability?clinic_id={practice.clinic}&session_kind=iv_infusion"
                    f"&start={start}&end={end}".replace("+", "%2B"))["slots"]
    assert slots and all(nurse not in s["staff_ids"] for s in slots)
    newcomer = api.post("/patients", {"name": "New", "clinic_id": practice.clinic})
    plan = api.post("/enrollments", {
        "patient_id": newcomer["id"], "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": practice.clinic, "start_on": start[:10]})
    for appt in plan["appointments"]:
        for a in appt["allocations"]:
            if a["resource_type"] == "staff" and a["resource_id"] == nurse:
                assert not (a["start"] < end and start < a["end"]), appt


def test_a_second_proposal_treats_the_first_ones_holds_as_taken(api, practice, booked,
                                                                calendar_ok):
    plans = booked(1)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    first = api.post("/disruptions", {"kind": "staff_absence", "staff_id": _nurse(target),
                                      "start": start, "end": end})
    taken = {(a["resource_type"], a["resource_id"], a["start"])
             for c in first["changes"] if c["after"] for a in c["after"]["allocations"]}
    other = next(n for n in practice.nurses if n != _nurse(target))
    second = api.post("/disruptions", {"kind": "staff_absence", "staff_id": other,
                                       "start": start, "end": end})
    for change in second["changes"]:
        for a in (change["after"] or {}).get("allocations", []):
            assert (a["resource_type"], a["resource_id"], a["start"]) not in taken
    api.post(f"/disruptions/{first['id']}/apply", expect=200)
    assert calendar_ok() == []


def test_who_may_propose_apply_and_read(api, keys, practice, booked):
    plans = booked(1)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    body = {"kind": "staff_absence", "staff_id": _nurse(target), "start": start, "end": end}
    desk = keys("front_desk", clinics=[practice.clinic])
    assert api.client.post("/api/v1/disruptions", json=body, headers=desk).status_code == 403
    manager = keys("manager", clinics=[practice.clinic])
    made = api.client.post("/api/v1/disruptions", json=body, headers=manager)
    assert made.status_code == 201, made.get_json()
    disruption_id = made.get_json()["id"]
    assert api.client.get(f"/api/v1/disruptions/{disruption_id}",
                          headers=desk).status_code == 200
    elsewhere = api.post("/clinics", {"name": "Elsewhere", "timezone": "UTC", "hours": {}})
    stranger = keys("admin", clinics=[elsewhere["id"]])
    assert api.client.get(f"/api/v1/disruptions/{disruption_id}",
                          headers=stranger).status_code == 404
    assert api.client.post(f"/api/v1/disruptions/{disruption_id}/apply",
                           headers=stranger).status_code == 404
    assert api.client.post(f"/api/v1/disruptions/{disruption_id}/apply",
                           headers=desk).status_code == 403
    assert api.client.get("/api/v1/disruptions", headers=stranger).get_json() == []


def test_direct_time_off_over_bookings_points_to_disruptions(api, practice, booked):
    plans = booked(1)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    refused = api.post(f"/staff/{_nurse(target)}/time-off", {"start": start, "end": end},
                       expect=409)
    assert "POST /api/v1/disruptions" in refused["error"]["message"]


def test_a_closure_on_the_autumn_change_day_is_one_whole_local_day(api, practice, booked,
                                                                   calendar_ok):
    from scheduler.services.disruptions import whole_local_days

    # 2027-11-07 in New York has 25 hours: midnight EDT to midnight EST
    start, end = "2027-11-07T00:00:00-04:00", "2027-11-08T00:00:00-05:00"
    days, rest = whole_local_days(datetime.fromisoformat(start), datetime.fromisoformat(end),
                                  "America/New_York")
    assert days == [date(2027, 11, 7)] and rest == []
    monday_days, monday_rest = whole_local_days(datetime.fromisoformat(end),
                                                datetime.fromisoformat("2027-11-08T12:00:00-05:00"),
                                                "America/New_York")
    assert monday_days == [] and len(monday_rest) == 1
    # a booked plan with sessions on Monday 8 November; close that Monday (a normal day)
    plans = booked(1, start_on="2027-11-08")
    first_day = _infusions(plans)[0]
    day_start, day_end = day_of(first_day)
    proposal = api.post("/disruptions", {"kind": "clinic_closure",
                                         "clinic_id": practice.clinic, "start": start,
                                         "end": day_end})
    api.post(f"/disruptions/{proposal['id']}/apply", expect=200)
    clinic = api.get(f"/clinics/{practice.clinic}")
    assert "2027-11-07" in clinic["closures"] and day_start[:10] in clinic["closures"]
    assert clinic["closed_periods"] == []
    for change in proposal["changes"]:
        if change["after"]:
            assert change["after"]["start"] >= day_end
    assert calendar_ok() == []


def test_sessions_that_fit_nowhere_are_cancelled_as_disruption(api, calendar_ok):
    from tests.support.practice import build_practice

    small = build_practice(api, infusion_rooms=1)
    patient = api.post("/patients", {"name": "Only", "clinic_id": small.clinic})
    plan = api.post("/enrollments", {"patient_id": patient["id"],
                                     "protocol_id": small.protocols["iv-depression"],
                                     "clinic_id": small.clinic, "start_on": "2027-02-01"})
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    room = small.rooms[0]
    proposal = api.post("/disruptions", {
        "kind": "room_closure", "room_id": room, "start": "2027-01-31T00:00:00-05:00",
        "end": "2028-06-01T00:00:00-04:00", "reason": "renovation"})
    unplaceable = [c for c in proposal["changes"] if c["outcome"] == "unplaceable"]
    assert unplaceable and all(c["explanation"]["message"] for c in unplaceable)
    assert proposal["summary"]["unplaceable"] == len(unplaceable)
    api.post(f"/disruptions/{proposal['id']}/apply", expect=200)
    for change in unplaceable:
        gone = api.get(f"/appointments/{change['appointment_id']}")
        assert gone["status"] == "cancelled" and gone["cancel_reason"] == "disruption"
    assert calendar_ok() == []


def test_an_apply_that_keeps_losing_the_race_changes_nothing(api, practice, booked,
                                                             monkeypatch):
    from scheduler.services import placement

    plans = booked(1)
    target = _infusions(plans)[0]
    start, end = day_of(target)
    nurse = _nurse(target)
    proposal = api.post("/disruptions", {"kind": "staff_absence", "staff_id": nurse,
                                         "start": start, "end": end, "reason": "sick"})
    before = _state(api, plans)

    def taken(*args, **kwargs):
        raise placement.LostRace("a resource is already taken")

    monkeypatch.setattr(placement, "assert_free", taken)
    refused = api.post(f"/disruptions/{proposal['id']}/apply", expect=409)
    assert refused["error"]["details"]["reason"] == "concurrent_booking"
    assert _state(api, plans) == before
    assert api.get(f"/staff/{nurse}")["time_off"] == []
    assert api.get(f"/disruptions/{proposal['id']}")["status"] == "proposed"


def test_closed_periods_through_the_api(api, practice, booked):
    plans = booked(1)
    target = _infusions(plans)[0]
    room = next(a["resource_id"] for a in target["allocations"] if a["resource_type"] == "room")
    start, end = day_of(target)
    refused = api.call("PATCH", f"/rooms/{room}", {"closed_periods": [
        {"start": start, "end": end, "reason": "pump"}]}, expect=409).get_json()
    assert "POST /api/v1/disruptions" in refused["error"]["message"]
    assert api.get(f"/rooms/{room}")["closed_periods"] == []
    # a half-day closure on a day with nothing booked: new plans stay out of it
    closed = {"start": "2027-03-01T08:00:00-05:00", "end": "2027-03-01T13:00:00-05:00",
              "reason": "training"}
    clinic = api.call("PATCH", f"/clinics/{practice.clinic}", {"closed_periods": [closed]},
                      expect=200).get_json()
    assert clinic["closed_periods"][0]["reason"] == "training"
    patient = api.post("/patients", {"name": "Later", "clinic_id": practice.clinic})
    plan = api.post("/enrollments", {"patient_id": patient["id"],
                                     "protocol_id": practice.protocols["iv-depression"],
                                     "clinic_id": practice.clinic, "start_on": "2027-03-01"})
    lo, hi = datetime.fromisoformat(closed["start"]), datetime.fromisoformat(closed["end"])
    for appt in plan["appointments"]:
        s, e = datetime.fromisoformat(appt["start"]), datetime.fromisoformat(appt["end"])
        assert not (s < hi and lo < e), appt
    bad = api.call("PATCH", f"/clinics/{practice.clinic}", {"closed_periods": [
        {"start": closed["end"], "end": closed["start"]}]}, expect=422).get_json()
    assert any("closed_periods" in f for f in bad["error"]["fields"])
