"""Enrollments: a patient in one pinned protocol version, placed whole, held, then confirmed
or cancelled."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import engine
from ..errors import Conflict, Invalid, NotFound
from ..extensions import db
from ..models import Enrollment, IdempotencyRecord, Patient, ProtocolRecord, StaffMember
from ..models.status import BOOKED, CANCELLED, EXPIRED, HELD, LIVE
from ..models.types import utcnow
from ..rules.model import Protocol, SessionKind
from ..rules.routes import ROUTES
from . import outbox, placement, rule_store, snapshot
from .access import BOOK, READ, Principal, patient_visible
from .appointments import visible_clinic
from .holds import expire
from .lifecycle import transition
from .proof import plan_violations
from .transaction import atomic

# Plans may be booked this far ahead at most (a start date is a real intake, not a guess).
MAX_START_AHEAD_DAYS = 730


@dataclass(frozen=True)
class EnrollmentRequest:
    patient_id: int
    protocol_id: int
    clinic_id: int
    start_on: date
    availability: dict
    preferences: dict


def get_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    who.require(READ)
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None or not who.sees(enrollment.clinic_id):
        raise NotFound(f"enrollment {enrollment_id} not found")
    return enrollment


def locked_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    get_enrollment(who, enrollment_id)
    # Row lock on PostgreSQL: confirm, cancel and expiry of one plan never interleave.
    return db.session.scalar(select(Enrollment).where(Enrollment.id == enrollment_id)
                             .with_for_update().execution_options(populate_existing=True))


# ---------------------------------------------------------------- enrolling

def create_enrollment(who: Principal, request: EnrollmentRequest,
                      idempotency_key: str | None = None, request_hash: str | None = None,
                      render: Callable[[Enrollment], dict] | None = None
                      ) -> tuple[Enrollment | dict, bool]:
    """Place the whole plan and hold it. Returns (enrollment, False), or on an idempotent
    replay (the first answer as ``render`` gave it, True)."""
    who.require(BOOK)
    if idempotency_key:
        replay = _idempotent_replay(who, idempotency_key, request_hash, render)
        if replay is not None:
            return replay, True

    def place() -> Enrollment:
        enrollment = _place_and_store(who, request)
        if idempotency_key:
            body = {"enrollment_id": enrollment.id}
            if render is not None:
                body["response"] = render(enrollment)
            db.session.add(IdempotencyRecord(
                api_key_id=who.api_key_id, key=idempotency_key,
                request_hash=request_hash or "", status=201, body=body))
            db.session.flush()
        return enrollment

    try:
        return placement.retrying(place, "enrollment"), False
    except IntegrityError as exc:
        # A concurrent retry with the same key stored its answer first: replay that one.
        if idempotency_key and _is_unique_violation(exc, "uq_idempotency_key"):
            replay = _idempotent_replay(who, idempotency_key, request_hash, render)
            if replay is not None:
                return replay, True
        raise


def _place_and_store(who: Principal, request: EnrollmentRequest) -> Enrollment:
    patient = db.session.get(Patient, request.patient_id)
    if patient is None or not patient_visible(who, patient):
        raise Invalid.field("patient_id", f"patient {request.patient_id} does not exist")
    clinic = visible_clinic(who, request.clinic_id, field="clinic_id")
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
    version = rule_store.get_version(who, protocol_record.id)
    calendar = placement.open_calendar(clinic, rule_store.load_version(version))
    _refuse_second_dose_plan(who, patient.id, calendar.kinds, calendar.protocol)
    request = _with_patient_defaults(request, patient)
    horizon_end = request.start_on + timedelta(days=current_app.config["HORIZON_DAYS"])
    plan = _place(calendar, patient.id, request, horizon_end)
    enrollment = Enrollment(
        patient_id=patient.id, clinic_id=clinic.id, protocol_id=protocol_record.id,
        protocol_version_id=version.id, protocol_version=version.version,
        start_on=request.start_on, availability=request.availability,
        preferences=request.preferences, status=HELD,
        hold_expires_at=calendar.now + timedelta(minutes=current_app.config["HOLD_MINUTES"]),
        horizon_end=horizon_end, created_by_key_id=who.api_key_id)
    db.session.add(enrollment)
    db.session.flush()
    placement.store_new(enrollment, plan.sessions, status=HELD)
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
    codes = {p.session_kind for p in protocol.phases} | \
        {p.follow_up.session_kind for p in protocol.phases if p.follow_up}
    return any(kinds[c].has_dose and ROUTES[kinds[c].route].is_dose for c in codes)


def _refuse_second_dose_plan(who: Principal, patient_id: int, kinds, protocol: Protocol) -> None:
    """Dose spacing (min hours between doses, the esketamine weekly cap) is a rule of one plan;
    two live dose plans for one patient would escape it, so the second is refused."""
    if not _doses(protocol, kinds):
        return
    others = db.session.scalars(select(Enrollment).where(
        Enrollment.patient_id == patient_id, Enrollment.status.in_(LIVE)))
    now = utcnow()
    for other in others:
        if not any(a.starts_at > now and a.status in LIVE for a in other.appointments):
            continue
        other_protocol, other_kinds = rule_store.enrollment_rules(other)
        if _doses(other_protocol, other_kinds):
            if not who.sees(other.clinic_id):
                # The wall holds in refusals too: say that there is one, not which.
                raise Conflict("the patient already has a live dose plan at another clinic; "
                               "dose spacing holds within one plan, so that one must end first",
                               details={"reason": "dose_plan_exists"})
            raise Conflict(
                f"the patient already has a live dose plan (enrollment {other.id}); dose "
                "spacing holds within one plan, so cancel or finish that one first",
                details={"reason": "dose_plan_exists", "enrollment_id": other.id})


def _place(calendar: placement.Calendar, patient_id: int, request: EnrollmentRequest,
           horizon_end: date) -> engine.Plan:
    """Place against the bookings the plan can reach; explain failures against all of them.

    A successful plan only needs the bookings in its own reach. A failure's explanation looks
    up to a year further for the earliest workable date, so it is recomputed with the full
    lookahead, where no booking can hide.
    """
    options = engine.SearchOptions()
    reach = snapshot.plan_reach_days(calendar.protocol, (horizon_end - request.start_on).days,
                                     options.start_within_days)
    if reach is not None:
        plan, window_end = _attempt(calendar, patient_id, request, horizon_end, reach,
                                    explain=False)
        if plan is not None and max(s.end for s in plan.sessions) <= window_end:
            calendar.prove(plan.sessions, complete=True, horizon_end=horizon_end)
            return plan
    plan, _ = _attempt(calendar, patient_id, request, horizon_end, None, explain=True)
    calendar.prove(plan.sessions, complete=True, horizon_end=horizon_end)
    return plan


def _attempt(calendar: placement.Calendar, patient_id: int, request: EnrollmentRequest,
             horizon_end: date, reach: int | None, explain: bool):
    window_start, window_end = snapshot.plan_window(request.start_on, calendar.clinic.timezone,
                                                    reach)
    practice = calendar.practice(patient_id=patient_id, window_start=window_start,
                                 window_end=window_end)
    enrollment = calendar.enrollment(practice, patient_id=patient_id, start_on=request.start_on,
                                     availability=request.availability,
                                     preferences=request.preferences, horizon_end=horizon_end)
    try:
        plan = engine.place_plan(practice, enrollment,
                                 engine.SearchOptions(explain_earliest_date=explain))
    except engine.PlacementError as exc:
        if not explain:
            return None, window_end
        clinic = calendar.clinic
        explanation = exc.explanation.at_clinic(clinic.name, clinic.timezone).to_dict()
        raise Conflict(explanation["message"],
                       details={"reason": "no_plan_fits", **explanation}) from None
    return plan, window_end


# ---------------------------------------------------------------- idempotency

def request_fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _is_unique_violation(exc: IntegrityError, name: str) -> bool:
    return name in str(exc.orig) or getattr(getattr(exc.orig, "diag", None),
                                            "constraint_name", None) == name


def _idempotent_replay(who: Principal, key: str, request_hash: str | None,
                       render: Callable[[Enrollment], dict] | None) -> Enrollment | dict | None:
    """The first answer given to this key, as stored then (not the plan's state now)."""
    record = db.session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.api_key_id == who.api_key_id, IdempotencyRecord.key == key))
    if record is None:
        return None
    if request_hash and record.request_hash != request_hash:
        raise Invalid.field("Idempotency-Key", "this key was used for a different request")
    if render is not None and "response" in record.body:
        return record.body["response"]
    return db.session.get(Enrollment, record.body["enrollment_id"])


