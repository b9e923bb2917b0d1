"""Enrollments and appointments: placing plans for real, under concurrency, all or nothing.

How double booking is prevented, in order of authority:
1. PostgreSQL: an exclusion constraint on allocations (resource, unit, time range) refuses any
   overlapping active pair, whatever the code does. A placement that loses a race gets SQLSTATE
   23P01; we re-read the calendar and place again (a few times), then answer 409.
2. SQLite: every transaction begins with ``BEGIN IMMEDIATE`` (see ``scheduler.database``), so
   read-place-write runs one writer at a time.
3. Code: before writing, the new allocations are checked against stored active ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import engine
from ..errors import Conflict, DomainError, Invalid, NotFound
from ..extensions import db
from ..models import (
    Allocation,
    Appointment,
    Clinic,
    Enrollment,
    IdempotencyRecord,
    Patient,
    ProtocolRecord,
    StaffMember,
)
from ..models.types import utcnow
from ..rules.evaluator import SessionInstance, evaluate
from ..rules.model import Protocol, SessionKind
from . import outbox, rule_store, snapshot
from .access import BOOK, READ, Principal
from .lifecycle import LIVE, transition
from .pagination import Page, paginate
from .transaction import atomic, lock_clinic_calendar

log = logging.getLogger(__name__)

PLACEMENT_ATTEMPTS = 5
# Plans may be booked this far ahead at most (a start date is a real intake, not a guess).
MAX_START_AHEAD_DAYS = 730
# Losing a race on PostgreSQL: the exclusion constraint refused an overlap (23P01), or two
# placements waited on each other's rows (40P01) or could not be serialised (40001). All mean
# "the calendar changed under us": read it again and place again.
RETRIABLE_SQLSTATES = frozenset({"23P01", "40P01", "40001"})


@dataclass(frozen=True)
class EnrollmentRequest:
    patient_id: int
    protocol_id: int
    clinic_id: int
    start_on: date
    availability: dict
    preferences: dict


# ---------------------------------------------------------------- reading

def get_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    who.require(READ)
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None or not who.sees(enrollment.clinic_id):
        raise NotFound(f"enrollment {enrollment_id} not found")
    return enrollment


def get_appointment(who: Principal, appointment_id: int) -> Appointment:
    who.require(READ)
    appt = db.session.get(Appointment, appointment_id)
    if appt is None or not who.sees(appt.clinic_id):
        raise NotFound(f"appointment {appointment_id} not found")
    return appt


def list_appointments(who: Principal, *, page: int, page_size: int, clinic_id=None,
                      patient_id=None, room_id=None, staff_id=None, status=None, start=None,
                      end=None) -> Page:
    """Appointments overlapping ``[start, end)``; a bare date is local midnight at the clinic."""
    who.require(READ)
    query = select(Appointment).order_by(Appointment.starts_at, Appointment.id)
    # A bare date is local midnight at "the clinic": the one asked for, else the patient's
    # home clinic, else the key's only clinic; with none of those, UTC.
    tz = "UTC"
    if clinic_id is not None:
        clinic = _visible_clinic(who, clinic_id)
        tz = clinic.timezone
        query = query.where(Appointment.clinic_id == clinic_id)
    elif who.scoped:
        query = query.where(Appointment.clinic_id.in_(who.clinic_ids))
        if len(who.clinic_ids) == 1:
            tz = db.session.get(Clinic, next(iter(who.clinic_ids))).timezone
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
        patient = db.session.get(Patient, patient_id)
        if clinic_id is None and patient is not None and who.sees(patient.clinic_id):
            tz = db.session.get(Clinic, patient.clinic_id).timezone
    if start is not None and end is not None and _instant(end, tz) <= _instant(start, tz):
        raise Invalid.field("end", "must be after start")
    for resource_type, resource_id in (("room", room_id), ("staff", staff_id)):
        if resource_id is not None:
            query = query.where(Appointment.id.in_(
                select(Allocation.appointment_id).where(
                    Allocation.resource_type == resource_type,
                    Allocation.resource_id == resource_id)))
    if status:
        query = query.where(Appointment.status.in_(status))
    if start is not None:
        query = query.where(Appointment.ends_at > _instant(start, tz))
    if end is not None:
        query = query.where(Appointment.starts_at < _instant(end, tz))
    return paginate(query, page, page_size)


def _instant(value: date | datetime, tz: str) -> datetime:
    if isinstance(value, datetime):
        return value
    return snapshot.local_midnight(value, tz)


def _visible_clinic(who: Principal, clinic_id: int, field: str | None = None) -> Clinic:
    clinic = db.session.get(Clinic, clinic_id)
    if clinic is None or clinic.is_deleted or not who.sees(clinic_id):
        if field:
            raise Invalid.field(field, f"clinic {clinic_id} does not exist")
        raise NotFound(f"clinic {clinic_id} not found")
    return clinic


# ---------------------------------------------------------------- enrolling

def create_enrollment(who: Principal, request: EnrollmentRequest,
                      idempotency_key: str | None = None,
                      request_hash: str | None = None) -> tuple[Enrollment, bool]:
    """Place the whole plan and hold it. Returns (enrollment, replayed)."""
    who.require(BOOK)
    if idempotency_key:
        replay = _idempotent_replay(who, idempotency_key, request_hash)
        if replay is not None:
            return replay, True
    last_error: DBAPIError | None = None
    for attempt in range(PLACEMENT_ATTEMPTS):
        try:
            with atomic():
                enrollment = _place_and_store(who, request)
                if idempotency_key:
                    db.session.add(IdempotencyRecord(
                        api_key_id=who.api_key_id, key=idempotency_key,
                        request_hash=request_hash or "", status=201,
                        body={"enrollment_id": enrollment.id}))
                    db.session.flush()
            return enrollment, False
        except LostRace as exc:
            log.info("placement lost a race (attempt %d): %s", attempt + 1, exc)
        except DBAPIError as exc:
            if idempotency_key and isinstance(exc, IntegrityError) and \
                    _is_unique_violation(exc, "uq_idempotency_key"):
                replay = _idempotent_replay(who, idempotency_key, request_hash)
                if replay is not None:
                    return replay, True
            if not _lost_race(exc):
                raise
            last_error = exc
            log.info("placement lost a race (attempt %d); placing again", attempt + 1)
    raise Conflict("the calendar kept changing under this request; try again",
                   details={"reason": "concurrent_booking", "error": str(last_error.orig)[:200]
                            if last_error else None})


def _place_and_store(who: Principal, request: EnrollmentRequest) -> Enrollment:
    patient = db.session.get(Patient, request.patient_id)
    if patient is None or not who.sees(patient.clinic_id):
        raise Invalid.field("patient_id", f"patient {request.patient_id} does not exist")
    clinic = _visible_clinic(who, request.clinic_id, field="clinic_id")
    protocol_record = db.session.get(ProtocolRecord, request.protocol_id)
    if protocol_record is None:
        raise Invalid.field("protocol_id", f"protocol {request.protocol_id} does not exist")
    if request.preferences.get("staff_id") is not None:
        member = db.session.get(StaffMember, request.preferences["staff_id"])
        if member is None or member.is_deleted or clinic.id not in member.clinic_ids:
            raise Invalid.field("preferences.staff_id",
                                f"staff member {request.preferences['staff_id']} does not work "
                                f"at clinic {clinic.id}")
    today = utcnow().astimezone(ZoneInfo(clinic.timezone)).date()
    if request.start_on < today:
        raise Invalid.field("start_on", f"must not be in the past (today at the clinic is "
                                        f"{today.isoformat()})")
    if request.start_on > today + timedelta(days=MAX_START_AHEAD_DAYS):
        raise Invalid.field("start_on", f"must be within {MAX_START_AHEAD_DAYS} days from today")
    lock_clinic_calendar(clinic.id)
    release_expired_holds(utcnow())
    version = rule_store.get_version(who, protocol_record.id)
    protocol, kinds = rule_store.load_version(version)
    _refuse_second_dose_plan(patient.id, kinds, protocol)
    request = _with_patient_defaults(request, patient)
    horizon_end = request.start_on + timedelta(days=current_app.config["HORIZON_DAYS"])
    plan = _place(clinic, protocol, kinds, patient.id, request, horizon_end)
    hold_minutes = current_app.config["HOLD_MINUTES"]
    enrollment = Enrollment(
        patient_id=patient.id, clinic_id=clinic.id, protocol_id=protocol_record.id,
        protocol_version_id=version.id, protocol_version=version.version,
        start_on=request.start_on, availability=request.availability,
        preferences=request.preferences, status="held",
        hold_expires_at=utcnow() + timedelta(minutes=hold_minutes), horizon_end=horizon_end,
        created_by_key_id=who.api_key_id)
    db.session.add(enrollment)
    db.session.flush()
    _store_sessions(enrollment, plan.sessions, status="held")
    return enrollment


def _with_patient_defaults(request: EnrollmentRequest, patient: Patient) -> EnrollmentRequest:
    """The patient's stored preferences (time, staff) apply when the request names none."""
    stored = {k: v for k, v in (patient.preferences or {}).items() if k in ("time", "staff_id")}
    if stored.get("staff_id") is not None:
        member = db.session.get(StaffMember, stored["staff_id"])
        if member is None or member.is_deleted or request.clinic_id not in member.clinic_ids:
            stored.pop("staff_id")
    merged = {**stored, **request.preferences}
    return request if merged == request.preferences else \
        EnrollmentRequest(**{**request.__dict__, "preferences": merged})


