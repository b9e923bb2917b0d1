from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow

ROLES = ("admin", "manager", "front_desk", "viewer")

api_key_clinics = Table(
    "api_key_clinics",
    db.metadata,
    Column("api_key_id", ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("clinic_id", ForeignKey("clinics.id"), primary_key=True),
)


class ApiKey(db.Model):
    """A bearer credential. Only a SHA-256 hash of the secret is kept; the secret is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin','manager','front_desk','viewer')", name="ck_api_keys_role"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    clinics = relationship("Clinic", secondary=api_key_clinics, lazy="selectin")

    @property
    def clinic_ids(self) -> frozenset[int] | None:
        """None means unscoped (every clinic)."""
        ids = frozenset(c.id for c in self.clinics)
        return ids or None