# ---------------------------------------------------------------- confirm, cancel

def confirm_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    who.require(BOOK)
    with atomic():
        enrollment = locked_enrollment(who, enrollment_id)
        if enrollment.status == BOOKED:
            return enrollment
        if enrollment.status != HELD:
            raise Conflict(f"enrollment {enrollment_id} is {enrollment.status}; only a held "
                           "plan can be confirmed", details={"status": enrollment.status})
        if enrollment.hold_expires_at and enrollment.hold_expires_at <= utcnow():
            expire(enrollment)
            db.session.commit()
            raise Conflict(f"the hold on enrollment {enrollment_id} expired at "
                           f"{enrollment.hold_expires_at.isoformat()}; enroll again",
                           details={"status": EXPIRED})
        violations, _ = plan_violations(enrollment)
        if violations:
            # What gets booked must still satisfy its rules (a held session may be cancelled).
            raise Conflict("the held plan no longer satisfies its rules (a session was "
                           "cancelled or moved); cancel it and enroll again",
                           details={"reason": "rule_violation",
                                    "violations": [v.message for v in violations]})
        for appt in enrollment.appointments:
            if appt.status == HELD:
                transition(appt, BOOKED)
        enrollment.status = BOOKED
        enrollment.hold_expires_at = None
        outbox.enrollment_changed(enrollment, outbox.ENROLLMENT_CONFIRMED)
    return enrollment


def cancel_enrollment(who: Principal, enrollment_id: int) -> Enrollment:
    who.require(BOOK)
    with atomic():
        enrollment = locked_enrollment(who, enrollment_id)
        if enrollment.status in (CANCELLED, EXPIRED):
            return enrollment
        now = utcnow()
        was_held = enrollment.status == HELD
        for appt in enrollment.appointments:
            if appt.status in LIVE and appt.ends_at > now:
                transition(appt, CANCELLED)
        enrollment.status = CANCELLED
        enrollment.hold_expires_at = None
        outbox.enrollment_changed(enrollment, outbox.ENROLLMENT_CANCELLED, was_held=was_held)
    return enrollment
