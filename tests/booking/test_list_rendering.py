"""The appointment list is rendered from plain columns; it must read exactly as the schema's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from scheduler.api.schemas.booking import AppointmentOut
from scheduler.extensions import db
from scheduler.services import appointments
from scheduler.services.access import SYSTEM_PRINCIPAL


def test_the_fast_list_reads_exactly_as_appointment_out(app, api, practice, enroll):
    plans = []
    for i in range(3):
        person = api.post("/patients", {"name": f"P{i}", "clinic_id": practice.clinic})
        plans.append(enroll(person["id"], start_on=f"2027-02-0{1 + i}"))
    api.post(f"/enrollments/{plans[0]['id']}/confirm", expect=200)
    api.post(f"/appointments/{plans[0]['appointments'][-1]['id']}/cancel", expect=200)
    api.post(f"/appointments/{plans[0]['appointments'][0]['id']}/reschedule",
             {"not_before": "2027-02-03T12:00:00-05:00"}, expect=200)
    query = f"/appointments?clinic_id={practice.clinic}&start=2027-01-01&end=2028-01-01" \
            "&page_size=500"
    listed = api.get(query)
    with app.app_context():
        page = appointments.list_appointments(
            SYSTEM_PRINCIPAL, page=1, page_size=500, clinic_id=practice.clinic,
            start=None, end=None)
        expected = json.loads(json.dumps(AppointmentOut(many=True).dump(page.items)))
        db.session.rollback()
    assert len(listed) == len(expected) > 20
    assert any(not a["active"] for row in listed for a in row["allocations"])
    assert any(row["sequence"] > 0 for row in listed)
    assert listed == expected
    second = api.get(query.replace("page_size=500", "page_size=7&page=2"))
    assert second == expected[7:14]


def test_a_kept_list_follows_every_change(app, api, practice, patient, enroll):
    plan = enroll(patient["id"])
    query = f"/appointments?clinic_id={practice.clinic}&start=2027-01-01&end=2028-01-01" \
            "&page_size=500"
    first = api.get(query)
    assert api.get(query) == first  # served again as kept
    target = first[0]["id"]

    def raw(sql, **params):  # another process, as far as this worker knows
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text(sql), params)

    raw("UPDATE appointments SET status = 'booked' WHERE id = :a", a=target)
    assert api.get(query)[0]["status"] == "booked"
    raw("UPDATE allocations SET active = :f WHERE appointment_id = :a", f=False, a=target)
    assert not any(a["active"] for a in api.get(query)[0]["allocations"])
    room = next(a for a in first[0]["allocations"] if a["resource_type"] == "room")
    api.patch(f"/rooms/{room['resource_id']}", {"name": "Renamed room"})
    assert any(a["name"] == "Renamed room" for a in api.get(query)[0]["allocations"])
    api.post(f"/enrollments/{plan['id']}/cancel", expect=200)
    assert {row["status"] for row in api.get(query)} == {"cancelled"}


def test_a_kept_list_shows_a_rename_whatever_its_stamp(app, api, practice, patient, enroll):
    """Stamps are the application's and may commit out of order (or come from a machine whose
    clock is behind): a rename committed with an older ``updated_at`` than the newest one
    already seen must still show. The key holds the stored names, not their stamps."""
    enroll(patient["id"])
    query = f"/appointments?clinic_id={practice.clinic}&start=2027-01-01&end=2028-01-01" \
            "&page_size=500"
    first = api.get(query)
    room = next(a["resource_id"] for a in first[0]["allocations"] if a["resource_type"] == "room")
    staff = next(a["resource_id"] for a in first[0]["allocations"]
                 if a["resource_type"] == "staff")
    assert api.get(query) == first  # kept
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    with app.app_context(), db.engine.begin() as conn:  # another process, an old clock
        conn.execute(sa.text("UPDATE rooms SET name = 'Chair by the window', updated_at = :t "
                             "WHERE id = :r"), {"t": long_ago, "r": room})
    names = {a["name"] for a in api.get(query)[0]["allocations"]}
    assert "Chair by the window" in names
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE staff SET name = 'Nurse Renamed', updated_at = :t "
                             "WHERE id = :s"), {"t": long_ago, "s": staff})
        conn.execute(sa.text("UPDATE clinics SET timezone = 'America/Chicago', updated_at = :t "
                             "WHERE id = :c"), {"t": long_ago, "c": practice.clinic})
    again = api.get(query)
    assert "Nurse Renamed" in {a["name"] for a in again[0]["allocations"]}
    assert again[0]["start"].endswith("-06:00") and first[0]["start"].endswith("-05:00")


def test_a_deleted_clinics_list_is_refused_not_kept(app, api, practice, patient, enroll):
    plan = enroll(patient["id"])
    api.post(f"/enrollments/{plan['id']}/cancel", expect=200)  # nothing live: deletable
    query = f"/appointments?clinic_id={practice.clinic}&start=2027-01-01&end=2028-01-01"
    assert api.get(query)  # rendered and kept
    api.call("DELETE", f"/clinics/{practice.clinic}", expect=204)
    api.call("GET", query, expect=404)
