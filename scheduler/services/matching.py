"""Waitlist matching: freed time becomes an offer to the first waiting patient it helps.

Runs in the job process (``match_waitlist``), for each clinic whose capacity-release marker
moved since its last matching (see ``releases``). Why the job rather than the freeing request:
the request stays as fast as before and never fails because matching failed; matching one
clinic against its whole waitlist is one locked pass however many releases came in between;
and the marker, written in the releasing transaction, makes "a release happened" database
state that any runner (one at a time, advisory-locked) picks up within seconds.

One pass, in one transaction under the clinic's calendar lock (the placement pipeline's step 1,
so no other placement interleaves and two matchers run one after the other):

1. expired and stale offers of the clinic are ended (their held time is free again);
2. the clinic's bookings are read once into one booking index shared by every candidate;
3. for each waiting enrollment, in serving order, that has no open offer: its whole plan is
   placed again by the engine (``place_plan``, the pinned rules, the patient's availability
   and preferences) from ``max(start_on, today)``, with its first session at least
   ``min_gain_days`` earlier than now, against every stored booking: nobody else moves, and
   the patient's own current sessions count as busy too, because the offer is held next to
   them until it is accepted (held and current sessions may never overlap in the calendar);
4. the evaluator proves the plan, it is stored as held appointments after a free check
   (``store_new``), the offer is made and its allocations join the shared index, so the next
   candidate sees them taken.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from .. import engine
from ..engine.index import next_free
from ..engine.localtime import to_seconds
from ..extensions import db
from ..models import Allocation, Clinic, Enrollment, Offer, OfferAppointment, WaitlistEntry
from ..models.status import BOOKED, CANCELLED, HELD, LIVE, OFFER_OPEN
from ..models.types import utcnow
from . import offers, placement, releases, rule_store, snapshot
from .waitlist import serving_order

log = logging.getLogger(__name__)

MAX_FIRST_DAY_PROBES = 10
"""Up to this many days with free time in a plan's window, each is tried as its first day."""
SCAN_MARGIN_DAYS = 60
"""Beyond the last waiting plan's sessions, days are left to the engine as they are."""


def match_pending(now: datetime | None = None) -> int:
    """Background job: match every clinic released since its last matching; offers made."""
    made = 0
    for clinic_id, generation in releases.pending():
        db.session.rollback()  # end the read; each clinic is its own transaction
        made += match_clinic(clinic_id, now=now, generation=generation)
    return made


def match_clinic(clinic_id: int, *, now: datetime | None = None,
                 generation: int | None = None) -> int:
    """One matching pass over a clinic's waitlist (see the module doc); offers made."""
    return placement.retrying(lambda: _match(clinic_id, now or utcnow(), generation),
                              "waitlist matching")


def _match(clinic_id: int, now: datetime, generation: int | None) -> int:
    clinic = db.session.get(Clinic, clinic_id)
    if clinic is None:
        return 0
    placement.lock_clinic_calendar(clinic_id)
    offers.release_expired_offers(now, clinic_id)
    offers.withdraw_stale_offers(clinic_id, now)
    db.session.flush()
    current = releases.generation(clinic_id)
    entries = list(db.session.scalars(serving_order(clinic_id)))
    busy_offers = set(db.session.scalars(select(Offer.enrollment_id).where(
        Offer.clinic_id == clinic_id, Offer.status == OFFER_OPEN)))
    entries = [e for e in entries if e.enrollment_id not in busy_offers
               and (e.passed_generation is None or e.passed_generation < current)]
    made = 0
    if entries:
        made = _offer_in_order(clinic, entries, now)
    releases.matched(clinic_id, max(current, generation or 0))
    return made


