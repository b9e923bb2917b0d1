from __future__ import annotations

import pytest

from tests.support.factories import Api
from tests.support.practice import build_practice


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def practice(api):
    return build_practice(api, templates=("iv-depression", "esketamine-label"))


@pytest.fixture
def patient(api, practice):
    return api.post("/patients", {"name": "Ada Lovelace", "clinic_id": practice.clinic,
                                  "external_id": "MRN-1"})


@pytest.fixture
def enroll(api, practice):
    def make(patient_id, protocol="iv-depression", expect=201, start_on="2027-02-01", **extra):
        body = {"patient_id": patient_id, "protocol_id": practice.protocols[protocol],
                "clinic_id": practice.clinic, "start_on": start_on,
                "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                                 "earliest": "09:00", "latest": "17:00"}}
        body.update(extra)
        return api.post("/enrollments", body, expect=expect)
    return make


@pytest.fixture
def db_problems(app):
    """The independent checker run against the database as it stands."""
    from scheduler.extensions import db
    from tests.support.checker import calendar_problems

    def check():
        with app.app_context(), db.engine.connect() as conn:
            return calendar_problems(conn)
    return check
