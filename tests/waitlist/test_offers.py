"""Waitlist and offers through the API (SPEC 9), in a clinic that holds one infusion a day."""

from __future__ import annotations

from datetime import date, timedelta

from tests.waitlist.conftest import days


def _cancel(c, enrollment):
    c.api.post(f"/enrollments/{enrollment['id']}/cancel", expect=200)


def _first(enrollment_or_offer) -> date:
    return date.fromisoformat(days(enrollment_or_offer)[0])


def _offer_to_the_first_of_two_waiting(c, match, *, also_booked: int = 0):
    """An early plan cancelled while two later ones wait: the offer goes to the first."""
    early = c.booked("Early")
    for n in range(also_booked):
        c.booked(f"Booked {n}")
    first = c.booked("First waiting")
    second = c.booked("Second waiting")
    c.wait(first)
    c.wait(second)
    _cancel(c, early)
    match()
    (offer,) = c.offers()
    assert offer["enrollment_id"] == first["id"]
    return first, second, offer


def test_cancellation_offers_the_first_waiting_patient_whose_plan_fits(full_clinic, match,
                                                                       db_problems):
    c = full_clinic
    early = c.booked("Early")
    c.booked("Second")
    thu_fri = c.booked("Only Thursday and Friday", weekdays=["thu", "fri"])
    fits = c.booked("Fits")
    later = c.booked("Also fits, joined later")
    # First in line cannot use Monday and Wednesday; the second in line can; the third too.
    c.wait(thu_fri)
    c.wait(fits)
    c.wait(later)
    assert match() == 0  # nothing freed yet: a full clinic has nothing earlier to offer
    _cancel(c, early)
    assert match() == 1
    (offer,) = c.offers()
    assert offer["enrollment_id"] == fits["id"]
    assert offer["replaces"] == [a["id"] for a in fits["appointments"]]
    assert days(offer) == days(early)  # exactly the freed days
    assert offer["gain_days"] == (_first(fits) - _first(offer)).days >= 1
    assert all(a["status"] == "held" for a in offer["appointments"])
    assert c.offers() == [offer]
    assert db_problems() == []


def test_accept_swaps_the_plan_and_the_calendar_passes_both_checks(app, full_clinic, match,
                                                                   db_problems):
    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    _cancel(c, early)
    match()
    (offer,) = c.offers()
    accepted = c.api.post(f"/offers/{offer['id']}/accept", expect=200)
    assert accepted["status"] == "accepted"
    plan = c.api.get(f"/enrollments/{waiting['id']}")
    live = [a for a in plan["appointments"] if a["status"] == "booked"]
    assert sorted(a["id"] for a in live) == sorted(a["id"] for a in offer["appointments"])
    assert sorted(a["key"] for a in live) == sorted(a["key"] for a in waiting["appointments"])
    for old in offer["replaces"]:
        assert c.api.get(f"/appointments/{old}")["status"] == "cancelled"
    assert c.api.get(f"/waitlist?clinic_id={c.id}") == []
    assert db_problems() == []
    from scheduler.extensions import db
    from scheduler.models import Enrollment
    from scheduler.services.proof import plan_violations

    with app.app_context():
        violations, judged = plan_violations(db.session.get(Enrollment, waiting["id"]))
        assert violations == [] and len(judged) == 2
    # Accepting freed the old slots: the next in line may get them.
    c.api.post(f"/offers/{offer['id']}/accept", expect=409)


def test_accepting_frees_the_old_slots_for_the_next_in_line(full_clinic, match, db_problems):
    c = full_clinic
    first, second, offer = _offer_to_the_first_of_two_waiting(c, match, also_booked=1)
    c.api.post(f"/offers/{offer['id']}/accept", expect=200)
    assert match() == 1
    (next_offer,) = c.offers()
    assert next_offer["enrollment_id"] == second["id"]
    assert days(next_offer)[0] <= days(first)[0]  # it may take the time the first gave back
    assert db_problems() == []


def test_decline_passes_the_time_to_the_next_in_line(full_clinic, match, db_problems):
    c = full_clinic
    first, second, offer = _offer_to_the_first_of_two_waiting(c, match)
    declined = c.api.post(f"/offers/{offer['id']}/decline", expect=200)
    assert declined["status"] == "declined"
    assert all(c.api.get(f"/appointments/{a['id']}")["status"] == "cancelled"
               for a in offer["appointments"])
    assert match() == 1
    (passed_on,) = c.offers()
    assert passed_on["enrollment_id"] == second["id"]
    assert days(passed_on) == days(offer)
    # The decliner keeps its place for a later release.
    waiting = c.api.get(f"/waitlist?clinic_id={c.id}")
    assert [e["enrollment_id"] for e in waiting] == [first["id"], second["id"]]
    assert db_problems() == []


