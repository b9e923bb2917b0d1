"""How an appointment reads to a front desk: clinic-local times and named resources (SPEC 4).

Stored instants are UTC; a response shows each at the clinic's UTC offset at that instant, so
``10:00-05:00`` is the clinic's 10:00. Allocations are stored one row per capacity unit (that is
how the database refuses double booking); a reader needs one entry per resource and span.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, event, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from ..extensions import db
from ..models import Allocation, Appointment, Clinic, Patient, Room, StaffMember
from .calendar_cache import Instants
from .feed_cache import LruCache
from .pagination import Page

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
        with db.session.no_autoflush:  # rendering must not flush what the caller has pending
            zone = memo[key] = ZoneInfo(db.session.get(Clinic, clinic_id).timezone)
    return zone


def clinic_time(moment: datetime | None, clinic_id: int) -> datetime | None:
    return None if moment is None else moment.astimezone(clinic_zone(clinic_id))


def resource_name(resource_type: str, resource_id: int) -> str | None:
    memo = _memo()
    key = (resource_type, resource_id)
    if key not in memo:
        model = RESOURCE_MODELS[resource_type]
        with db.session.no_autoflush:  # rendering must not flush what the caller has pending
            memo[key] = db.session.scalar(select(model.name).where(model.id == resource_id))
    return memo[key]


def allocation_entries(appt: Appointment) -> list[dict]:
    """One entry per resource and span: a resource's units held over overlapping or touching
    times (a nurse 1:1 during setup, then one of her places) read as one stretch."""
    return _entries([(a.id, a.resource_type, a.resource_id, a.starts_at, a.ends_at, a.active)
                     for a in appt.allocations], clinic_zone(appt.clinic_id))


def _entries(allocations, zone: ZoneInfo) -> list[dict]:
    """``allocations``: (id, resource_type, resource_id, starts_at, ends_at, active)."""
    spans: dict[tuple[str, int], list[list]] = {}
    for _, rtype, rid, starts_at, ends_at, active in sorted(allocations,
                                                            key=lambda a: (a[3], a[0])):
        if rtype not in RESOURCE_MODELS:
            continue
        stretches = spans.setdefault((rtype, rid), [])
        last = stretches[-1] if stretches else None
        if last is not None and starts_at <= last[1]:
            last[1] = max(last[1], ends_at)
            last[2] = last[2] or active
        else:
            stretches.append([starts_at, ends_at, active])
    return [{"resource_type": rtype, "resource_id": rid, "name": resource_name(rtype, rid),
             "start": start.astimezone(zone), "end": end.astimezone(zone), "active": active}
            for (rtype, rid), stretches in spans.items() for start, end, active in stretches]


# ---------------------------------------------------------------- lists, without ORM objects

_RAW = NullType()


def _raw(column):
    return type_coerce(column, _RAW)


APPOINTMENT_COLUMNS = (
    Appointment.id, Appointment.enrollment_id, Appointment.patient_id, Appointment.clinic_id,
    Appointment.session_kind, Appointment.phase, Appointment.key, Appointment.follow_up_of_id,
    _raw(Appointment.starts_at), _raw(Appointment.ends_at), Appointment.status,
    Appointment.sequence, _raw(Appointment.overdue_at), Appointment.cancel_reason,
    _raw(Appointment.updated_at))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def rendered_page(query: Select, page: int, page_size: int) -> Page:
    """``paginate`` of an ``select(Appointment)`` query, each item already rendered as
    ``AppointmentOut`` renders it (a test holds the two equal), from plain columns: a busy
    week's list spent most of its time building ORM objects and running marshmallow."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.execute(query.with_only_columns(*APPOINTMENT_COLUMNS)
                              .limit(page_size).offset((page - 1) * page_size)).all()
    instant = Instants()
    held: dict[int, list] = {row[0]: [] for row in rows}
    ids = list(held)
    for start in range(0, len(ids), 500):
        for appt_id, *alloc in db.session.execute(
                select(Allocation.appointment_id, Allocation.id, Allocation.resource_type,
                       Allocation.resource_id, _raw(Allocation.starts_at),
                       _raw(Allocation.ends_at), Allocation.active)
                .where(Allocation.appointment_id.in_(ids[start:start + 500]))):
            alloc_id, rtype, rid, s, e, active = alloc
            held[appt_id].append((alloc_id, rtype, rid, instant(s), instant(e), bool(active)))
    items = []
    for (appt_id, enrollment_id, patient_id, clinic_id, kind, phase, key, follow_up_of, s, e,
         status, sequence, overdue, cancel_reason, updated) in rows:
        zone = clinic_zone(clinic_id)
        items.append({
            "id": appt_id, "enrollment_id": enrollment_id, "patient_id": patient_id,
            "clinic_id": clinic_id, "session_kind": kind, "phase": phase, "key": key,
            "follow_up_of": follow_up_of, "start": instant(s).astimezone(zone).isoformat(),
            "end": instant(e).astimezone(zone).isoformat(), "status": status,
            "sequence": sequence,
            "overdue_at": None if overdue is None else instant(overdue).isoformat(),
            "cancel_reason": cancel_reason,
            "allocations": [{**entry, "start": entry["start"].isoformat(),
                             "end": entry["end"].isoformat()}
                            for entry in _entries(held[appt_id], zone)],
            "updated_at": _iso(None if updated is None else instant(updated)),
        })
    return Page(items=items, total=total or 0, page=page, page_size=page_size)


