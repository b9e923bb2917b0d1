"""Jobs under a controlled clock, on a small real practice built through the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import time_machine

from tests.support.factories import Api
from tests.support.practice import build_practice

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def practice(api, clock):
    return build_practice(api)


@pytest.fixture
def enroll(api, practice):
    def make(start_on="2027-01-04", name="Ada L."):
        patient = api.post("/patients", {"name": name, "clinic_id": practice.clinic})
        return api.post("/enrollments", {
            "patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
            "clinic_id": practice.clinic, "start_on": start_on,
            "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                             "earliest": "09:00", "latest": "17:00"}})
    return make


@pytest.fixture
def run(app):
    from scheduler.jobs.runner import run_job

    def go(name: str):
        return run_job(app, name, runner="test")
    return go


@pytest.fixture
def fake_jobs(monkeypatch):
    """Swap job bodies for counters (or anything else): ``calls = fake_jobs(body)``."""
    from scheduler.jobs import registry

    def install(body=None):
        calls: dict[str, int] = {name: 0 for name in registry.JOBS}

        def counting(name):
            def job(app, now):
                calls[name] += 1
                return body(app, now) if body else 0
            return job

        for name, spec in list(registry.JOBS.items()):
            monkeypatch.setitem(registry.JOBS, name, replace(spec, body=counting(name)))
        return calls

    return install
