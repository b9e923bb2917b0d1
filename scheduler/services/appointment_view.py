"""How an appointment reads to a front desk: clinic-local times and named resources (SPEC 4).

Stored instants are UTC; a response shows each at the clinic's UTC offset at that instant, so
``10:00-05:00`` is the clinic's 10:00. Allocations are stored one row per capacity unit (that is
how the database refuses double booking); a reader needs one entry per resource and span.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..extensions import db
from ..models import Appointment, Clinic, Room, StaffMember

RESOURCE_MODELS = {"room": Room, "staff": StaffMember}
"""Resources a calendar shows; the patient's own allocation only keeps one patient in one
place and is not one of them."""


def clinic_zone(clinic_id: int) -> ZoneInfo:
    """The clinic's zone (the session's identity map makes repeated calls free)."""
    return ZoneInfo(db.session.get(Clinic, clinic_id).timezone)


def clinic_time(moment: datetime | None, clinic_id: int) -> datetime | None:
    return None if moment is None else moment.astimezone(clinic_zone(clinic_id))


def resource_name(resource_type: str, resource_id: int) -> str | None:
    row = db.session.get(RESOURCE_MODELS[resource_type], resource_id)
    return row.name if row is not None else None


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
    return [{"resource_type": rtype, "resource_id": rid, "name": resource_name(rtype, rid),
             "start": clinic_time(start, appt.clinic_id), "end": clinic_time(end, appt.clinic_id),
             "active": active}
            for (rtype, rid), stretches in spans.items() for start, end, active in stretches]