def _doses(protocol: Protocol, kinds: dict[str, SessionKind]) -> bool:
    from ..rules.routes import ROUTES

    codes = {p.session_kind for p in protocol.phases} | \
        {p.follow_up.session_kind for p in protocol.phases if p.follow_up}
    return any(kinds[c].has_dose and ROUTES[kinds[c].route].is_dose for c in codes)


def _refuse_second_dose_plan(patient_id: int, kinds, protocol: Protocol) -> None:
    """Dose spacing (min hours between doses, the esketamine weekly cap) is a rule of one plan;
    two live dose plans for one patient would escape it, so the second is refused."""
    if not _doses(protocol, kinds):
        return
    others = db.session.scalars(select(Enrollment).where(
        Enrollment.patient_id == patient_id, Enrollment.status.in_(("held", "booked"))))
    now = utcnow()
    for other in others:
        if not any(a.starts_at > now and a.status in ("held", "booked")
                   for a in other.appointments):
            continue
        other_protocol, other_kinds = rule_store.enrollment_rules(other)
        if _doses(other_protocol, other_kinds):
            raise Conflict(
                f"the patient already has a live dose plan (enrollment {other.id}); dose "
                "spacing holds within one plan, so cancel or finish that one first",
                details={"reason": "dose_plan_exists", "enrollment_id": other.id})


