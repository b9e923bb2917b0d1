"""Placement engine benchmark on a synthetic but realistic practice.

    .venv/bin/python -m benchmarks.engine_bench            # full run (a few minutes)
    .venv/bin/python -m benchmarks.engine_bench --quick    # short run
    .venv/bin/python -m benchmarks.engine_bench --profile  # pyinstrument: 60 single plans
    .venv/bin/python -m benchmarks.engine_bench --profile-many realistic   # or: stress

Measures the engine call only (the booking index is built once and reused, as a server would
keep it per request batch); index build time is reported separately. Scenarios:

1. one ``iv-depression`` plan (consult, 6 infusions each with an integration follow-up,
   4 boosters = 17 sessions) into a clinic of 8 rooms and 12 staff holding 1k/5k/20k booked
   appointments: median, p95, p99;
2. 1,000 enrollments placed one after another into 3 clinics (staff shared between clinics),
   each plan's allocations added to the bookings; the final calendar is checked conflict-free
   by a separate sort-and-sweep checker and every plan by ``scheduler.rules.evaluator``. Two
   workloads: ``realistic`` (arrivals at random over 26 weeks; a first failure is retried once
   from the earliest workable date its explanation gives, as the front desk would) and
   ``stress`` (the earlier workload, evenly spaced start dates, no retry);
3. horizon growth: the template's open-ended maintenance over 90/180/365-day horizons.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections import defaultdict
from dataclasses import replace
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
    Preferences,
    Room,
    SearchOptions,
    Shift,
    StaffMember,
    place_plan,
)
from scheduler.engine.localtime import LocalClock
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

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ZONES = ("America/New_York", "Europe/London", "Australia/Sydney")
BASE_DAY = date(2026, 9, 7)

INTEGRATION = SessionKind(
    "integration", "Integration therapy", "none", (Segment("session", 50),), frozenset(), False,
    (StaffNeed("therapist", (("session", "exclusive"),)),))


def iv_depression() -> tuple[Protocol, dict[str, SessionKind], str]:
    """The brief's 17-session shape, from the shipped template when it is there."""
    try:
        from scheduler.rules.templates import load_template

        protocol, kinds, _ = load_template("iv-depression")
        source = "template iv-depression + integration follow-ups, 4 boosters"
    except Exception:  # templates not available: build the same shape from the model
        protocol, kinds, source = _model_iv_depression(), _model_kinds(), "built from the model"
    kinds = {**kinds, "integration": INTEGRATION}
    phases = []
    for phase in protocol.phases:
        if phase.name == "induction":
            phase = replace(phase, follow_up=FollowUp("integration", 24, 72))
        elif phase.name == "maintenance":
            phase = replace(phase, count=4, until_days=None)
        phases.append(phase)
    return replace(protocol, phases=tuple(phases)), kinds, source


def template_open_ended() -> tuple[Protocol, dict[str, SessionKind]]:
    try:
        from scheduler.rules.templates import load_template

        protocol, kinds, _ = load_template("iv-depression")
        return protocol, kinds
    except Exception:
        protocol = _model_iv_depression()
        phases = protocol.phases[:2] + (replace(protocol.phases[2], count=None,
                                                until_days=365),)
        return replace(protocol, phases=phases), _model_kinds()


def _model_kinds() -> dict[str, SessionKind]:
    iv = SessionKind(
        "iv_infusion", "IV infusion", "iv",
        (Segment("setup", 15), Segment("dosing", 40, True), Segment("recovery", 30)),
        frozenset({"iv_pump", "vitals_monitor"}), True,
        (StaffNeed("nurse", (("setup", "exclusive"), ("dosing", "shared"),
                             ("recovery", "shared"))),), prescriber_on_site=True)
    consult = SessionKind("consult", "Consult", "none", (Segment("consult", 45),),
                          frozenset({"consult"}), True,
                          (StaffNeed("prescriber", (("consult", "exclusive"),)),))
    return {"iv_infusion": iv, "consult": consult}


def _model_iv_depression() -> Protocol:
    return Protocol("iv-depression", "IV ketamine for depression", (
        Phase("consult", "consult", count=1),
        Phase("induction", "iv_infusion", count=6, after=After("consult", 1, 30),
              gap_days=GapDays(1, 2, 4), within_days=21, max_per_week=3),
        Phase("maintenance", "iv_infusion", count=4, after=After("induction", 21, 42),
              gap_days=GapDays(21, 28, 42)),
    ), min_hours_between_doses=22)


