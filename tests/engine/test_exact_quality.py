"""The engine's plan finishes on the exact optimum's day (CP-SAT, ``benchmarks.exact``) on a
small hard instance: one therapist booked back to back at 5-minute resolution, so the free
time sits between off-grid ends, and an integration session 24-72 h after every dose."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from benchmarks.exact import Calendar, exact_plan, local_finish
from scheduler.engine import Allocation, Availability, Enrollment, place_plan
from scheduler.rules.model import FollowUp, GapDays, Phase, Protocol
from scheduler.rules.routes import ROUTES
from tests.engine.engine_factory import local, make_practice, shifts, weekly

ZONE = "America/Phoenix"  # no DST: the exact model's local dates need a fixed offset
MONDAY = date(2027, 3, 1)


def therapist_bookings():
    """The one therapist's week: sessions of 50 minutes with 5-25 minute gaps, 08:00-17:00,
    every weekday of the first two weeks; the free stretches are 5-25 minutes long except
    one 55-minute gap each day that starts at an off-grid minute."""
    out = []
    patient = 0
    for offset in range(14):
        day = MONDAY + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        minute = 8 * 60
        gap_at = 3 + offset % 4  # the wide gap comes after the 4th-7th session
        n = 0
        while minute + 50 <= 17 * 60:
            start = local(ZONE, day.year, day.month, day.day) + timedelta(minutes=minute)
            end = start + timedelta(minutes=50)
            out.append(Allocation("staff", "ther0", 0, start, end))
            out.append(Allocation("patient", f"bg{patient}", 0, start, end))
            patient += 1
            n += 1
            minute += 50 + (55 if n == gap_at else 5 * (1 + (offset + n) % 5))
    return out


PROTOCOL = Protocol("kap", "KAP-like", (
    Phase("dosing", "iv_infusion", count=2, gap_days=GapDays(7, 7, 10),
          follow_up=FollowUp("integration", 24, 72)),
), min_hours_between_doses=48)


@pytest.mark.parametrize("availability", [Availability(),
                                          Availability(weekdays=frozenset({"tue", "wed",
                                                                           "thu", "fri"}))])
def test_the_engine_finishes_on_the_optimum_s_day(availability):
    bookings = therapist_bookings()
    practice = make_practice(ZONE, hours=weekly("08:00", "17:00"), bookings=bookings,
                             staff=None)
    practice = replace(practice, staff=tuple(
        replace(p, shifts=shifts(start="08:00", end="17:00")) for p in practice.staff))
    enrollment = Enrollment("new", PROTOCOL, MONDAY, availability)
    plan = place_plan(practice, enrollment)
    exact = exact_plan(practice, enrollment, Calendar(bookings), routes=ROUTES,
                       horizon_days=20, time_limit=60, workers=1)
    assert exact.status == "optimal"
    engine_finish = local_finish(plan, ZONE)
    assert engine_finish >= exact.finish, "the engine beat the optimum: the model is wrong"
    assert engine_finish == exact.finish, (engine_finish, exact.finish, exact.starts)
