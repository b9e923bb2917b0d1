"""Disruptions (SPEC 8): an absence or closure proposed with its re-plan, then applied or dropped.

The proposal's re-plan is stored as it was shown (``changes``), and the new slots it would take
are held as allocations owned by the disruption (``Allocation.disruption_id``), so the database's
exclusion constraint guards them like any booking until the proposal is applied, discarded or
its hold runs out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import Timestamped
from .types import JSONDoc, UTCDateTime

STAFF_ABSENCE = "staff_absence"
ROOM_CLOSURE = "room_closure"
CLINIC_CLOSURE = "clinic_closure"
DISRUPTION_KINDS = (STAFF_ABSENCE, ROOM_CLOSURE, CLINIC_CLOSURE)

PROPOSED = "proposed"
APPLIED = "applied"
DISCARDED = "discarded"
EXPIRED = "expired"
DISRUPTION_STATUSES = (PROPOSED, APPLIED, DISCARDED, EXPIRED)

# Change outcomes, as SPEC 8 names them.
REASSIGNED = "reassigned"
MOVED = "moved"
UNPLACEABLE = "unplaceable"
OUTCOMES = (REASSIGNED, MOVED, UNPLACEABLE)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Disruption(Timestamped, db.Model):
    __tablename__ = "disruptions"
    __audited__ = True
    __table_args__ = (
        CheckConstraint(_in("kind", DISRUPTION_KINDS), name="ck_disruptions_kind"),
        CheckConstraint(_in("status", DISRUPTION_STATUSES), name="ck_disruptions_status"),
        CheckConstraint("starts_at < ends_at", name="ck_disruptions_start_before_end"),
        Index("ix_disruptions_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=PROPOSED)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    allow_clinic_ids: Mapped[list] = mapped_column(JSONDoc, default=list)
    clinic_ids: Mapped[list] = mapped_column(JSONDoc, default=list)
    """The clinics involved (the resource's, the affected appointments', the targets'): their
    managers and admins may act on it, any of their keys may read it."""
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[dict] = mapped_column(JSONDoc, default=dict)
    changes: Mapped[list] = mapped_column(JSONDoc, default=list)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))

    holds = relationship("Allocation", back_populates="disruption", lazy="selectin",
                         cascade="all, delete-orphan", order_by="Allocation.id")
