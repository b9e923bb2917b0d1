"""SPEC 8: a session that cannot stay in its clinic moves to an allowed one, if it may."""

from __future__ import annotations

from dataclasses import replace

from tests.support.practice import build_practice

CLOSED = {"start": "2027-01-31T00:00:00-05:00", "end": "2028-06-01T00:00:00-04:00"}


def _one_room_plan(api, protocol="iv-depression", start_on="2027-02-01", patients=1):
    home = build_practice(api, infusion_rooms=1, templates=(protocol,))
    for i in range(patients):
        patient = api.post("/patients", {"name": f"Moving {i}", "clinic_id": home.clinic})
        plan = api.post("/enrollments", {"patient_id": patient["id"],
                                         "protocol_id": home.protocols[protocol],
                                         "clinic_id": home.clinic, "start_on": start_on})
        api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    return home, plan


def test_a_broken_only_room_sends_its_sessions_to_an_allowed_clinic(api, calendar_ok):
    home, plan = _one_room_plan(api, patients=2)  # both plans' sessions go to one room there
    other = build_practice(api, infusion_rooms=1, templates=())
    body = {"kind": "room_closure", "room_id": home.rooms[0], **CLOSED, "reason": "flood"}
    alone = api.post("/disruptions", body)
    stuck = {c["appointment_id"] for c in alone["changes"] if c["outcome"] == "unplaceable"}
    assert stuck and alone["clinic_ids"] == [home.clinic]
    api.post(f"/disruptions/{alone['id']}/discard", expect=200)

    proposal = api.post("/disruptions", {**body, "allow_clinic_ids": [other.clinic]})
    moved = [c for c in proposal["changes"] if c["after"] is not None
             and c["after"]["clinic_id"] == other.clinic]
    assert moved and {c["appointment_id"] for c in moved} <= stuck
    assert len({c["enrollment_id"] for c in moved}) == 2
    assert all(c["outcome"] == "moved" for c in moved)
    other_rooms = set(other.rooms)
    for change in moved:
        rooms = {a["resource_id"] for a in change["after"]["allocations"]
                 if a["resource_type"] == "room"}
        assert rooms <= other_rooms
    assert proposal["summary"]["unplaceable"] < alone["summary"]["unplaceable"]
    assert sorted(proposal["clinic_ids"]) == sorted([home.clinic, other.clinic])
    api.post(f"/disruptions/{proposal['id']}/apply", expect=200)
    for change in moved:
        appt = api.get(f"/appointments/{change['appointment_id']}")
        assert appt["clinic_id"] == other.clinic and appt["start"] == change["after"]["start"]
    assert calendar_ok() == []  # conflicts, hours of the new clinic, every plan's rules


def test_no_move_to_a_clinic_without_the_certification_the_route_needs(api, calendar_ok):
    home, plan = _one_room_plan(api, protocol="esketamine-label")
    other = build_practice(api, infusion_rooms=1, templates=())
    api.call("PATCH", f"/clinics/{other.clinic}", {"certifications": []}, expect=200)
    body = {"kind": "room_closure", "room_id": home.rooms[0], **CLOSED,
            "allow_clinic_ids": [other.clinic]}
    proposal = api.post("/disruptions", body)
    doses = [c for c in proposal["changes"] if c["outcome"] == "unplaceable"]
    assert doses
    assert all(c["after"] is None or c["after"]["clinic_id"] == home.clinic
               for c in proposal["changes"])
    # with the certification the same sessions may go there
    api.post(f"/disruptions/{proposal['id']}/discard", expect=200)
    api.call("PATCH", f"/clinics/{other.clinic}", {"certifications": ["esketamine_rems"]},
             expect=200)
    certified = api.post("/disruptions", body)
    assert any(c["after"] and c["after"]["clinic_id"] == other.clinic
               for c in certified["changes"])
    api.post(f"/disruptions/{certified['id']}/apply", expect=200)
    assert calendar_ok() == []


