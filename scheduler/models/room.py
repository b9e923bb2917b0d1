from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import SoftDeleted, Timestamped
from .types import JSONDoc


class Room(Timestamped, SoftDeleted, db.Model):
    __tablename__ = "rooms"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="ck_rooms_capacity_positive"),
        CheckConstraint("turnover_minutes >= 0", name="ck_rooms_turnover_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    features: Mapped[list] = mapped_column(JSONDoc, default=list)
    capacity: Mapped[int] = mapped_column(default=1)
    turnover_minutes: Mapped[int] = mapped_column(default=0)
    # Closed stretches shorter than whole days (clinics) or of any length (rooms), as
    # [{"start", "end", "reason"}] with ISO instants; the engine keeps sessions out of them.
    closed_periods: Mapped[list] = mapped_column(JSONDoc, default=list)

    clinic = relationship("Clinic", back_populates="rooms")