def engine_enrollment(protocol: Protocol, patient_id: int, start_on: date, availability: dict,
                      preferences: dict, horizon_end: date,
                      busy: tuple = ()) -> engine.Enrollment:
    return engine.Enrollment(
        patient_id=patient_id, protocol=protocol, start_on=start_on,
        availability=engine.Availability(
            weekdays=frozenset(availability["weekdays"]) if availability.get("weekdays") else None,
            earliest=_opt_minutes(availability.get("earliest")),
            latest=_opt_minutes(availability.get("latest"))),
        preferences=engine.Preferences(
            time=_opt_minutes(preferences.get("time")), staff_id=preferences.get("staff_id")),
        patient_busy=busy, horizon_end=horizon_end)


def _opt_minutes(value: str | None) -> int | None:
    return engine.parse_hhmm(value) if value else None


def _place(clinic: Clinic, protocol: Protocol, kinds: dict[str, SessionKind], patient_id: int,
           request: EnrollmentRequest, horizon_end: date) -> engine.Plan:
    """Place against the bookings the plan can reach; explain failures against all of them.

    A successful plan only needs the bookings in its own reach. A failure's explanation looks
    up to a year further for the earliest workable date, so it is recomputed with the full
    lookahead, where no booking can hide.
    """
    options = engine.SearchOptions()
    reach = snapshot.plan_reach_days(protocol, (horizon_end - request.start_on).days,
                                     options.start_within_days)
    if reach is not None:
        plan, window_end = _attempt_placement(clinic, protocol, kinds, patient_id, request,
                                              horizon_end, reach, explain=False)
        if plan is not None and max(s.end for s in plan.sessions) <= window_end:
            _prove(protocol, kinds, plan.sessions, clinic, complete=True,
                   horizon_end=horizon_end)
            return plan
    plan, _ = _attempt_placement(clinic, protocol, kinds, patient_id, request, horizon_end,
                                 None, explain=True)
    _prove(protocol, kinds, plan.sessions, clinic, complete=True, horizon_end=horizon_end)
    return plan