# ---------------------------------------------------------------- rendered lists, per worker

LIST_CACHE = LruCache(16 * 1024 * 1024, size=lambda entry: len(entry[0]) + 500)
"""Rendered ``GET /appointments`` bodies (with their pagination header) by ``list_key``."""


def list_key(who, args: dict) -> tuple:
    """Everything a rendered list depends on, read first (whatever the list then reads is at
    least this new): the query and the key's clinics; every clinic's calendar version (the
    database moves it with every appointment and allocation change, migration 0010); and the
    names and zones a page shows, as they are stored (not their ``updated_at`` stamps: those
    are written by the application and may commit out of order, so the newest stamp can stay
    the same while an older rename commits)."""
    # Versions only grow (clinics are never deleted, only marked so): their sum moves with any
    # of them; the count and newest creation tell a re-created database apart.
    versions = tuple(db.session.execute(select(
        select(func.coalesce(func.sum(Clinic.calendar_version), 0)).scalar_subquery(),
        select(func.count(Clinic.id)).scalar_subquery(),
        select(func.max(_raw(Clinic.created_at))).scalar_subquery())).one())
    clinics = db.session.execute(select(Clinic.id, Clinic.timezone, _raw(Clinic.deleted_at))
                                 .order_by(Clinic.id)).all()
    rooms = db.session.execute(select(Room.id, Room.name, _raw(Room.deleted_at))
                               .order_by(Room.id)).all()
    staff = db.session.execute(select(StaffMember.id, StaffMember.name,
                                      _raw(StaffMember.deleted_at))
                               .order_by(StaffMember.id)).all()
    patient = db.session.execute(select(Patient.clinic_id)
                                 .where(Patient.id == args["patient_id"])).all() \
        if args.get("patient_id") is not None else None
    # Deletions are in it too: a deleted clinic's list is a 404, never a kept page.
    shown = hashlib.blake2b(repr((clinics, rooms, staff, patient)).encode(),
                            digest_size=16).digest()
    # The page is rendered from these very rows (PostgreSQL reads each statement at its own
    # moment: a rename between here and the render must not be kept under this key).
    memo = _memo()
    for clinic_id, timezone, _ in clinics:
        memo[("zone", clinic_id)] = ZoneInfo(timezone)
    for resource_type, rows in (("room", rooms), ("staff", staff)):
        for resource_id, name, _ in rows:
            memo[(resource_type, resource_id)] = name
    query = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()))
    scope = None if who.clinic_ids is None else tuple(sorted(who.clinic_ids))
    return (scope, query, versions, shown)
