"""Two walled clinics with rooms, staff and patients; appointments written straight to the
database (as the booking service would store them) so each test controls times and statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import time_machine
import vobject

from tests.support.factories import Api, clinic_body, room_body, staff_body

NY = ZoneInfo("America/New_York")
# Every feed test runs at this instant unless it travels itself.
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
PATIENT_NAME = "Ada Lovelace-Byron"
EXTERNAL_ID = "MRN-773109"
EMAIL = "ada.lovelace@example.org"

IV_INFUSION = {
    "code": "iv_infusion", "name": "IV ketamine infusion", "route": "iv",
    "segments": [{"name": "setup", "minutes": 15}, {"name": "dosing", "minutes": 40, "dose": True},
                 {"name": "recovery", "minutes": 30}],
    "room_features": ["iv_pump"],
    "staff": [{"role": "nurse", "load": {"setup": "exclusive", "dosing": "shared",
                                         "recovery": "shared"}}],
}


@dataclass
class Site:
    clinic: int
    room: int
    staff: int
    patient: int


@pytest.fixture(autouse=True)
def _empty_feed_cache(app):
    """Ids and frozen clocks repeat across tests; rendered bodies must not."""
    from scheduler.services.feed_cache import clear_all

    clear_all(app)
    yield
    clear_all(app)


@pytest.fixture(autouse=True)
def _fresh_vobject_zones():
    """vobject keeps the first VTIMEZONE it read per TZID for the process: each test's feeds
    are read with their own."""
    from tests.feeds.readers import forget_vobject_zones

    forget_vobject_zones()


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def world(api, clock) -> dict[str, Site]:
    api.post("/session-kinds", IV_INFUSION)
    out = {}
    for tag, zone in (("a", "America/New_York"), ("b", "Europe/Berlin")):
        clinic = api.post("/clinics", clinic_body(name=f"Clinic {tag}", timezone=zone))["id"]
        out[tag] = Site(
            clinic=clinic,
            room=api.post(f"/clinics/{clinic}/rooms", room_body(name=f"Infusion {tag}"))["id"],
            staff=api.post("/staff", staff_body(clinic, name=f"Nurse {tag}"))["id"],
            patient=api.post("/patients", {
                "name": f"{PATIENT_NAME} {tag}", "clinic_id": clinic,
                "external_id": f"{EXTERNAL_ID}{tag}", "email": EMAIL})["id"],
        )
    return out


@pytest.fixture
def appointment(app):
    """``appointment(site, start, ...)`` stores one appointment with room, staff and patient."""
    from scheduler.extensions import db
    from scheduler.models import Allocation, Appointment

    def make(site: Site, start: datetime, minutes: int = 85, status: str = "booked",
             sequence: int = 1, room: int | None = None) -> int:
        end = start + timedelta(minutes=minutes)
        with app.app_context():
            appt = Appointment(patient_id=site.patient, clinic_id=site.clinic,
                               session_kind="iv_infusion", starts_at=start, ends_at=end,
                               status=status, sequence=sequence)
            active = status not in ("cancelled", "no_show")
            appt.allocations = [
                Allocation(resource_type=kind, resource_id=rid, starts_at=start, ends_at=end,
                           active=active)
                for kind, rid in (("room", room or site.room), ("staff", site.staff),
                                  ("patient", site.patient))]
            db.session.add(appt)
            db.session.commit()
            return appt.id

    return make


@pytest.fixture
def update_appointment(app):
    """Change stored appointments the way the booking service does (sequence bumped)."""
    from scheduler.extensions import db
    from scheduler.models import Appointment
    from scheduler.models.types import utcnow

    def change(appointment_id: int, **values):
        with app.app_context():
            appt = db.session.get(Appointment, appointment_id)
            for key, value in values.items():
                setattr(appt, key, value)
            appt.sequence += 1
            appt.updated_at = utcnow()
            db.session.commit()

    return change


@pytest.fixture
def new_feed(api):
    def make(scope: str, scope_id: int, privacy: str = "busy", headers=None, **extra) -> dict:
        body = {"scope": scope, "scope_id": scope_id, "privacy": privacy, **extra}
        target = Api(api.client, headers) if headers else api
        return target.post("/feeds", body)

    return make


def path_of(feed: dict) -> str:
    return "/" + feed["url"].split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def fetch(client):
    def get(feed: dict, expect: int = 200, **headers):
        response = client.get(path_of(feed), headers=headers)
        assert response.status_code == expect, (response.status_code, response.data[:300])
        return response

    return get


def parse_everywhere(body: bytes) -> icalendar.Calendar:
    """Parse like three different clients would; fail on anything one of them rejects."""
    text = body.decode("utf-8")
    lines = text.split("\r\n")
    assert lines[-1] == "" and "\n" not in text.replace("\r\n", ""), "CRLF line endings"
    assert all(len(line.encode()) <= 75 for line in lines), "lines folded at 75 octets"
    calendar = icalendar.Calendar.from_ical(body)
    calendar.validate()
    for event in calendar.walk("VEVENT"):
        for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "STATUS", "SUMMARY"):
            assert prop in event, prop
    parsed = vobject.readOne(text)
    assert len(getattr(parsed, "vevent_list", [])) == len(calendar.walk("VEVENT"))
    expanded = recurring_ical_events.of(calendar).between(
        datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert len(expanded) == len(calendar.walk("VEVENT"))
    return calendar


def events_by_uid(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}
