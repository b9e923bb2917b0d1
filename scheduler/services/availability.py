"""Free start times for one session kind: the same snapshot and engine as placement, no writes."""

from __future__ import annotations

from datetime import timedelta

from .. import engine
from ..errors import Invalid
from ..extensions import db
from ..models import Patient
from ..models.types import utcnow
from . import rule_store, snapshot
from .access import READ, Principal, patient_visible
from .appointments import instant, visible_clinic

MAX_WINDOW_DAYS = 62


def availability(who: Principal, *, clinic_id: int, session_kind: str, start, end,
                 patient_id: int | None = None, limit: int = 200) -> list[engine.Slot]:
    who.require(READ)
    clinic = visible_clinic(who, clinic_id, field="clinic_id")
    kinds = rule_store.known_session_kinds()
    if session_kind not in kinds:
        raise Invalid.field("session_kind", f"unknown session kind {session_kind!r}")
    if patient_id is not None:
        patient = db.session.get(Patient, patient_id)
        if patient is None or not patient_visible(who, patient):
            raise Invalid.field("patient_id", f"patient {patient_id} does not exist")
    window_start = instant(start, clinic.timezone)
    window_end = instant(end, clinic.timezone)
    if window_end <= window_start:
        raise Invalid.field("end", "must be after start")
    window_start = max(window_start, utcnow())  # a slot in the past is no slot
    if window_end <= window_start:
        return []
    if window_end - window_start > timedelta(days=MAX_WINDOW_DAYS):
        raise Invalid.field("end", f"the window may span at most {MAX_WINDOW_DAYS} days")
    practice = snapshot.practice_for(clinic, kinds, patient_id=patient_id,
                                     window_start=window_start - timedelta(days=1),
                                     window_end=window_end + timedelta(days=1))
    return engine.find_slots(practice, session_kind, window_start, window_end,
                             patient_id=patient_id,
                             patient_busy=snapshot.patient_busy(practice.bookings, patient_id),
                             limit=limit)
