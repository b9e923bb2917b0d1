"""Small practices, kinds and protocols for engine tests, plus the double check of a plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from scheduler.engine import (
    Allocation,
    Availability,
    Clinic,
    Enrollment,
    Practice,
    Preferences,
    Room,
    Shift,
    StaffMember,
)
from scheduler.rules.evaluator import PlacedSession, evaluate
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
from tests.engine.capacity_checker import (
    capacity_problems,
    double_bookings_brute,
    patient_busy_problems,
    session_problems,
)

WEEKDAYS5 = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


IV = SessionKind(
    "iv_infusion", "IV infusion", "iv",
    (Segment("setup", 15), Segment("dosing", 40, dose=True), Segment("recovery", 30)),
    frozenset({"iv_pump", "vitals_monitor"}), True,
    (StaffNeed("nurse", (("setup", "exclusive"), ("dosing", "shared"), ("recovery", "shared"))),),
    prescriber_on_site=True,
)
CONSULT = SessionKind(
    "consult", "Consult", "none", (Segment("consult", 45),), frozenset({"consult"}), True,
    (StaffNeed("prescriber", (("consult", "exclusive"),)),),
)
INTEGRATION = SessionKind(
    "integration", "Integration therapy", "none", (Segment("talk", 50),), frozenset(), False,
    (StaffNeed("therapist", (("talk", "exclusive"),)),),
)
ESKETAMINE = SessionKind(
    "esketamine_dose", "Esketamine", "intranasal",
    (Segment("dosing", 15, dose=True), Segment("monitoring", 120)),
    frozenset({"vitals_monitor", "recliner"}), True,
    (StaffNeed("nurse", (("dosing", "exclusive"), ("monitoring", "shared"))),),
)
KINDS = {k.code: k for k in (IV, CONSULT, INTEGRATION, ESKETAMINE)}


def iv_depression(follow_ups: bool = True, boosters: int = 4,
                  min_hours: float = 22) -> Protocol:
    """The brief's benchmark shape: consult, 6 infusions (+ integration each), 4 boosters."""
    return Protocol("iv-depression", "IV ketamine for depression", (
        Phase("consult", "consult", count=1),
        Phase("induction", "iv_infusion", count=6, after=After("consult", 1, 30),
              gap_days=GapDays(1, 2, 4), within_days=21, max_per_week=3,
              follow_up=FollowUp("integration", 24, 72) if follow_ups else None),
        Phase("maintenance", "iv_infusion", count=boosters, after=After("induction", 14, 42),
              gap_days=GapDays(21, 28, 42)),
    ), min_hours_between_doses=min_hours)


def one_phase(kind: str = "iv_infusion", count: int = 1, min_hours: float | None = None,
              **phase) -> Protocol:
    return Protocol("p", "p", (Phase("series", kind, count=count, **phase),),
                    min_hours_between_doses=min_hours)


def weekly(start: str = "08:00", end: str = "18:00", days=WEEKDAYS5):
    return {d: ((hm(start), hm(end)),) for d in days}


def shifts(clinic_id=1, start: str = "08:00", end: str = "18:00", days=WEEKDAYS5):
    return tuple(Shift(clinic_id, d, hm(start), hm(end)) for d in days)


def make_practice(tz: str = "America/New_York", *, infusion_rooms: int = 2, capacity: int = 1,
                  turnover: int = 15, nurses: int = 2, nurse_units: int = 2,
                  prescribers: int = 1, therapists: int = 1, hours=None, closures=(),
                  certifications=(), bookings=(), staff=None, rooms=None,
                  clinic_id=1) -> Practice:
    clinic = Clinic(clinic_id, tz, hours or weekly(), frozenset(closures),
                    frozenset(certifications))
    if rooms is None:
        rooms = [Room(f"inf{i}", frozenset({"iv_pump", "vitals_monitor", "recliner"}),
                      capacity, turnover) for i in range(infusion_rooms)]
        rooms.append(Room("consult1", frozenset({"consult"}), 1, 0))
    if staff is None:
        staff = [StaffMember(f"nurse{i}", frozenset({"nurse"}), nurse_units, shifts(clinic_id))
                 for i in range(nurses)]
        staff += [StaffMember(f"doc{i}", frozenset({"prescriber"}), 1, shifts(clinic_id))
                  for i in range(prescribers)]
        staff += [StaffMember(f"ther{i}", frozenset({"therapist"}), 1, shifts(clinic_id))
                  for i in range(therapists)]
    return Practice(clinic, tuple(rooms), tuple(staff), KINDS, ROUTES, tuple(bookings))


def make_enrollment(protocol: Protocol, start_on: date, **kw) -> Enrollment:
    return Enrollment("pat1", protocol, start_on, **kw)


def local(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


def block(resource_type: str, resource_id, start: datetime, end: datetime, unit: int = 0):
    return Allocation(resource_type, resource_id, unit, start, end)


def instances(plan) -> list[PlacedSession]:
    """The engine's sessions are what the evaluator judges: no conversion."""
    return list(plan.sessions)


def verify(practice: Practice, enrollment: Enrollment, plan, *, complete: bool = True,
           availability: bool = True) -> None:
    """Fail loudly unless the plan passes the independent checker AND the rule evaluator."""
    allocations = list(practice.bookings) + plan.allocations()
    problems = double_bookings_brute(allocations)
    problems += capacity_problems(allocations, practice.rooms, practice.staff)
    problems += session_problems(practice, enrollment, plan, availability=availability)
    problems += patient_busy_problems(enrollment, plan)
    violations = evaluate(enrollment.protocol, practice.kinds, instances(plan),
                          tz=ZoneInfo(practice.clinic.timezone),
                          clinic_certifications=practice.clinic.certifications,
                          complete=complete, horizon_end=enrollment.horizon)
    problems += [f"rule {v.rule}: {v.message}" for v in violations]
    assert not problems, "\n".join(problems)


__all__ = ["Availability", "Preferences", "replace"]
