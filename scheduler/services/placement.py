"""The one placement pipeline: every path that puts sessions into a calendar goes through it.

Enrolling, rescheduling, the rolling horizon (and, read-only, availability) run the same steps:

1. ``open_calendar``: lock the clinic calendar, free expired holds, fix the moment of the request;
2. with the plan's pinned rules (``rule_store.enrollment_rules`` / ``load_version``);
3. ``Calendar.practice`` / ``Calendar.enrollment``: snapshot what the plan can reach;
4. the engine (the caller picks ``place_plan``, ``extend_plan`` or ``reschedule``);
5. ``Calendar.prove``: the evaluator re-checks the result; a rule the engine broke is our bug
   (500, logged), never the request's fault;
6. ``store_new`` / ``store_moves``: write after a free check.

How double booking is prevented, in order of authority:
1. PostgreSQL: an exclusion constraint on allocations (resource, unit, time range) refuses any
   overlapping active pair, whatever the code does. A placement that loses a race gets SQLSTATE
   23P01; ``retrying`` runs it again from step 1 (a few times), then answers 409.
2. SQLite: every transaction begins with ``BEGIN IMMEDIATE`` (see ``scheduler.database``), so
   read-place-write runs one writer at a time.
3. Code: before writing, the new allocations are checked against stored active ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import DBAPIError

from .. import engine
from ..errors import Conflict
from ..extensions import db
from ..models import Allocation, Appointment, Clinic, Enrollment
from ..models.types import utcnow
from ..rules.model import Protocol, SessionKind
from ..rules.session import PlacedSession
from . import holds, proof, snapshot
from .transaction import atomic, lock_clinic_calendar

log = logging.getLogger(__name__)

PLACEMENT_ATTEMPTS = 5
# Losing a race on PostgreSQL: the exclusion constraint refused an overlap (23P01), or two
# placements waited on each other's rows (40P01) or could not be serialised (40001). All mean
# "the calendar changed under us": read it again and place again.
RETRIABLE_SQLSTATES = frozenset({"23P01", "40P01", "40001"})

T = TypeVar("T")


class LostRace(Exception):
    """The calendar changed between reading and writing: read again and place again."""


def lost_race(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRIABLE_SQLSTATES


def retrying(work: Callable[[], T], what: str) -> T:
    """Run ``work`` in its own transaction; run it again (from a fresh read) when it lost a race.

    Every placing path uses this one loop, so they all give up the same way: a 409 saying the
    calendar kept changing. Any other error passes through after the rollback.
    """
    last: Exception | None = None
    for attempt in range(PLACEMENT_ATTEMPTS):
        try:
            with atomic():
                return work()
        except LostRace as exc:
            last = exc
        except DBAPIError as exc:
            if not lost_race(exc):
                raise
            last = exc
        log.info("%s lost a race (attempt %d): %s", what, attempt + 1, last)
    cause = getattr(last, "orig", last)
    raise Conflict("the calendar kept changing under this request; try again",
                   details={"reason": "concurrent_booking", "error": str(cause)[:200]})


@dataclass
class Calendar:
    """One clinic's calendar, locked for this transaction, and the rules of the plan placed."""

    clinic: Clinic
    protocol: Protocol
    kinds: dict[str, SessionKind]
    now: datetime
    """The moment of the request: nothing is placed or moved before it."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def practice(self, *, patient_id: int | None, window_start: datetime,
                 window_end: datetime, ignore_appointment_ids: frozenset[int] = frozenset()
                 ) -> engine.Practice:
        return snapshot.practice_for(self.clinic, self.kinds, patient_id=patient_id,
                                     window_start=window_start, window_end=window_end,
                                     ignore_appointment_ids=ignore_appointment_ids,
                                     indexed=True)

    def enrollment(self, practice: engine.Practice, *, patient_id: int, start_on: date,
                   availability: dict, preferences: dict, horizon_end: date | None
                   ) -> engine.Enrollment:
        return engine_enrollment(self.protocol, patient_id, start_on, availability, preferences,
                                 horizon_end, snapshot.patient_busy(practice.bookings, patient_id),
                                 not_before=self.now)

    def prove(self, sessions: Sequence[PlacedSession], *, complete: bool,
              horizon_end: date | None = None) -> None:
        proof.prove(self.protocol, self.kinds, sessions, self.clinic, complete=complete,
                    horizon_end=horizon_end)


def open_calendar(clinic: Clinic, rules: tuple[Protocol, dict[str, SessionKind]], *,
                  now: datetime | None = None) -> Calendar:
    """Steps 1-2: lock the clinic's calendar for this transaction and free expired holds.

    ``now`` is the moment of the request (a job passes its run time); by default the clock's.
    """
    now = lock_calendars([clinic.id], now)
    protocol, kinds = rules
    return Calendar(clinic, protocol, kinds, now)


def lock_calendars(clinic_ids, now: datetime | None = None) -> datetime:
    """Step 1 for one clinic or several (a disruption may reach more than one): their
    calendars locked in id order, so two callers never wait on each other in a circle; expired
    holds freed. Returns the moment of the request."""
    for clinic_id in sorted(set(clinic_ids)):
        lock_clinic_calendar(clinic_id)
    now = now or utcnow()
    holds.release_expired_holds(now)
    return now


def store_new(enrollment: Enrollment, sessions: Iterable[PlacedSession],
              status: str, *, detached: bool = False) -> list[Appointment]:
    """New appointments for the plan, after checking that their resources are free.

    ``detached``: stored outside the plan (no enrollment, no key) with follow-ups linked among
    themselves: a waitlist offer's held alternative, which joins the plan only when accepted.
    """
    sessions = list(sessions)
    assert_free([a for s in sessions for a in s.allocations])
    by_key: dict[str, Appointment] = {} if detached else \
        {a.key: a for a in enrollment.appointments if a.key}
    stored = []
    for session in sessions:
        appt = Appointment(
            enrollment_id=None if detached else enrollment.id,
            patient_id=enrollment.patient_id,
            clinic_id=enrollment.clinic_id, session_kind=session.kind, phase=session.phase,
            key=None if detached else session.key, starts_at=session.start,
            ends_at=session.end, status=status,
            follow_up_of=by_key[session.follow_up_of] if session.follow_up_of else None)
        appt.allocations = [to_allocation(a) for a in session.allocations]
        db.session.add(appt)
        by_key[session.key] = appt
        stored.append(appt)
    db.session.flush()
    db.session.expire(enrollment, ["appointments"])  # read back with the new ones
    return stored


def store_moves(rows: Sequence[Appointment], sessions: Sequence[PlacedSession]) -> None:
    """Give each appointment its session's new time and resources (``sequence`` grows).

    Every old slot is freed before any new one is taken: a session may move onto the time
    another moved session leaves, and the exclusion constraint checks each row as inserted.
    """
    assert_free([a for s in sessions for a in s.allocations],
                ignore_appointment_ids=[r.id for r in rows])
    for row in rows:
        row.allocations.clear()
    db.session.flush()
    for row, session in zip(rows, sessions, strict=True):
        row.starts_at, row.ends_at = session.start, session.end
        row.allocations = [to_allocation(a) for a in session.allocations]
        row.sequence += 1
    db.session.flush()


def engine_enrollment(protocol: Protocol, patient_id: int, start_on: date, availability: dict,
                      preferences: dict, horizon_end: date | None, busy: tuple = (), *,
                      not_before: datetime | None = None) -> engine.Enrollment:
    return engine.Enrollment(
        patient_id=patient_id, protocol=protocol, start_on=start_on,
        availability=engine.Availability(
            weekdays=frozenset(availability["weekdays"]) if availability.get("weekdays") else None,
            earliest=_opt_minutes(availability.get("earliest")),
            latest=_opt_minutes(availability.get("latest"))),
        preferences=engine.Preferences(
            time=_opt_minutes(preferences.get("time")), staff_id=preferences.get("staff_id")),
        patient_busy=busy, horizon_end=horizon_end, not_before=not_before)


def _opt_minutes(value: str | None) -> int | None:
    return engine.parse_hhmm(value) if value else None


def without_orphans(appts: list[Appointment]) -> list[Appointment]:
    """Follow-ups whose dose is no longer in the plan stand alone: they keep their slot (and
    block it) but no longer take part in the plan's rules."""
    keys = {a.key for a in appts}
    return [a for a in appts if a.parent_key is None or a.parent_key in keys]


def to_allocation(a: engine.Allocation) -> Allocation:
    return Allocation(resource_type=a.resource_type, resource_id=a.resource_id, unit=a.unit,
                      starts_at=a.start, ends_at=a.end, active=True)


def assert_free(allocations, ignore_appointment_ids=()) -> None:
    """Second line of defence: no stored active allocation overlaps any of these."""
    if not allocations:
        return
    clash_terms = [and_(Allocation.resource_type == a.resource_type,
                        Allocation.resource_id == a.resource_id, Allocation.unit == a.unit,
                        Allocation.starts_at < a.end, Allocation.ends_at > a.start)
                   for a in allocations]
    query = select(Allocation.appointment_id).where(Allocation.active.is_(True),
                                                    or_(*clash_terms))
    if ignore_appointment_ids:
        query = query.where(Allocation.appointment_id.not_in(list(ignore_appointment_ids)))
    clash = db.session.scalar(query.limit(1))
    if clash is not None:
        raise LostRace(f"a resource is already taken by appointment #{clash}")
