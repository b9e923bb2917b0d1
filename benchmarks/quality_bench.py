"""Plan quality on hard instances: the engine's plans against an exact optimum (CP-SAT).

    python3 dev.py bench quality            # every scenario, 6 patients each (a few minutes)
    python3 dev.py bench quality --quick    # two patients per scenario

Several small clinics under pressure, each with a different bottleneck: one therapist, a nurse
(an exclusive 25-minute setup before every infusion), infusion chairs, and one person who is
both nurse and therapist. Every clinic gives KAP-like plans (a preparation session, then three
doses a week apart, an integration session 24-72 h after every dose) and IV plans (four
infusions two or more days apart, at most two a week, within 28 days, an integration session
after each); a prescriber is on shift four days a week and must be on site during doses; half
of the patients have restricted availability (four weekdays, or afternoons only). The first
two weeks are nearly full, the next two busy, then thinning; existing appointments sit back to
back or a few minutes apart at 5-minute resolution, as a real calendar fills.

New patients are placed one after another; for each, ``benchmarks.exact.exact_plan`` finds the
earliest local date on which the plan could finish against the same bookings, and the engine's
plan is compared with it (its last session's local date). The engine's plan then joins the
bookings. The gap rules' targets equal their minimums here, so the earliest finish is also what
the engine aims for. Every engine plan is re-checked by the rule evaluator and by the exact
model's own fit test (each session's start must be one the exact model accepts).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.engine import (
    Allocation,
    Availability,
    BookingIndex,
    Clinic,
    Enrollment,
    PlacementError,
    Practice,
    Room,
    Shift,
    StaffMember,
    place_plan,
)
from scheduler.rules.model import (
    After,
    FollowUp,
    GapDays,
    Phase,
    Protocol,
    Segment,
    SessionKind,
    StaffNeed,
)
from scheduler.rules.routes import ROUTES

from .exact import Calendar, _Fit, exact_plan, local_finish

START = date(2027, 1, 4)  # a Monday
WEEK = ("mon", "tue", "wed", "thu", "fri")


def kinds(setup_minutes: int = 15) -> dict[str, SessionKind]:
    return {
        "prep": SessionKind("prep", "KAP preparation", "none", (Segment("session", 50),),
                            frozenset({"therapy"}), True,
                            (StaffNeed("therapist", (("session", "exclusive"),)),)),
        "kap_dose": SessionKind(
            "kap_dose", "KAP dosing session", "im",
            (Segment("settle", 10), Segment("dose", 60, True), Segment("debrief", 20)),
            frozenset({"recliner"}), True,
            (StaffNeed("therapist", (("settle", "exclusive"), ("dose", "exclusive"),
                                     ("debrief", "exclusive"))),
             StaffNeed("nurse", (("dose", "shared"),))),
            prescriber_on_site=True),
        "iv_infusion": SessionKind(
            "iv_infusion", "IV infusion", "iv",
            (Segment("setup", setup_minutes), Segment("dosing", 40, True),
             Segment("recovery", 30)),
            frozenset({"iv_pump"}), True,
            (StaffNeed("nurse", (("setup", "exclusive"), ("dosing", "shared"),
                                 ("recovery", "shared"))),),
            prescriber_on_site=True),
        "integration": SessionKind("integration", "Integration therapy", "none",
                                   (Segment("session", 50),), frozenset({"therapy"}), True,
                                   (StaffNeed("therapist", (("session", "exclusive"),)),)),
    }


KAP = Protocol("kap", "KAP-like", (
    Phase("preparation", "prep", count=1),
    Phase("dosing", "kap_dose", count=3, gap_days=GapDays(7, 7, 14),
          after=After("preparation", 1, 21),
          follow_up=FollowUp("integration", 24, 72)),
), min_hours_between_doses=48)

IV = Protocol("iv", "IV series", (
    Phase("induction", "iv_infusion", count=4, gap_days=GapDays(2, 2, 7), within_days=28,
          max_per_week=2, follow_up=FollowUp("integration", 24, 72)),
), min_hours_between_doses=22)


@dataclass
class Scenario:
    name: str
    bottleneck: str
    practice: Practice
    zone: str


def _shifts(clinic_id, days, start, end):
    return tuple(Shift(clinic_id, d, start * 60, end * 60) for d in days)


def scenarios() -> list[Scenario]:
    out = []
    prescriber_days = ("mon", "tue", "wed", "thu")  # four days a week

    def clinic(cid, zone):
        return Clinic(cid, zone, {d: ((8 * 60, 18 * 60),) for d in WEEK})

    def practice(c, rooms, staff, setup=15):
        return Practice(c, tuple(rooms), tuple(staff), kinds(setup), ROUTES, ())

    c = clinic(1, "America/Phoenix")
    out.append(Scenario("therapist", "one therapist", practice(c, [
        Room("t1-ther1", frozenset({"therapy"}), 1, 10),
        Room("t1-ther2", frozenset({"therapy"}), 1, 10),
        Room("t1-rec", frozenset({"recliner"}), 2, 10),
        Room("t1-iv", frozenset({"iv_pump"}), 3, 10)], [
        StaffMember("t1-th", frozenset({"therapist"}), 1, _shifts(1, WEEK, 8, 17)),
        StaffMember("t1-rn1", frozenset({"nurse"}), 3, _shifts(1, WEEK, 8, 18)),
        StaffMember("t1-rn2", frozenset({"nurse"}), 3, _shifts(1, WEEK, 8, 18)),
        StaffMember("t1-md", frozenset({"prescriber"}), 1, _shifts(1, prescriber_days, 8, 18)),
    ]), c.timezone))

    c = clinic(2, "Asia/Tokyo")
    out.append(Scenario("nurse", "nurses' exclusive setup", practice(c, [
        Room("n2-ther1", frozenset({"therapy"}), 2, 5),
        Room("n2-rec", frozenset({"recliner"}), 2, 10),
        Room("n2-iv", frozenset({"iv_pump"}), 6, 10)], [
        StaffMember("n2-th1", frozenset({"therapist"}), 1, _shifts(2, WEEK, 8, 18)),
        StaffMember("n2-th2", frozenset({"therapist"}), 1, _shifts(2, WEEK, 8, 18)),
        StaffMember("n2-rn1", frozenset({"nurse"}), 2, _shifts(2, WEEK, 8, 17)),
        StaffMember("n2-md", frozenset({"prescriber"}), 1, _shifts(2, prescriber_days, 8, 18)),
    ], setup=25), c.timezone))

    c = clinic(3, "Australia/Brisbane")
    out.append(Scenario("chairs", "infusion chairs", practice(c, [
        Room("c3-ther1", frozenset({"therapy"}), 2, 5),
        Room("c3-rec", frozenset({"recliner"}), 1, 15),
        Room("c3-iv", frozenset({"iv_pump"}), 2, 15)], [
        StaffMember("c3-th1", frozenset({"therapist"}), 1, _shifts(3, WEEK, 8, 18)),
        StaffMember("c3-th2", frozenset({"therapist"}), 1, _shifts(3, WEEK, 8, 18)),
        StaffMember("c3-rn1", frozenset({"nurse"}), 4, _shifts(3, WEEK, 8, 18)),
        StaffMember("c3-rn2", frozenset({"nurse"}), 4, _shifts(3, WEEK, 8, 18)),
        StaffMember("c3-md", frozenset({"prescriber"}), 1, _shifts(3, prescriber_days, 8, 18)),
    ]), c.timezone))

    c = clinic(4, "America/Phoenix")
    out.append(Scenario("dual-role", "a nurse who is also the therapist", practice(c, [
        Room("d4-ther1", frozenset({"therapy"}), 1, 10),
        Room("d4-rec", frozenset({"recliner"}), 2, 10),
        Room("d4-iv", frozenset({"iv_pump"}), 2, 10)], [
        StaffMember("d4-rn1", frozenset({"nurse"}), 2, _shifts(4, WEEK, 8, 18)),
        StaffMember("d4-both", frozenset({"nurse", "therapist"}), 1, _shifts(4, WEEK, 8, 17)),
        StaffMember("d4-md", frozenset({"prescriber"}), 1, _shifts(4, prescriber_days, 8, 18)),
    ]), c.timezone))
    return out


# -- a calendar filled the way a busy clinic's calendar fills --------------------------------


def fill(scenario: Scenario, rng: random.Random, days: int = 56) -> list[Allocation]:
    """Existing appointments: random requests, each booked at the first free moment (5-minute
    steps) within an hour of its wish, so sessions sit back to back; 60 requests a day in the
    first two weeks, 30 in the next two, 8 after."""
    practice = scenario.practice
    ks = practice.kinds
    tz = ZoneInfo(practice.clinic.timezone)
    calendar = Calendar()
    out: list[Allocation] = []
    patient = [10_000 * practice.clinic.id]
    fit_kinds = [ks["integration"], ks["iv_infusion"], ks["kap_dose"], ks["prep"]]

    def book(kind, t):
        """Book ``kind`` at minute ``t`` with the first free resources, or return False."""
        from .exact import WEEKDAYS

        enrollment = Enrollment(("bg", patient[0]), IV, START)
        checker = _Fit(practice, enrollment, calendar, ROUTES)
        if not checker.fits(kind, t):
            return False
        allocations = _allocate(practice, kind, t, calendar, tz, WEEKDAYS, patient[0])
        calendar.add(allocations)
        out.extend(allocations)
        patient[0] += 1
        return True

    weights = (0.4, 0.3, 0.15, 0.15)
    for offset in range(days):
        day = START + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        attempts = 60 if offset < 14 else 30 if offset < 28 else 8
        midnight = int(datetime.combine(day, datetime.min.time(), tz).timestamp()) // 60
        for _ in range(attempts):
            kind = rng.choices(fit_kinds, weights)[0]
            cursor = midnight + 8 * 60 + 5 * rng.randrange(0, 120)
            for t in range(cursor, cursor + 60, 5):  # the first free moment: back to back
                if book(kind, t):
                    break
    return out


def _allocate(practice, kind, t, calendar, tz, weekdays, patient_id) -> list[Allocation]:
    """The allocations of one background appointment at minute ``t`` (first fitting room
    unit, first fitting people), as the database would store them."""
    def at(m):
        return datetime.fromtimestamp(m * 60, UTC)

    local = datetime.fromtimestamp(t * 60, tz)
    weekday = weekdays[local.weekday()]
    day_start = t - (local.hour * 60 + local.minute)
    out = [Allocation("patient", ("bg", patient_id), 0, at(t), at(t + kind.duration_minutes))]
    for room in practice.rooms:
        if not kind.room_features <= room.features:
            continue
        end = t + kind.duration_minutes + room.turnover_minutes
        unit = next((u for u in range(room.capacity)
                     if calendar.free(("room", room.id, u), t, end)), None)
        if unit is not None:
            out.append(Allocation("room", room.id, unit, at(t), at(end)))
            break
    used = set()
    for need in kind.staff:
        for person in practice.staff:
            if need.role not in person.roles or person.id in used:
                continue
            pieces, ok = [], True
            for seg, a, b in kind.segment_offsets():
                load = need.load_for(seg.name)
                if load is None:
                    continue
                if not any(s.weekday == weekday and day_start + s.start <= t + a
                           and t + b <= day_start + s.end for s in person.shifts):
                    ok = False
                    break
                units = range(person.max_concurrent_patients)
                free = [u for u in units
                        if calendar.free(("staff", person.id, u), t + a, t + b)]
                if load == "exclusive":
                    if len(free) != len(units):
                        ok = False
                        break
                    pieces += [(u, t + a, t + b) for u in units]
                elif free:
                    pieces.append((free[0], t + a, t + b))
                else:
                    ok = False
                    break
            if ok:
                used.add(person.id)
                out += [Allocation("staff", person.id, u, at(s), at(e)) for u, s, e in pieces]
                break
    return out


# -- the comparison ----------------------------------------------------------------------


def patients(scenario: Scenario, count: int, rng: random.Random):
    """Alternating KAP and IV plans; every other patient with restricted availability."""
    for i in range(count):
        protocol = KAP if i % 2 == 0 else IV
        availability = Availability()
        if i % 4 == 1:
            availability = Availability(weekdays=frozenset(rng.sample(WEEK, 4)))
        elif i % 4 == 3:
            availability = Availability(earliest=12 * 60)
        start_on = START + timedelta(days=rng.randrange(0, 8))
        yield Enrollment((scenario.name, i), protocol, start_on, availability)


def compare(scenario: Scenario, count: int, seed: int = 7, time_limit: float = 120.0):
    rng = random.Random(seed)
    allocations = fill(scenario, rng)
    calendar = Calendar(allocations)
    index = BookingIndex.from_allocations(allocations)
    rows = []
    for enrollment in patients(scenario, count, rng):
        practice = replace(scenario.practice, bookings=index)
        began = time.perf_counter()
        try:
            plan = place_plan(practice, enrollment)
        except PlacementError:
            plan = None
        engine_ms = (time.perf_counter() - began) * 1000
        exact = exact_plan(scenario.practice, enrollment, calendar, routes=ROUTES,
                           time_limit=time_limit)
        engine_finish = local_finish(plan, scenario.zone) if plan is not None else None
        problems = check(scenario, enrollment, plan, calendar) if plan is not None else []
        rows.append(Row(scenario.name, enrollment, engine_finish, exact, engine_ms, problems))
        if plan is not None:
            index.add_allocations(plan.allocations())
            calendar.add(plan.allocations())
    return rows


def check(scenario, enrollment, plan, calendar) -> list[str]:
    """The rule evaluator on the plan, and the exact model's fit test on each session."""
    from scheduler.rules.evaluator import evaluate

    problems = [v.rule for v in evaluate(enrollment.protocol, scenario.practice.kinds,
                                         plan.sessions, tz=ZoneInfo(scenario.zone))]
    fit = _Fit(scenario.practice, enrollment, calendar, ROUTES)
    for s in plan.sessions:
        if not fit.fits(scenario.practice.kinds[s.kind], int(s.start.timestamp()) // 60):
            problems.append(f"{s.key}: start the exact model refuses")
    return problems


@dataclass
class Row:
    scenario: str
    enrollment: Enrollment
    engine: date | None
    exact: object
    engine_ms: float
    problems: list

    @property
    def late(self) -> int | None:
        if self.engine is None or self.exact.finish is None:
            return None
        return (self.engine - self.exact.finish).days


def report(rows: list[Row]) -> None:
    print("| scenario | plan | availability | start | engine finish | optimum finish | days late "
          "| engine ms | CP-SAT s |")
    print("| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        a = r.enrollment.availability
        words = ("any" if a == Availability() else
                 "/".join(d for d in WEEK if d in a.weekdays) if a.weekdays else
                 f"from {a.earliest // 60:02d}:00")
        late = "" if r.late is None else str(r.late)
        print(f"| {r.scenario} | {r.enrollment.protocol.code} | {words} | "
              f"{r.enrollment.start_on} | {r.engine or 'failed'} | "
              f"{r.exact.finish or r.exact.status} | {late} | {r.engine_ms:.1f} | "
              f"{r.exact.seconds:.1f} |" + (f" problems: {r.problems}" if r.problems else ""))
    compared = [r for r in rows if r.late is not None]
    on_day = sum(1 for r in compared if r.late == 0)
    print()
    print(f"plans compared: {len(compared)} of {len(rows)}; on the optimum's day: {on_day}/"
          f"{len(compared)}; mean days late: "
          f"{statistics.mean(r.late for r in compared) if compared else 0:.2f}; "
          f"max: {max((r.late for r in compared), default=0)}; earlier than the optimum "
          f"(a model error): {sum(1 for r in compared if r.late < 0)}; engine failed where a "
          f"plan exists: {sum(1 for r in rows if r.engine is None and r.exact.finish)}; "
          f"rule or fit problems: {sum(len(r.problems) for r in rows)}")
    spans = [((r.exact.finish - r.enrollment.start_on).days + 1)
             / ((r.engine - r.enrollment.start_on).days + 1) for r in compared]
    if spans:
        print(f"span ratio (optimum's days / engine's days, mean): {statistics.mean(spans):.3f}")
    ms = sorted(r.engine_ms for r in rows)
    print(f"engine per plan: p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two patients per scenario")
    parser.add_argument("--patients", type=int, default=6, help="new patients per scenario")
    parser.add_argument("--scenario", help="only this scenario")
    parser.add_argument("--seed", type=int, default=7, help="bookings and patients")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")
    rows = []
    for scenario in scenarios():
        if args.scenario and scenario.name != args.scenario:
            continue
        rows += compare(scenario, 2 if args.quick else args.patients, seed=args.seed)
    report(rows)


if __name__ == "__main__":
    main()
