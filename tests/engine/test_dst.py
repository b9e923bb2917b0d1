"""Local wall-clock time across DST in three zones: sessions keep their local time, the
spring-forward gap is skipped, the repeated autumn hour is usable, 23/25-hour days work."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.engine import Availability, Preferences, StaffMember, place_plan
from scheduler.engine.localtime import LocalClock
from scheduler.rules.model import GapDays
from tests.engine.engine_factory import (
    ALL_DAYS,
    block,
    hm,
    make_enrollment,
    make_practice,
    one_phase,
    shifts,
    verify,
    weekly,
)

CHANGES = [  # zone, a local date shortly before a DST change, the change date
    ("America/New_York", date(2027, 3, 10), date(2027, 3, 14)),
    ("America/New_York", date(2026, 10, 28), date(2026, 11, 1)),
    ("Europe/London", date(2027, 3, 24), date(2027, 3, 28)),
    ("Europe/London", date(2026, 10, 21), date(2026, 10, 25)),
    ("Australia/Sydney", date(2026, 9, 30), date(2026, 10, 4)),
    ("Australia/Sydney", date(2027, 3, 31), date(2027, 4, 4)),
]


def seven_day_practice(tz, start="00:00", end="23:00"):
    staff = [StaffMember("rn", frozenset({"nurse"}), 2, shifts(start=start, end=end,
                                                              days=ALL_DAYS)),
             StaffMember("doc", frozenset({"prescriber"}), 1, shifts(start=start, end=end,
                                                                     days=ALL_DAYS)),
             StaffMember("ther", frozenset({"therapist"}), 1, shifts(start=start, end=end,
                                                                     days=ALL_DAYS))]
    return make_practice(tz, hours=weekly(start, end, ALL_DAYS), staff=staff)


@pytest.mark.parametrize("tz, first, change", CHANGES)
def test_nine_oclock_stays_nine_oclock(tz, first, change):
    practice = seven_day_practice(tz)
    protocol = one_phase(count=8, gap_days=GapDays(1, 1, 1))
    enrollment = make_enrollment(protocol, first, preferences=Preferences(time=hm("09:00")))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    zone = ZoneInfo(tz)
    local_starts = [s.start.astimezone(zone) for s in plan.sessions]
    assert {t.strftime("%H:%M") for t in local_starts} == {"09:00"}
    assert [t.date() for t in local_starts] == [first + timedelta(days=i) for i in range(8)]
    offsets = {t.utcoffset() for t in local_starts}
    assert len(offsets) == 2  # the series really crosses the change
    for s in plan.sessions:
        assert s.end - s.start == timedelta(minutes=85)  # real minutes, also on 23/25 h days


@pytest.mark.parametrize("tz, day, hours", [
    ("America/New_York", date(2027, 3, 14), 23), ("America/New_York", date(2026, 11, 1), 25),
    ("Europe/London", date(2027, 3, 28), 23), ("Europe/London", date(2026, 10, 25), 25),
    ("Australia/Sydney", date(2026, 10, 4), 23), ("Australia/Sydney", date(2027, 4, 4), 25),
])
def test_day_lengths(tz, day, hours):
    info = LocalClock(tz).day(day)
    assert info.end - info.start == hours * 3600
    assert not info.regular


@pytest.mark.parametrize("tz, day, gap_start", [
    ("America/New_York", date(2027, 3, 14), "02:00"),
    ("Europe/London", date(2027, 3, 28), "01:00"),
    ("Australia/Sydney", date(2026, 10, 4), "02:00"),
])
def test_spring_forward_gap_is_skipped(tz, day, gap_start):
    practice = seven_day_practice(tz)
    # the patient can come from the missing hour on; nothing may start inside it
    enrollment = make_enrollment(one_phase(), day, availability=Availability(
        earliest=hm(gap_start), latest=hm("12:00")))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    start = plan.sessions[0].start.astimezone(ZoneInfo(tz))
    assert start.date() == day
    assert start.hour * 60 + start.minute == hm(gap_start) + 60
    grid = LocalClock(tz).grid(day, 15)
    assert len(grid) == 23 * 4


@pytest.mark.parametrize("tz, day, first_utc, second_utc", [
    ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 5, 0, tzinfo=UTC),
     datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ("Europe/London", date(2026, 10, 25), datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
     datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
    ("Australia/Sydney", date(2027, 4, 4), datetime(2027, 4, 3, 15, 0, tzinfo=UTC),
     datetime(2027, 4, 3, 16, 0, tzinfo=UTC)),
])
def test_repeated_autumn_hour_gives_two_starts(tz, day, first_utc, second_utc):
    """01:00 (NY, London) / 02:00 (Sydney) happens twice; both instants are candidates."""
    wall = first_utc.astimezone(ZoneInfo(tz))
    clock = LocalClock(tz)
    instants = clock.starts_at(day, wall.hour * 60 + wall.minute)
    assert [datetime.fromtimestamp(i, UTC) for i in instants] == [first_utc, second_utc]
    practice = seven_day_practice(tz)
    # the room is busy until the SECOND occurrence of the repeated wall time
    busy = block("room", "inf0", first_utc - timedelta(hours=2), second_utc)
    busy2 = block("room", "inf1", first_utc - timedelta(hours=2), second_utc)
    practice = type(practice)(practice.clinic, practice.rooms, practice.staff, practice.kinds,
                              practice.routes, (busy, busy2))
    enrollment = make_enrollment(one_phase(), day, availability=Availability(
        earliest=wall.hour * 60 + wall.minute - 60, latest=hm("12:00")))
    plan = place_plan(practice, enrollment)
    verify(practice, enrollment, plan)
    assert plan.sessions[0].start == second_utc
    assert plan.sessions[0].start.astimezone(ZoneInfo(tz)).fold == 1
