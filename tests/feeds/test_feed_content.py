"""What a feed says: valid for three parsers, stable UIDs, SEQUENCE, privacy, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from .conftest import (
    EMAIL,
    EXTERNAL_ID,
    NOW,
    NY,
    PATIENT_NAME,
    events_by_uid,
    parse_everywhere,
)

START = datetime(2026, 10, 20, 13, 0, tzinfo=UTC)  # 09:00 in New York


def test_calendar_headers(world, new_feed, fetch, appointment):
    appointment(world["a"], START)
    response = fetch(new_feed("room", world["a"].room))
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cal = parse_everywhere(response.data)
    text = response.data.decode()
    assert "PRODID:-//Regimen//Regimen iCal feeds 1//EN" in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
    assert "X-PUBLISHED-TTL:PT1H\r\n" in text
    assert "X-WR-TIMEZONE:America/New_York\r\n" in text
    assert str(cal["X-WR-CALNAME"]) == "Regimen: Infusion a (Clinic a)"
    assert str(cal["UID"]).startswith("feed-")


@pytest.mark.parametrize("scope", ["clinic", "room", "staff", "patient"])
@pytest.mark.parametrize("privacy", ["busy", "details"])
def test_every_scope_and_privacy_parses_and_shows_its_appointments(
        world, new_feed, fetch, appointment, scope, privacy):
    mine = appointment(world["a"], START)
    appointment(world["b"], START)  # another clinic's: never in a's feeds
    cal = parse_everywhere(fetch(new_feed(scope, getattr(world["a"], scope), privacy)).data)
    assert list(events_by_uid(cal)) == [f"appointment-{mine}@regimen"]


def test_empty_feed_is_still_a_valid_calendar(world, new_feed, fetch):
    cal = parse_everywhere(fetch(new_feed("room", world["a"].room)).data)
    assert cal.walk("VEVENT") == []
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/New_York"]


def test_uids_and_bytes_are_stable_across_fetches(world, new_feed, fetch, appointment, clock):
    for day in range(3):
        appointment(world["a"], START + timedelta(days=day))
    feed = new_feed("clinic", world["a"].clinic)
    first = fetch(feed)
    clock.shift(timedelta(hours=2))
    second = fetch(feed)
    assert list(events_by_uid(parse_everywhere(first.data))) == \
        list(events_by_uid(parse_everywhere(second.data)))
    assert first.data == second.data  # DTSTAMP is the row's, not the clock's
    cal = parse_everywhere(first.data)
    assert str(cal["UID"]) == f"feed-{feed['id']}@regimen"


def test_sequence_grows_when_an_appointment_changes(world, new_feed, fetch, appointment,
                                                    update_appointment, clock):
    appt = appointment(world["a"], START, sequence=1)
    feed = new_feed("room", world["a"].room)
    before = events_by_uid(parse_everywhere(fetch(feed).data))[f"appointment-{appt}@regimen"]
    clock.shift(timedelta(minutes=5))
    update_appointment(appt, starts_at=START + timedelta(hours=1),
                       ends_at=START + timedelta(hours=2, minutes=25))
    after = events_by_uid(parse_everywhere(fetch(feed).data))[f"appointment-{appt}@regimen"]
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after["LAST-MODIFIED"].dt > before["LAST-MODIFIED"].dt
    assert after["DTSTART"].dt == (START + timedelta(hours=1)).astimezone(NY)


def test_statuses_map_to_ical(world, new_feed, fetch, appointment):
    ids = {status: appointment(world["a"], START + timedelta(days=i), status=status)
           for i, status in enumerate(
               ("held", "booked", "checked_in", "completed", "cancelled", "no_show"))}
    events = events_by_uid(parse_everywhere(fetch(new_feed("clinic", world["a"].clinic)).data))
    got = {status: str(events[f"appointment-{i}@regimen"]["STATUS"]) for status, i in ids.items()}
    assert got == {"held": "TENTATIVE", "booked": "CONFIRMED", "checked_in": "CONFIRMED",
                   "completed": "CONFIRMED", "cancelled": "CANCELLED", "no_show": "CANCELLED"}


def test_cancelled_appointment_stays_a_while_then_drops_out(
        world, new_feed, fetch, appointment, update_appointment, clock):
    appt = appointment(world["a"], START + timedelta(days=30), sequence=1)
    uid = f"appointment-{appt}@regimen"
    feed = new_feed("room", world["a"].room)
    update_appointment(appt, status="cancelled")
    event = events_by_uid(parse_everywhere(fetch(feed).data))[uid]
    assert str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 2
    clock.shift(timedelta(days=13))
    assert uid in events_by_uid(parse_everywhere(fetch(feed).data))
    clock.shift(timedelta(days=2))
    assert uid not in events_by_uid(parse_everywhere(fetch(feed).data))


def test_room_feed_forgets_a_room_the_appointment_moved_away_from(app, world, new_feed, fetch,
                                                                  appointment, api):
    from scheduler.extensions import db
    from scheduler.models import Allocation

    other_room = api.post(f"/clinics/{world['a'].clinic}/rooms", {"name": "Infusion 2"})["id"]
    appt = appointment(world["a"], START)
    with app.app_context():  # moved: old allocation inactive, a new one in the other room
        old = db.session.query(Allocation).filter_by(appointment_id=appt,
                                                     resource_type="room").one()
        old.active = False
        db.session.add(Allocation(appointment_id=appt, resource_type="room",
                                  resource_id=other_room, starts_at=START,
                                  ends_at=START + timedelta(hours=1)))
        db.session.commit()
    assert events_by_uid(parse_everywhere(fetch(new_feed("room", world["a"].room)).data)) == {}
    assert len(events_by_uid(parse_everywhere(fetch(new_feed("room", other_room)).data))) == 1


def test_window_is_configurable(app, world, new_feed, fetch, appointment):
    inside = appointment(world["a"], NOW + timedelta(days=20))
    appointment(world["a"], NOW + timedelta(days=40))
    appointment(world["a"], NOW - timedelta(days=40))
    feed = new_feed("room", world["a"].room)
    assert len(events_by_uid(parse_everywhere(fetch(feed).data))) == 2
    app.config.update(FEED_PAST_DAYS=7, FEED_FUTURE_DAYS=30)
    try:
        cal = parse_everywhere(fetch(feed).data)
    finally:
        app.config.update(FEED_PAST_DAYS=30, FEED_FUTURE_DAYS=365)
    assert list(events_by_uid(cal)) == [f"appointment-{inside}@regimen"]


# ---------------------------------------------------------------- privacy

@pytest.mark.parametrize("scope", ["clinic", "room", "staff", "patient"])
def test_busy_feed_leaks_no_patient_data(world, new_feed, fetch, appointment, scope):
    appt = appointment(world["a"], START)
    feed = new_feed(scope, getattr(world["a"], scope), "busy")
    body = fetch(feed).data.decode()
    for secret in (PATIENT_NAME, "Lovelace", EXTERNAL_ID, EMAIL, "MRN", "ketamine",
                   "iv_infusion", f"patient-{world['a'].patient}"):
        assert secret.lower() not in body.lower(), secret
    event = events_by_uid(parse_everywhere(body.encode()))[f"appointment-{appt}@regimen"]
    assert str(event["SUMMARY"]) in ("Busy", "Room booked")
    assert "DESCRIPTION" not in event and "LOCATION" not in event


def test_details_feed_names_patient_and_session_kind(world, new_feed, fetch, appointment):
    appt = appointment(world["a"], START)
    cal = parse_everywhere(fetch(new_feed("patient", world["a"].patient, "details")).data)
    event = events_by_uid(cal)[f"appointment-{appt}@regimen"]
    assert str(event["SUMMARY"]) == f"{PATIENT_NAME} a: IV ketamine infusion"
    assert str(cal["X-WR-CALNAME"]) == f"Regimen: {PATIENT_NAME} a"
    body = fetch(new_feed("patient", world["a"].patient, "details")).data.decode()
    assert EXTERNAL_ID not in body and EMAIL not in body  # the name is enough to recognise


# ---------------------------------------------------------------- time zones

def test_dst_day_renders_in_local_time(world, new_feed, fetch, appointment):
    """2026-11-01: New York falls back at 02:00. 09:00 local is 14:00 UTC that day."""
    appt = appointment(world["a"], datetime(2026, 11, 1, 14, 0, tzinfo=UTC), minutes=60)
    before = appointment(world["a"], datetime(2026, 10, 31, 13, 0, tzinfo=UTC), minutes=60)
    body = fetch(new_feed("room", world["a"].room)).data.decode()
    assert "DTSTART;TZID=America/New_York:20261101T090000\r\n" in body
    assert "DTEND;TZID=America/New_York:20261101T100000\r\n" in body
    assert "DTSTART;TZID=America/New_York:20261031T090000\r\n" in body
    cal = parse_everywhere(body.encode())
    events = events_by_uid(cal)
    for uid in (appt, before):
        start = events[f"appointment-{uid}@regimen"]["DTSTART"].dt
        assert (start.hour, start.minute) == (9, 0)
    assert events[f"appointment-{appt}@regimen"]["DTSTART"].dt.utcoffset() == timedelta(hours=-5)
    assert events[f"appointment-{before}@regimen"]["DTSTART"].dt.utcoffset() == \
        timedelta(hours=-4)
    # vobject resolves the TZID through the feed's own VTIMEZONE, not the system database.
    import vobject

    parsed = vobject.readOne(body)
    starts = sorted(ev.dtstart.value.astimezone(UTC) for ev in parsed.vevent_list)
    assert starts == [datetime(2026, 10, 31, 13, tzinfo=UTC), datetime(2026, 11, 1, 14, tzinfo=UTC)]


def test_vtimezone_covers_only_the_feed_window(world, new_feed, fetch, appointment):
    appointment(world["a"], datetime(2026, 11, 1, 14, 0, tzinfo=UTC))
    cal = parse_everywhere(fetch(new_feed("room", world["a"].room)).data)
    [zone] = cal.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "America/New_York"
    starts = sorted(sub["DTSTART"].dt for sub in zone.subcomponents)
    # Window: 30 days back, 365 ahead of 2026-10-15, one day's margin each side.
    assert starts[0].date() >= date(2026, 9, 14)
    assert starts[-1].date() <= date(2027, 10, 16)
    transitions = {(s["DTSTART"].dt.date(), s.name) for s in zone.subcomponents}
    assert (date(2026, 11, 1), "STANDARD") in transitions
    assert (date(2027, 3, 14), "DAYLIGHT") in transitions
    assert not any(d.year < 2026 or d.year > 2027 for d, _ in transitions)


def test_unrestricted_staff_feed_uses_each_clinics_zone(api, world, new_feed, fetch,
                                                        appointment):
    """A nurse working in New York and Berlin: each event in its clinic's zone, two VTIMEZONEs."""
    nurse = api.get(f"/staff/{world['a'].staff}")
    shifts = [{k: s[k] for k in ("clinic_id", "weekday", "start", "end")} for s in nurse["shifts"]]
    shifts.append({"clinic_id": world["b"].clinic, "weekday": "sat", "start": "08:00",
                   "end": "12:00"})
    api.patch(f"/staff/{world['a'].staff}", {"shifts": shifts})
    appointment(world["a"], START)
    berlin = world["b"]
    berlin.staff = world["a"].staff
    appointment(berlin, datetime(2026, 10, 24, 7, 0, tzinfo=UTC))  # 09:00 in Berlin
    body = fetch(new_feed("staff", world["a"].staff)).data.decode()
    assert "DTSTART;TZID=America/New_York:20261020T090000" in body
    assert "DTSTART;TZID=Europe/Berlin:20261024T090000" in body
    cal = parse_everywhere(body.encode())
    assert sorted(str(z["TZID"]) for z in cal.walk("VTIMEZONE")) == [
        "America/New_York", "Europe/Berlin"]


