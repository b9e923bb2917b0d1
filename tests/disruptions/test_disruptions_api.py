"""POST /disruptions for each kind, then apply or discard (SPEC 8)."""

from __future__ import annotations

from datetime import datetime

from tests.disruptions.conftest import day_of


def _nurse_of(appointment):
    return next(a["resource_id"] for a in appointment["allocations"]
                if a["resource_type"] == "staff")


def _first_infusion(plans):
    return min((a for p in plans.values() for a in p["appointments"]
                if a["session_kind"] == "iv_infusion"), key=lambda a: a["start"])


def test_a_sick_nurse_is_replaced_and_the_calendar_stays_right(api, practice, booked,
                                                               calendar_ok):
    plans = booked(1)
    target = _first_infusion(plans)
    nurse = _nurse_of(target)
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "staff_absence", "staff_id": nurse,
                                         "start": start, "end": end, "reason": "sick"})
    assert proposal["status"] == "proposed" and proposal["hold_expires_at"]
    changes = {c["appointment_id"]: c for c in proposal["changes"]}
    assert target["id"] in changes
    hit = [c for c in proposal["changes"] if not c["cascade"]]
    assert proposal["summary"]["affected"] == len(hit) >= 1
    for change in proposal["changes"]:
        if change["after"] is not None:
            assert all(a["resource_id"] != nurse for a in change["after"]["allocations"]
                       if a["resource_type"] == "staff"
                       and start <= a["start"] < end)
    # the other nurse can take it at the same time: the patient notices nothing
    assert changes[target["id"]]["outcome"] == "reassigned"
    assert changes[target["id"]]["after"]["start"] == changes[target["id"]]["before"]["start"]
    applied = api.post(f"/disruptions/{proposal['id']}/apply", expect=200)
    assert applied["status"] == "applied"
    moved = api.get(f"/appointments/{target['id']}")
    assert moved["sequence"] > target["sequence"]
    assert _nurse_of(moved) != nurse
    assert calendar_ok() == []
    time_off = api.get(f"/staff/{nurse}")["time_off"]
    assert any(t["reason"] == "sick" for t in time_off)
    # applying twice changes nothing more
    again = api.post(f"/disruptions/{proposal['id']}/apply", expect=409)
    assert again["error"]["details"]["status"] == "applied"


def test_a_closed_clinic_day_moves_sessions_to_other_days(api, practice, booked, calendar_ok):
    plans = booked(2)
    target = _first_infusion(plans)
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "clinic_closure",
                                         "clinic_id": practice.clinic, "start": start,
                                         "end": end, "reason": "snow"})
    hit = [c for c in proposal["changes"] if not c["cascade"]]
    assert {c["appointment_id"] for c in hit} >= {target["id"]}
    for change in proposal["changes"]:
        if change["after"] is not None:
            assert not start <= change["after"]["start"] < end
            assert change["outcome"] == "moved"
    api.post(f"/disruptions/{proposal['id']}/apply", expect=200)
    clinic = api.get(f"/clinics/{practice.clinic}")
    assert datetime.fromisoformat(start).date().isoformat() in clinic["closures"]
    assert calendar_ok() == []


def test_a_broken_room_is_a_closed_period_and_discard_frees_the_hold(api, practice, booked,
                                                                     calendar_ok):
    plans = booked(2)
    target = _first_infusion(plans)
    room = next(a["resource_id"] for a in target["allocations"] if a["resource_type"] == "room")
    start, end = day_of(target)
    proposal = api.post("/disruptions", {"kind": "room_closure", "room_id": room,
                                         "start": start, "end": end, "reason": "pump"})
    assert proposal["summary"]["affected"] >= 1
    listed = api.get(f"/disruptions?clinic_id={practice.clinic}&status=proposed")
    assert [d["id"] for d in listed] == [proposal["id"]]
    dropped = api.post(f"/disruptions/{proposal['id']}/discard", expect=200)
    assert dropped["status"] == "discarded"
    assert api.get(f"/appointments/{target['id']}")["sequence"] == target["sequence"]
    again = api.post("/disruptions", {"kind": "room_closure", "room_id": room,
                                      "start": start, "end": end, "reason": "pump"})
    api.post(f"/disruptions/{again['id']}/apply", expect=200)
    assert api.get(f"/rooms/{room}")["closed_periods"][0]["reason"] == "pump"
    assert calendar_ok() == []
