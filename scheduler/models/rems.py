"""Esketamine REMS paperwork: the Patient Monitoring Form each completed dose session owes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import Timestamped
from .types import UTCDateTime

# A form's status is read off its dates (see ``scheduler.services.rems``), never stored: the
# worklist is right even before the overdue job has run.
FORM_DUE = "due"
FORM_OVERDUE = "overdue"
FORM_SUBMITTED = "submitted"
FORM_STATUSES = (FORM_DUE, FORM_OVERDUE, FORM_SUBMITTED)


class MonitoringForm(Timestamped, db.Model):
    """One per completed dose session of a route that owes one, with the monitoring it records
    (when the dose was given, when the patient left)."""

    __tablename__ = "rems_monitoring_forms"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("discharged_at > dose_at", name="ck_rems_forms_discharge_after_dose"),
        CheckConstraint("due_on >= session_on", name="ck_rems_forms_due_after_session"),
        CheckConstraint("(submitted_on IS NULL) = (reference IS NULL)",
                        name="ck_rems_forms_submission_whole"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    session_on: Mapped[date] = mapped_column(Date)
    """The session's local date at its clinic."""
    due_on: Mapped[date] = mapped_column(Date, index=True)
    dose_at: Mapped[datetime] = mapped_column(UTCDateTime)
    discharged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_on: Mapped[date | None] = mapped_column(Date, default=None)
    reference: Mapped[str | None] = mapped_column(String(100), default=None)
    overdue_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    """Set once by the overdue job (which then announces it); never cleared."""

    appointment = relationship("Appointment")