def _attempt_placement(clinic, protocol, kinds, patient_id, request, horizon_end, reach,
                       explain: bool):
    window_start, window_end = snapshot.plan_window(request.start_on, clinic.timezone, reach)
    practice = snapshot.practice_for(clinic, kinds, patient_id=patient_id,
                                     window_start=window_start, window_end=window_end)
    enrollment = engine_enrollment(
        protocol, patient_id, request.start_on, request.availability, request.preferences,
        horizon_end, snapshot.patient_busy(practice.bookings, patient_id))
    try:
        plan = engine.place_plan(practice, enrollment,
                                 engine.SearchOptions(explain_earliest_date=explain))
    except engine.PlacementError as exc:
        if not explain:
            return None, window_end
        explanation = exc.explanation.to_dict()
        raise Conflict(f"no plan fits: {explanation['message']}",
                       details={"reason": "no_plan_fits", **explanation}) from None
    return plan, window_end


def _prove(protocol: Protocol, kinds, sessions, clinic: Clinic, *, complete: bool,
           horizon_end: date | None = None) -> None:
    """The evaluator re-checks what the engine placed: a rule bug must never reach a patient."""
    violations = evaluate(protocol, kinds, [_instance(s) for s in sessions],
                          tz=ZoneInfo(clinic.timezone),
                          clinic_certifications=frozenset(clinic.certifications or []),
                          complete=complete, horizon_end=horizon_end)
    if violations:
        log.error("engine produced a plan that breaks rules: %s", violations)
        raise Conflict("the placed plan would break a rule; nothing was booked",
                       details={"reason": "rule_violation",
                                "violations": [v.message for v in violations]})


def _instance(session) -> SessionInstance:
    if isinstance(session, Appointment):
        return SessionInstance(key=session.key, phase=session.phase, kind=session.session_kind,
                               start=session.starts_at, end=session.ends_at,
                               follow_up_of=session.parent_key)
    return SessionInstance(key=session.key, phase=session.phase, kind=session.kind,
                           start=session.start, end=session.end,
                           follow_up_of=session.follow_up_of)


def _store_sessions(enrollment: Enrollment, sessions, status: str) -> list[Appointment]:
    _assert_free([a for s in sessions for a in s.allocations])
    by_key: dict[str, Appointment] = {a.key: a for a in enrollment.appointments if a.key}
    stored = []
    for session in sessions:
        appt = Appointment(
            enrollment_id=enrollment.id, patient_id=enrollment.patient_id,
            clinic_id=enrollment.clinic_id, session_kind=session.kind, phase=session.phase,
            key=session.key, starts_at=session.start, ends_at=session.end, status=status,
            follow_up_of=by_key[session.follow_up_of] if session.follow_up_of else None)
        appt.allocations = [_allocation(a) for a in session.allocations]
        db.session.add(appt)
        by_key[session.key] = appt
        stored.append(appt)
    db.session.flush()
    return stored


def _allocation(a: engine.Allocation) -> Allocation:
    return Allocation(resource_type=a.resource_type, resource_id=a.resource_id, unit=a.unit,
                      starts_at=a.start, ends_at=a.end, active=True)


def _assert_free(allocations, ignore_appointment_ids=()) -> None:
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
        query = query.where(Allocation.appointment_id.not_in(ignore_appointment_ids))
    clash = db.session.scalar(query.limit(1))
    if clash is not None:
        raise LostRace(f"a resource is already taken by appointment #{clash}")


class LostRace(Exception):
    """The calendar changed between reading and writing: read again and place again."""