# -- the synthetic practice ---------------------------------------------------------------


def build_clinics(n_clinics: int, kinds, rng: random.Random):
    """n clinics of 8 rooms and 12 staff each; two therapists work at two clinics each."""
    clinics, rooms_by, staff = [], {}, []
    for c in range(n_clinics):
        cid = c + 1
        hours = {d: ((7 * 60, 19 * 60),) for d in WEEKDAYS}
        hours["sat"] = ((8 * 60, 13 * 60),)
        clinics.append(Clinic(cid, ZONES[c % len(ZONES)], hours,
                              frozenset({BASE_DAY + timedelta(days=rng.randrange(30, 200))}),
                              frozenset({"esketamine_rems"})))
        rooms = [Room(f"c{cid}-inf{i}", frozenset({"iv_pump", "vitals_monitor", "recliner"}),
                      2 if i < 2 else 1, 15) for i in range(6)]
        rooms += [Room(f"c{cid}-con{i}", frozenset({"consult"}), 1, 0) for i in range(2)]
        rooms_by[cid] = rooms
        early = tuple(Shift(cid, d, 7 * 60, 15 * 60) for d in WEEKDAYS)
        late = tuple(Shift(cid, d, 11 * 60, 19 * 60) for d in WEEKDAYS)
        sat = (Shift(cid, "sat", 8 * 60, 13 * 60),)
        for i in range(6):
            staff.append(StaffMember(f"c{cid}-rn{i}", frozenset({"nurse"}), 3 if i < 3 else 2,
                                     (early if i % 2 == 0 else late) + (sat if i == 0 else ())))
        for i in range(3):
            staff.append(StaffMember(f"c{cid}-md{i}", frozenset({"prescriber"}), 1,
                                     early if i == 0 else late if i == 1 else early + sat))
        for i in range(3):
            staff.append(StaffMember(f"c{cid}-th{i}", frozenset({"therapist"}), 1,
                                     early if i != 1 else late))
    # shared therapists: each also works Fridays at the next clinic
    for c in range(n_clinics):
        person = next(p for p in staff if p.id == f"c{c + 1}-th0")
        other = (c + 1) % n_clinics + 1
        extra = (Shift(other, "fri", 7 * 60, 15 * 60),)
        staff[staff.index(person)] = replace(
            person, shifts=tuple(s for s in person.shifts
                                 if not (s.weekday == "fri")) + extra)
    practices = [Practice(clinic, tuple(rooms_by[clinic.id]),
                          tuple(p for p in staff if any(s.clinic_id == clinic.id
                                                        for s in p.shifts)),
                          kinds, ROUTES, ()) for clinic in clinics]
    return practices


def synthetic_bookings(practice: Practice, count: int, rng: random.Random,
                       first_day: date, idle: float = 0.25) -> list[Allocation]:
    """``count`` conflict-free appointments (room + staff + patient allocations), packed
    day by day from ``first_day`` at ~75% of the infusion rooms' capacity."""
    clock = LocalClock(practice.clinic.timezone)
    out: list[Allocation] = []
    busy: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    nurses = [p for p in practice.staff if "nurse" in p.roles]
    doctors = [p for p in practice.staff if "prescriber" in p.roles]
    made, day, patient = 0, first_day, 10_000_000 * practice.clinic.id

    def free(key, s, e):
        return all(not (a < e and s < b) for a, b in busy[(key, day)])

    def hold(key, s, e):
        busy[(key, day)].append((s, e))
        out.append(Allocation(key[0], key[1], key[2], datetime.fromtimestamp(s, UTC),
                              datetime.fromtimestamp(e, UTC)))

    while made < count:
        weekday = WEEKDAYS[day.weekday()] if day.weekday() < 5 else None
        if weekday is None or day in practice.clinic.closures:
            day += timedelta(days=1)
            continue
        for room in practice.rooms:
            consult = "consult" in room.features
            cursor = 7 * 60 + rng.choice([0, 15, 30])
            while made < count:
                length = 45 if consult else 85
                if cursor + length > 19 * 60:
                    break
                if rng.random() < idle:
                    cursor += 15 * rng.randrange(1, 8)
                    continue
                s = clock.window(day, cursor, cursor)[0]
                e = s + length * 60
                unit = rng.randrange(room.capacity)
                people = doctors if consult else nurses
                order = rng.sample(people, len(people))
                person = None
                for p in order:
                    duty = [(clock.window(day, sh.start, sh.end)) for sh in p.shifts
                            if sh.clinic_id == practice.clinic.id and sh.weekday == weekday]
                    if not any(a <= s and e <= b for a, b in duty):
                        continue
                    keys = [("staff", p.id, u) for u in range(p.max_concurrent_patients)]
                    if all(free(k, s, s + 15 * 60) for k in keys) and free(keys[0], s, e):
                        person = (p, keys)
                        break
                if person is None or not free(("room", room.id, unit), s,
                                              e + room.turnover_minutes * 60):
                    cursor += 15
                    continue
                patient += 1
                hold(("room", room.id, unit), s, e + room.turnover_minutes * 60)
                p, keys = person
                if consult:
                    for k in keys:
                        hold(k, s, e)
                else:
                    hold(keys[0], s, e)
                    for k in keys[1:]:
                        hold(k, s, s + 15 * 60)
                hold(("patient", patient, 0), s, e)
                made += 1
                cursor += length + room.turnover_minutes + 15 * rng.randrange(0, 3)
        day += timedelta(days=1)
    return out


