"""Every placing path through the one pipeline: nothing before the request's moment, first
answers replayed, an engine/evaluator disagreement is a 500, stored rules are not re-judged."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.support.practice import build_practice

NOW = datetime(2027, 2, 3, 18, 53, tzinfo=UTC)  # a Wednesday evening


@pytest.fixture
def open_all_day(api):
    return build_practice(api, timezone="UTC", hours=("00:00", "23:59"))


def test_nothing_is_placed_offered_or_moved_before_the_request(api, open_all_day):
    practice = open_all_day
    patient = api.post("/patients", {"name": "Walk-in", "clinic_id": practice.clinic})
    with time_machine.travel(NOW, tick=False):
        plan = api.post("/enrollments", {
            "patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
            "clinic_id": practice.clinic, "start_on": NOW.date().isoformat()})
        starts = [datetime.fromisoformat(a["start"]) for a in plan["appointments"]]
        assert min(starts) >= NOW
        assert min(starts).date() == NOW.date()  # today still counts: this evening
        slots = api.get(f"/availability?clinic_id={practice.clinic}&session_kind=consult"
                        f"&start={NOW.date().isoformat()}&end="
                        f"{(NOW + timedelta(days=1)).date().isoformat()}")["slots"]
        assert slots and all(datetime.fromisoformat(s["start"]) >= NOW for s in slots)
        api.post(f"/enrollments/{plan['id']}/confirm", expect=200)
    # later the same evening, moving the consult "as early as possible" stays after now
    later = NOW + timedelta(hours=2)
    consult = plan["appointments"][0]
    with time_machine.travel(later, tick=False):
        moved = api.post(f"/appointments/{consult['id']}/reschedule",
                         {"not_before": NOW.isoformat()}, expect=200)["moved"]
    assert all(datetime.fromisoformat(a["start"]) >= later for a in moved)


def test_an_idempotent_replay_answers_the_first_answer(client, admin, api, practice, patient):
    body = {"patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
            "clinic_id": practice.clinic, "start_on": "2027-02-01"}
    headers = {**admin, "Idempotency-Key": "first-answer"}
    first = client.post("/api/v1/enrollments", json=body, headers=headers)
    assert first.status_code == 201
    api.post(f"/enrollments/{first.get_json()['id']}/confirm", expect=200)
    again = client.post("/api/v1/enrollments", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.get_json()["status"] == "held"
    assert api.get(f"/enrollments/{first.get_json()['id']}")["status"] == "booked"


def test_a_plan_the_evaluator_rejects_is_an_internal_fault(api, practice, patient, enroll,
                                                         monkeypatch, caplog):
    from scheduler.rules.evaluator import Violation
    from scheduler.services import proof

    def rejects(*args, **kwargs):
        return [Violation("gap_days.min", "too close", ("induction#2",))]

    monkeypatch.setattr(proof, "evaluate", rejects)
    with caplog.at_level(logging.ERROR):
        response = enroll(patient["id"], expect=500)
    assert response["error"]["code"] == "internal_error"
    assert "breaks its rules" in caplog.text
    assert api.get(f"/appointments?patient_id={patient['id']}") == []


def test_a_stored_version_is_not_judged_by_todays_validation(api, practice, patient, enroll,
                                                             monkeypatch):
    plan = enroll(patient["id"])
    from scheduler.rules import validation

    def stricter(*args, **kwargs):
        raise AssertionError("a stored version was validated again")

    monkeypatch.setattr(validation, "parse_protocol", stricter)
    monkeypatch.setattr(validation, "parse_session_kind", stricter)
    from scheduler.services import rule_store

    monkeypatch.setattr(rule_store, "parse_protocol", stricter)
    monkeypatch.setattr(rule_store, "parse_session_kind", stricter)
    last = plan["appointments"][-1]
    api.post(f"/appointments/{last['id']}/reschedule",
             {"not_before": (datetime.fromisoformat(last["start"])
                             + timedelta(hours=1)).isoformat()}, expect=200)
    api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


def test_an_expired_hold_at_another_clinic_does_not_block_the_patient(app, api, practice,
                                                                       enroll):
    """A placement frees every expired hold first, wherever it is: the patient's own expired
    hold elsewhere does not count as a second dose plan."""
    from scheduler.extensions import db
    from scheduler.models import Enrollment

    other = build_practice(api, templates=())
    patient = api.post("/patients", {"name": "Moving", "clinic_id": practice.clinic})
    elsewhere = api.post("/enrollments", {
        "patient_id": patient["id"], "protocol_id": practice.protocols["iv-depression"],
        "clinic_id": other.clinic, "start_on": "2027-02-01"})
    with app.app_context():
        db.session.execute(db.update(Enrollment).where(Enrollment.id == elsewhere["id"])
                           .values(hold_expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        db.session.commit()
    here = enroll(patient["id"])
    assert here["status"] == "held"
    assert api.get(f"/enrollments/{elsewhere['id']}")["status"] == "expired"
