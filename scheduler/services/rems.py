"""Esketamine REMS around the session (SPEC 12): enrollment before the first dose, no discharge
before the monitoring time, and the Patient Monitoring Form each completed dose session owes.

Every figure comes from the route's policy (``scheduler.rules.routes``): which routes need a
patient enrollment, how long monitoring lasts, within how many days the form is due. A form's
status is read off its dates in the clinic's zone: ``submitted`` once recorded, else ``overdue``
after its ``due_on``, else ``due``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, or_, select

from ..errors import Conflict, Invalid, NotFound
from ..extensions import db
from ..models import Appointment, Clinic, Enrollment, MonitoringForm, Patient
from ..models.rems import FORM_DUE, FORM_OVERDUE, FORM_SUBMITTED
from ..models.types import utcnow
from ..rules.model import Route, SessionKind
from ..rules.routes import ROUTES, gives_dose
from ..rules.wording import quantity
from . import rule_store
from .access import BOOK, READ, Principal
from .pagination import Page, paginate
from .transaction import atomic

log = logging.getLogger(__name__)

WARNING_ENROLLMENT_MISSING = "rems_enrollment_missing"
REASON_ENROLLMENT_MISSING = "rems_enrollment_missing"
REASON_MONITORING_TOO_SHORT = "monitoring_too_short"
REASON_NO_FORM_OWED = "no_monitoring_form_owed"
REASON_FORM_SUBMITTED = "monitoring_form_already_submitted"
LIVE_DOSES = ("held", "booked", "checked_in")


# ---------------------------------------------------------------- which sessions it concerns

def _kind(appt: Appointment, kinds: dict[str, SessionKind] | None = None) -> SessionKind | None:
    if kinds is None:
        kinds = (rule_store.enrollment_rules(appt.enrollment)[1] if appt.enrollment is not None
                 else rule_store.known_session_kinds())
    return kinds.get(appt.session_kind)


def _dose_policy(kind: SessionKind | None) -> Route | None:
    """The route's policy if sessions of ``kind`` are doses of it, else None."""
    if kind is None or not gives_dose(kind):
        return None
    return ROUTES[kind.route]


def _zone(clinic_id: int) -> ZoneInfo:
    return ZoneInfo(db.session.get(Clinic, clinic_id).timezone)


def _local_date(moment: datetime, clinic_id: int) -> date:
    return moment.astimezone(_zone(clinic_id)).date()


def _today(clinic_id: int) -> date:
    return _local_date(utcnow(), clinic_id)


def _enrolled_by(patient: Patient, day: date) -> bool:
    return patient.rems_enrolled_on is not None and patient.rems_enrolled_on <= day


# ---------------------------------------------------------------- patient enrollment

def enrollment_warnings(enrollment: Enrollment) -> list[dict]:
    """A plan may be placed and booked before the patient's REMS enrollment; it says so."""
    _, kinds = rule_store.enrollment_rules(enrollment)
    patient = db.session.get(Patient, enrollment.patient_id)
    doses = sorted((a for a in enrollment.appointments if a.status in LIVE_DOSES),
                   key=lambda a: a.starts_at)
    for appt in doses:
        policy = _dose_policy(kinds.get(appt.session_kind))
        if policy is None or not policy.patient_enrollment_required:
            continue
        day = _local_date(appt.starts_at, appt.clinic_id)
        if _enrolled_by(patient, day):
            return []  # later doses are later still
        when = (f"enrolled on {patient.rems_enrolled_on.isoformat()}, after"
                if patient.rems_enrolled_on else "not enrolled before")
        return [{"code": WARNING_ENROLLMENT_MISSING, "first_dose_on": day.isoformat(),
                 "message": f"the patient is {when} the first {policy.code} dose on "
                            f"{day.isoformat()}: set rems_enrolled_on before checking them in"}]
    return []


