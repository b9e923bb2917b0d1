"""Start times off the round grid, round times where they waste nothing, staff chosen jointly,
opening hours and shifts across midnight, and the clinic's slot grid."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from scheduler.engine import (
    Availability,
    Clinic,
    Enrollment,
    PlacementError,
    Preferences,
    Room,
    Shift,
    StaffMember,
    place_plan,
)
from scheduler.rules.model import FollowUp, Segment, SessionKind, StaffNeed
from tests.engine.engine_factory import (
    KINDS,
    block,
    hm,
    local,
    make_enrollment,
    make_practice,
    one_phase,
    shifts,
    verify,
    weekly,
)

NY = "America/New_York"
MONDAY = date(2027, 3, 1)
THERAPY = SessionKind(
    "therapy", "Therapy", "none", (Segment("talk", 50),), frozenset({"consult"}), True,
    (StaffNeed("therapist", (("talk", "exclusive"),)),),
)


def therapist_practice(hours, booked_until=None, **kw):
    """One therapist, one therapy room; optionally booked from 09:00 to ``booked_until``."""
    bookings = ()
    if booked_until is not None:
        bookings = (block("staff", "ther0", local(NY, 2027, 3, 1, 9, 0),
                          local(NY, 2027, 3, 1, *booked_until)),)
    practice = make_practice(NY, hours=hours, bookings=bookings, nurses=0, prescribers=0, **kw)
    return replace(practice, kinds={**KINDS, "therapy": THERAPY})


def first_start(practice, protocol=None, **kw):
    plan = place_plan(practice, make_enrollment(protocol or one_phase("therapy"), MONDAY, **kw))
    verify(practice, make_enrollment(protocol or one_phase("therapy"), MONDAY, **kw), plan)
    return plan.sessions[0].start.astimezone(local(NY, 2027, 3, 1).tzinfo)


def test_a_gap_only_a_back_to_back_start_reaches_is_used():
    # Open 09:00-10:45, the therapist busy until 09:50: only 09:50 holds 50 minutes; the
    # 15-minute grid alone (10:00) would push the session to the next day.
    practice = therapist_practice({"mon": ((hm("09:00"), hm("10:45")),),
                                   "tue": ((hm("09:00"), hm("17:00")),)}, booked_until=(9, 50))
    start = first_start(practice)
    assert (start.date(), start.strftime("%H:%M")) == (MONDAY, "09:50")


def test_the_busy_person_is_not_left_idle_for_a_round_number():
    practice = therapist_practice(weekly("09:00", "17:00"), booked_until=(9, 50))
    assert first_start(practice).strftime("%H:%M") == "09:50"


def test_a_round_time_is_kept_where_the_earliest_moment_abuts_nothing():
    # The clinic opens at 09:05 and nothing is booked: 09:15 wastes no one's time.
    practice = therapist_practice(weekly("09:05", "17:00"))
    assert first_start(practice).strftime("%H:%M") == "09:15"


def test_a_follow_up_bound_off_the_grid_still_gets_a_round_start():
    # The session ends 09:50 (back to back after 09:00); its follow-up may start 24 h later,
    # 09:50 on Tuesday, when nothing there is busy: it takes the round 10:00.
    practice = therapist_practice(weekly("09:00", "17:00"), booked_until=(9, 0))
    protocol = one_phase("therapy", follow_up=FollowUp("therapy", 24, 30))
    enrollment = make_enrollment(protocol, MONDAY, availability=Availability(earliest=hm("09:00")))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    follow = plan.sessions[1].start.astimezone(local(NY, 2027, 3, 1).tzinfo)
    assert follow.strftime("%a %H:%M") == "Tue 10:00"


def test_the_clinic_slot_grid_sets_the_round_times():
    hours = weekly("08:00", "17:00")
    preferences = Preferences(time=hm("10:10"))
    fifteen = therapist_practice(hours)
    ten = replace(fifteen, clinic=replace(fifteen.clinic, slot_minutes=10))
    assert first_start(fifteen, preferences=preferences).strftime("%H:%M") == "10:15"
    assert first_start(ten, preferences=preferences).strftime("%H:%M") == "10:10"


def test_slot_minutes_out_of_range_is_refused():
    with pytest.raises(ValueError, match="slot_minutes"):
        Clinic(1, NY, weekly(), slot_minutes=4)


# -- staff chosen jointly ------------------------------------------------------------------

GUIDED = SessionKind(
    "guided_dose", "Guided dose", "im", (Segment("dose", 60, dose=True), Segment("rest", 30)),
    frozenset({"recliner"}), True,
    (StaffNeed("nurse", (("dose", "shared"), ("rest", "shared"))),
     StaffNeed("therapist", (("dose", "exclusive"), ("rest", "exclusive")))),
)


def test_a_person_with_two_roles_is_kept_for_the_need_only_they_can_fill():
    # "both" is listed first and is a nurse and the only therapist: a greedy choice takes them
    # as the nurse and then finds no therapist at any time.
    staff = [StaffMember("both", frozenset({"nurse", "therapist"}), 1, shifts()),
             StaffMember("nurse", frozenset({"nurse"}), 2, shifts())]
    practice = make_practice(NY, staff=staff)
    practice = replace(practice, kinds={**KINDS, "guided_dose": GUIDED})
    enrollment = make_enrollment(one_phase("guided_dose"), MONDAY)
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    assert plan.sessions[0].staff_ids == ("nurse", "both")


def test_joint_staff_failure_still_names_the_role_and_waits_for_a_person():
    # Only one person, holding both roles: no start can ever give the session two people.
    staff = [StaffMember("both", frozenset({"nurse", "therapist"}), 1, shifts())]
    practice = make_practice(NY, staff=staff)
    practice = replace(practice, kinds={**KINDS, "guided_dose": GUIDED})
    with pytest.raises(PlacementError) as err:
        place_plan(practice, make_enrollment(one_phase("guided_dose"), MONDAY))
    codes = {b.code for b in err.value.explanation.blockers}
    assert "staff_busy" in codes


# -- across midnight -----------------------------------------------------------------------

NIGHT_IV = SessionKind(
    "night_iv", "Night infusion", "iv",
    (Segment("setup", 15), Segment("dosing", 120, dose=True), Segment("recovery", 45)),
    frozenset({"iv_pump"}), True,
    (StaffNeed("nurse", (("setup", "exclusive"), ("dosing", "shared"), ("recovery", "shared"))),),
)
NIGHT = (hm("22:00"), hm("06:00") + 1440)  # Friday 22:00 to Saturday 06:00


def night_practice(closures=(), bookings=()):
    clinic = Clinic(1, NY, {"fri": (NIGHT,)}, frozenset(closures))
    rooms = (Room("inf", frozenset({"iv_pump"}), 1, 0),)
    staff = (StaffMember("rn", frozenset({"nurse"}), 1, (Shift(1, "fri", *NIGHT),)),)
    practice = make_practice(NY, rooms=list(rooms), staff=list(staff), bookings=bookings)
    return replace(practice, clinic=clinic, kinds={**KINDS, "night_iv": NIGHT_IV})


def test_a_session_crosses_midnight_inside_a_night_window_and_shift():
    practice = night_practice()
    enrollment = Enrollment("pat1", one_phase("night_iv"), date(2027, 3, 5))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    session = plan.sessions[0]
    tz = local(NY, 2027, 3, 5).tzinfo
    assert session.start.astimezone(tz) == local(NY, 2027, 3, 5, 22, 0)
    assert session.end.astimezone(tz) == local(NY, 2027, 3, 6, 1, 0)


def test_a_session_may_start_after_midnight_in_last_night_s_window():
    # The night is booked until 01:30; a session starting Saturday 01:30 still lies inside
    # Friday's window and the nurse's Friday shift (it ends 04:30, before 06:00).
    busy = block("room", "inf", local(NY, 2027, 3, 5, 22, 0), local(NY, 2027, 3, 6, 1, 30))
    practice = night_practice(bookings=(busy,))
    enrollment = Enrollment("pat1", one_phase("night_iv"), date(2027, 3, 5))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    assert plan.sessions[0].start.astimezone(local(NY, 2027, 3, 6).tzinfo) == \
        local(NY, 2027, 3, 6, 1, 30)


def test_a_closed_next_day_cuts_the_night_at_midnight():
    closed = [date(2027, 3, 6) + timedelta(days=7 * k) for k in range(60)]
    practice = night_practice(closures=closed)
    with pytest.raises(PlacementError):
        place_plan(practice, Enrollment("pat1", one_phase("night_iv"), date(2027, 3, 5)))


def test_overnight_windows_are_refused_beyond_a_day():
    with pytest.raises(ValueError):
        Shift(1, "fri", hm("22:00"), hm("22:00") + 1441)
