"""The appointment state machine, rescheduling, the calendar query, availability, impact."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

NY = ZoneInfo("America/New_York")
ACTIONS = {"check-in": "checked_in", "complete": "completed", "no-show": "no_show",
           "cancel": "cancelled"}
# From each status, which actions are allowed (everything else is 409).
ALLOWED = {
    "booked": {"check-in", "no-show", "cancel"},
    "checked_in": {"complete"},
    "completed": set(),
    "cancelled": set(),
    "no_show": set(),
}
PATH_TO = {"booked": [], "checked_in": ["check-in"], "completed": ["check-in", "complete"],
           "cancelled": ["cancel"], "no_show": ["no-show"]}


@pytest.fixture
def booked(api, patient, enroll):
    plan = enroll(patient["id"])
    return api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


@pytest.mark.parametrize("status", list(ALLOWED))
def test_state_machine(api, booked, status):
    appt = booked["appointments"][1]["id"]
    # Check-in opens shortly before the start: act on the appointment's day.
    starts = datetime.fromisoformat(booked["appointments"][1]["start"])
    with time_machine.travel(starts - timedelta(minutes=30), tick=False):
        _walk_the_state_machine(api, appt, status)


def _walk_the_state_machine(api, appt, status):
    for action in PATH_TO[status]:
        api.post(f"/appointments/{appt}/{action}", expect=200)
    assert api.get(f"/appointments/{appt}")["status"] == status
    for action, target in ACTIONS.items():
        if action in ALLOWED[status]:
            continue
        response = api.post(f"/appointments/{appt}/{action}", expect=409)
        assert response["error"]["details"] == {"status": status, "requested": target}


def test_held_appointment_cannot_be_checked_in(api, patient, enroll):
    plan = enroll(patient["id"])
    api.post(f"/appointments/{plan['appointments'][0]['id']}/check-in", expect=409)


def test_sequence_grows_on_every_visible_change(api, booked):
    appt = booked["appointments"][2]
    assert appt["sequence"] >= 1  # confirmed
    cancelled = api.post(f"/appointments/{appt['id']}/cancel", expect=200)
    assert cancelled["sequence"] > appt["sequence"]


def test_no_show_frees_the_slot(api, booked, db_problems):
    appt = booked["appointments"][1]
    released = api.post(f"/appointments/{appt['id']}/no-show", expect=200)
    assert not any(a["active"] for a in released["allocations"])
    assert db_problems() == []


def test_cancelling_a_dose_reports_what_the_plan_now_breaks(api, booked):
    inductions = [a for a in booked["appointments"] if a["phase"] == "induction"]
    cancelled = api.post(f"/appointments/{inductions[2]['id']}/cancel", expect=200)
    rules = {w["rule"] for w in cancelled["plan_warnings"]}
    assert "count" in rules or any(r.startswith("gap_days") for r in rules), rules
    counts = [w for w in cancelled["plan_warnings"] if w["rule"] == "count"]
    assert counts and "induction" in counts[0]["message"]


def test_cancelling_a_consult_keeps_the_rest_valid_or_says_so(api, booked):
    consult = booked["appointments"][0]
    response = api.post(f"/appointments/{consult['id']}/cancel", expect=200)
    assert isinstance(response["plan_warnings"], list)


# ---------------------------------------------------------------- reschedule

def _local_day(ts):
    return datetime.fromisoformat(ts).astimezone(NY).date()


def test_reschedule_to_an_exact_start_moves_only_what_the_rules_need(api, booked, db_problems):
    appts = booked["appointments"]
    last = [a for a in appts if a["phase"] == "induction"][-1]
    new_start = datetime.fromisoformat(last["start"]).astimezone(NY) + timedelta(hours=2)
    response = api.post(f"/appointments/{last['id']}/reschedule",
                        {"start": new_start.isoformat()}, expect=200)
    moved = {a["id"]: a for a in response["moved"]}
    assert last["id"] in moved
    assert datetime.fromisoformat(moved[last["id"]]["start"]) == new_start
    assert moved[last["id"]]["sequence"] > last["sequence"]
    # Nothing before it moved.
    for before in appts:
        if before["start"] < last["start"] and before["id"] != last["id"]:
            assert before["id"] not in moved
            assert api.get(f"/appointments/{before['id']}")["start"] == before["start"]
    assert db_problems() == []


def test_reschedule_not_before_pushes_later_sessions_as_needed(api, booked, db_problems):
    inductions = [a for a in booked["appointments"] if a["phase"] == "induction"]
    second = inductions[1]
    # Onto the day of #3 (still within #1's gap_days.max): #3 must then move on.
    not_before = datetime.fromisoformat(inductions[2]["start"]).astimezone(NY).replace(
        hour=0, minute=0)
    response = api.post(f"/appointments/{second['id']}/reschedule",
                        {"not_before": not_before.isoformat()}, expect=200)
    moved = {a["key"]: a for a in response["moved"]}
    assert "induction#2" in moved and datetime.fromisoformat(
        moved["induction#2"]["start"]) >= not_before
    assert "induction#3" in moved  # it had to go after #2 again
    after = api.get(f"/enrollments/{booked['id']}")
    days = [_local_day(a["start"]) for a in after["appointments"] if a["phase"] == "induction"]
    assert days == sorted(days)
    assert all(1 <= (b - a).days <= 4 for a, b in zip(days, days[1:]))
    assert db_problems() == []


def test_reschedule_onto_a_closed_day_is_409(api, booked):
    appt = [a for a in booked["appointments"] if a["phase"] == "induction"][-1]
    day = datetime.fromisoformat(appt["start"]).astimezone(NY)
    saturday = day + timedelta(days=(5 - day.weekday()) % 7 or 7)
    response = api.post(f"/appointments/{appt['id']}/reschedule",
                        {"start": saturday.isoformat()}, expect=409)
    assert response["error"]["details"]["reason"] == "no_move_fits"
    assert api.get(f"/appointments/{appt['id']}")["start"] == appt["start"]


@pytest.mark.parametrize("body, field", [
    ({}, "start"),
    ({"start": "2027-03-01T10:00:00-05:00", "not_before": "2027-03-01T10:00:00-05:00"}, "start"),
    ({"start": "2027-03-01T10:00:00"}, "start"),
    ({"start": "2020-03-01T10:00:00-05:00"}, "start"),
])
def test_reschedule_validation(api, booked, body, field):
    appt = booked["appointments"][1]
    response = api.post(f"/appointments/{appt['id']}/reschedule", body, expect=422)
    assert field in response["error"]["fields"]


def test_cannot_reschedule_a_cancelled_appointment(api, booked):
    appt = booked["appointments"][1]
    api.post(f"/appointments/{appt['id']}/cancel", expect=200)
    api.post(f"/appointments/{appt['id']}/reschedule",
             {"not_before": "2027-06-01T00:00:00-04:00"}, expect=409)


# ---------------------------------------------------------------- calendar query

def test_appointment_filters(api, practice, booked, client, admin):
    appts = booked["appointments"]
    everything = api.get("/appointments?page_size=500")
    assert len(everything) == len(appts)
    assert [a["start"] for a in everything] == sorted(a["start"] for a in everything)
    first_day = _local_day(appts[1]["start"]).isoformat()
    day = api.get(f"/appointments?clinic_id={practice.clinic}&start={first_day}"
                  f"&end={(_local_day(appts[1]['start']) + timedelta(days=1)).isoformat()}")
    assert [a["id"] for a in day] == [a["id"] for a in appts
                                      if _local_day(a["start"]).isoformat() == first_day]
    room = appts[1]["allocations"][0]["resource_id"]
    in_room = api.get(f"/appointments?room_id={room}&page_size=500")
    assert in_room and all(any(x["resource_type"] == "room" and x["resource_id"] == room
                               for x in a["allocations"]) for a in in_room)
    nurse = next(x["resource_id"] for x in appts[1]["allocations"]
                 if x["resource_type"] == "staff")
    assert api.get(f"/appointments?staff_id={nurse}&page_size=500")
    api.post(f"/appointments/{appts[1]['id']}/cancel", expect=200)
    cancelled = api.get("/appointments?status=cancelled")
    assert [a["id"] for a in cancelled] == [appts[1]["id"]]
    two = api.get("/appointments?status=cancelled,booked&page_size=500")
    assert len(two) == len(appts)
    response = client.get("/api/v1/appointments?page_size=3&page=2", headers=admin)
    assert json.loads(response.headers["X-Pagination"])["total"] == len(appts)
    assert len(response.get_json()) == 3


@pytest.mark.parametrize("query, field", [
    ("status=maybe", "status[0]"),
    ("start=yesterday", "start"),
    ("start=2027-01-01T00:00:00", "start"),
    ("colour=red", "colour"),
])
def test_appointment_query_validation(api, query, field):
    response = api.call("GET", f"/appointments?{query}", expect=422).get_json()
    assert field in response["error"]["fields"], response


# ---------------------------------------------------------------- availability

def test_availability_lists_free_starts(api, practice, booked, db_problems):
    taken = next(a for a in booked["appointments"] if a["phase"] == "induction")
    day = _local_day(taken["start"])
    slots = api.get(f"/availability?clinic_id={practice.clinic}&session_kind=iv_infusion"
                    f"&start={day}&end={day + timedelta(days=1)}")["slots"]
    assert slots
    for slot in slots:
        local = datetime.fromisoformat(slot["start"]).astimezone(NY)
        assert local.date() == day and "08:00" <= local.strftime("%H:%M")
        assert slot["room_id"] in practice.rooms and slot["staff_ids"]
    # With the patient, their own infusion time is not offered again.
    mine = api.get(f"/availability?clinic_id={practice.clinic}&session_kind=iv_infusion"
                   f"&start={day}&end={day + timedelta(days=1)}"
                   f"&patient_id={booked['patient_id']}")["slots"]
    assert taken["start"] not in {s["start"] for s in mine}
    assert len(mine) < len(slots)


@pytest.mark.parametrize("query, field", [
    ("session_kind=teleportation&start=2027-03-01&end=2027-03-02", "session_kind"),
    ("session_kind=iv_infusion&start=2027-03-02&end=2027-03-01", "end"),
    ("session_kind=iv_infusion&start=2027-03-01", "end"),
])
def test_availability_validation(api, practice, query, field):
    response = api.call("GET", f"/availability?clinic_id={practice.clinic}&{query}",
                        expect=422).get_json()
    assert field in response["error"]["fields"]


# ---------------------------------------------------------------- impact

def test_impact_lists_booked_appointments_a_change_would_break(api, practice, booked):
    protocol_id = practice.protocols["iv-depression"]
    proposal = api.get(f"/protocols/{protocol_id}")
    for key in ("id", "version", "current_version", "versions", "session_kinds", "created_at"):
        proposal.pop(key)
    induction = next(p for p in proposal["phases"] if p["name"] == "induction")
    induction["gap_days"] = {"min": 3, "target": 3, "max": 4}
    report = api.post(f"/protocols/{protocol_id}/impact", proposal, expect=200)
    assert report["checked_enrollments"] == 1
    [affected] = report["affected"]
    assert affected["enrollment_id"] == booked["id"]
    broken = {i for v in affected["violations"] for i in v["appointment_ids"]}
    inductions = {a["id"] for a in booked["appointments"] if a["phase"] == "induction"}
    assert broken and broken <= inductions
    assert {v["rule"] for v in affected["violations"]} == {"gap_days.min"}
    # A dry run: the protocol and the plan are unchanged.
    assert api.get(f"/protocols/{protocol_id}")["version"] == 1
    harmless = api.post(f"/protocols/{protocol_id}/impact",
                        {**proposal, "phases": api.get(f"/protocols/{protocol_id}")["phases"]},
                        expect=200)
    assert harmless["affected"] == []


def test_impact_validates_the_proposal(api, practice):
    protocol_id = practice.protocols["iv-depression"]
    response = api.post(f"/protocols/{protocol_id}/impact", {"phases": []}, expect=422)
    assert response["error"]["fields"]
