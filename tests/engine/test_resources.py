"""One test per resource constraint: what the engine must choose, and what it must avoid."""

from datetime import date, timedelta

import pytest

from scheduler.engine import (
    Availability,
    BusyInterval,
    PlacementError,
    Preferences,
    Room,
    StaffMember,
    TimeOff,
    place_plan,
)
from tests.engine.engine_factory import (
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
MONDAY = date(2026, 6, 1)


def place(practice, protocol=None, start_on=MONDAY, **kw):
    enrollment = make_enrollment(protocol or one_phase(), start_on, **kw)
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    return plan


def wall(session, tz=NY):
    from zoneinfo import ZoneInfo

    return session.start.astimezone(ZoneInfo(tz)).strftime("%a %H:%M")


def test_room_needs_every_feature():
    rooms = [Room("plain", frozenset({"recliner"})),
             Room("pump", frozenset({"iv_pump", "vitals_monitor"}))]
    plan = place(make_practice(rooms=rooms))
    assert plan.sessions[0].room_id == "pump"


def test_room_capacity_uses_a_free_chair_unit():
    busy = block("room", "inf0", local(NY, 2026, 6, 1, 8), local(NY, 2026, 6, 1, 18), unit=0)
    practice = make_practice(infusion_rooms=1, capacity=2, bookings=[busy])
    plan = place(practice)
    room = [a for a in plan.sessions[0].allocations if a.resource_type == "room"]
    assert wall(plan.sessions[0]) == "Mon 08:00"
    assert [(a.resource_id, a.unit) for a in room] == [("inf0", 1)]


def test_full_room_pushes_the_session_later():
    busy = block("room", "inf0", local(NY, 2026, 6, 1, 8), local(NY, 2026, 6, 1, 12))
    plan = place(make_practice(infusion_rooms=1, bookings=[busy]))
    assert wall(plan.sessions[0]) == "Mon 12:00"


@pytest.mark.parametrize("next_start, expected", [((11, 40), "Mon 10:00"),
                                                   ((11, 35), "Mon 11:45")])
def test_turnover_is_part_of_the_room_hold(next_start, expected):
    # 10:00 + 85 min session = 11:25, + 15 min turnover = 11:40
    busy = block("room", "inf0", local(NY, 2026, 6, 1, *next_start), local(NY, 2026, 6, 1, 18))
    early = block("room", "inf0", local(NY, 2026, 6, 1, 8), local(NY, 2026, 6, 1, 10))
    plan = place(make_practice(infusion_rooms=1, bookings=[early, busy]),
                 start_on=MONDAY if expected.endswith("10:00") else MONDAY)
    if expected == "Mon 11:45":
        assert wall(plan.sessions[0]) == "Tue 08:00"
    else:
        assert wall(plan.sessions[0]) == expected


def test_turnover_may_run_past_closing_but_segments_may_not():
    practice = make_practice(infusion_rooms=1)
    enrollment = make_enrollment(one_phase(), MONDAY,
                                 availability=Availability(earliest=hm("16:00")))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    assert wall(plan.sessions[0]) == "Mon 16:00"
    busy = block("room", "inf0", local(NY, 2026, 6, 1, 16), local(NY, 2026, 6, 1, 16, 30))
    plan = place(make_practice(infusion_rooms=1, bookings=[busy]),
                 availability=Availability(earliest=hm("16:00")))
    # 16:30 -> 17:55, room until 18:10: allowed; 16:45 would end the infusion after 18:00
    assert wall(plan.sessions[0]) == "Mon 16:30"
    room = [a for a in plan.sessions[0].allocations if a.resource_type == "room"][0]
    assert room.end - plan.sessions[0].end == timedelta(minutes=15)


def test_staff_role_is_required():
    staff = [StaffMember("tech", frozenset({"front_desk"}), 1, shifts()),
             StaffMember("rn", frozenset({"nurse"}), 1, shifts()),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts())]
    plan = place(make_practice(staff=staff))
    assert plan.sessions[0].staff_ids == ("rn",)


def test_staff_shift_bounds_the_start():
    staff = [StaffMember("rn", frozenset({"nurse"}), 1, shifts(start="13:00")),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts())]
    plan = place(make_practice(staff=staff))
    assert wall(plan.sessions[0]) == "Mon 13:00"


def test_shift_at_another_clinic_does_not_count():
    staff = [StaffMember("rn", frozenset({"nurse"}), 1, shifts(clinic_id=2) + shifts(
        clinic_id=1, days=("wed",))),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts())]
    plan = place(make_practice(staff=staff))
    assert wall(plan.sessions[0]) == "Wed 08:00"


def test_time_off_is_respected():
    off = TimeOff(local(NY, 2026, 6, 1, 0), local(NY, 2026, 6, 2, 12))
    staff = [StaffMember("rn", frozenset({"nurse"}), 1, shifts(), (off,)),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts())]
    plan = place(make_practice(staff=staff))
    assert wall(plan.sessions[0]) == "Tue 12:00"


def test_exclusive_segment_needs_every_unit():
    # unit 1 of the only nurse is busy 08:00-09:00: the exclusive setup cannot start before 9
    busy = block("staff", "nurse0", local(NY, 2026, 6, 1, 8), local(NY, 2026, 6, 1, 9), unit=1)
    plan = place(make_practice(nurses=1, nurse_units=2, bookings=[busy]))
    session = plan.sessions[0]
    assert wall(session) == "Mon 09:00"
    units = sorted((a.unit, a.start, a.end) for a in session.allocations
                   if a.resource_type == "staff")
    assert [u for u, _, _ in units] == [0, 1]
    assert units[1][2] - units[1][1] == timedelta(minutes=15)  # unit 1: setup only
    assert units[0][2] - units[0][1] == timedelta(minutes=85)  # unit 0: merged, whole session


