"""The transactional outbox: services report their changes here, in their own transaction.

A service that changes something a subscriber should hear of calls one function of this module
at the point of change. The event row joins the caller's transaction, so it commits with the
change or vanishes with it: nothing is reported that did not happen, nothing that happened goes
unreported. Delivery (fan-out to endpoints, signing, retries) is the job process's business
(``services.webhook_delivery``).

The API's own serialisation renders payloads: ``scheduler.api`` registers its appointment and
enrollment schemas here at start-up (``register_renderers``), so a webhook shows an appointment
exactly as ``GET /appointments/{id}`` does and this layer imports nothing from the one above.

Emit API (all functions add rows to the current session; none commits):
- ``appointment_status_changed(appt, old, new)`` — called by the state machine;
- ``appointments_changed(appts, event_type)`` — moved, reassigned, or booked outright;
- ``enrollment_changed(enrollment, event_type)``;
- ``emit(event_type, clinic_ids, data, ordering_key=...)`` — anything else (disruptions, offers).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Appointment, Enrollment, Patient, WebhookEvent
from ..models.types import utcnow

APPOINTMENT_CREATED = "appointment.created"
APPOINTMENT_UPDATED = "appointment.updated"
APPOINTMENT_CANCELLED = "appointment.cancelled"
ENROLLMENT_CONFIRMED = "enrollment.confirmed"
ENROLLMENT_CANCELLED = "enrollment.cancelled"
DISRUPTION_APPLIED = "disruption.applied"
OFFER_CREATED = "offer.created"
REMINDER_DUE = "reminder.due"
REMS_FORM_OVERDUE = "rems.form_overdue"
EVENT_TYPES = (APPOINTMENT_CREATED, APPOINTMENT_UPDATED, APPOINTMENT_CANCELLED,
               ENROLLMENT_CONFIRMED, ENROLLMENT_CANCELLED, DISRUPTION_APPLIED, OFFER_CREATED,
               REMINDER_DUE, REMS_FORM_OVERDUE)

# What a status change reports. Holds are never reported: a confirm reports its appointments
# as created, and a hold that is released or expires was never announced.
_STATUS_EVENTS = {
    ("held", "booked"): APPOINTMENT_CREATED,
    ("booked", "cancelled"): APPOINTMENT_CANCELLED,
    ("booked", "checked_in"): APPOINTMENT_UPDATED,
    ("booked", "no_show"): APPOINTMENT_UPDATED,
    ("checked_in", "completed"): APPOINTMENT_UPDATED,
}

# The key under which a payload carries the patient; ``busy`` subscribers never see it.
PATIENT_KEY = "patient"

_renderers: dict[str, Callable[[object], dict]] = {}
# Per transaction: the patients loaded and the appointments rendered (a confirm reports each
# appointment, then the enrollment with the same appointments: each is rendered once).
_PATIENTS, _RENDERED = "outbox_patients", "outbox_rendered"


def register_renderers(*, appointment: Callable[[Appointment], dict],
                       enrollment_without_appointments: Callable[[Enrollment], dict]) -> None:
    """The API's schemas: an appointment, and an enrollment without its ``appointments``
    (the outbox adds them, rendered as appointments, so each is rendered once)."""
    _renderers.update(appointment=appointment,
                      enrollment_without_appointments=enrollment_without_appointments)


def _render(kind: str, obj) -> dict:
    try:
        return _renderers[kind](obj)
    except KeyError:
        raise RuntimeError(f"no {kind} renderer registered (scheduler.api registers them when "
                           "the app is created)") from None


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def emit(event_type: str, clinic_ids: Iterable[int], data: dict, *,
         ordering_key: str | None = None, webhook_id: int | None = None) -> WebhookEvent:
    """Record one event in the current transaction.

    ``clinic_ids``: every clinic the event touches; a clinic-scoped subscription hears it only
    when all of them are its own (emit one event per clinic to reach each tenant). ``data``
    may carry the patient under ``"patient"`` (and nowhere else): ``busy`` subscribers get the
    payload without it. Events with the same ``ordering_key`` reach each endpoint in the order
    they were emitted.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event = WebhookEvent(public_id=new_event_id(), type=event_type,
                         clinic_ids=sorted(set(clinic_ids)), ordering_key=ordering_key,
                         webhook_id=webhook_id, data=data, occurred_at=utcnow())
    db.session.add(event)
    return event


def appointment_payload(appt: Appointment) -> dict:
    """The appointment as the API shows it, plus its patient (removed for ``busy``)."""
    return {**_rendered_appointment(appt), PATIENT_KEY: _patient(appt.patient_id)}


def _rendered_appointment(appt: Appointment) -> dict:
    rendered = db.session.info.setdefault(_RENDERED, {})
    key = (appt.id, appt.sequence, appt.status, appt.updated_at)
    if key not in rendered:
        rendered[key] = _render("appointment", appt)
    return rendered[key]


@event.listens_for(Session, "after_transaction_end")
def _forget(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PATIENTS, None)
        session.info.pop(_RENDERED, None)


def appointment_status_changed(appt: Appointment, old: str, new: str) -> None:
    event_type = _STATUS_EVENTS.get((old, new))
    if event_type is not None:
        _appointment_event(appt, event_type)


def appointments_changed(appointments: Iterable[Appointment], event_type: str) -> None:
    """Report each appointment (held ones are not reported: holds are silent)."""
    for appt in appointments:
        if appt.status != "held":
            _appointment_event(appt, event_type)


def enrollment_changed(enrollment: Enrollment, event_type: str, *,
                       was_held: bool = False) -> None:
    """Report an enrollment with its appointments (a released hold was never announced)."""
    if was_held:
        return
    data = {**_render("enrollment_without_appointments", enrollment),
            "appointments": [_rendered_appointment(a) for a in enrollment.appointments],
            PATIENT_KEY: _patient(enrollment.patient_id)}
    emit(event_type, [enrollment.clinic_id], data, ordering_key=f"enrollment:{enrollment.id}")


def _appointment_event(appt: Appointment, event_type: str) -> None:
    if appt.id is None:
        db.session.flush([appt])
    emit(event_type, [appt.clinic_id], appointment_payload(appt),
         ordering_key=f"appointment:{appt.id}")


def _patient(patient_id: int) -> dict | None:
    # The session's identity map holds objects weakly: keep the patients we loaded, or every
    # appointment of a plan would load its patient again (and flush the session first).
    held = db.session.info.setdefault(_PATIENTS, {})
    patient = held.get(patient_id)
    if patient is None:
        with db.session.no_autoflush:
            patient = held[patient_id] = db.session.get(Patient, patient_id)
    if patient is None:
        return None
    return {"id": patient.id, "name": patient.name, "external_id": patient.external_id,
            "email": patient.email, "phone": patient.phone, "clinic_id": patient.clinic_id}


# Keys that identify a patient: removed everywhere in a ``busy`` payload. ``patient_id`` (an
# opaque number) stays, as SPEC 10 says.
PRIVATE_KEYS = frozenset({PATIENT_KEY, "patient_name", "patient_external_id", "external_id",
                          "email", "phone", "contact"})


def busy_view(value):
    """The payload a ``busy`` subscriber receives: no patient name, identifier or contact."""
    if isinstance(value, dict):
        return {k: busy_view(v) for k, v in value.items() if k not in PRIVATE_KEYS}
    if isinstance(value, list):
        return [busy_view(v) for v in value]
    return value
