"""find_slots (GET /availability) and reschedule (POST /appointments/{id}/reschedule)."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.engine import (
    BookingIndex,
    BusyInterval,
    PlacementError,
    Practice,
    find_slots,
    place_plan,
    reschedule,
)
from tests.engine.capacity_checker import capacity_problems, double_bookings_brute
from tests.engine.engine_factory import (
    block,
    iv_depression,
    local,
    make_enrollment,
    make_practice,
    verify,
)

NY = "America/New_York"
TZ = ZoneInfo(NY)
MONDAY = date(2026, 6, 1)


def wall(moment):
    return moment.astimezone(TZ).strftime("%a %H:%M")


def test_slots_cover_the_window_and_skip_busy_times():
    busy = block("room", "inf0", local(NY, 2026, 6, 1, 9), local(NY, 2026, 6, 1, 11))
    practice = make_practice(infusion_rooms=1, bookings=[busy])
    slots = find_slots(practice, "iv_infusion", local(NY, 2026, 6, 1, 8),
                       local(NY, 2026, 6, 1, 12))
    starts = [wall(s.start) for s in slots]
    # 08:00 would hold the room until 09:40 (turnover): taken; first free start is 11:00
    assert starts == ["Mon 11:00", "Mon 11:15", "Mon 11:30", "Mon 11:45"]
    for slot in slots:
        assert slot.room_id == "inf0" and slot.staff_ids
        assert slot.end - slot.start == timedelta(minutes=85)
    assert slots[0].to_dict()["room_id"] == "inf0"


def test_slots_respect_the_patient_and_closing_time():
    practice = make_practice()
    busy = BusyInterval(local(NY, 2026, 6, 1, 8), local(NY, 2026, 6, 1, 16))
    slots = find_slots(practice, "iv_infusion", local(NY, 2026, 6, 1, 0),
                       local(NY, 2026, 6, 2, 0), patient_id="pat1", patient_busy=(busy,))
    assert [wall(s.start) for s in slots] == ["Mon 16:00", "Mon 16:15", "Mon 16:30"]


def test_slots_need_certification():
    practice = make_practice()
    assert find_slots(practice, "esketamine_dose", local(NY, 2026, 6, 1, 0),
                      local(NY, 2026, 6, 8, 0)) == []


def test_every_slot_is_really_free():
    bookings = [block("room", f"inf{i % 2}", local(NY, 2026, 6, 1, 8 + i),
                      local(NY, 2026, 6, 1, 9 + i)) for i in range(8)]
    bookings += [block("staff", "nurse0", local(NY, 2026, 6, 1, 10), local(NY, 2026, 6, 1, 14),
                       unit=u) for u in (0, 1)]
    practice = make_practice(bookings=bookings)
    slots = find_slots(practice, "iv_infusion", local(NY, 2026, 6, 1, 0),
                       local(NY, 2026, 6, 2, 0))
    assert slots
    for slot in slots:
        # booking the slot's room chair 0 and nurse unit 0 next to the bookings must not clash
        trial = list(bookings) + [
            block("room", slot.room_id, slot.start, slot.end + timedelta(minutes=15)),
            block("staff", slot.staff_ids[0], slot.start, slot.end),
            block("staff", slot.staff_ids[0], slot.start, slot.start + timedelta(minutes=15), 1),
        ]
        assert not double_bookings_brute(trial), wall(slot.start)
        assert not capacity_problems(trial, practice.rooms, practice.staff)


def placed_plan():
    practice = make_practice(nurses=2, infusion_rooms=2)
    enrollment = make_enrollment(iv_depression(), MONDAY)
    return practice, enrollment, place_plan(practice, enrollment)


def with_bookings(practice: Practice, bookings) -> Practice:
    return Practice(practice.clinic, practice.rooms, practice.staff, practice.kinds,
                    practice.routes, tuple(bookings))


def test_reschedule_exact_start_keeps_what_still_holds():
    practice, enrollment, plan = placed_plan()
    # the plan's own allocations are in the bookings: they must not block the move
    booked = with_bookings(practice, plan.allocations())
    old = plan.session("induction#6")
    new_start = old.start + timedelta(hours=4)
    result = reschedule(booked, enrollment, plan, "induction#6", start=new_start)
    assert result.changed[0].key == "induction#6" and result.changed[0].start == new_start
    moved_keys = {s.key for s in result.changed}
    unchanged = [s for s in result.plan.sessions if s.key not in moved_keys]
    for s in unchanged:
        assert s == plan.session(s.key)
    before = [s.key for s in plan.sessions]
    assert all(before.index(k) >= before.index("induction#6") for k in moved_keys)
    verify(practice, enrollment, result.plan)


def test_reschedule_not_before_shifts_later_sessions_only_as_needed():
    practice, enrollment, plan = placed_plan()
    old = plan.session("induction#3")
    not_before = old.start + timedelta(days=1)
    result = reschedule(practice, enrollment, plan, "induction#3", not_before=not_before)
    moved = result.plan.session("induction#3")
    assert moved.start >= not_before
    verify(practice, enrollment, result.plan)
    for s in result.plan.sessions[:plan.sessions.index(old)]:
        assert s == plan.session(s.key)


def test_reschedule_that_breaks_a_rule_is_refused_with_reason():
    practice, enrollment, plan = placed_plan()
    first = plan.session("induction#1")
    with pytest.raises(PlacementError) as err:
        # the same day as the consult: after.min_days is 1
        reschedule(practice, enrollment, plan, "induction#1",
                   start=plan.session("consult#1").start + timedelta(hours=2))
    assert err.value.explanation.session_key == "induction#1"
    assert err.value.explanation.blockers[0].code == "window"
    assert first.key in err.value.explanation.message.lower().replace(" #", "#")


def test_reschedule_onto_another_booking_is_refused():
    practice, enrollment, plan = placed_plan()
    target = plan.session("maintenance#2")
    others = [block("patient", "pat1", target.start + timedelta(days=1),
                    target.start + timedelta(days=1, hours=3))]
    booked = with_bookings(practice, list(plan.allocations()) + others)
    with pytest.raises(PlacementError):
        reschedule(booked, enrollment, plan, "maintenance#2",
                   start=target.start + timedelta(days=1))


def test_reschedule_with_a_shared_index_leaves_it_untouched():
    practice, enrollment, plan = placed_plan()
    index = BookingIndex.from_allocations(plan.allocations())
    before = {k: list(v[0]) for k, v in index._units.items()}
    booked = with_bookings(practice, ())
    booked = Practice(booked.clinic, booked.rooms, booked.staff, booked.kinds, booked.routes,
                      index)
    result = reschedule(booked, enrollment, plan, "maintenance#4",
                        start=plan.session("maintenance#4").start + timedelta(days=7))
    verify(practice, enrollment, result.plan)
    assert {k: list(v[0]) for k, v in index._units.items() if v[0]} == \
        {k: v for k, v in before.items() if v}