def _lost_race(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRIABLE_SQLSTATES


def _is_unique_violation(exc: IntegrityError, name: str) -> bool:
    return name in str(exc.orig) or getattr(getattr(exc.orig, "diag", None),
                                            "constraint_name", None) == name


def request_fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _idempotent_replay(who: Principal, key: str, request_hash: str | None) -> Enrollment | None:
    record = db.session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.api_key_id == who.api_key_id, IdempotencyRecord.key == key))
    if record is None:
        return None
    if request_hash and record.request_hash != request_hash:
        raise Invalid.field("Idempotency-Key", "this key was used for a different request")
    return db.session.get(Enrollment, record.body["enrollment_id"])


# ---------------------------------------------------------------- holds

def confirm_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    who.require(BOOK)
    with atomic():
        enrollment = _locked_enrollment(who, enrollment_id)
        if enrollment.status == "booked":
            return enrollment
        if enrollment.status != "held":
            raise Conflict(f"enrollment {enrollment_id} is {enrollment.status}; only a held "
                           "plan can be confirmed", details={"status": enrollment.status})
        if enrollment.hold_expires_at and enrollment.hold_expires_at <= utcnow():
            _expire(enrollment)
            db.session.commit()
            raise Conflict(f"the hold on enrollment {enrollment_id} expired at "
                           f"{enrollment.hold_expires_at.isoformat()}; enroll again",
                           details={"status": "expired"})
        _prove_enrollment(enrollment)
        for appt in enrollment.appointments:
            if appt.status == "held":
                transition(appt, "booked")
        enrollment.status = "booked"
        enrollment.hold_expires_at = None
        outbox.enrollment_changed(enrollment, outbox.ENROLLMENT_CONFIRMED)
    return enrollment


def plan_violations(enrollment: Enrollment, protocol: Protocol | None = None,
                    kinds: dict[str, SessionKind] | None = None, *, complete: bool = True):
    """Judge a stored plan (its live and completed sessions) by its own rules, or by proposed
    ones. Returns the violations and the appointments they were judged on."""
    if protocol is None:
        protocol, kinds = rule_store.enrollment_rules(enrollment)
    clinic = db.session.get(Clinic, enrollment.clinic_id)
    live = [a for a in enrollment.appointments if a.status in LIVE + ("completed",)]
    violations = evaluate(protocol, kinds, [_instance(a) for a in live],
                          tz=ZoneInfo(clinic.timezone),
                          clinic_certifications=frozenset(clinic.certifications or []),
                          complete=complete,
                          horizon_end=enrollment.horizon_end if complete else None)
    return violations, live


def _prove_enrollment(enrollment: Enrollment) -> None:
    """What gets booked must still satisfy its rules (a held session may have been cancelled)."""
    violations, _ = plan_violations(enrollment)
    if violations:
        raise Conflict("the held plan no longer satisfies its rules (a session was cancelled "
                       "or moved); cancel it and enroll again",
                       details={"reason": "rule_violation",
                                "violations": [v.message for v in violations]})


def cancel_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    who.require(BOOK)
    with atomic():
        enrollment = _locked_enrollment(who, enrollment_id)
        if enrollment.status in ("cancelled", "expired"):
            return enrollment
        now = utcnow()
        was_held = enrollment.status == "held"
        for appt in enrollment.appointments:
            if appt.status in ("held", "booked") and appt.ends_at > now:
                transition(appt, "cancelled")
        enrollment.status = "cancelled"
        enrollment.hold_expires_at = None
        outbox.enrollment_changed(enrollment, outbox.ENROLLMENT_CANCELLED, was_held=was_held)
    return enrollment


def _locked_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    get_enrollment(who, enrollment_id)
    # Row lock on PostgreSQL: confirm, cancel and expiry of one plan never interleave.
    return db.session.scalar(select(Enrollment).where(Enrollment.id == enrollment_id)
                             .with_for_update().execution_options(populate_existing=True))


def _expire(enrollment: Enrollment) -> None:
    for appt in enrollment.appointments:
        if appt.status == "held":
            transition(appt, "cancelled")
    enrollment.status = "expired"


