"""Property tests: plans are generated first and rules drawn around them, so every protocol is
satisfiable by construction. Validation must accept it, the plan must evaluate clean, and moving
one session so that a gap leaves [min, max] must be reported on exactly that pair."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from scheduler.rules import WEEKDAYS, PlacedSession, evaluate, parse_protocol

from .helpers import KINDS

ZONES = [ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")]
PARENT_KINDS = ["iv_infusion", "consult", "shot"]


@dataclass
class Case:
    document: dict
    plan: list[PlacedSession]
    tz: ZoneInfo


def start_at(day: date, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)


def instance(key, phase, kind, start, follow_up_of=None):
    end = (start.astimezone(UTC) + timedelta(minutes=KINDS[kind].duration_minutes)).astimezone(
        start.tzinfo
    )
    return PlacedSession(key, phase, kind, start, end, follow_up_of)


def most_in_7_days(days: list[date]) -> int:
    return max(sum(1 for d in days if 0 <= (d - first).days <= 6) for first in days)


@st.composite
def satisfiable_cases(draw) -> Case:
    tz = draw(st.sampled_from(ZONES))
    day = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    phases: list[dict] = []
    plan: list[PlacedSession] = []
    for index in range(draw(st.integers(1, 3))):
        name = f"p{index}"
        kind = draw(st.sampled_from(PARENT_KINDS))
        phase: dict = {"name": name, "session_kind": kind}
        if phases:
            lead = draw(st.integers(1, 20))
            day = day + timedelta(days=lead)
            phase["after"] = {
                "phase": phases[-1]["name"],
                "min_days": draw(st.integers(0, lead)),
                "max_days": draw(st.none() | st.integers(lead, lead + 10)),
            }
        count = draw(st.integers(1, 8))
        gaps = draw(st.lists(st.integers(1, 10), min_size=count - 1, max_size=count - 1))
        days = [day]
        for gap in gaps:
            days.append(days[-1] + timedelta(days=gap))
        span = (days[-1] - days[0]).days
        open_ended = draw(st.booleans())
        if gaps or open_ended:
            low = draw(st.integers(1, min(gaps, default=10)))
            high = draw(st.integers(max(gaps, default=low), max(gaps, default=low) + 5))
            if open_ended:
                high = max(high, 2)  # room for until_days ≥ 1 after a lone session
            phase["gap_days"] = {"min": low, "target": draw(st.integers(low, high)), "max": high}
        if open_ended:
            # The phase is done: its last session plus gap max lies beyond until_days.
            high = phase["gap_days"]["max"]
            phase["until_days"] = draw(st.integers(max(1, span), span + high - 1))
            if draw(st.booleans()):
                phase["within_days"] = draw(st.integers(max(1, span), span + high - 1))
        else:
            phase["count"] = count
            if draw(st.booleans()):
                phase["within_days"] = draw(st.integers(max(1, span), span + 5))
        if draw(st.booleans()):
            phase["max_per_week"] = draw(st.integers(most_in_7_days(days), 7))
        if draw(st.booleans()):
            used = {WEEKDAYS[d.weekday()] for d in days}
            extra = draw(st.sets(st.sampled_from(WEEKDAYS)))
            phase["weekdays"] = sorted(used | extra, key=WEEKDAYS.index)
        follow_hours = None
        if kind != "consult" and draw(st.booleans()):
            follow_hours = draw(st.integers(1, 12))
            phase["follow_up"] = {
                "session_kind": "integration",
                "min_hours": draw(st.integers(0, follow_hours)),
                "max_hours": draw(st.integers(follow_hours, follow_hours + 48)),
            }
        for number, session_day in enumerate(days, 1):
            minute = draw(st.integers(8 * 12, 12 * 12)) * 5  # 08:00 to 12:00
            parent = instance(f"{name}#{number}", name, kind, start_at(session_day, minute, tz))
            plan.append(parent)
            if follow_hours is not None:
                follow_start = parent.end.astimezone(UTC) + timedelta(hours=follow_hours)
                plan.append(instance(
                    f"{name}#{number}/follow-up", name, "integration",
                    follow_start.astimezone(tz), follow_up_of=parent.key,
                ))
        phases.append(phase)
        day = days[-1]
    document = {"code": "generated", "name": "Generated", "phases": phases}
    if draw(st.booleans()):
        document["min_hours_between_doses"] = draw(st.integers(0, closest_doses_hours(plan)))
    return Case(document, plan, tz)


def closest_doses_hours(plan: list[PlacedSession]) -> int:
    starts = sorted(
        s.start.astimezone(UTC) + timedelta(minutes=KINDS[s.kind].dose_offsets()[0])
        for s in plan
        if KINDS[s.kind].has_dose
    )
    gaps = [(b - a).total_seconds() / 3600 for a, b in zip(starts, starts[1:])]
    return int(min(gaps, default=500))


def check(case: Case, plan=None):
    protocol = parse_protocol(case.document, KINDS)
    return evaluate(
        protocol, KINDS, case.plan if plan is None else plan, tz=case.tz,
        horizon_end=date(2031, 1, 1),
    )


@settings(max_examples=150, deadline=None)
@given(satisfiable_cases())
def test_generated_protocols_validate_and_their_plans_evaluate_clean(case):
    assert check(case) == []


def shift_days(s: PlacedSession, days: int, tz: ZoneInfo) -> PlacedSession:
    """The same wall-clock time ``days`` local days later (DST-safe)."""
    start = s.start.astimezone(tz)
    moved = datetime.combine(start.date() + timedelta(days=days), start.timetz().replace(fold=0))
    end = (moved.astimezone(UTC) + (s.end - s.start)).astimezone(tz)
    return replace(s, start=moved, end=end)


@settings(max_examples=150, deadline=None)
@given(satisfiable_cases(), st.data())
def test_a_gap_pushed_outside_its_bounds_is_caught(case, data):
    repeated = [p for p in case.document["phases"] if "gap_days" in p]
    parents = {
        p["name"]: [s for s in case.plan if s.phase == p["name"] and s.follow_up_of is None]
        for p in repeated
    }
    candidates = [p for p in repeated if len(parents[p["name"]]) >= 2]
    event(f"phases with a gap to move: {len(candidates)}")
    if not candidates:
        return
    phase = data.draw(st.sampled_from(candidates))
    sessions = parents[phase["name"]]
    i = data.draw(st.integers(1, len(sessions) - 1))
    before, moved = sessions[i - 1], sessions[i]
    day = lambda s: s.start.astimezone(case.tz).date()  # noqa: E731
    gap = (day(moved) - day(before)).days
    low, high = phase["gap_days"]["min"], phase["gap_days"]["max"]
    too_long = data.draw(st.booleans())
    if too_long:
        new_gap = high + data.draw(st.integers(1, 5))
    else:
        new_gap = data.draw(st.integers(0, low - 1))
    delta = new_gap - gap
    # Move this session and everything after it, so only this one gap changes.
    cut = moved.start.astimezone(UTC)
    plan = [
        shift_days(s, delta, case.tz) if s.start.astimezone(UTC) >= cut else s for s in case.plan
    ]

    violations = check(case, plan)

    rule = "gap_days.max" if too_long else "gap_days.min"
    amount = new_gap - high if too_long else low - new_gap
    assert any(
        v.rule == rule and set(v.sessions) == {before.key, moved.key} and v.amount == amount
        for v in violations
    ), violations