def test_expiry_passes_the_time_on(app, full_clinic, match, db_problems):
    from scheduler.models.types import utcnow
    from scheduler.services import offers

    c = full_clinic
    first, second, offer = _offer_to_the_first_of_two_waiting(c, match)
    with app.app_context():
        assert offers.expire_offers(utcnow()) == 0  # not yet
        assert offers.expire_offers(utcnow() + timedelta(minutes=121)) == 1
    assert c.api.get(f"/offers/{offer['id']}")["status"] == "expired"
    c.api.post(f"/offers/{offer['id']}/accept", expect=409)
    assert match() == 1
    (passed_on,) = c.offers()
    assert passed_on["enrollment_id"] == second["id"]
    assert db_problems() == []


def test_offer_minutes_is_configurable(app, full_clinic, match):
    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    _cancel(c, early)
    app.config["OFFER_MINUTES"] = 5
    try:
        match()
    finally:
        app.config["OFFER_MINUTES"] = 120
    (offer,) = c.offers()
    from datetime import datetime

    made = datetime.fromisoformat(offer["created_at"])
    assert timedelta(minutes=4) < datetime.fromisoformat(offer["expires_at"]) - made \
        <= timedelta(minutes=5)


def test_an_accept_after_the_offer_ran_out_is_refused(app, full_clinic, match, db_problems):
    import time_machine

    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    _cancel(c, early)
    match()
    (offer,) = c.offers()
    from datetime import datetime

    later = datetime.fromisoformat(offer["expires_at"]) + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        refused = c.api.call("POST", f"/offers/{offer['id']}/accept", expect=409).get_json()
    assert refused["error"]["details"]["status"] == "expired"
    assert c.api.get(f"/offers/{offer['id']}")["status"] == "expired"
    assert [a["status"] for a in c.api.get(f"/enrollments/{waiting['id']}")["appointments"]] \
        == ["booked", "booked"]
    assert db_problems() == []


def test_min_gain_days_is_respected(full_clinic, match):
    c = full_clinic
    early = c.booked("Early")
    picky = c.booked("Only for a big gain")
    modest = c.booked("Any gain")
    c.wait(picky, min_gain_days=60)
    c.wait(modest)
    _cancel(c, early)
    match()
    (offer,) = c.offers()
    assert offer["enrollment_id"] == modest["id"]


def test_an_offer_never_starts_before_the_enrollments_start_on(full_clinic, match):
    c = full_clinic
    early = c.booked("Early")
    c.booked("Second")
    late_start = c.booked("Starts later", start_on="2027-02-03")
    c.wait(late_start)
    _cancel(c, early)
    match()
    offers = c.offers()
    for offer in offers:
        assert days(offer)[0] >= "2027-02-03"
        assert days(offer)[0] < days(late_start)[0]


def test_a_plan_that_has_begun_is_not_re_placed(app, full_clinic, match):
    c = full_clinic
    early = c.booked("Early")
    started = c.booked("Started")
    c.wait(started)
    from scheduler.extensions import db
    from scheduler.models import Appointment

    with app.app_context():  # as if the first session had been checked in
        db.session.get(Appointment, started["appointments"][0]["id"]).status = "checked_in"
        db.session.commit()
    _cancel(c, early)
    assert match() == 0
    assert c.offers() == []


def test_an_offer_whose_plan_changed_is_withdrawn(full_clinic, match, db_problems):
    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    _cancel(c, early)
    match()
    (offer,) = c.offers()
    c.api.post(f"/appointments/{offer['replaces'][1]}/cancel", expect=200)
    refused = c.api.call("POST", f"/offers/{offer['id']}/accept", expect=409).get_json()
    assert refused["error"]["details"]["status"] == "withdrawn"
    assert c.api.get(f"/offers/{offer['id']}")["status"] == "withdrawn"
    assert all(c.api.get(f"/appointments/{a['id']}")["status"] == "cancelled"
               for a in offer["appointments"])
    assert db_problems() == []


def test_matching_withdraws_stale_offers_and_leaving_withdraws_too(full_clinic, match):
    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    _cancel(c, early)
    match()
    (offer,) = c.offers()
    c.api.call("DELETE", f"/enrollments/{waiting['id']}/waitlist", expect=204)
    assert c.api.get(f"/offers/{offer['id']}")["status"] == "withdrawn"
    assert c.offers() == []
    c.api.call("DELETE", f"/enrollments/{waiting['id']}/waitlist", expect=404)
    # Back in line, then the plan is cancelled: the next pass withdraws the new offer.
    c.wait(waiting)
    match()
    (again,) = c.offers()
    _cancel(c, waiting)
    match()
    assert c.api.get(f"/offers/{again['id']}")["status"] == "withdrawn"


