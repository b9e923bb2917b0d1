from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import SoftDeleted, Timestamped
from .types import JSONDoc, UTCDateTime

WEEKDAY_CHECK = "weekday IN ('mon','tue','wed','thu','fri','sat','sun')"


class StaffMember(Timestamped, SoftDeleted, db.Model):
    __tablename__ = "staff"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("max_concurrent_patients >= 1", name="ck_staff_capacity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSONDoc, default=list)
    max_concurrent_patients: Mapped[int] = mapped_column(default=1)

    shifts = relationship(
        "Shift", back_populates="staff", cascade="all, delete-orphan",
        order_by="(Shift.clinic_id, Shift.weekday_index, Shift.start)", lazy="selectin",
    )
    time_off = relationship(
        "TimeOff", back_populates="staff", cascade="all, delete-orphan",
        order_by="TimeOff.start", lazy="selectin",
    )

    @property
    def clinic_ids(self) -> set[int]:
        return {s.clinic_id for s in self.shifts}


class Shift(db.Model):
    """A weekly recurring window in which one person works at one clinic (clinic-local time).

    It starts on ``weekday``; an ``end`` not after ``start`` is on the next day (22:00-06:00).
    """

    __tablename__ = "shifts"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(WEEKDAY_CHECK, name="ck_shifts_weekday"),
        CheckConstraint('"start" <> "end"', name="ck_shifts_start_not_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    weekday: Mapped[str] = mapped_column(String(3))
    weekday_index: Mapped[int] = mapped_column()
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)

    staff = relationship("StaffMember", back_populates="shifts")


class TimeOff(db.Model):
    __tablename__ = "staff_time_off"
    __audited__ = True
    __table_args__ = (CheckConstraint('"start" < "end"', name="ck_time_off_start_before_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")

    staff = relationship("StaffMember", back_populates="time_off")
