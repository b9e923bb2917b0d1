"""A full clinic for waitlist tests: one infusion chair, one infusion a day (09:00-11:00)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.factories import Api
from tests.support.practice import build_practice

TWO_INFUSIONS = {
    "code": "two-infusions", "name": "Two IV infusions", "min_hours_between_doses": 24,
    "phases": [{"name": "series", "session_kind": "iv_infusion", "count": 2,
                "gap_days": {"min": 1, "target": 2, "max": 3}}]}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


@dataclass
class Clinic:
    api: Api
    practice: object
    protocol: int

    @property
    def id(self) -> int:
        return self.practice.clinic

    def patient(self, name: str) -> int:
        return self.api.post("/patients", {"name": name, "clinic_id": self.id})["id"]

    def booked(self, name: str, start_on: str = "2027-02-01", weekdays=WEEKDAYS,
               latest: str = "11:00") -> dict:
        """A patient with a confirmed two-infusion plan (from the earliest date the 409
        names, when the clinic is too full from ``start_on``)."""
        patient = self.patient(name)
        for _attempt in range(3):
            response = self.api.call("POST", "/enrollments", {
                "patient_id": patient, "protocol_id": self.protocol,
                "clinic_id": self.id, "start_on": start_on,
                "availability": {"weekdays": list(weekdays), "earliest": "09:00",
                                 "latest": latest}})
            body = response.get_json()
            if response.status_code == 201:
                return self.api.post(f"/enrollments/{body['id']}/confirm", expect=200)
            assert response.status_code == 409, body
            start_on = body["error"]["details"]["earliest_start_on"]
        raise AssertionError(f"no plan for {name}: {body}")

    def wait(self, enrollment: dict, expect: int = 201, **body) -> dict:
        return self.api.post(f"/enrollments/{enrollment['id']}/waitlist", body or None,
                             expect=expect)

    def offers(self, status: str = "open") -> list[dict]:
        return self.api.get(f"/offers?clinic_id={self.id}&status={status}")


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def full_clinic(api):
    practice = build_practice(api, infusion_rooms=1, nurses=1, hours=("09:00", "11:00"))
    protocol = api.post("/protocols", TWO_INFUSIONS)["id"]
    return Clinic(api, practice, protocol)


@pytest.fixture
def match(app):
    """Run one matching pass over every released clinic, as the job does."""
    from scheduler.services import matching

    def run(now=None) -> int:
        with app.app_context():
            return matching.match_pending(now)
    return run


@pytest.fixture
def db_problems(app):
    from scheduler.extensions import db
    from tests.support.checker import calendar_problems

    def check():
        with app.app_context(), db.engine.connect() as conn:
            return calendar_problems(conn)
    return check


def days(enrollment_or_offer: dict) -> list[str]:
    return sorted(a["start"][:10] for a in enrollment_or_offer["appointments"]
                  if a["status"] in ("held", "booked"))