def refuse_unenrolled_check_in(appt: Appointment) -> None:
    """A dose session of a route that needs enrollment is checked in only if the patient was
    enrolled by its day."""
    policy = _dose_policy(_kind(appt))
    if policy is None or not policy.patient_enrollment_required:
        return
    patient = db.session.get(Patient, appt.patient_id)
    day = _local_date(appt.starts_at, appt.clinic_id)
    if _enrolled_by(patient, day):
        return
    missing = ("no REMS enrollment date is recorded (rems_enrolled_on)"
               if patient.rems_enrolled_on is None else
               f"the REMS enrollment is dated {patient.rems_enrolled_on.isoformat()}")
    raise Conflict(
        f"the patient is not enrolled in the REMS by this {policy.code} dose on "
        f"{day.isoformat()}: {missing}; record the enrollment on the patient first",
        details={"reason": REASON_ENROLLMENT_MISSING, "patient_id": patient.id,
                 "rems_enrolled_on": patient.rems_enrolled_on.isoformat()
                 if patient.rems_enrolled_on else None,
                 "session_on": day.isoformat()})


# ---------------------------------------------------------------- monitoring at discharge

def record_monitoring(appt: Appointment, dose_at: datetime | None,
                      discharged_at: datetime | None) -> MonitoringForm | None:
    """On completion of a dose session whose route says so: check the monitoring time and open
    the form it owes. Raises (and the caller's transaction completes nothing) when the patient
    left too soon."""
    kind = _kind(appt)
    policy = _dose_policy(kind)
    if policy is None or not policy.discharge_after_monitoring:
        for field, value in (("dose_at", dose_at), ("discharged_at", discharged_at)):
            if value is not None:
                raise Invalid.field(field, f"only dose sessions of a route that requires "
                                           f"monitoring record it ({appt.session_kind} does not)")
        return None
    now = utcnow()
    planned_dose = appt.starts_at + timedelta(minutes=kind.dose_offsets()[0])
    dose_at = dose_at or planned_dose
    discharged_at = discharged_at or now
    if discharged_at > now:
        raise Invalid.field("discharged_at", "must not be in the future")
    zone = _zone(appt.clinic_id)
    minimum = timedelta(minutes=policy.min_monitoring_minutes)
    if discharged_at - dose_at < minimum:
        monitored = (discharged_at - dose_at).total_seconds() / 60
        earliest = (dose_at + minimum).astimezone(zone)
        raise Conflict(
            f"discharge at {discharged_at.astimezone(zone):%H:%M} is "
            f"{quantity(monitored, 'minute')} after the dose at "
            f"{dose_at.astimezone(zone):%H:%M}; {policy.code} requires "
            f"{quantity(policy.min_monitoring_minutes, 'minute')} of monitoring (earliest "
            f"discharge {earliest:%H:%M}); nothing was completed",
            details={"reason": REASON_MONITORING_TOO_SHORT,
                     "dose_at": dose_at.astimezone(zone).isoformat(),
                     "discharged_at": discharged_at.astimezone(zone).isoformat(),
                     "min_monitoring_minutes": policy.min_monitoring_minutes,
                     "earliest_discharge_at": earliest.isoformat()})
    if policy.monitoring_form_due_days is None:
        return None
    session_on = appt.starts_at.astimezone(zone).date()
    form = MonitoringForm(appointment_id=appt.id, patient_id=appt.patient_id,
                          clinic_id=appt.clinic_id, session_on=session_on,
                          due_on=session_on + timedelta(days=policy.monitoring_form_due_days),
                          dose_at=dose_at, discharged_at=discharged_at)
    db.session.add(form)
    db.session.flush()
    return form


# ---------------------------------------------------------------- the worklist

def form_status(form: MonitoringForm, today: date | None = None) -> str:
    if form.submitted_on is not None:
        return FORM_SUBMITTED
    today = today if today is not None else _today(form.clinic_id)
    return FORM_OVERDUE if today > form.due_on else FORM_DUE


def _status_clause(statuses: list[str], clinic_ids: list[int]):
    """SQL for the wanted statuses; 'today' is each clinic's own local date."""
    terms = []
    if FORM_SUBMITTED in statuses:
        terms.append(MonitoringForm.submitted_on.is_not(None))
    for status in (FORM_DUE, FORM_OVERDUE):
        if status not in statuses:
            continue
        for clinic_id in clinic_ids:
            today = _today(clinic_id)
            late = MonitoringForm.due_on < today
            terms.append(and_(MonitoringForm.clinic_id == clinic_id,
                              MonitoringForm.submitted_on.is_(None),
                              late if status == FORM_OVERDUE else ~late))
    return or_(*terms) if terms else false()


