"""The per-clinic calendar version (migration 0010) and the per-worker copies built on it.

The database moves the version in the transaction of every allocation change, whoever makes
it (the services, or raw SQL on another connection); a worker's copy of a clinic's bookings
follows every such change and hands the engine exactly what reading the window would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from scheduler import engine
from scheduler.extensions import db
from scheduler.models import Allocation, Clinic
from scheduler.services import calendar_cache, snapshot

START = "2027-02-01"


def version(app, clinic_id) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT calendar_version FROM clinics WHERE id = :c"),
                            {"c": clinic_id}).scalar_one()


def raw(app, sql, **params):
    """SQL on a connection of its own, committed: another process as far as a worker knows."""
    with app.app_context(), db.engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


WINDOW = (datetime(2027, 1, 28, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC))


def seen_bookings(app, clinic_id, window=WINDOW, indexed=False):
    """What a placement in the clinic would be given now (through this worker's copy)."""
    with app.app_context():
        clinic = db.session.get(Clinic, clinic_id)
        seen = snapshot.practice_for(clinic, {}, patient_id=None, window_start=window[0],
                                     window_end=window[1], indexed=indexed)
        db.session.rollback()
        return seen.bookings


def direct(clinic, kinds, window_start, window_end, patient_id=None, ignore=()):
    """The window's bookings read straight from the database (no copy), but those of the
    ``ignore`` appointments."""
    rooms = tuple(r.id for r in db.session.scalars(
        sa.select(snapshot.Room).where(snapshot.Room.clinic_id == clinic.id,
                                       snapshot.Room.deleted_at.is_(None))))
    staff = tuple(sorted(db.session.scalars(
        sa.select(snapshot.Shift.staff_id).where(snapshot.Shift.clinic_id == clinic.id)
        .distinct())))
    return snapshot._read_bookings(
        rooms, staff, [patient_id] if patient_id else [],
        (Allocation.active.is_(True), Allocation.starts_at < window_end,
         Allocation.ends_at > window_start),
        (sa.or_(Allocation.appointment_id.is_(None),
                Allocation.appointment_id.not_in(ignore)),) if ignore else ())


def test_every_kind_of_allocation_change_moves_the_version(app, api, practice, patient,
                                                            enroll):
    v0 = version(app, practice.clinic)
    plan = enroll(patient["id"])  # ORM inserts
    v1 = version(app, practice.clinic)
    sessions = len(plan["appointments"])
    assert v1 > v0 and sessions > 0
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    appt = plan["appointments"][0]
    moved = api.post(f"/appointments/{appt['id']}/reschedule",
                     {"not_before": (datetime.fromisoformat(appt["start"])
                                     + timedelta(days=1)).isoformat()}, expect=200)
    assert moved["moved"]
    v2 = version(app, practice.clinic)  # the old rows deleted, new ones inserted
    assert v2 > v1
    api.post(f"/appointments/{plan['appointments'][-1]['id']}/cancel", expect=200)
    v3 = version(app, practice.clinic)  # active turned false: updates
    assert v3 > v2
    with app.app_context():
        changes = db.session.execute(sa.text(
            "SELECT version, allocation_id FROM calendar_changes WHERE clinic_id = :c "
            "ORDER BY version"), {"c": practice.clinic}).all()
    # every version logged (PostgreSQL: one version per clinic and transaction, all the
    # transaction's changes logged with it; SQLite: one per change)
    assert sorted({v for v, _ in changes}) == list(range(v0 + 1, v3 + 1))
    assert len(changes) >= v3 - v0

    # Raw SQL on another connection: insert, update, delete each move it too.
    start = datetime(2027, 6, 7, 15, tzinfo=UTC)
    raw(app, "INSERT INTO allocations (appointment_id, resource_type, resource_id, unit, "
             "starts_at, ends_at, active) VALUES (:a, 'room', :r, 0, :s, :e, :t)",
        a=appt["id"], r=practice.rooms[0], s=start, e=start + timedelta(hours=1), t=True)
    v4 = version(app, practice.clinic)
    assert v4 == v3 + 1
    raw(app, "UPDATE allocations SET active = :f WHERE starts_at = :s", f=False, s=start)
    assert version(app, practice.clinic) == v4 + 1
    raw(app, "DELETE FROM allocations WHERE starts_at = :s", s=start)
    assert version(app, practice.clinic) == v4 + 2


def test_the_copy_gives_the_engine_what_a_direct_read_gives(app, api, practice, enroll):
    plans = []
    for i in range(4):
        person = api.post("/patients", {"name": f"P{i}", "clinic_id": practice.clinic})
        plan = enroll(person["id"], start_on=f"2027-02-0{1 + i}")
        api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
        plans.append(plan)
    calendar_cache.clear()
    with app.app_context():
        clinic = db.session.get(Clinic, practice.clinic)
        start = datetime(2027, 1, 28, 5, tzinfo=UTC)
        for end in (start + timedelta(days=20), start + timedelta(days=400)):
            expected = direct(clinic, {}, start, end, person["id"])
            assert len(expected) > 20
            plain = snapshot.practice_for(clinic, {}, patient_id=person["id"],
                                          window_start=start, window_end=end)
            indexed = snapshot.practice_for(clinic, {}, patient_id=person["id"],
                                            window_start=start, window_end=end, indexed=True)
            assert sorted(map(repr, plain.bookings)) == sorted(map(repr, expected))
            assert sorted(map(repr, indexed.bookings)) == sorted(map(repr, expected))
            assert isinstance(indexed.bookings, engine.BookingIndex)
            built = engine.BookingIndex.from_allocations(expected)
            assert {k: v for k, v in indexed.bookings._units.items() if v[0]} == \
                {k: v for k, v in built._units.items() if v[0]}
            assert snapshot.patient_busy(indexed.bookings, person["id"]) == \
                snapshot.patient_busy(tuple(expected), person["id"])
            # A re-plan (disruptions) leaves the plans' own bookings out: the copy does too.
            ignore = frozenset(a["id"] for p in plans[1:3] for a in p["appointments"])
            left = direct(clinic, {}, start, end, person["id"], ignore)
            assert 0 < len(left) < len(expected)
            replan = snapshot.practice_for(clinic, {}, patient_id=person["id"],
                                           window_start=start, window_end=end,
                                           ignore_appointment_ids=ignore)
            assert sorted(map(repr, replan.bookings)) == sorted(map(repr, left))
        db.session.rollback()


def test_a_change_by_another_connection_is_seen_at_once(app, api, practice, patient, enroll):
    plan = enroll(patient["id"])
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    start = datetime(2027, 3, 3, 15, tzinfo=UTC)  # a Wednesday, 10:00 in New York
    window = WINDOW

    def room_bookings():
        bookings = seen_bookings(app, practice.clinic, window, indexed=True)
        return {(a.resource_id, a.start) for a in bookings if a.resource_type == "room"}, \
            bookings

    before, _ = room_bookings()
    handed_out = calendar_cache.copy_for(practice.clinic)
    reads, held = handed_out.reads, dict(handed_out.allocations)
    raw(app, "INSERT INTO allocations (appointment_id, resource_type, resource_id, unit, "
             "starts_at, ends_at, active) VALUES (:a, 'room', :r, 0, :s, :e, :t)",
        a=plan["appointments"][0]["id"], r=practice.rooms[1], s=start,
        e=start + timedelta(hours=2), t=True)
    after, index = room_bookings()
    assert after == before | {(practice.rooms[1], start)}
    key = ("room", practice.rooms[1], 0)
    assert int(start.timestamp()) in index._units[key][0]
    copy = calendar_cache.copy_for(practice.clinic)
    assert copy.reads == reads + 1  # brought up to date, not read again in full
    assert copy is not handed_out and handed_out.allocations == held  # never changed in place
    raw(app, "UPDATE allocations SET active = :f WHERE starts_at = :s", f=False, s=start)
    assert room_bookings()[0] == before
    raw(app, "UPDATE allocations SET active = :t WHERE starts_at = :s", t=True, s=start)
    assert room_bookings()[0] == after
    raw(app, "DELETE FROM allocations WHERE starts_at = :s", s=start)
    gone, index = room_bookings()
    assert gone == before
    assert int(start.timestamp()) not in index._units.get(key, ([], []))[0]


def test_a_copy_older_than_the_pruned_log_is_read_again(app, api, practice, patient, enroll):
    plan = enroll(patient["id"])
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)

    def room_starts():
        return {a.start for a in seen_bookings(app, practice.clinic)
                if a.resource_type == "room"}

    before = room_starts()  # the copy now holds the current version
    first, second = (datetime(2027, 3, 3, 15, tzinfo=UTC), datetime(2027, 3, 4, 15, tzinfo=UTC))
    for start in (first, second):  # two changes from another process
        raw(app, "INSERT INTO allocations (appointment_id, resource_type, resource_id, unit, "
                 "starts_at, ends_at, active) VALUES (:a, 'room', :r, 0, :s, :e, :t)",
            a=plan["appointments"][0]["id"], r=practice.rooms[1], s=start,
            e=start + timedelta(hours=1), t=True)
    with app.app_context():
        assert calendar_cache.prune_changes(keep_versions=1) >= 1  # the first change's row
        left = db.session.execute(sa.text(
            "SELECT count(*) FROM calendar_changes WHERE clinic_id = :c"),
            {"c": practice.clinic}).scalar_one()
        assert left >= 1
    # Catching up from the log alone would miss the first insert: the gap is noticed.
    assert room_starts() == before | {first, second}
    with app.app_context():  # nothing more to prune for a clinic that did not change
        assert calendar_cache.prune_changes(keep_versions=1) == 0