def release_expired_holds(now: datetime) -> int:
    """Free the slots of holds nobody confirmed in time (inside the caller's transaction)."""
    expired = list(db.session.scalars(
        select(Enrollment).where(Enrollment.status == "held", Enrollment.hold_expires_at <= now)
        .with_for_update(skip_locked=True)))
    for enrollment in expired:
        _expire(enrollment)
    if expired:
        db.session.flush()
    return len(expired)


def expire_holds(now: datetime) -> int:
    """Background job: expire unconfirmed holds. Idempotent: a second run finds nothing."""
    with atomic():
        return release_expired_holds(now)


def flag_overdue(now: datetime, grace: timedelta) -> int:
    """Background job: mark booked appointments long past their end with no check-in.

    They stay ``booked`` (the front desk decides: completed or no-show) but carry a flag the
    appointment list shows; re-running flags nothing new.
    """
    with atomic():
        result = db.session.execute(
            update(Appointment)
            .where(Appointment.status == "booked", Appointment.ends_at <= now - grace,
                   Appointment.overdue_at.is_(None))
            .values(overdue_at=now))
        return result.rowcount or 0


# ---------------------------------------------------------------- lifecycle

def change_status(who: Principal, appointment_id: int, action: str) -> tuple[Appointment, list]:
    """check-in, complete, no-show or cancel one appointment; returns it and plan warnings."""
    who.require(BOOK)
    with atomic():
        appt = get_appointment(who, appointment_id)
        if appt.enrollment_id is not None:
            # Same lock order as confirm, cancel and reschedule: the plan first, then its rows.
            db.session.execute(select(Enrollment.id).where(Enrollment.id == appt.enrollment_id)
                               .with_for_update())
        db.session.refresh(appt, with_for_update=True)
        transition(appt, action)
        if action == "cancelled":
            # A follow-up exists for its dose: it goes with it (therapy after a no-show stays).
            for follow in _follow_ups_of(appt):
                if follow.status in ("held", "booked"):
                    transition(follow, "cancelled")
        warnings = _plan_warnings(appt) if action == "cancelled" else []
    return appt, warnings


def _follow_ups_of(appt: Appointment) -> list[Appointment]:
    return list(db.session.scalars(select(Appointment).where(
        Appointment.follow_up_of_id == appt.id).with_for_update()))


def _plan_warnings(cancelled: Appointment) -> list[dict]:
    """What the rest of the plan breaks once this session is gone (the desk must move it)."""
    if cancelled.enrollment is None:
        return []
    violations, live = plan_violations(cancelled.enrollment)
    return violation_report(violations, live)


def violation_report(violations, appointments) -> list[dict]:
    ids = {a.key: a.id for a in appointments}
    return [{"rule": v.rule, "message": v.message,
             "appointment_ids": [ids[k] for k in v.sessions if k in ids]} for v in violations]


# ---------------------------------------------------------------- rescheduling

def reschedule(who: Principal, appointment_id: int, *, start: datetime | None = None,
               not_before: datetime | None = None) -> list[Appointment]:
    """Move one session; later ones move only as far as the rules need. Returns all moved."""
    who.require(BOOK)
    for attempt in range(PLACEMENT_ATTEMPTS):
        try:
            with atomic():
                return _reschedule(who, appointment_id, start, not_before)
        except LostRace as exc:
            log.info("reschedule lost a race (attempt %d): %s", attempt + 1, exc)
        except DBAPIError as exc:
            if not _lost_race(exc):
                raise
            log.info("reschedule lost a race (attempt %d)", attempt + 1)
    raise Conflict("the calendar kept changing under this request; try again",
                   details={"reason": "concurrent_booking"})


def _without_orphans(appts: list[Appointment]) -> list[Appointment]:
    """Follow-ups whose dose is no longer in the plan stand alone: they keep their slot (and
    block it) but no longer take part in the plan's rules."""
    keys = {a.key for a in appts}
    return [a for a in appts if a.parent_key is None or a.parent_key in keys]