def test_shared_segments_take_one_free_unit():
    # unit 0 busy during the dosing of a 08:00 start; setup (08:00-08:15) is free on all units
    busy = block("staff", "nurse0", local(NY, 2026, 6, 1, 8, 15),
                 local(NY, 2026, 6, 1, 9, 25), unit=0)
    plan = place(make_practice(nurses=1, nurse_units=2, bookings=[busy]))
    session = plan.sessions[0]
    assert wall(session) == "Mon 08:00"
    shared = [a for a in session.allocations if a.resource_type == "staff"
              and a.end - a.start == timedelta(minutes=85)]
    assert [a.unit for a in shared] == [1]


def test_shared_unit_may_change_between_segments_when_needed():
    busy0 = block("staff", "nurse0", local(NY, 2026, 6, 1, 8, 55),
                  local(NY, 2026, 6, 1, 9, 25), unit=0)  # recovery on unit 0 taken
    busy1 = block("staff", "nurse0", local(NY, 2026, 6, 1, 8, 15),
                  local(NY, 2026, 6, 1, 8, 55), unit=1)  # dosing on unit 1 taken
    plan = place(make_practice(nurses=1, nurse_units=2, bookings=[busy0, busy1]))
    session = plan.sessions[0]
    assert wall(session) == "Mon 08:00"
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(NY)
    staff = sorted((a.unit, a.start.astimezone(tz).strftime("%H:%M"),
                    a.end.astimezone(tz).strftime("%H:%M"))
                   for a in session.allocations if a.resource_type == "staff")
    # unit 0: setup + dosing merged; unit 1: setup, then recovery after a break
    assert staff == [(0, "08:00", "08:55"), (1, "08:00", "08:15"), (1, "08:55", "09:25")]


def test_prescriber_must_be_on_site_during_the_dose():
    staff = [StaffMember("rn", frozenset({"nurse"}), 1, shifts()),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts(start="12:00"))]
    plan = place(make_practice(staff=staff))
    # dosing starts 15 min after the session: 11:45 start -> dose 12:00-12:40
    assert wall(plan.sessions[0]) == "Mon 11:45"
    assert "doc" not in plan.sessions[0].staff_ids


def test_booked_prescriber_still_counts_as_on_site():
    busy = block("staff", "doc0", local(NY, 2026, 6, 1, 8), local(NY, 2026, 6, 1, 18))
    plan = place(make_practice(bookings=[busy]))
    assert wall(plan.sessions[0]) == "Mon 08:00"


def test_closure_dates_are_skipped():
    plan = place(make_practice(closures=[MONDAY]))
    assert wall(plan.sessions[0]) == "Tue 08:00"


def test_opening_hours_split_windows():
    hours = {d: ((hm("08:00"), hm("09:00")), (hm("13:00"), hm("18:00")))
             for d in ("mon", "tue", "wed", "thu", "fri")}
    plan = place(make_practice(hours=hours))
    assert wall(plan.sessions[0]) == "Mon 13:00"


def test_patient_is_never_in_two_places():
    busy = BusyInterval(local(NY, 2026, 6, 1, 7), local(NY, 2026, 6, 1, 10, 5))
    plan = place(make_practice(), patient_busy=(busy,))
    assert wall(plan.sessions[0]) == "Mon 10:15"


def test_patient_availability_is_hard():
    plan = place(make_practice(), availability=Availability(
        weekdays=frozenset({"wed"}), earliest=hm("11:00"), latest=hm("12:30")))
    assert wall(plan.sessions[0]) == "Wed 11:00"


def test_availability_too_short_fails_with_reason():
    practice = make_practice()
    enrollment = make_enrollment(one_phase(), MONDAY, availability=Availability(
        earliest=hm("11:00"), latest=hm("12:00")))
    with pytest.raises(PlacementError) as err:
        place_plan(practice, enrollment)
    assert err.value.explanation.blockers[0].code == "too_long"


def test_preferred_staff_is_soft():
    staff = [StaffMember("rn_a", frozenset({"nurse"}), 1, shifts()),
             StaffMember("rn_b", frozenset({"nurse"}), 1, shifts(days=("tue",))),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts())]
    plan = place(make_practice(staff=staff), preferences=Preferences(staff_id="rn_b"))
    # rn_b does not work Mondays: the engine does not delay the session for a preference
    assert wall(plan.sessions[0]) == "Mon 08:00"
    assert plan.sessions[0].staff_ids == ("rn_a",)


def test_two_needs_get_two_people():
    from scheduler.rules.model import Segment, SessionKind, StaffNeed

    pair = SessionKind("pair", "two nurses", "none", (Segment("s", 30),), frozenset(), False,
                       (StaffNeed("nurse", (("s", "exclusive"),)),
                        StaffNeed("nurse", (("s", "exclusive"),))))
    practice = make_practice(nurses=2, nurse_units=1)
    practice = type(practice)(practice.clinic, practice.rooms, practice.staff,
                              {**practice.kinds, "pair": pair}, practice.routes, ())
    plan = place(practice, one_phase("pair"))
    assert sorted(plan.sessions[0].staff_ids) == ["nurse0", "nurse1"]


def test_weekend_hours_in_another_zone():
    staff = [StaffMember("rn", frozenset({"nurse"}), 1, shifts(days=("sat",))),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts(days=("sat",)))]
    practice = make_practice("Australia/Sydney", hours=weekly(days=("sat",)), staff=staff)
    plan = place(practice, start_on=MONDAY)
    assert wall(plan.sessions[0], "Australia/Sydney") == "Sat 08:00"
