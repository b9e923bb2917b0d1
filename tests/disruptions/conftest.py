from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.factories import Api
from tests.support.practice import build_practice


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def practice(api):
    return build_practice(api, nurses=2)


@pytest.fixture
def booked(api, practice):
    """Booked plans for a few patients: {enrollment id: enrollment as the API shows it}."""
    def make(count=3, start_on="2027-02-01", protocol="iv-depression"):
        plans = {}
        for i in range(count):
            patient = api.post("/patients", {"name": f"P{i}", "clinic_id": practice.clinic})
            plan = api.post("/enrollments", {
                "patient_id": patient["id"], "protocol_id": practice.protocols[protocol],
                "clinic_id": practice.clinic, "start_on": start_on,
                "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                                 "earliest": "08:00", "latest": "18:00"}})
            plans[plan["id"]] = api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
        return plans
    return make


@pytest.fixture
def calendar_ok(app):
    """The independent capacity checker and every plan's own rules, on the stored calendar."""
    from scheduler.extensions import db
    from scheduler.models import Enrollment
    from scheduler.services import proof
    from tests.support.checker import calendar_problems

    def check():
        with app.app_context():
            with db.engine.connect() as conn:
                problems = calendar_problems(conn)
            for enrollment in db.session.scalars(db.select(Enrollment)):
                if enrollment.status != "booked":
                    continue
                violations, _ = proof.plan_violations(enrollment, complete=False)
                problems += [f"enrollment {enrollment.id}: {v.message}" for v in violations]
            return problems
    return check


def day_of(appointment: dict, tz: str = "America/New_York") -> tuple[str, str]:
    """The clinic's local midnight to midnight of the appointment's day, as ISO instants."""
    day = datetime.fromisoformat(appointment["start"]).astimezone(ZoneInfo(tz)).date()
    midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))
    following = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))
    return midnight.isoformat(), following.isoformat()