def test_a_move_to_a_clinic_that_may_not_give_the_dose_is_never_proposed(api, calendar_ok,
                                                                        monkeypatch):
    """The second line: were the engine to see a certification the clinic lacks, the proof
    judges the moved session by the clinic it lands in, and nothing is written."""
    from scheduler.services import snapshot

    home, plan = _one_room_plan(api, protocol="esketamine-label")
    other = build_practice(api, infusion_rooms=1, templates=())
    api.call("PATCH", f"/clinics/{other.clinic}", {"certifications": []}, expect=200)
    real = snapshot.clinic_input

    def believed_certified(clinic, removed=None):
        seen = real(clinic, removed)
        if clinic.id == other.clinic:
            seen = replace(seen, certifications=frozenset({"esketamine_rems"}))
        return seen

    monkeypatch.setattr(snapshot, "clinic_input", believed_certified)
    body = {"kind": "room_closure", "room_id": home.rooms[0], **CLOSED,
            "allow_clinic_ids": [other.clinic]}
    refused = api.call("POST", "/disruptions", body, expect=500).get_json()
    assert refused["error"]["code"] == "internal_error"
    assert api.get("/disruptions") == []
    assert calendar_ok() == []


def test_an_allowed_clinic_the_key_cannot_see_is_refused(api, keys, calendar_ok):
    home, plan = _one_room_plan(api)
    other = build_practice(api, infusion_rooms=1, templates=())
    manager = keys("manager", clinics=[home.clinic])
    response = api.client.post("/api/v1/disruptions", headers=manager, json={
        "kind": "room_closure", "room_id": home.rooms[0], **CLOSED,
        "allow_clinic_ids": [other.clinic]})
    assert response.status_code == 422
    assert "allow_clinic_ids" in str(response.get_json())


def test_two_home_clinics_moving_into_one_allowed_clinic_never_collide(api, calendar_ok):
    """One nurse works mornings at A and afternoons at B: her absence hits both, each clinic's
    batch sends what it cannot keep to C, and B's batch must see what A's took there."""
    from collections import defaultdict
    from datetime import datetime

    from tests.support.practice import WEEK

    a = build_practice(api, infusion_rooms=2, nurses=0)
    b = build_practice(api, infusion_rooms=2, nurses=0, templates=())
    b.protocols = a.protocols  # protocols are the practice's, not a clinic's
    shifts = [{"clinic_id": c, "weekday": d, "start": start, "end": end}
              for c, start, end in ((a.clinic, "08:00", "13:00"), (b.clinic, "13:00", "18:00"))
              for d in WEEK]
    shared = api.post("/staff", {"name": "Shared nurse", "roles": ["nurse"],
                                 "max_concurrent_patients": 2, "shifts": shifts})["id"]
    other = build_practice(api, infusion_rooms=1, templates=())
    for home in (a, a, a, b, b, b):
        patient = api.post("/patients", {"name": "P", "clinic_id": home.clinic})
        plan = api.post("/enrollments", {"patient_id": patient["id"],
                                         "protocol_id": home.protocols["iv-depression"],
                                         "clinic_id": home.clinic, "start_on": "2027-02-01"})
        api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    proposal = api.post("/disruptions", {"kind": "staff_absence", "staff_id": shared, **CLOSED,
                                         "reason": "leave", "allow_clinic_ids": [other.clinic]})
    moved = [c for c in proposal["changes"]
             if c["after"] is not None and c["after"]["clinic_id"] == other.clinic]
    assert moved  # the scenario does send sessions to C
    busy = defaultdict(list)
    for change in moved:
        for alloc in change["after"]["allocations"]:
            busy[(alloc["resource_type"], alloc["resource_id"])].append(
                (datetime.fromisoformat(alloc["start"]), datetime.fromisoformat(alloc["end"])))
    for spans in busy.values():
        spans.sort()
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans
    api.post(f"/disruptions/{proposal['id']}/apply", expect=200)
    assert calendar_ok() == []
