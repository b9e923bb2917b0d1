"""Delivery to a real receiver: signed, complete, private where asked, in order, retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError


def _booked(api, patient, enroll):
    plan = enroll(patient["id"])
    return api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


def test_a_confirm_arrives_signed_and_verifies(api, patient, enroll, subscribe, receiver,
                                               deliver):
    hook = subscribe()
    booked = _booked(api, patient, enroll)
    assert deliver() > 0
    verifier = Verifier(hook["secret"])
    for request in receiver.requests:
        body = verifier.verify(request.body, request.headers)
        assert body["type"] == request.json["type"]
        assert request.headers["webhook-id"].startswith("evt_")
        assert request.headers["webhook-signature"].startswith("v1,")
    types = receiver.types()
    assert types.count("appointment.created") == len(booked["appointments"])
    assert types.count("enrollment.confirmed") == 1
    # The held enrollment (POST /enrollments) was not reported: holds are silent.
    assert len(receiver.requests) == len(booked["appointments"]) + 1


def test_a_wrong_secret_does_not_verify(api, patient, enroll, subscribe, receiver, deliver):
    subscribe()
    _booked(api, patient, enroll)
    deliver()
    other = Verifier("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
    with pytest.raises(WebhookVerificationError):
        other.verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_an_appointment_payload_is_the_appointment_as_the_api_shows_it(
        api, patient, enroll, subscribe, receiver, deliver):
    subscribe(privacy="details")
    booked = _booked(api, patient, enroll)
    deliver()
    created = {r.json["data"]["id"]: r.json for r in receiver.ok()
               if r.json["type"] == "appointment.created"}
    for appt in booked["appointments"]:
        shown = api.get(f"/appointments/{appt['id']}")
        data = dict(created[appt["id"]]["data"])
        assert data.pop("patient")["name"] == "Ada Lovelace"
        assert data == shown
        assert data["session_kind"] and data["clinic_id"] == shown["clinic_id"]
    confirmed = next(r.json for r in receiver.ok() if r.json["type"] == "enrollment.confirmed")
    data = dict(confirmed["data"])
    assert data.pop("patient")["external_id"] == "MRN-4471"
    assert data == api.get(f"/enrollments/{booked['id']}") == booked


def test_busy_payloads_carry_no_patient_name_identifier_or_contact(
        api, patient, enroll, subscribe, receiver, deliver):
    subscribe(privacy="busy")
    booked = _booked(api, patient, enroll)
    api.post(f"/appointments/{booked['appointments'][1]['id']}/cancel", expect=200)
    api.post(f"/enrollments/{booked['id']}/cancel", expect=200)
    deliver()
    assert {"appointment.created", "appointment.cancelled", "enrollment.confirmed",
            "enrollment.cancelled"} <= set(receiver.types())
    for request in receiver.requests:
        for secret in ("Ada", "Lovelace", "MRN-4471", "ada@example.org", "555 0199"):
            assert secret not in request.body
        data = request.json["data"]
        assert data["patient_id"] == patient["id"]
        assert "patient" not in data


def test_details_payloads_carry_the_patient(api, patient, enroll, subscribe, receiver,
                                            deliver):
    subscribe(privacy="details")
    _booked(api, patient, enroll)
    deliver()
    for request in receiver.ok():
        assert request.json["data"]["patient"] == {
            "id": patient["id"], "name": "Ada Lovelace", "external_id": "MRN-4471",
            "email": "ada@example.org", "phone": "+1 617 555 0199",
            "clinic_id": patient["clinic_id"]}


def test_changes_are_reported(api, patient, enroll, subscribe, receiver, deliver):
    subscribe()
    booked = _booked(api, patient, enroll)
    first, second = booked["appointments"][0], booked["appointments"][1]
    moved = api.post(f"/appointments/{second['id']}/reschedule",
                     {"not_before": second["end"]}, expect=200)["moved"]
    api.post(f"/appointments/{first['id']}/cancel", expect=200)
    deliver()
    by_type = {}
    for request in receiver.ok():
        by_type.setdefault(request.json["type"], []).append(request.json["data"])
    assert sorted(a["id"] for a in by_type["appointment.updated"]) == \
        sorted(a["id"] for a in moved)
    updated = {a["id"]: a for a in by_type["appointment.updated"]}
    for appt in moved:
        assert updated[appt["id"]]["start"] == appt["start"]
    assert [a["id"] for a in by_type["appointment.cancelled"]] == [first["id"]]
    assert by_type["appointment.cancelled"][0]["status"] == "cancelled"


def test_a_released_hold_is_not_reported(api, patient, enroll, subscribe, receiver, deliver):
    subscribe()
    plan = enroll(patient["id"])
    api.post(f"/enrollments/{plan['id']}/cancel", expect=200)
    deliver()
    assert receiver.requests == []


def test_a_rolled_back_request_emits_nothing(app, api, patient, enroll, subscribe, receiver,
                                             deliver, monkeypatch):
    from scheduler.extensions import db
    from scheduler.models import WebhookEvent
    from scheduler.services import lifecycle as booking
    from scheduler.services.access import SYSTEM_PRINCIPAL

    subscribe()
    booked = _booked(api, patient, enroll)
    deliver()
    before = len(receiver.requests)

    def broken(appt):
        raise RuntimeError("the request fails after the cancel was written")

    monkeypatch.setattr(booking, "_plan_warnings", broken)
    target = booked["appointments"][2]["id"]
    with app.app_context():
        count = db.session.query(WebhookEvent).count()
        with pytest.raises(RuntimeError):
            booking.change_status(SYSTEM_PRINCIPAL, target, "cancelled")
        db.session.remove()
        assert db.session.query(WebhookEvent).count() == count
    api.post(f"/enrollments/{booked['id']}/confirm", expect=200)  # already booked: no news
    api.post(f"/appointments/{target}/reschedule", {"start": "2020-01-06T10:00:00-05:00"},
             expect=422)  # a refused request
    deliver()
    assert len(receiver.requests) == before
    assert api.get(f"/appointments/{target}")["status"] == "booked"


def test_a_receiver_that_fails_then_recovers_gets_the_same_id_and_one_success(
        app, api, patient, enroll, subscribe, receiver, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", "0")
    hook = subscribe(events=["enrollment.confirmed"])
    receiver.script = [500, 503]
    _booked(api, patient, enroll)
    deliver()
    assert [r.status for r in receiver.requests] == [500, 503, 200]
    assert len({r.id for r in receiver.requests}) == 1
    assert len(receiver.ok()) == 1
    verifier = Verifier(hook["secret"])
    for request in receiver.requests:  # every retry signed anew, every one valid
        verifier.verify(request.body, request.headers)
    log = api.get(f"/webhooks/{hook['id']}/deliveries")
    assert [(e["attempt"], e["status_code"]) for e in log] == [(3, 200), (2, 503), (1, 500)]
    assert {e["event_id"] for e in log} == {receiver.requests[0].id}
    assert log[0]["next_retry_at"] is None and log[0]["error"] is None
    assert all(e["next_retry_at"] and e["error"] == f"HTTP {e['status_code']}" for e in log[1:])
    assert deliver() == 0  # delivered: nothing more to send


def test_retries_wait_and_grow(app, api, patient, enroll, subscribe, receiver, deliver):
    hook = subscribe(events=["enrollment.confirmed"])
    receiver.default = 500
    _booked(api, patient, enroll)
    assert deliver() == 1  # one attempt; the retry is not due yet
    entry = api.get(f"/webhooks/{hook['id']}/deliveries")[0]
    from datetime import datetime

    wait = datetime.fromisoformat(entry["next_retry_at"]) - datetime.fromisoformat(entry["at"])
    assert timedelta(0) < wait <= timedelta(minutes=1)  # the first retry within a minute


def test_the_retry_schedule_grows_for_a_day_then_stops(app):
    from datetime import UTC, datetime

    from scheduler.models import WebhookDelivery
    from scheduler.services.webhook_delivery import next_retry_at, retry_delays

    delays = retry_delays(app.config)
    window = timedelta(hours=app.config["WEBHOOK_RETRY_WINDOW_HOURS"])
    created = datetime(2027, 1, 1, tzinfo=UTC)
    delivery = WebhookDelivery(created_at=created, attempts=0)
    now, gaps = created, []
    while True:
        delivery.attempts += 1
        upcoming = next_retry_at(delivery, now, delays, window)
        if upcoming is None:
            break
        gaps.append(upcoming - now)
        now = upcoming
    assert gaps[0] <= timedelta(minutes=1)
    assert gaps[:-1] == sorted(gaps[:-1])  # growing (the last one ends at the window)
    assert now == created + timedelta(hours=24)  # the last attempt when the 24 hours are up
    assert len(gaps) < 20


def test_order_per_appointment_holds_across_retries(app, api, patient, enroll, subscribe,
                                                    receiver, deliver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", "0")
    subscribe(events=["appointment.created", "appointment.cancelled"])
    receiver.script = [500] * 5  # the first deliveries fail, whichever they are
    booked = _booked(api, patient, enroll)
    for appt in booked["appointments"][:3]:
        api.post(f"/appointments/{appt['id']}/cancel", expect=200)
    deliver()
    seen: dict[int, list[str]] = {}
    for request in receiver.ok():
        seen.setdefault(request.json["data"]["id"], []).append(request.json["type"])
    for appt in booked["appointments"][:3]:
        assert seen[appt["id"]] == ["appointment.created", "appointment.cancelled"]
    # ...and a cancel was never even attempted before its appointment's creation succeeded.
    for appt_id in seen:
        attempts = [(r.json["type"], r.status) for r in receiver.requests
                    if r.json["data"]["id"] == appt_id]
        first_ok = next(i for i, (t, s) in enumerate(attempts) if s == 200)
        assert all(t == "appointment.created" for t, _ in attempts[:first_ok + 1])


def test_redirects_are_not_followed(app, api, patient, enroll, subscribe, receiver, deliver):
    hook = subscribe(events=["enrollment.confirmed"])
    receiver.default = 302
    receiver.extra_headers = {"location": receiver.url + "/elsewhere"}
    _booked(api, patient, enroll)
    deliver()
    assert [r.status for r in receiver.requests] == [302]
    entry = api.get(f"/webhooks/{hook['id']}/deliveries")[0]
    assert entry["status_code"] == 302 and "redirect" in entry["error"]


def test_a_private_target_is_refused_at_delivery_too(app, api, patient, enroll, subscribe,
                                                     receiver, deliver, monkeypatch):
    hook = subscribe(events=["enrollment.confirmed"])
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    _booked(api, patient, enroll)
    deliver()
    assert receiver.requests == []
    entry = api.get(f"/webhooks/{hook['id']}/deliveries")[0]
    assert entry["status_code"] is None and "loopback" in entry["error"]


def test_an_endpoint_failing_for_a_day_is_disabled_and_says_why(
        app, api, patient, enroll, subscribe, receiver, deliver, monkeypatch):
    from scheduler.extensions import db
    from scheduler.models import Webhook, WebhookDelivery
    from scheduler.models.types import utcnow

    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SECONDS", "0")
    hook = subscribe()
    receiver.default = 500
    booked = _booked(api, patient, enroll)
    with app.app_context():
        # It has been failing since yesterday.
        db.session.get(Webhook, hook["id"]).failing_since = utcnow() - timedelta(hours=25)
        db.session.commit()
    deliver()
    shown = api.get(f"/webhooks/{hook['id']}")
    assert shown["status"] == "disabled"
    assert "failed" in shown["disabled_reason"] and "HTTP 500" in shown["disabled_reason"]
    assert len(receiver.requests) >= 1
    with app.app_context():
        statuses = {d.status for d in db.session.query(WebhookDelivery)}
    assert statuses == {"failed"}
    tries = len(receiver.requests)
    api.post(f"/appointments/{booked['appointments'][0]['id']}/cancel", expect=200)
    deliver()
    assert len(receiver.requests) == tries  # a disabled endpoint hears nothing more


def test_a_delivery_fails_after_a_day_of_retries(app, api, patient, enroll, subscribe,
                                                 receiver, deliver):
    from scheduler.extensions import db
    from scheduler.models import WebhookDelivery
    from scheduler.models.types import utcnow

    hook = subscribe(events=["enrollment.confirmed"])
    receiver.default = 500
    _booked(api, patient, enroll)
    deliver()
    with app.app_context():
        delivery = db.session.query(WebhookDelivery).one()
        delivery.created_at = utcnow() - timedelta(hours=24, seconds=1)
        delivery.next_attempt_at = utcnow()
        db.session.commit()
    deliver()
    log = api.get(f"/webhooks/{hook['id']}/deliveries")
    assert [e["attempt"] for e in log] == [2, 1]
    assert log[0]["next_retry_at"] is None and log[0]["delivery_status"] == "failed"
    assert deliver() == 0


def test_rotating_the_secret_signs_the_next_attempts_with_the_new_one(
        app, api, patient, enroll, subscribe, receiver, deliver):
    hook = subscribe(events=["enrollment.confirmed", "appointment.cancelled"])
    booked = _booked(api, patient, enroll)
    deliver()
    rotated = api.post(f"/webhooks/{hook['id']}/rotate-secret", expect=200)
    assert rotated["secret"] != hook["secret"]
    api.post(f"/appointments/{booked['appointments'][0]['id']}/cancel", expect=200)
    deliver()
    last = receiver.requests[-1]
    Verifier(rotated["secret"]).verify(last.body, last.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(hook["secret"]).verify(last.body, last.headers)


def test_the_delivery_job_is_registered_and_runs(app, subscribe, api, patient, enroll,
                                                 receiver):
    from scheduler.jobs.runner import run_job

    subscribe(events=["enrollment.confirmed"])
    _booked(api, patient, enroll)
    result = run_job(app, "deliver_webhooks", runner="test")
    assert (result.outcome, result.result) == ("ok", 1)
    assert receiver.types() == ["enrollment.confirmed"]


def test_a_given_up_delivery_no_longer_holds_back_the_next_one(
        app, api, patient, enroll, subscribe, receiver, deliver):
    from scheduler.extensions import db
    from scheduler.models import WebhookDelivery, WebhookEvent
    from scheduler.models.types import utcnow

    subscribe(events=["appointment.created", "appointment.cancelled"])
    receiver.script = [500]
    booked = _booked(api, patient, enroll)
    first = booked["appointments"][0]["id"]
    with app.app_context():  # only the first appointment's creation is reported, and fails
        db.session.query(WebhookEvent).filter(
            WebhookEvent.ordering_key != f"appointment:{first}").delete()
        db.session.commit()
    deliver()
    api.post(f"/appointments/{first}/cancel", expect=200)
    deliver()
    assert [r.status for r in receiver.requests] == [500]  # the cancel waits behind it
    with app.app_context():
        stuck = db.session.query(WebhookDelivery).filter_by(status="pending").order_by(
            WebhookDelivery.id).first()
        stuck.created_at = utcnow() - timedelta(hours=25)
        stuck.next_attempt_at = utcnow()
        db.session.commit()
    receiver.script = [500]
    deliver()  # the creation fails once more and is given up, so the cancellation goes
    assert [(r.json["type"], r.status) for r in receiver.requests] == [
        ("appointment.created", 500), ("appointment.created", 500),
        ("appointment.cancelled", 200)]


def test_an_attempt_lost_mid_flight_is_made_again_with_the_same_id(
        app, api, patient, enroll, subscribe, receiver, deliver):
    from scheduler.extensions import db
    from scheduler.models import WebhookDelivery
    from scheduler.models.types import utcnow
    from scheduler.services import webhook_delivery

    hook = subscribe(events=["enrollment.confirmed"])
    _booked(api, patient, enroll)
    with app.app_context():
        webhook_delivery.dispatch_events()
        [claimed] = webhook_delivery.claim_due()  # ... and the worker dies before sending
        assert webhook_delivery.claim_due() == []  # leased: nobody else takes it meanwhile
        delivery = db.session.get(WebhookDelivery, claimed.delivery_id)
        delivery.next_attempt_at = utcnow()  # the lease ran out
        db.session.commit()
    deliver()
    assert [r.id for r in receiver.requests] == [claimed.event_id]
    assert api.get(f"/webhooks/{hook['id']}/deliveries")[0]["attempt"] == 2


def test_sessions_the_horizon_job_books_are_reported_as_created(
        app, api, patient, enroll, subscribe, receiver, deliver):
    from datetime import UTC, datetime, time

    import time_machine

    from scheduler.models.types import utcnow
    from scheduler.services import horizon as booking

    booked = _booked(api, patient, enroll)
    deliver()  # the confirm's events go out (to nobody) before the subscription
    subscribe(events=["appointment.created"])
    horizon = date_of(booked["horizon_end"])
    with time_machine.travel(datetime.combine(horizon, time(15, tzinfo=UTC))
                             - timedelta(days=30), tick=False), app.app_context():
        assert booking.extend_horizons(utcnow()) == 1
    deliver()
    before = {a["id"] for a in booked["appointments"]}
    new = {a["id"] for a in api.get(f"/enrollments/{booked['id']}")["appointments"]} - before
    assert new and {r.json["data"]["id"] for r in receiver.ok()} == new


def date_of(text):
    from datetime import date

    return date.fromisoformat(text)
