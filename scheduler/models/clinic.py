from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import SoftDeleted, Timestamped
from .types import JSONDoc


class Clinic(Timestamped, SoftDeleted, db.Model):
    __tablename__ = "clinics"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("length(name) > 0", name="ck_clinics_name_nonempty"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 60", name="ck_clinics_slot_minutes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["08:00", "18:00"]], ...}: local wall-clock windows, validated by the API layer;
    # a window whose end is not after its start ends the next day (["22:00", "06:00"]).
    hours: Mapped[dict] = mapped_column(JSONDoc, default=dict)
    closures: Mapped[list] = mapped_column(JSONDoc, default=list)
    certifications: Mapped[list] = mapped_column(JSONDoc, default=list)
    # Closed stretches shorter than whole days (clinics) or of any length (rooms), as
    # [{"start", "end", "reason"}] with ISO instants; the engine keeps sessions out of them.
    closed_periods: Mapped[list] = mapped_column(JSONDoc, default=list)
    # The grid of round start times in minutes (sessions also start back to back off it).
    slot_minutes: Mapped[int] = mapped_column(default=15, server_default="15")
    # Moved by the database itself (triggers of migration 0010) in the transaction of every
    # insert, update or delete of an allocation or appointment the clinic owns; never
    # written by the code.
    calendar_version: Mapped[int] = mapped_column(BigInteger, server_default="0")

    rooms = relationship("Room", back_populates="clinic", lazy="raise_on_sql")


class CalendarChange(db.Model):
    """One allocation change (or, with no allocation id, an appointment change), logged by
    trigger with the version it gave its clinic (migration 0010)."""

    __tablename__ = "calendar_changes"
    __table_args__ = (Index("ix_calendar_changes_clinic_version", "clinic_id", "version"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True)
    clinic_id: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column(BigInteger)
    allocation_id: Mapped[int | None] = mapped_column(BigInteger)