def test_wiping_the_tables_moves_the_versions_and_the_copy_reads_again(app, api, practice,
                                                                        patient, enroll):
    """PostgreSQL's TRUNCATE fires no row trigger (migration 0011 adds a statement trigger);
    SQLite's DELETE without WHERE skips its truncate shortcut when triggers exist."""
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    plan = enroll(patient["id"])
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    assert list(seen_bookings(app, practice.clinic))  # the copy holds the plan
    before = version(app, practice.clinic)
    if postgresql:
        raw(app, "TRUNCATE allocations, appointments CASCADE")
    else:
        for table in ("offer_appointments", "allocations", "appointments"):
            raw(app, f"DELETE FROM {table}")
    assert version(app, practice.clinic) > before
    assert list(seen_bookings(app, practice.clinic)) == []


def test_a_transaction_that_wrote_neither_uses_nor_feeds_the_copy(app, api, practice, patient,
                                                                  enroll):
    plan = enroll(patient["id"])
    window = WINDOW
    start = datetime(2027, 3, 3, 15, tzinfo=UTC)
    with app.app_context():
        clinic = db.session.get(Clinic, practice.clinic)
        snapshot.practice_for(clinic, {}, patient_id=None, window_start=window[0],
                              window_end=window[1])
        held = calendar_cache.copy_for(practice.clinic).versions[practice.clinic]
        db.session.add(Allocation(appointment_id=plan["appointments"][0]["id"],
                                  resource_type="room", resource_id=practice.rooms[1], unit=0,
                                  starts_at=start, ends_at=start + timedelta(hours=2)))
        db.session.flush()
        assert calendar_cache.transaction_wrote_calendar()
        seen = snapshot.practice_for(clinic, {}, patient_id=None, window_start=window[0],
                                     window_end=window[1], indexed=True)
        assert any(a.start == start for a in seen.bookings)  # its own write, read directly
        assert calendar_cache.copy_for(practice.clinic).versions[practice.clinic] == held
        db.session.rollback()
        assert not calendar_cache.transaction_wrote_calendar()
        clinic = db.session.get(Clinic, practice.clinic)
        again = snapshot.practice_for(clinic, {}, patient_id=None, window_start=window[0],
                                      window_end=window[1])
        assert not any(a.start == start for a in again.bookings)
        db.session.rollback()


@pytest.mark.parametrize("clinic_recreated", [True])
def test_a_clinic_recreated_under_the_same_id_is_read_again(app, api, practice, clinic_recreated):
    with app.app_context():
        created = db.session.execute(sa.text("SELECT created_at FROM clinics WHERE id = :c"),
                                     {"c": practice.clinic}).scalar_one()
        clinic = db.session.get(Clinic, practice.clinic)
        window = WINDOW
        snapshot.practice_for(clinic, {}, patient_id=None, window_start=window[0],
                              window_end=window[1])
        reads = calendar_cache.copy_for(practice.clinic).reads
        db.session.rollback()
    raw(app, "UPDATE clinics SET created_at = :t WHERE id = :c",
        t=datetime(2020, 1, 1, tzinfo=UTC) if not isinstance(created, str)
        else "2020-01-01 00:00:00.000000", c=practice.clinic)
    with app.app_context():
        clinic = db.session.get(Clinic, practice.clinic)
        snapshot.practice_for(clinic, {}, patient_id=None, window_start=window[0],
                              window_end=window[1])
        copy = calendar_cache.copy_for(practice.clinic)
        assert copy.reads == reads + 1 and copy.versions[practice.clinic][0] != created
        db.session.rollback()
