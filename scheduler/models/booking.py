"""Enrollments, appointments (one row per occurrence) and their resource allocations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import Timestamped
from .status import APPOINTMENT_STATUSES, ENROLLMENT_STATUSES, HELD
from .types import JSONDoc, UTCDateTime

RESOURCE_TYPES = ("room", "staff", "patient")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Enrollment(Timestamped, db.Model):
    __tablename__ = "enrollments"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(_in("status", ENROLLMENT_STATUSES), name="ck_enrollments_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    protocol_id: Mapped[int] = mapped_column(ForeignKey("protocols.id"))
    protocol_version_id: Mapped[int] = mapped_column(ForeignKey("protocol_versions.id"))
    protocol_version: Mapped[int] = mapped_column()
    start_on: Mapped[date] = mapped_column(Date)
    availability: Mapped[dict] = mapped_column(JSONDoc, default=dict)
    preferences: Mapped[dict] = mapped_column(JSONDoc, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=HELD)
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Open-ended phases are placed up to here; the horizon job moves it forward.
    horizon_end: Mapped[date | None] = mapped_column(Date)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))

    appointments = relationship(
        "Appointment", back_populates="enrollment", order_by="Appointment.starts_at",
        lazy="selectin",
    )


class Appointment(Timestamped, db.Model):
    __tablename__ = "appointments"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(_in("status", APPOINTMENT_STATUSES), name="ck_appointments_status"),
        CheckConstraint("starts_at < ends_at", name="ck_appointments_start_before_end"),
        Index("ix_appointments_clinic_start", "clinic_id", "starts_at"),
        Index("ix_appointments_patient_start", "patient_id", "starts_at"),
        UniqueConstraint("enrollment_id", "key", name="uq_appointments_enrollment_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    session_kind: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str | None] = mapped_column(String(64))
    # Position in the plan, e.g. "induction#3" or "induction#3/follow_up": stable across moves.
    key: Mapped[str | None] = mapped_column(String(100))
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=HELD)
    # Bumped on every change a calendar subscriber should see (iCal SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    # Set by the overdue job: still booked long after its end, nobody checked the patient in.
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Why it was cancelled when the service did it (``disruption``); None when a person did.
    cancel_reason: Mapped[str | None] = mapped_column(String(30), default=None)

    enrollment = relationship("Enrollment", back_populates="appointments")

    @property
    def parent_key(self) -> str | None:
        """The plan key of the session this one follows up (``induction#3/follow_up``)."""
        return self.key.split("/")[0] if self.key and "/" in self.key else None

    follow_up_of = relationship("Appointment", remote_side=[id], lazy="raise_on_sql")
    allocations = relationship(
        "Allocation", back_populates="appointment", order_by="Allocation.id",
        cascade="all, delete-orphan", lazy="selectin",
    )


class Allocation(db.Model):
    """One resource unit held over ``[starts_at, ends_at)``.

    Capacity becomes units: a two-chair room has units 0 and 1, a nurse who may monitor three
    patients has units 0-2, an exclusive need takes every unit. On PostgreSQL the exclusion
    constraint below makes two overlapping active uses of one unit impossible, whatever the code
    does; ``active`` turns false when the appointment is cancelled or the patient did not come.
    """

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint(_in("resource_type", RESOURCE_TYPES), name="ck_allocations_resource_type"),
        CheckConstraint("unit >= 0", name="ck_allocations_unit_nonnegative"),
        CheckConstraint("starts_at < ends_at", name="ck_allocations_start_before_end"),
        CheckConstraint("(appointment_id IS NULL) <> (disruption_id IS NULL)",
                        name="ck_allocations_one_owner"),
        Index("ix_allocations_resource_time", "resource_type", "resource_id", "starts_at"),
        ExcludeConstraint(
            ("resource_type", "="),
            ("resource_id", "="),
            ("unit", "="),
            (func.tstzrange(text("starts_at"), text("ends_at"), text("'[)'")), "&&"),
            where=text("active"),
            using="gist",
            name="ex_allocations_no_overlap",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    # A slot held by an open disruption proposal (no appointment yet): see models.disruption.
    disruption_id: Mapped[int | None] = mapped_column(
        ForeignKey("disruptions.id", ondelete="CASCADE"), index=True
    )
    resource_type: Mapped[str] = mapped_column(String(10))
    resource_id: Mapped[int] = mapped_column()
    unit: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)

    appointment = relationship("Appointment", back_populates="allocations")
    disruption = relationship("Disruption", back_populates="holds")
