"""The waitlist (booked enrollments that would come sooner), the offers made to them, and the
per-clinic marker that says capacity was released and matching is due."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import Timestamped
from .status import OFFER_OPEN, OFFER_STATUSES
from .types import JSONDoc, UTCDateTime, utcnow


class WaitlistEntry(db.Model):
    """One waiting enrollment; served in ``(joined_at, id)`` order, first come first served."""

    __tablename__ = "waitlist_entries"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("min_gain_days >= 1", name="ck_waitlist_entries_min_gain_days"),
        Index("ix_waitlist_entries_clinic_order", "clinic_id", "joined_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    min_gain_days: Mapped[int] = mapped_column(default=1)
    passed_generation: Mapped[int | None] = mapped_column(default=None)
    """The clinic's release generation when this entry last declined or let an offer expire:
    the time it passed on goes to the next in line; a later release makes it eligible again."""


class Offer(Timestamped, db.Model):
    """A held alternative plan for a waiting enrollment.

    The held sessions are appointments without an enrollment (so they never count as part of
    the plan they may replace) linked here through ``OfferAppointment``; ``replaces`` records
    each replaced appointment's id and ``sequence`` at offer time, so a change meanwhile is
    seen and withdraws the offer. One open offer per enrollment is a partial unique index.
    """

    __tablename__ = "offers"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("status IN ({})".format(", ".join(repr(s) for s in OFFER_STATUSES)),
                        name="ck_offers_status"),
        Index("uq_offers_one_open_per_enrollment", "enrollment_id", unique=True,
              sqlite_where=text(f"status = '{OFFER_OPEN}'"),
              postgresql_where=text(f"status = '{OFFER_OPEN}'")),
        Index("ix_offers_clinic_status", "clinic_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    status: Mapped[str] = mapped_column(String(20), default=OFFER_OPEN)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    gain_days: Mapped[int] = mapped_column()
    replaces: Mapped[list] = mapped_column(JSONDoc, default=list)
    """``[{"id": appointment id, "sequence": its sequence when offered}]``"""
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    sessions = relationship("OfferAppointment", order_by="OfferAppointment.id",
                            cascade="all, delete-orphan", lazy="selectin")

    @property
    def replaced_ids(self) -> list[int]:
        return [r["id"] for r in self.replaces]


class OfferAppointment(db.Model):
    """A held session of an offer and the plan key it takes once accepted."""

    __tablename__ = "offer_appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), unique=True)
    key: Mapped[str] = mapped_column(String(100))

    appointment = relationship("Appointment", lazy="selectin")


class CapacityRelease(db.Model):
    """Per clinic: capacity was released (``generation`` grows) and matching is due until
    ``matched_generation`` catches up. Written in the releasing transaction, so a release
    that committed is never forgotten, and one that rolled back never triggers anything."""

    __tablename__ = "capacity_releases"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(default=1)
    matched_generation: Mapped[int] = mapped_column(default=0)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
