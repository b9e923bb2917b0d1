"""Reading the calendar: one appointment, or those matching a query."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import Allocation, Appointment, Clinic, Patient
from . import appointment_view, snapshot
from .access import READ, Principal
from .pagination import Page, paginate


def get_appointment(who: Principal, appointment_id: int) -> Appointment:
    who.require(READ)
    appt = db.session.get(Appointment, appointment_id)
    if appt is None or not who.sees(appt.clinic_id):
        raise NotFound(f"appointment {appointment_id} not found")
    return appt


def visible_clinic(who: Principal, clinic_id: int, field: str | None = None) -> Clinic:
    """The clinic if the key may see it; else 404, or 422 naming ``field`` when it came in a body
    or query field."""
    clinic = db.session.get(Clinic, clinic_id)
    if clinic is None or clinic.is_deleted or not who.sees(clinic_id):
        if field:
            raise Invalid.field(field, f"clinic {clinic_id} does not exist")
        raise NotFound(f"clinic {clinic_id} not found")
    return clinic


def instant(value: date | datetime, tz: str) -> datetime:
    """A query bound: an instant as given, a bare date as local midnight in ``tz``."""
    if isinstance(value, datetime):
        return value
    return snapshot.local_midnight(value, tz)


def list_appointments(who: Principal, *, page: int, page_size: int, clinic_id=None,
                      patient_id=None, room_id=None, staff_id=None, status=None, start=None,
                      end=None, rendered: bool = False) -> Page:
    """Appointments overlapping ``[start, end)``; a bare date is local midnight at the clinic.
    ``rendered``: items as the API renders them (``appointment_view.rendered_page``)."""
    who.require(READ)
    query = select(Appointment).order_by(Appointment.starts_at, Appointment.id)
    # A bare date is local midnight at "the clinic": the one asked for, else the patient's
    # home clinic, else the key's only clinic; with none of those, UTC.
    tz = "UTC"
    if clinic_id is not None:
        clinic = visible_clinic(who, clinic_id)
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
    if start is not None and end is not None and instant(end, tz) <= instant(start, tz):
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
        query = query.where(Appointment.ends_at > instant(start, tz))
    if end is not None:
        query = query.where(Appointment.starts_at < instant(end, tz))
    if rendered:
        return appointment_view.rendered_page(query, page, page_size)
    return paginate(query, page, page_size)


def kept_list(who: Principal, args: dict, serialise):
    """``list_appointments`` rendered, as ``serialise(page)`` makes it (the API's body and
    headers), kept per worker under everything it depends on (``appointment_view.list_key``)."""
    who.require(READ)
    key = appointment_view.list_key(who, args)
    kept = appointment_view.LIST_CACHE.get(key)
    if kept is None:
        kept = serialise(list_appointments(who, **args, rendered=True))
        appointment_view.LIST_CACHE.put(key, kept)
    return kept