def test_waitlist_serving_order_and_positions(full_clinic):
    c = full_clinic
    one, two, three = c.booked("One"), c.booked("Two"), c.booked("Three")
    entry = c.wait(two, min_gain_days=3)
    assert entry["position"] == 1 and entry["min_gain_days"] == 3
    c.wait(three)
    c.wait(one)
    listed = c.api.get(f"/waitlist?clinic_id={c.id}")
    assert [e["enrollment_id"] for e in listed] == [two["id"], three["id"], one["id"]]
    assert [e["position"] for e in listed] == [1, 2, 3]
    assert set(listed[0]) == {"enrollment_id", "patient_id", "clinic_id", "joined_at",
                              "min_gain_days", "position"}
    again = c.wait(two, expect=200)  # joining again keeps the place
    assert again["position"] == 1 and again["min_gain_days"] == 3


def test_who_may_join_and_bad_input(full_clinic, keys, client):
    c = full_clinic
    booked = c.booked("Booked")
    held = c.api.post("/enrollments", {
        "patient_id": c.patient("Held"), "protocol_id": c.protocol, "clinic_id": c.id,
        "start_on": "2027-02-01"})
    refused = c.api.call("POST", f"/enrollments/{held['id']}/waitlist", expect=409).get_json()
    assert refused["error"]["details"]["status"] == "held"
    bad = c.api.call("POST", f"/enrollments/{booked['id']}/waitlist", {"min_gain_days": 0},
                     expect=422).get_json()
    assert "min_gain_days" in bad["error"]["fields"]
    c.api.call("POST", f"/enrollments/{booked['id']}/waitlist", {"min_gain_day": 2},
               expect=422)
    c.api.call("POST", "/enrollments/999/waitlist", expect=404)
    viewer = keys("viewer")
    assert client.post(f"/api/v1/enrollments/{booked['id']}/waitlist",
                       headers=viewer).status_code == 403
    desk = keys("front_desk", clinics=[c.id])
    assert client.post(f"/api/v1/enrollments/{booked['id']}/waitlist",
                       headers=desk).status_code == 201
    other = c.api.post("/clinics", {"name": "Other", "timezone": "UTC"})
    walled = keys("front_desk", clinics=[other["id"]])
    assert client.get(f"/api/v1/waitlist?clinic_id={c.id}", headers=walled).status_code == 422
    assert client.get(f"/api/v1/offers?clinic_id={c.id}", headers=walled).status_code == 422
    assert client.get("/api/v1/offers", headers=walled).get_json() == []
    c.api.call("GET", "/waitlist", expect=422)
    c.api.call("GET", f"/offers?clinic_id={c.id}&status=pending", expect=422)
    c.api.call("GET", "/offers/999", expect=404)


def test_a_join_is_matched_like_a_release(full_clinic, match):
    """Time already free when a patient joins goes to them on the next pass."""
    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    _cancel(c, early)
    assert match() == 0  # nobody waits yet
    c.wait(waiting)
    assert match() == 1


def test_the_offer_avoids_the_patients_own_sessions(full_clinic, match, db_problems):
    """The offer is held next to the plan it replaces until accepted: never on top of it.

    Only Monday frees. The earliest plan that ignored the patient's own sessions would pair
    Monday with the patient's own Tuesday or Thursday slot; that plan cannot be held while the
    current one is booked. The pass must neither fail nor offer it.
    """
    c = full_clinic
    early = c.booked("Early")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    own = {a["start"] for a in waiting["appointments"]}
    c.api.post(f"/appointments/{early['appointments'][0]['id']}/cancel", expect=200)
    match()
    for offer in c.offers():
        assert not own & {a["start"] for a in offer["appointments"]}
    assert db_problems() == []
    # Monday + the patient's own Tuesday or Thursday would be the only earlier plans: none
    # can be held beside the current one, so nothing is offered (and nothing failed).
    assert c.offers() == []
    assert [a["status"] for a in c.api.get(f"/enrollments/{waiting['id']}")["appointments"]] \
        == ["booked", "booked"]


def test_a_new_room_and_shift_are_releases(full_clinic, match):
    c = full_clinic
    c.booked("First")
    waiting = c.booked("Waiting")
    c.wait(waiting)
    assert match() == 0
    c.api.post("/staff", {"name": "Nurse 2", "roles": ["nurse"], "shifts": [
        {"clinic_id": c.id, "weekday": d, "start": "09:00", "end": "11:00"}
        for d in ("mon", "tue", "wed", "thu", "fri")]})
    assert match() == 0  # a nurse, but still one chair
    c.api.post(f"/clinics/{c.id}/rooms", {
        "name": "Chair 2", "features": ["iv_pump", "vitals_monitor", "recliner"],
        "capacity": 1, "turnover_minutes": 15})
    assert match() == 1
    (offer,) = c.offers()
    assert offer["enrollment_id"] == waiting["id"] and offer["gain_days"] >= 1
