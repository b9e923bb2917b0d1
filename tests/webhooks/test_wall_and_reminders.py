"""The tenant wall for subscriptions, and reminder.due: once, never when cancelled, re-armed."""

from __future__ import annotations

from datetime import datetime, timedelta

from standardwebhooks import Webhook as Verifier

from tests.support.factories import Api
from tests.support.practice import build_practice


def _book(api, enroll, patient_id, **kw):
    plan = enroll(patient_id, **kw)
    return api.post(f"/enrollments/{plan['id']}/confirm", expect=200)


def test_a_scoped_keys_webhook_hears_nothing_of_another_clinic(
        client, api, keys, practice, enroll, subscribe, receivers, deliver):
    other = build_practice(api, templates=())
    other.protocols = practice.protocols  # rules are practice-wide
    walled, everything = receivers(), receivers()
    manager = Api(client, keys("manager", clinics=[practice.clinic]))
    subscribe(who=manager, to=walled, privacy="details")
    subscribe(to=everything)
    here = api.post("/patients", {"name": "Here", "clinic_id": practice.clinic})
    there = api.post("/patients", {"name": "There", "clinic_id": other.clinic})
    mine = _book(api, enroll, here["id"])
    theirs = _book(api, enroll, there["id"], clinic=other)
    api.post(f"/appointments/{theirs['appointments'][0]['id']}/cancel", expect=200)
    deliver()
    heard = {r.json["data"]["clinic_id"] for r in walled.ok()}
    assert heard == {practice.clinic}
    assert len(walled.ok()) == len(mine["appointments"]) + 1
    assert all("There" not in r.body for r in walled.requests)
    # The other clinic's events did happen: the unscoped subscription heard them.
    assert {r.json["data"]["clinic_id"] for r in everything.ok()} == \
        {practice.clinic, other.clinic}


def _starts(appt) -> datetime:
    return datetime.fromisoformat(appt["start"])


def _queue(app, now) -> int:
    from scheduler.services import webhook_delivery

    with app.app_context():
        return webhook_delivery.queue_reminders(now)


def _reminders(receiver) -> list[tuple[int, float, str]]:
    return [(r.json["data"]["appointment"]["id"], r.json["data"]["offset_hours"],
             r.json["data"]["appointment"]["start"])
            for r in receiver.ok() if r.json["type"] == "reminder.due"]


def _due(appointments, now, hours) -> set[tuple[int, float, str]]:
    """What should have fired by ``now``: each booked appointment still ahead, each offset
    whose time has come."""
    return {(a["id"], h, a["start"]) for a in appointments for h in hours
            if a["status"] == "booked" and _starts(a) - timedelta(hours=h) <= now < _starts(a)}


def test_reminders_fire_once_never_when_cancelled_and_again_after_a_reschedule(
        app, api, patient, enroll, subscribe, receiver, deliver):
    booked = _book(api, enroll, patient["id"])  # booked before the subscription
    hook = subscribe(events=["reminder.due"], reminder_hours=[48, 2])
    first, second, third = booked["appointments"][:3]

    # The subscription is new and the first appointment an hour away: both offsets are past.
    now = _starts(first) - timedelta(hours=1)
    assert _queue(app, now) == len(_due(booked["appointments"], now, [48, 2]))
    assert _queue(app, now) == 0  # once
    deliver()
    assert set(_reminders(receiver)) == _due(booked["appointments"], now, [48, 2])
    assert {(first["id"], 48.0, first["start"]), (first["id"], 2.0, first["start"])} <= \
        set(_reminders(receiver))
    assert len(_reminders(receiver)) == len(set(_reminders(receiver)))
    for request in receiver.ok():
        Verifier(hook["secret"]).verify(request.body, request.headers)
        assert "Ada" not in request.body and "MRN-4471" not in request.body

    # Cancelled before its time: no reminder after the cancellation (its 2-hour one is due
    # by then, and never comes).
    before = [r for r in _reminders(receiver) if r[0] == second["id"]]
    assert (second["id"], 2.0, second["start"]) not in before
    api.post(f"/appointments/{second['id']}/cancel", expect=200)
    _queue(app, _starts(second) - timedelta(minutes=30))
    deliver()
    assert [r for r in _reminders(receiver) if r[0] == second["id"]] == before

    # Reminded 48 h ahead, then rescheduled: it fires again for the new time.
    _queue(app, _starts(third) - timedelta(hours=47))
    deliver()
    assert (third["id"], 48.0, third["start"]) in _reminders(receiver)
    moved = api.post(f"/appointments/{third['id']}/reschedule",
                     {"not_before": (_starts(third) + timedelta(days=1)).isoformat()},
                     expect=200)["moved"]
    new_start = next(a for a in moved if a["id"] == third["id"])["start"]
    assert new_start != third["start"]
    _queue(app, datetime.fromisoformat(new_start) - timedelta(hours=47))
    deliver()
    fired_for_third = [r for r in _reminders(receiver) if r[0] == third["id"] and r[1] == 48.0]
    assert [start for _, _, start in fired_for_third] == [third["start"], new_start]


def test_a_fractional_offset_fires_at_its_time(app, api, patient, enroll, subscribe,
                                               receiver, deliver):
    booked = _book(api, enroll, patient["id"])
    subscribe(events=["reminder.due"], reminder_hours=[0.25])
    first = booked["appointments"][0]
    assert _queue(app, _starts(first) - timedelta(minutes=16)) == 0
    assert _queue(app, _starts(first) - timedelta(minutes=15)) == 1
    deliver()
    [(appt_id, hours, _)] = _reminders(receiver)
    assert (appt_id, hours) == (first["id"], 0.25)


def test_reminders_respect_the_tenant_wall(client, api, keys, practice, enroll, subscribe,
                                           receiver, deliver):
    other = build_practice(api, templates=())
    other.protocols = practice.protocols
    there = api.post("/patients", {"name": "There", "clinic_id": other.clinic})
    theirs = _book(api, enroll, there["id"], clinic=other)
    manager = Api(client, keys("manager", clinics=[practice.clinic]))
    subscribe(who=manager, events=["reminder.due"], reminder_hours=[48])
    first = theirs["appointments"][0]
    assert _queue(client.application, _starts(first) - timedelta(hours=1)) == 0