def list_forms(who: Principal, *, page: int, page_size: int, clinic_id: int | None = None,
               status: list[str] | None = None) -> Page:
    """The forms a clinic owes or has sent, oldest due first; a key sees its clinics' only."""
    who.require(READ)
    query = select(MonitoringForm).order_by(MonitoringForm.due_on, MonitoringForm.id)
    if clinic_id is not None:
        clinic = db.session.get(Clinic, clinic_id)
        if clinic is None or not who.sees(clinic_id):
            raise NotFound(f"clinic {clinic_id} not found")
        clinic_ids = [clinic_id]
    elif who.scoped:
        clinic_ids = sorted(who.clinic_ids)
    else:
        clinic_ids = list(db.session.scalars(
            select(MonitoringForm.clinic_id).distinct()))
    if clinic_id is not None or who.scoped:
        query = query.where(MonitoringForm.clinic_id.in_(clinic_ids))
    if status:
        query = query.where(_status_clause(status, clinic_ids))
    return paginate(query, page, page_size)


def submit_form(who: Principal, appointment_id: int, *, reference: str,
                submitted_on: date | None = None) -> MonitoringForm:
    """Record that the session's form was sent; the same submission again changes nothing."""
    who.require(BOOK)
    with atomic():
        appt = db.session.get(Appointment, appointment_id)
        if appt is None or not who.sees(appt.clinic_id):
            raise NotFound(f"appointment {appointment_id} not found")
        form = db.session.scalar(select(MonitoringForm).where(
            MonitoringForm.appointment_id == appointment_id).with_for_update())
        if form is None:
            raise Conflict(f"appointment {appointment_id} owes no monitoring form (only a "
                           "completed dose session of a route that requires one does)",
                           details={"reason": REASON_NO_FORM_OWED, "status": appt.status})
        today = _today(appt.clinic_id)
        submitted_on = submitted_on or today
        if submitted_on > today:
            raise Invalid.field("submitted_on", f"must not be after today ({today.isoformat()})")
        if submitted_on < form.session_on:
            raise Invalid.field("submitted_on", f"must not be before the session "
                                                f"({form.session_on.isoformat()})")
        if form.submitted_on is not None:
            if (form.submitted_on, form.reference) == (submitted_on, reference):
                return form
            raise Conflict(f"the form for appointment {appointment_id} was submitted on "
                           f"{form.submitted_on.isoformat()} (reference {form.reference})",
                           details={"reason": REASON_FORM_SUBMITTED,
                                    "submitted_on": form.submitted_on.isoformat(),
                                    "reference": form.reference})
        form.submitted_on, form.reference = submitted_on, reference
        db.session.flush()
    return form


# ---------------------------------------------------------------- the overdue job

def flag_overdue_forms(now: datetime) -> int:
    """Background job: flag each form past its due date, once, and announce it."""
    with atomic():
        candidates = list(db.session.scalars(
            select(MonitoringForm).where(
                MonitoringForm.submitted_on.is_(None),
                MonitoringForm.overdue_flagged_at.is_(None),
                # No zone is more than a day ahead of UTC: later rows cannot be late yet.
                MonitoringForm.due_on < (now + timedelta(days=1)).date())
            .with_for_update(skip_locked=True)))
        flagged = 0
        for form in candidates:
            if now.astimezone(_zone(form.clinic_id)).date() > form.due_on:
                form.overdue_flagged_at = now
                announce_form_overdue(form)
                flagged += 1
        db.session.flush()
    return flagged


def announce_form_overdue(form: MonitoringForm) -> None:
    """The ``rems.form_overdue`` event (SPEC 12), in the flagging transaction so the event and
    the flag commit together."""
    from . import outbox

    outbox.emit(outbox.REMS_FORM_OVERDUE, [form.clinic_id], {
        "id": form.id, "appointment_id": form.appointment_id, "patient_id": form.patient_id,
        "clinic_id": form.clinic_id, "session_on": form.session_on.isoformat(),
        "due_on": form.due_on.isoformat()}, ordering_key=f"appointment:{form.appointment_id}")
    log.info("rems.form_overdue: form %s (appointment %s, clinic %s) was due on %s",
             form.id, form.appointment_id, form.clinic_id, form.due_on.isoformat())