# ---------------------------------------------------------------- with the booking service

def test_a_real_booked_plan_renders(client, admin, clock):
    """End to end: enroll and confirm through the API, subscribe, parse, cancel, see it."""
    from tests.support.factories import Api
    from tests.support.practice import build_practice

    api = Api(client, admin)
    practice = build_practice(api)
    patient = api.post("/patients", {"name": PATIENT_NAME, "clinic_id": practice.clinic,
                                     "external_id": EXTERNAL_ID})
    plan = api.post("/enrollments", {
        "patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": practice.clinic, "start_on": "2026-11-02",
        "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                         "earliest": "09:00", "latest": "17:00"}})
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    feed = api.post("/feeds", {"scope": "patient", "scope_id": patient["id"],
                               "privacy": "details"})
    path = "/" + feed["url"].split("/", 3)[3]
    events = events_by_uid(parse_everywhere(client.get(path).data))
    placed = [a for a in plan["appointments"]
              if datetime.fromisoformat(a["start"]) < NOW + timedelta(days=366)]
    assert set(events) == {f"appointment-{a['id']}@regimen" for a in placed}
    first = placed[1]
    uid = f"appointment-{first['id']}@regimen"
    assert str(events[uid]["STATUS"]) == "CONFIRMED"
    cancelled = api.post(f"/appointments/{first['id']}/cancel", expect=200)
    event = events_by_uid(parse_everywhere(client.get(path).data))[uid]
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == cancelled["sequence"] > events[uid]["SEQUENCE"]
    local = datetime.fromisoformat(first["start"]).astimezone(NY)
    assert event["DTSTART"].dt == local and event["DTSTART"].params["TZID"] == "America/New_York"