def _reschedule(who, appointment_id, start, not_before) -> list[Appointment]:
    appt = get_appointment(who, appointment_id)
    if appt.enrollment_id is not None:
        db.session.execute(select(Enrollment.id).where(Enrollment.id == appt.enrollment_id)
                           .with_for_update())
    release_expired_holds(utcnow())  # an expired hold is not movable any more
    db.session.refresh(appt)
    if appt.status not in ("held", "booked"):
        raise Conflict(f"appointment {appointment_id} is {appt.status}; only held or booked "
                       "appointments can move", details={"status": appt.status})
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.id == appt.enrollment_id)
                                   .with_for_update())
    if enrollment is None:
        raise Conflict("this appointment is not part of a plan")
    lock_clinic_calendar(enrollment.clinic_id)
    release_expired_holds(utcnow())
    protocol, kinds = rule_store.enrollment_rules(enrollment)
    clinic = db.session.get(Clinic, enrollment.clinic_id)
    now = utcnow()
    if start is not None and start < now:
        raise Invalid.field("start", "must not be in the past")
    if not_before is not None:
        not_before = max(not_before, now)
    movable = [a for a in enrollment.appointments if a.status in ("held", "booked")]
    kept = [a for a in enrollment.appointments if a.status in ("checked_in", "completed")]
    plan_appts = _without_orphans(sorted(kept + movable, key=lambda a: a.starts_at))
    window_start, window_end = snapshot.plan_window(enrollment.start_on, clinic.timezone)
    window_start = min(window_start, plan_appts[0].starts_at - timedelta(days=2))
    practice = snapshot.practice_for(
        clinic, kinds, patient_id=enrollment.patient_id, window_start=window_start,
        window_end=window_end, ignore_appointment_ids=frozenset(a.id for a in plan_appts))
    engine_plan = engine.Plan(tuple(snapshot.appointment_to_placed(a) for a in plan_appts))
    engine_enr = engine_enrollment(
        protocol, enrollment.patient_id, enrollment.start_on, enrollment.availability,
        enrollment.preferences, enrollment.horizon_end,
        snapshot.patient_busy(practice.bookings, enrollment.patient_id))
    try:
        result = engine.reschedule(practice, engine_enr, engine_plan, appt.key, start=start,
                                   not_before=not_before)
    except engine.PlacementError as exc:
        explanation = exc.explanation.to_dict()
        raise Conflict(f"cannot move it: {explanation['message']}",
                       details={"reason": "no_move_fits", **explanation}) from None
    _prove(protocol, kinds, result.plan.sessions, clinic, complete=False)
    by_key = {a.key: a for a in plan_appts}
    changed = [by_key[s.key] for s in result.changed]
    if any(a.status not in ("held", "booked") for a in changed):
        raise Conflict("moving it would move a session that already took place")
    ids = [a.id for a in changed]
    new_allocations = [a for s in result.changed for a in s.allocations]
    _assert_free(new_allocations, ignore_appointment_ids=ids)
    # Free every old slot before taking any new one: a session may move onto the time another
    # moved session leaves, and the exclusion constraint checks each row as it is inserted.
    for appt_row in changed:
        appt_row.allocations.clear()
    db.session.flush()
    for appt_row, session in zip(changed, result.changed, strict=True):
        appt_row.starts_at, appt_row.ends_at = session.start, session.end
        appt_row.allocations = [_allocation(a) for a in session.allocations]
        appt_row.sequence += 1
    db.session.flush()
    outbox.appointments_changed(changed, outbox.APPOINTMENT_UPDATED)
    return changed


# ---------------------------------------------------------------- availability

def availability(who: Principal, *, clinic_id: int, session_kind: str, start, end,
                 patient_id: int | None = None, limit: int = 200) -> list[engine.Slot]:
    who.require(READ)
    clinic = _visible_clinic(who, clinic_id, field="clinic_id")
    kinds = rule_store.known_session_kinds()
    if session_kind not in kinds:
        raise Invalid.field("session_kind", f"unknown session kind {session_kind!r}")
    if patient_id is not None:
        patient = db.session.get(Patient, patient_id)
        if patient is None or not who.sees(patient.clinic_id):
            raise Invalid.field("patient_id", f"patient {patient_id} does not exist")
    window_start = _instant(start, clinic.timezone)
    window_end = _instant(end, clinic.timezone)
    if window_end <= window_start:
        raise Invalid.field("end", "must be after start")
    window_start = max(window_start, utcnow())  # a slot in the past is no slot
    if window_end <= window_start:
        return []
    if window_end - window_start > timedelta(days=62):
        raise Invalid.field("end", "the window may span at most 62 days")
    practice = snapshot.practice_for(clinic, kinds, patient_id=patient_id,
                                     window_start=window_start - timedelta(days=1),
                                     window_end=window_end + timedelta(days=1))
    return engine.find_slots(practice, session_kind, window_start, window_end,
                             patient_id=patient_id,
                             patient_busy=snapshot.patient_busy(practice.bookings, patient_id),
                             limit=limit)


