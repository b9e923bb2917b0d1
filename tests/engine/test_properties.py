"""Property tests: over random practices, bookings and protocols the engine either returns a
plan that the independent checker and the rule evaluator both accept, or reports a failure."""

from datetime import date, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scheduler.engine import (
    Allocation,
    Availability,
    Clinic,
    Enrollment,
    PlacementError,
    Practice,
    Preferences,
    Room,
    SearchOptions,
    Shift,
    StaffMember,
    find_slots,
    place_plan,
)
from scheduler.engine.localtime import LocalClock, to_datetime
from scheduler.rules.model import After, FollowUp, GapDays, Phase, Protocol
from scheduler.rules.routes import ROUTES
from tests.engine.capacity_checker import double_bookings_brute
from tests.engine.engine_factory import KINDS, verify

ZONES = ["America/New_York", "Europe/London", "Australia/Sydney"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FEATURES = ("iv_pump", "vitals_monitor", "recliner", "consult")
START = date(2026, 10, 19)  # spans the autumn changes in NY/London, spring in Sydney

OPTIONS = SearchOptions(max_evaluations=4000, max_backtracks=60, explain_earliest_date=False)


@st.composite
def windows(draw):
    start = draw(st.integers(6 * 4, 11 * 4)) * 15
    end = draw(st.integers(start // 15 + 8, 21 * 4)) * 15
    return start, end


@st.composite
def practices(draw):
    tz = draw(st.sampled_from(ZONES))
    open_days = draw(st.sets(st.sampled_from(DAYS), min_size=3))
    hours = {d: (draw(windows()),) for d in DAYS if d in open_days}
    closures = frozenset(START + timedelta(days=d)
                         for d in draw(st.sets(st.integers(0, 60), max_size=6)))
    certs = frozenset(draw(st.sets(st.just("esketamine_rems"), max_size=1)))
    clinic = Clinic(1, tz, hours, closures, certs)
    rooms = []
    for i in range(draw(st.integers(1, 3))):
        feats = frozenset(draw(st.sets(st.sampled_from(FEATURES), min_size=1)))
        rooms.append(Room(f"r{i}", feats | {"iv_pump", "vitals_monitor"} if i == 0 else feats,
                          draw(st.integers(1, 2)), draw(st.sampled_from([0, 10, 15]))))
    rooms.append(Room("c", frozenset({"consult"})))
    staff = []
    roles = ["nurse", "nurse", "prescriber", "therapist"] + draw(
        st.lists(st.sampled_from(["nurse", "prescriber", "therapist"]), max_size=2))
    for i, role in enumerate(roles):
        days = draw(st.sets(st.sampled_from(DAYS), min_size=2))
        shift_list = []
        for d in sorted(days):
            s, e = draw(windows())
            shift_list.append(Shift(1, d, s, e))
        staff.append(StaffMember(f"{role}{i}", frozenset({role}), draw(st.integers(1, 3)),
                                 tuple(shift_list)))
    clock = LocalClock(tz)
    bookings = []
    for _ in range(draw(st.integers(0, 25))):
        day = START + timedelta(days=draw(st.integers(0, 40)))
        minute = draw(st.integers(8 * 4, 17 * 4)) * 15
        length = draw(st.integers(2, 16)) * 15
        start = clock.window(day, minute, minute)[0]
        if draw(st.booleans()):
            room = draw(st.sampled_from(rooms))
            rtype, rid, unit = "room", room.id, draw(st.integers(0, room.capacity - 1))
        else:
            person = draw(st.sampled_from(staff))
            rtype, rid = "staff", person.id
            unit = draw(st.integers(0, person.max_concurrent_patients - 1))
        bookings.append(Allocation(rtype, rid, unit, to_datetime(start),
                                   to_datetime(start + length * 60)))
    # existing bookings never conflict with each other (the database guarantees it)
    clean = []
    for a in bookings:
        if all(not (b.resource_type, b.resource_id, b.unit) == (a.resource_type, a.resource_id,
                                                                 a.unit)
               or not (b.start < a.end and a.start < b.end) for b in clean):
            clean.append(a)
    return Practice(clinic, tuple(rooms), tuple(staff), KINDS, ROUTES, tuple(clean))


@st.composite
def protocols(draw):
    phases = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["iv_infusion", "consult", "esketamine_dose", "integration"]))
        gmin = draw(st.integers(1, 4))
        gmax = draw(st.integers(gmin, gmin + 5))
        gap = GapDays(gmin, draw(st.integers(gmin, gmax)), gmax) if draw(st.booleans()) else None
        until = i > 0 and gap is not None and draw(st.integers(0, 4)) == 0
        phases.append(Phase(
            f"p{i}", kind,
            count=None if until else draw(st.integers(1, 4)),
            until_days=draw(st.integers(10, 60)) if until else None,
            gap_days=gap,
            within_days=draw(st.one_of(st.none(), st.integers(gmax, 20))) if gap else None,
            max_per_week=draw(st.one_of(st.none(), st.integers(2, 4))),
            weekdays=draw(st.one_of(st.none(), st.sets(st.sampled_from(DAYS), min_size=3).map(
                frozenset))),
            after=After(f"p{i - 1}", draw(st.integers(0, 3)),
                        draw(st.one_of(st.none(), st.integers(3, 30)))) if i and draw(
                st.booleans()) else None,
            follow_up=FollowUp("integration", 24, draw(st.sampled_from([48, 72])))
            if kind != "integration" and draw(st.integers(0, 3)) == 0 else None,
        ))
    hours = draw(st.one_of(st.none(), st.sampled_from([20, 22, 46])))
    return Protocol("random", "random", tuple(phases), min_hours_between_doses=hours)


@st.composite
def enrollments(draw):
    protocol = draw(protocols())
    availability = Availability()
    if draw(st.booleans()):
        earliest = draw(st.integers(6, 12)) * 60
        availability = Availability(
            weekdays=frozenset(draw(st.sets(st.sampled_from(DAYS), min_size=4))),
            earliest=earliest, latest=earliest + draw(st.integers(3, 10)) * 60)
    prefs = Preferences(time=draw(st.one_of(st.none(), st.integers(8, 16).map(lambda h: h * 60))))
    start = START + timedelta(days=draw(st.integers(0, 10)))
    return Enrollment("pat1", protocol, start, availability, prefs,
                      horizon_end=start + timedelta(days=draw(st.integers(20, 90))))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(practices(), enrollments())
def test_plans_are_valid_or_failures_are_explained(practice, enrollment):
    try:
        plan = place_plan(practice, enrollment, OPTIONS)
    except PlacementError as err:
        explanation = err.explanation
        assert explanation.blockers, explanation
        assert explanation.message
        event(f"failure: {explanation.blockers[0].code}")
        return
    event("placed")
    verify(practice, enrollment, plan)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(practices(), st.sampled_from(["iv_infusion", "consult", "integration"]))
def test_every_slot_fits(practice, kind):
    clock = LocalClock(practice.clinic.timezone)
    start = to_datetime(clock.day(START).start)
    end = to_datetime(clock.day(START + timedelta(days=3)).start)
    for slot in find_slots(practice, kind, start, end):
        assert start <= slot.start < end
        k = KINDS[kind]
        allocations = list(practice.bookings)
        if k.needs_room:
            room = next(r for r in practice.rooms if r.id == slot.room_id)
            assert k.room_features <= room.features
            # some chair must be free for the whole hold
            hold_end = slot.end + timedelta(minutes=room.turnover_minutes)
            assert any(not double_bookings_brute(allocations + [
                Allocation("room", room.id, u, slot.start, hold_end)])
                for u in range(room.capacity))