def enrollment(protocol, start: date, rng: random.Random, patient) -> Enrollment:
    prefs = Preferences(time=rng.choice([None, 9 * 60, 10 * 60, 13 * 60, 15 * 60]))
    availability = Availability()
    if rng.random() < 0.3:
        availability = Availability(weekdays=frozenset(rng.sample(WEEKDAYS, 4)),
                                    earliest=8 * 60, latest=17 * 60)
    return Enrollment(patient, protocol, start, availability, prefs)


# -- measurement --------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"median": statistics.median(ordered), "p95": pick(0.95), "p99": pick(0.99),
            "max": ordered[-1]}


def fmt(stats: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:7.1f} ms" for k, v in stats.items())


def single_plan(sizes, runs, rng_seed=7):
    protocol, kinds, source = iv_depression()
    print(f"protocol: {source}; sessions per plan: "
          f"{sum(p.count * (2 if p.follow_up else 1) for p in protocol.phases)}")
    rows = []
    for size in sizes:
        rng = random.Random(rng_seed)
        practice = build_clinics(1, kinds, rng)[0]
        t0 = time.perf_counter()
        allocations = synthetic_bookings(practice, size, rng, BASE_DAY - timedelta(days=14))
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = BookingIndex.from_allocations(allocations)
        build = (time.perf_counter() - t0) * 1000
        practice = replace(practice, bookings=index)
        last = max(a.end for a in allocations).date()
        span = (last - BASE_DAY).days
        samples, failed, sessions = [], [], 0
        for i in range(runs):
            start = BASE_DAY + timedelta(days=rng.randrange(0, max(1, span - 20)))
            e = enrollment(protocol, start, rng, f"bench-{i}")
            t0 = time.perf_counter()
            try:
                plan = place_plan(practice, e)
                sessions = len(plan.sessions)
                samples.append((time.perf_counter() - t0) * 1000)
            except PlacementError:
                failed.append((time.perf_counter() - t0) * 1000)
        stats = percentiles(samples + failed)
        rows.append((size, len(allocations), stats, len(failed), build))
        print(f"bookings {size:6d} appts ({len(allocations):6d} allocations over {span} days, "
              f"generated in {gen:4.1f}s; index build {build:6.1f} ms), {runs} runs, "
              f"{sessions} sessions/plan:\n  all      {fmt(stats)}\n  placed   "
              f"{fmt(percentiles(samples))}  ({len(samples)})")
        if failed:
            print(f"  failures {fmt(percentiles(failed))}  ({len(failed)} explained; any "
                  "earliest-date search included)")
    return rows