# ---------------------------------------------------------------- rolling horizon

def extend_horizons(now: datetime) -> int:
    """Background job: keep open-ended phases placed a full horizon ahead.

    For each booked enrollment whose horizon end is nearer than the configured horizon, the
    engine re-places the plan from the existing sessions (kept as they are) and the new
    sessions are booked. Idempotent: a plan already a full horizon ahead is left alone.
    """
    horizon_days = current_app.config["HORIZON_DAYS"]
    extended = 0
    ids = list(db.session.scalars(select(Enrollment.id).where(Enrollment.status == "booked")))
    failures = []
    for enrollment_id in ids:
        try:
            with atomic():
                enrollment = db.session.scalar(
                    select(Enrollment).where(Enrollment.id == enrollment_id).with_for_update())
                if _extend_one(enrollment, now, horizon_days):
                    extended += 1
        except DomainError as exc:
            # One plan that cannot grow must not stop every other plan from growing.
            log.warning("enrollment %s: horizon not extended: %s", enrollment_id, exc.message)
            failures.append(enrollment_id)
    if failures:
        log.warning("horizon extension failed for enrollments %s", failures)
    return extended


def _extend_one(enrollment: Enrollment, now: datetime, horizon_days: int) -> bool:
    clinic = db.session.get(Clinic, enrollment.clinic_id)
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    target = today + timedelta(days=horizon_days)
    if enrollment.horizon_end and enrollment.horizon_end >= target:
        return False
    protocol, kinds = rule_store.enrollment_rules(enrollment)
    if all(p.count is not None for p in protocol.phases):
        enrollment.horizon_end = target
        return False
    lock_clinic_calendar(clinic.id)
    # Sessions that took or will take place stay fixed; cancelled and missed ones keep their
    # keys reserved (keys are unique per enrollment) but no longer shape the plan.
    existing = _without_orphans(sorted([a for a in enrollment.appointments
                                        if a.status not in ("cancelled", "no_show")],
                                       key=lambda a: a.starts_at))
    reserved = [a.key for a in enrollment.appointments if a.key]
    window_start = snapshot.local_midnight(today, clinic.timezone) - timedelta(days=2)
    window_end = snapshot.local_midnight(target, clinic.timezone) + timedelta(days=2)
    practice = snapshot.practice_for(
        clinic, kinds, patient_id=enrollment.patient_id, window_start=window_start,
        window_end=window_end, ignore_appointment_ids=frozenset(a.id for a in existing))
    engine_enr = engine_enrollment(
        protocol, enrollment.patient_id, enrollment.start_on, enrollment.availability,
        enrollment.preferences, target,
        snapshot.patient_busy(practice.bookings, enrollment.patient_id))
    fixed = engine.Plan(tuple(snapshot.appointment_to_placed(a) for a in existing))
    try:
        plan = engine.extend_plan(practice, engine_enr, fixed, not_before=today,
                                  reserved_keys=reserved)
    except (engine.PlacementError, ValueError) as exc:
        reason = exc.explanation.message if isinstance(exc, engine.PlacementError) else str(exc)
        log.warning("enrollment %s: cannot extend horizon: %s", enrollment.id, reason)
        return False
    _prove(protocol, kinds, plan.sessions, clinic, complete=False)
    known = {a.key for a in existing}
    new_sessions = [s for s in plan.sessions if s.key not in known]
    outbox.appointments_changed(_store_sessions(enrollment, new_sessions, status="booked"),
                                outbox.APPOINTMENT_CREATED)
    enrollment.horizon_end = target
    return bool(new_sessions)

