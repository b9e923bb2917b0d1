"""An esketamine practice built through the API, and a clock the tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.support.factories import Api
from tests.support.practice import build_practice

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
START_ON = "2027-02-01"
DOSE_OFFSET = timedelta(minutes=15)  # esketamine_dose: 15 min pre-dose, then the dose


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def practice(api, clock):
    return build_practice(api, templates=("esketamine-label", "iv-depression"))


@pytest.fixture
def enroll(api, practice):
    """A booked esketamine plan for a new patient: (enrollment answer, first dose appt)."""
    def make(rems_enrolled_on=None, clinic=None, protocol=None, session_api=None):
        desk = session_api or api
        clinic = clinic or practice.clinic
        patient = desk.post("/patients", {"name": "Ada L.", "clinic_id": clinic,
                                          "rems_enrolled_on": rems_enrolled_on})
        held = desk.post("/enrollments", {
            "patient_id": patient["id"],
            "protocol_id": protocol or practice.protocols["esketamine-label"],
            "clinic_id": clinic, "start_on": START_ON,
            "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                             "earliest": "09:00", "latest": "17:00"}})
        booked = desk.post(f"/enrollments/{held['id']}/confirm", expect=200)
        doses = [a for a in booked["appointments"] if a["session_kind"] == "esketamine_dose"]
        return held, booked, doses[0] if doses else None
    return make


def start_of(appt) -> datetime:
    return datetime.fromisoformat(appt["start"])


def local_date(appt):
    return start_of(appt).date()  # times carry the clinic's offset: the local date


def planned_dose(appt) -> datetime:
    return start_of(appt) + DOSE_OFFSET
