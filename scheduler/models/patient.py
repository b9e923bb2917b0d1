from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .mixins import Timestamped
from .types import JSONDoc


class Patient(Timestamped, db.Model):
    """A patient belongs to a home clinic: that is what a clinic-scoped key may see."""

    __tablename__ = "patients"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id", name="uq_patients_clinic_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    preferences: Mapped[dict] = mapped_column(JSONDoc, default=dict)
    # Esketamine REMS patient enrollment (SPEC 12): dose sessions on or after it may be given.
    rems_enrolled_on: Mapped[date | None] = mapped_column(Date, default=None)