class _Shared:
    """What every candidate of one pass shares: the clinic's bookings as one index, the
    patients' own busy times, read once."""

    def __init__(self, clinic: Clinic, patient_ids: set[int], now: datetime,
                 scan_until: datetime) -> None:
        tz = clinic.timezone
        self.tz = ZoneInfo(tz)
        today = now.astimezone(self.tz).date()
        self.window_start, self.window_end = snapshot.plan_window(today, tz)
        self.scan_start = snapshot.local_midnight(today, tz)
        self.scan_end = min(scan_until, self.window_end)
        self.full_by_kind: dict[str, frozenset[date]] = {}
        self.base: engine.Practice | None = None
        self.index: engine.BookingIndex | None = None
        self.busy: dict[int, list[engine.BusyInterval]] = defaultdict(list)
        self.calendars: dict[int, placement.Calendar] = {}
        rows = db.session.execute(
            select(Allocation.resource_id, Allocation.starts_at, Allocation.ends_at)
            .where(Allocation.active.is_(True), Allocation.resource_type == "patient",
                   Allocation.resource_id.in_(patient_ids),
                   Allocation.ends_at > self.window_start))
        for patient_id, start, end in rows:
            self.busy[patient_id].append(engine.BusyInterval(start, end))

    def calendar(self, clinic: Clinic, enrollment: Enrollment, now: datetime
                 ) -> placement.Calendar:
        """The pipeline's locked calendar with the enrollment's pinned rules (one per version)."""
        version = enrollment.protocol_version_id
        if version not in self.calendars:
            self.calendars[version] = placement.open_calendar(
                clinic, rule_store.enrollment_rules(enrollment), now=now)
        return self.calendars[version]

    def practice(self, calendar: placement.Calendar) -> engine.Practice:
        if self.base is None:
            self.base = calendar.practice(patient_id=None, window_start=self.window_start,
                                          window_end=self.window_end)
            self.index = engine.BookingIndex.from_allocations(self.base.bookings)
        practice = dataclasses.replace(self.base, kinds=calendar.kinds, bookings=self.index)
        full = self.full_days(practice, calendar.protocol, calendar.kinds)
        clinic = dataclasses.replace(practice.clinic, closures=practice.clinic.closures | full)
        return dataclasses.replace(practice, clinic=clinic)

    def full_days(self, practice: engine.Practice, protocol, kinds) -> frozenset[date]:
        """Days of the scanned span on which no room could hold any session of the plan's
        kinds (as the calendar stood at the start of the pass). The engine is told they are
        closed, so a search through a full clinic visits only days with free time; a plan
        found that way fits the real calendar all the same (it had fewer days to choose)."""
        codes = sorted({p.session_kind for p in protocol.phases}
                       | {p.follow_up.session_kind for p in protocol.phases if p.follow_up})
        full: frozenset[date] | None = None
        for code in codes:
            if code not in self.full_by_kind:
                self.full_by_kind[code] = self._full_for(practice, kinds[code])
            full = self.full_by_kind[code] if full is None else full & self.full_by_kind[code]
        return full or frozenset()

    def _full_for(self, practice: engine.Practice, kind) -> frozenset[date]:
        if not kind.needs_room:
            return frozenset()
        units = [("room", r.id, u) for r in practice.rooms
                 if set(kind.room_features) <= set(r.features) for u in range(r.capacity)]
        length = kind.duration_minutes * 60
        hours = practice.clinic.hours
        day, last = self.scan_start.astimezone(self.tz).date(), \
            self.scan_end.astimezone(self.tz).date()
        full = set()
        while day < last:
            windows = list(hours.get(WEEKDAYS[day.weekday()], ()))
            # last night's opening that runs past midnight (ends after 1440) into this day
            windows += [(0, b - 1440) for a, b in hours.get(WEEKDAYS[day.weekday() - 1], ())
                        if b > 1440]
            midnight = datetime.combine(day, time(0), tzinfo=self.tz)
            if not any(_fits(self.index.unit(unit), _at(midnight, a), _at(midnight, b), length)
                       for a, b in windows for unit in units):
                full.add(day)
            day += timedelta(days=1)
        return frozenset(full)

    def taken(self, allocations) -> None:
        assert self.index is not None
        self.index.add_allocations([a for a in allocations if a.resource_type != "patient"])


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _at(midnight: datetime, minutes: int) -> int:
    """Seconds since the epoch of a local wall-clock minute of the day (DST-aware); minutes
    past 1440 lie on the next day (an opening that crosses midnight)."""
    local = datetime.combine(midnight.date() + timedelta(days=minutes // 1440),
                             time(minutes % 1440 // 60, minutes % 60), tzinfo=midnight.tzinfo)
    return to_seconds(local)


def _days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _fits(lists, start: int, end: int, length: int) -> bool:
    return next_free(lists, start, length) + length <= end


def _offer_in_order(clinic: Clinic, entries: list[WaitlistEntry], now: datetime) -> int:
    # The waiting plans, locked together (confirm, cancel and accept lock them too).
    enrollments = {e.id: e for e in db.session.scalars(
        select(Enrollment).where(Enrollment.id.in_([e.enrollment_id for e in entries]))
        .with_for_update())}
    # Free time is scanned up to where the latest waiting plan begins, plus a margin for
    # the plan's later sessions: an offer starts before the plan it replaces.
    firsts = [a.starts_at for e in enrollments.values() for a in e.appointments]
    scan_until = max(firsts, default=now) + timedelta(days=SCAN_MARGIN_DAYS)
    shared = _Shared(clinic, {e.patient_id for e in entries}, now, scan_until)
    minutes = current_app.config["OFFER_MINUTES"]
    made = 0
    for entry in entries:
        enrollment = enrollments.get(entry.enrollment_id)
        if enrollment is None or enrollment.status != BOOKED:
            continue
        found = _earlier_plan(clinic, enrollment, entry.min_gain_days, shared, now)
        if found is None:
            continue
        calendar, plan, replaced, gain = found
        offer = _make_offer(enrollment, plan, replaced, gain, now + timedelta(minutes=minutes))
        shared.taken([a for s in plan.sessions for a in s.allocations])
        offers.offer_created(offer)
        made += 1
    return made


def _earlier_plan(clinic: Clinic, enrollment: Enrollment, min_gain_days: int, shared: _Shared,
                  now: datetime):
    """The enrollment's whole plan placed again to start at least ``min_gain_days`` earlier,
    proven by the evaluator; None when there is none (or the plan has begun)."""
    current = [a for a in enrollment.appointments if a.status != CANCELLED]
    if not current or any(a.status not in LIVE or a.starts_at <= now for a in current):
        # A plan that has begun is not re-placed: a started session never moves, and the
        # offer is the protocol placed whole again (cancelled sessions included).
        return None
    tz = ZoneInfo(clinic.timezone)
    today = now.astimezone(tz).date()
    first_old: date = min(a.starts_at for a in current).astimezone(tz).date()
    start_on = max(enrollment.start_on, today)
    latest_first = first_old - timedelta(days=min_gain_days)
    if latest_first < start_on:
        return None
    calendar = shared.calendar(clinic, enrollment, now)
    practice = shared.practice(calendar)
    weekdays = set(enrollment.availability.get("weekdays") or WEEKDAYS)
    open_days = [d for d in _days(start_on, latest_first)
                 if d not in practice.clinic.closures and WEEKDAYS[d.weekday()] in weekdays]
    if not open_days:
        return None
    # First days with free time, earliest first, one short search each; when there are many
    # (a clinic with room to spare), one search over the whole window instead.
    if len(open_days) <= MAX_FIRST_DAY_PROBES:
        probes = [(day, 0) for day in open_days]
    else:
        probes = [(open_days[0], (latest_first - open_days[0]).days)]
    busy = tuple(shared.busy.get(enrollment.patient_id, ()))
    plan = None
    for first_day, within in probes:
        engine_enr = placement.engine_enrollment(
            calendar.protocol, enrollment.patient_id, first_day, enrollment.availability,
            enrollment.preferences, enrollment.horizon_end, busy, not_before=now)
        options = engine.SearchOptions(start_within_days=within, explain_earliest_date=False)
        try:
            plan = engine.place_plan(practice, engine_enr, options)
            break
        except engine.PlacementError:
            continue
    if plan is None:
        return None
    first_new = min(s.start for s in plan.sessions).astimezone(tz).date()
    if first_new > latest_first or first_new < start_on:
        return None
    if max(s.end for s in plan.sessions) > shared.window_end:
        return None
    calendar.prove(plan.sessions, complete=True, horizon_end=enrollment.horizon_end)
    return calendar, plan, current, (first_old - first_new).days


def _make_offer(enrollment: Enrollment, plan: engine.Plan, replaced, gain: int,
                expires_at: datetime) -> Offer:
    held = placement.store_new(enrollment, plan.sessions, status=HELD, detached=True)
    offer = Offer(enrollment_id=enrollment.id, patient_id=enrollment.patient_id,
                  clinic_id=enrollment.clinic_id, status=OFFER_OPEN, expires_at=expires_at,
                  gain_days=gain,
                  replaces=[{"id": a.id, "sequence": a.sequence}
                            for a in sorted(replaced, key=lambda a: a.starts_at)])
    offer.sessions = [OfferAppointment(appointment=appt, key=session.key)
                      for appt, session in zip(held, plan.sessions, strict=True)]
    db.session.add(offer)
    db.session.flush()
    return offer
