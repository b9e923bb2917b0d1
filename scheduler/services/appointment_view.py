"""How an appointment reads to a front desk: clinic-local times and named resources (SPEC 4).

Stored instants are UTC; a response shows each at the clinic's UTC offset at that instant, so
``10:00-05:00`` is the clinic's 10:00. Allocations are stored one row per capacity unit (that is
how the database refuses double booking); a reader needs one entry per resource and span.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Appointment, Clinic, Room, StaffMember

RESOURCE_MODELS = {"room": Room, "staff": StaffMember}
"""Resources a calendar shows; the patient's own allocation only keeps one patient in one
place and is not one of them."""

_MEMO = "appointment_view"


def _memo() -> dict:
    """Zones and names looked up in this transaction (one query each, not one per row: the
    identity map holds rows weakly, so a name read and dropped was fetched again per row)."""
    return db.session.info.setdefault(_MEMO, {})


@event.listens_for(Session, "after_transaction_end")
def _forget(session, transaction):
    if transaction.parent is None:
        session.info.pop(_MEMO, None)


def clinic_zone(clinic_id: int) -> ZoneInfo:
    """The clinic's zone."""
    memo = _memo()
    key = ("zone", clinic_id)
    zone = memo.get(key)
    if zone is None:
        zone = memo[key] = ZoneInfo(db.session.get(Clinic, clinic_id).timezone)
    return zone


def clinic_time(moment: datetime | None, clinic_id: int) -> datetime | None:
    return None if moment is None else moment.astimezone(clinic_zone(clinic_id))


def resource_name(resource_type: str, resource_id: int) -> str | None:
    memo = _memo()
    key = (resource_type, resource_id)
    if key not in memo:
        model = RESOURCE_MODELS[resource_type]
        memo[key] = db.session.scalar(select(model.name).where(model.id == resource_id))
    return memo[key]


def allocation_entries(appt: Appointment) -> list[dict]:
    """One entry per resource and span: a resource's units held over overlapping or touching
    times (a nurse 1:1 during setup, then one of her places) read as one stretch."""
    spans: dict[tuple[str, int], list[list]] = {}
    for a in sorted(appt.allocations, key=lambda a: (a.starts_at, a.id)):
        if a.resource_type not in RESOURCE_MODELS:
            continue
        stretches = spans.setdefault((a.resource_type, a.resource_id), [])
        last = stretches[-1] if stretches else None
        if last is not None and a.starts_at <= last[1]:
            last[1] = max(last[1], a.ends_at)
            last[2] = last[2] or a.active
        else:
            stretches.append([a.starts_at, a.ends_at, a.active])
    zone = clinic_zone(appt.clinic_id)
    return [{"resource_type": rtype, "resource_id": rid, "name": resource_name(rtype, rid),
             "start": start.astimezone(zone), "end": end.astimezone(zone), "active": active}
            for (rtype, rid), stretches in spans.items() for start, end, active in stretches]