def stress_intake(total: int, rng: random.Random):
    """The earlier workload, kept for comparison: start dates evenly spaced over 180 days
    (plus 0-4 days), clinics in turn, 30% of patients on 4 random weekdays 08:00-17:00 (with
    integration 24-72 h after each infusion, Mon-Thu and Tue-Fri can never work), preferred
    times 9, 10, 13 or 15 h or none. Later enrollments crowd the same weekday patterns."""
    for i in range(total):  # a generator: draws interleave with enrollment() as they did
        start = BASE_DAY + timedelta(days=(i * 180) // total + rng.randrange(0, 5))
        yield i % 3, start, None


def realistic_intake(total: int, rng: random.Random, days: int = 182):
    """Enrollments arriving at random over ``days`` (26 weeks), in arrival order, each at a
    random clinic and starting 1-14 days after arrival. Availability: 70% any time, 20%
    mornings (08:00-13:00) or afternoons (12:00-19:00) on weekdays, 10% three or four chosen
    weekdays 09:00-17:00; preferred start on the hour 08:00-16:00 for 60%."""
    arrivals = sorted(rng.uniform(0, days) for _ in range(total))
    out = []
    for arrival in arrivals:
        start = BASE_DAY + timedelta(days=int(arrival) + rng.randint(1, 14))
        roll = rng.random()
        if roll < 0.7:
            availability = Availability()
        elif roll < 0.9:
            window = rng.choice([(8 * 60, 13 * 60), (12 * 60, 19 * 60)])
            availability = Availability(weekdays=frozenset(WEEKDAYS), earliest=window[0],
                                        latest=window[1])
        else:
            availability = Availability(weekdays=frozenset(rng.sample(WEEKDAYS,
                                                                      rng.choice([3, 4]))),
                                        earliest=9 * 60, latest=17 * 60)
        time_pref = rng.choice(range(8, 17)) * 60 if rng.random() < 0.6 else None
        out.append((rng.randrange(3), start, (availability, Preferences(time=time_pref))))
    return out


def many_enrollments(total, initial, workload="realistic", rng_seed=11):
    """``total`` enrollments placed one after another into 3 clinics; returns a summary."""
    protocol, kinds, _ = iv_depression()
    rng = random.Random(rng_seed)
    practices = build_clinics(3, kinds, rng)
    allocations = []
    for practice in practices:
        allocations += synthetic_bookings(practice, initial, rng, BASE_DAY - timedelta(days=7),
                                          idle=0.85)
    index = BookingIndex.from_allocations(allocations)
    practices = [replace(p, bookings=index) for p in practices]
    intake = (realistic_intake if workload == "realistic" else stress_intake)(total, rng)
    placed_plans, failures, samples, failed_ms = [], [], [], []
    retry = workload == "realistic"
    retried = retry_failed = 0
    engine_time = 0.0
    wall0 = time.perf_counter()
    for i, (clinic, start, patient) in enumerate(intake):
        practice = practices[clinic]
        e = enrollment(protocol, start, rng, f"p{i}")
        if patient is not None:
            e = replace(e, availability=patient[0], preferences=patient[1])
        t0 = time.perf_counter()
        try:
            plan = place_plan(practice, e)
        except PlacementError as err:
            failures.append(err.explanation)
            plan = None
        elapsed = time.perf_counter() - t0
        engine_time += elapsed
        samples.append(elapsed * 1000)
        if plan is None:
            failed_ms.append(elapsed * 1000)
            later = failures[-1].earliest_start_on
            if retry and later is not None:
                # the front desk takes the earliest workable start date it was given
                e = replace(e, start_on=later)
                t0 = time.perf_counter()
                try:
                    plan = place_plan(practice, e)
                    failures.pop()
                    retried += 1
                except PlacementError as err:
                    failures[-1] = err.explanation
                    retry_failed += 1
                elapsed = time.perf_counter() - t0
                engine_time += elapsed
                samples.append(elapsed * 1000)
        if plan is not None:
            index.add_allocations(plan.allocations())
            placed_plans.append((practice, e, plan))
    wall = time.perf_counter() - wall0
    every = allocations + [a for _, _, plan in placed_plans for a in plan.allocations()]
    t0 = time.perf_counter()
    conflicts = sweep_conflicts(every)
    rule_problems = evaluate_all(placed_plans)
    check = time.perf_counter() - t0
    explained = sum(1 for x in failures if x.blockers and x.message)
    never = sum(1 for x in failures if x.blockers and x.blockers[0].code == "series"
                and x.window_start is None)
    with_date = sum(1 for x in failures if x.earliest_start_on is not None)
    cut_short = sum(1 for x in failures if x.earliest_search_limited)
    print(f"{total} enrollments, {workload} intake, into 3 clinics ({initial} existing appts "
          f"each): engine {engine_time:5.1f} s total (loop {wall:5.1f} s)\n"
          f"  per call ({len(samples)} calls) {fmt(percentiles(samples))}\n"
          f"  placed {len(placed_plans)}"
          + (f" ({retried} of them at the earliest workable date of a first failure; "
             f"{retry_failed} such retries failed)" if retry else "")
          + f", failed {len(failures)} ({explained} explained: {never} series that no start "
          f"date fits, {with_date} with an earliest workable date, {cut_short} whose "
          f"earliest-date search hit its work limit)")
    if failed_ms:
        print(f"  failures {fmt(percentiles(failed_ms))}")
    print(f"  final calendar {len(every)} allocations: {conflicts} unit conflicts, "
          f"{rule_problems} rule violations (checked in {check:4.1f} s)")
    return {"engine_s": engine_time, "conflicts": conflicts, "violations": rule_problems,
            "placed": len(placed_plans), "failed": len(failures), "per_call": samples,
            "failed_ms": failed_ms, "retried": retried, "retry_failed": retry_failed}


def sweep_conflicts(allocations) -> int:
    """Independent of the engine's index: group per unit, sort, compare neighbours."""
    by_unit = defaultdict(list)
    for a in allocations:
        by_unit[(a.resource_type, a.resource_id, a.unit)].append((a.start, a.end))
    conflicts = 0
    for intervals in by_unit.values():
        intervals.sort()
        latest = None
        for s, e in intervals:
            if latest is not None and s < latest:
                conflicts += 1
            latest = e if latest is None or e > latest else latest
    return conflicts


def evaluate_all(placed) -> int:
    from scheduler.rules.evaluator import evaluate

    problems = 0
    for practice, e, plan in placed:
        problems += len(evaluate(e.protocol, practice.kinds, plan.sessions,
                                 tz=ZoneInfo(practice.clinic.timezone),
                                 clinic_certifications=practice.clinic.certifications,
                                 horizon_end=e.horizon))
    return problems


def horizons(runs, days_list=(90, 180, 365)):
    protocol, kinds = template_open_ended()
    rng = random.Random(5)
    practice = build_clinics(1, {**kinds, "integration": INTEGRATION}, rng)[0]
    allocations = synthetic_bookings(practice, 5000, rng, BASE_DAY - timedelta(days=14))
    practice = replace(practice, bookings=BookingIndex.from_allocations(allocations))
    for days in days_list:
        samples, sessions = [], 0
        for i in range(runs):
            start = BASE_DAY + timedelta(days=rng.randrange(0, 30))
            e = replace(enrollment(protocol, start, rng, f"h{i}"),
                        horizon_end=start + timedelta(days=days))
            t0 = time.perf_counter()
            try:
                sessions = len(place_plan(practice, e).sessions)
            except PlacementError:
                pass
            samples.append((time.perf_counter() - t0) * 1000)
        print(f"open-ended template, horizon {days:3d} days ({sessions} sessions): "
              f"{fmt(percentiles(samples))}")


def profile():
    from pyinstrument import Profiler

    protocol, kinds, _ = iv_depression()
    rng = random.Random(7)
    practice = build_clinics(1, kinds, rng)[0]
    allocations = synthetic_bookings(practice, 5000, rng, BASE_DAY - timedelta(days=14))
    practice = replace(practice, bookings=BookingIndex.from_allocations(allocations))
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for i in range(60):
        start = BASE_DAY + timedelta(days=rng.randrange(0, 60))
        try:
            place_plan(practice, enrollment(protocol, start, rng, f"prof{i}"))
        except PlacementError:
            pass
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def profile_many(workload: str) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    many_enrollments(total=1000, initial=1000, workload=workload)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile only")
    parser.add_argument("--profile-many", choices=("realistic", "stress"),
                        help="pyinstrument profile of the 1,000-enrollment run")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, default SearchOptions: {SearchOptions()}")
    if args.profile:
        profile()
        return
    if args.profile_many:
        profile_many(args.profile_many)
        return
    if args.quick:
        single_plan([1000, 5000], runs=30)
        many_enrollments(total=150, initial=500)
        horizons(runs=5)
    else:
        single_plan([1000, 5000, 20000], runs=200)
        many_enrollments(total=1000, initial=1000, workload="realistic")
        many_enrollments(total=1000, initial=1000, workload="stress")
        horizons(runs=20)


if __name__ == "__main__":
    main()
