"""Clinics, rooms, staff and patients: validation against stored state, scope, safe deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select, update

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..models import (
    Allocation,
    Appointment,
    Clinic,
    Feed,
    Patient,
    Room,
    Shift,
    StaffMember,
    TimeOff,
)
from ..models.status import UPCOMING
from ..models.types import utcnow
from .access import (
    BOOK,
    CONFIGURE,
    READ,
    Principal,
    check_patient_visible,
    visible_patients,
)
from .pagination import Page, paginate
from .releases import capacity_released
from .transaction import atomic, lock_clinic_calendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_INDEX = {d: i for i, d in enumerate(WEEKDAYS)}


# ---------------------------------------------------------------- clinics

def get_clinic(who: Principal, clinic_id: int) -> Clinic:
    who.require(READ)
    clinic = db.session.get(Clinic, clinic_id)
    if clinic is None or clinic.is_deleted or not who.sees(clinic_id):
        raise NotFound(f"clinic {clinic_id} not found")
    return clinic


def list_clinics(who: Principal, page: int, page_size: int) -> Page:
    who.require(READ)
    query = select(Clinic).where(Clinic.deleted_at.is_(None)).order_by(Clinic.id)
    if who.scoped:
        query = query.where(Clinic.id.in_(who.clinic_ids))
    return paginate(query, page, page_size)


def create_clinic(who: Principal, data: dict) -> Clinic:
    who.require(CONFIGURE)
    if who.scoped:
        # A clinic-scoped key could never see the clinic it created.
        raise Forbidden("a clinic-scoped key may not create clinics")
    with atomic():
        clinic = Clinic(**_dated(data))
        db.session.add(clinic)
    return clinic


def update_clinic(who: Principal, clinic_id: int, data: dict) -> Clinic:
    who.require(CONFIGURE)
    with atomic():
        clinic = get_clinic(who, clinic_id)
        lock_clinic_calendar(clinic_id)
        for key, value in _dated(data).items():
            setattr(clinic, key, value)
        if {"hours", "closures", "timezone", "closed_periods"} & set(data):
            _refuse_if_booked(who, [a for a in _live_appointments(
                Appointment.clinic_id == clinic_id, limit=None)
                if not _inside_opening(a, clinic)], f"clinic {clinic_id}",
                verb="change the hours, closures or time zone of")
            capacity_released(clinic_id)
    return clinic


def delete_clinic(who: Principal, clinic_id: int) -> None:
    who.require(CONFIGURE)
    with atomic():
        clinic = get_clinic(who, clinic_id)
        live = _live_appointments(Appointment.clinic_id == clinic_id)
        _refuse_if_booked(who, live, f"clinic {clinic_id}")
        now = utcnow()
        clinic.deleted_at = now
        rooms = list(db.session.scalars(select(Room).where(Room.clinic_id == clinic_id,
                                                           Room.deleted_at.is_(None))))
        for room in rooms:
            room.deleted_at = now
        _revoke_feeds(or_(Feed.clinic_id == clinic_id,
                          and_(Feed.scope == "clinic", Feed.scope_id == clinic_id),
                          and_(Feed.scope == "room", Feed.scope_id.in_([r.id for r in rooms]))))
        for shift in db.session.scalars(select(Shift).where(Shift.clinic_id == clinic_id)):
            db.session.delete(shift)


def _dated(data: dict) -> dict:
    out = dict(data)
    if "closures" in out and out["closures"] is not None:
        out["closures"] = sorted({d.isoformat() for d in out["closures"]})
    for key in ("certifications",):
        if key in out and out[key] is not None:
            out[key] = _dedupe(out[key])
    if out.get("closed_periods") is not None:
        out["closed_periods"] = stored_periods(out["closed_periods"])
    return out


def stored_periods(periods: list[dict]) -> list[dict]:
    """Closed periods as stored: UTC instants in ISO form, in time order."""
    rows = [{"start": p["start"].astimezone(UTC).isoformat(),
             "end": p["end"].astimezone(UTC).isoformat(), "reason": p.get("reason", "")}
            for p in periods]
    return sorted(rows, key=lambda p: (p["start"], p["end"]))


def _in_closed_period(start: datetime, end: datetime, periods: list[dict] | None) -> bool:
    return any(datetime.fromisoformat(p["start"]) < end and start < datetime.fromisoformat(p["end"])
               for p in periods or ())


def _dedupe(values):
    return list(dict.fromkeys(values))


# ---------------------------------------------------------------- rooms

def get_room(who: Principal, room_id: int) -> Room:
    who.require(READ)
    room = db.session.get(Room, room_id)
    if room is None or room.is_deleted or not who.sees(room.clinic_id):
        raise NotFound(f"room {room_id} not found")
    return room


def list_rooms(who: Principal, clinic_id: int, page: int, page_size: int) -> Page:
    get_clinic(who, clinic_id)
    query = (select(Room).where(Room.clinic_id == clinic_id, Room.deleted_at.is_(None))
             .order_by(Room.id))
    return paginate(query, page, page_size)


def create_room(who: Principal, clinic_id: int, data: dict) -> Room:
    who.require(CONFIGURE)
    with atomic():
        get_clinic(who, clinic_id)
        data = _dated(dict(data))
        data["features"] = _dedupe(data.get("features", []))
        room = Room(clinic_id=clinic_id, **data)
        db.session.add(room)
        capacity_released(clinic_id)  # a new room is new time for the waitlist
    return room


def update_room(who: Principal, room_id: int, data: dict) -> Room:
    who.require(CONFIGURE)
    with atomic():
        room = get_room(who, room_id)
        lock_clinic_calendar(room.clinic_id)
        data = _dated(data)
        if "features" in data:
            data = {**data, "features": _dedupe(data["features"])}
        if "capacity" in data and data["capacity"] < room.capacity:
            _refuse_units_in_use("room", room_id, data["capacity"], "capacity")
        for key, value in data.items():
            setattr(room, key, value)
        capacity_released(room.clinic_id)
        if "features" in data:
            pinned: dict = {}
            missing = [a for a in _live_appointments(_uses("room", room_id), limit=None)
                       if not set(_kind(a, pinned).room_features) <= set(room.features)]
            _refuse_if_booked(who, missing, f"room {room_id}",
                              verb="remove a feature booked sessions need from")
        if "closed_periods" in data:
            closed = [a for a in _live_appointments(_uses("room", room_id), limit=None)
                      if any(_in_closed_period(x.starts_at, x.ends_at, room.closed_periods)
                             for x in a.allocations if x.resource_type == "room"
                             and x.resource_id == room_id)]
            _refuse_if_booked(who, closed, f"room {room_id}", verb="close")
    return room


def delete_room(who: Principal, room_id: int) -> None:
    who.require(CONFIGURE)
    with atomic():
        room = get_room(who, room_id)
        _refuse_if_booked(who, _live_appointments(_uses("room", room_id)), f"room {room_id}")
        room.deleted_at = utcnow()
        _revoke_feeds(and_(Feed.scope == "room", Feed.scope_id == room_id))


# ---------------------------------------------------------------- staff

def get_staff(who: Principal, staff_id: int) -> StaffMember:
    who.require(READ)
    member = db.session.get(StaffMember, staff_id)
    if member is None or member.is_deleted or not _staff_visible(who, member):
        raise NotFound(f"staff member {staff_id} not found")
    return member


def _staff_visible(who: Principal, member: StaffMember) -> bool:
    # Staff belong to the clinics they work at; someone with no shifts yet is visible only to
    # unscoped keys (nobody's tenant yet).
    return who.sees_any(member.clinic_ids) if who.scoped else True


def staff_view(who: Principal, member: StaffMember) -> dict:
    """A staff member as this key may see them: other clinics' shifts and the reasons for time
    off are none of a clinic-scoped key's business (the times still matter for booking)."""
    view = {c: getattr(member, c) for c in ("id", "name", "roles", "max_concurrent_patients",
                                            "created_at", "updated_at")}
    view["shifts"] = [s for s in member.shifts if who.sees(s.clinic_id)]
    view["time_off"] = [{"id": t.id, "start": t.start, "end": t.end,
                         "reason": t.reason if not who.scoped else ""}
                        for t in member.time_off]
    return view


def list_staff(who: Principal, page: int, page_size: int, clinic_id: int | None = None,
               role: str | None = None) -> Page:
    who.require(READ)
    query = select(StaffMember).where(StaffMember.deleted_at.is_(None)).order_by(StaffMember.id)
    clinic_filter = set(who.clinic_ids) if who.scoped else None
    if clinic_id is not None:
        get_clinic(who, clinic_id)
        clinic_filter = {clinic_id}
    if clinic_filter is not None:
        query = query.where(exists().where(Shift.staff_id == StaffMember.id,
                                           Shift.clinic_id.in_(clinic_filter)))
    if role is not None:
        # Roles are few and short: filtering in Python keeps the JSON query portable.
        members = [m for m in db.session.scalars(query) if role in m.roles]
        start = (page - 1) * page_size
        return Page(members[start:start + page_size], len(members), page, page_size)
    return paginate(query, page, page_size)


def create_staff(who: Principal, data: dict) -> StaffMember:
    who.require(CONFIGURE)
    with atomic():
        shifts = data.pop("shifts", [])
        time_off = data.pop("time_off", [])
        data["roles"] = _dedupe(data.get("roles", []))
        member = StaffMember(**data)
        member.shifts = _build_shifts(who, shifts)
        member.time_off = [_build_time_off(t, f"time_off[{i}]") for i, t in enumerate(time_off)]
        if who.scoped and not member.shifts:
            raise Invalid.field("shifts", "a clinic-scoped key must give at least one shift "
                                          "in its clinics")
        db.session.add(member)
        for clinic_id in sorted({s.clinic_id for s in member.shifts}):
            capacity_released(clinic_id)  # new shifts are new time for the waitlist
    return member


def update_staff(who: Principal, staff_id: int, data: dict) -> StaffMember:
    who.require(CONFIGURE)
    with atomic():
        member = get_staff(who, staff_id)
        for clinic_id in sorted(member.clinic_ids):
            lock_clinic_calendar(clinic_id)
        data = dict(data)
        changes = set(data)
        if "shifts" in data:
            new_shifts = _build_shifts(who, data.pop("shifts"))
            kept_foreign = [s for s in member.shifts if not who.sees(s.clinic_id)]
            _check_shift_overlaps(new_shifts, "shifts", hidden=kept_foreign)
            member.shifts = kept_foreign + new_shifts
        shared_fields = {"name", "roles", "max_concurrent_patients"} & set(data)
        if shared_fields:
            _refuse_if_shared(who, member, ", ".join(sorted(shared_fields)))
        if "roles" in data:
            data["roles"] = _dedupe(data["roles"])
        if "max_concurrent_patients" in data and \
                data["max_concurrent_patients"] < member.max_concurrent_patients:
            _refuse_units_in_use("staff", staff_id, data["max_concurrent_patients"],
                                 "max_concurrent_patients")
        for key, value in data.items():
            setattr(member, key, value)
        if "shifts" in changes or "roles" in changes:
            db.session.flush()
            pinned: dict = {}
            stranded = [a for a in _live_appointments(_uses("staff", staff_id), limit=None)
                        if not _staff_still_fits(member, a, pinned)]
            _refuse_if_booked(who, stranded, f"staff member {staff_id}",
                              verb="change the shifts or roles of")
        for clinic_id in sorted({s.clinic_id for s in member.shifts}):
            capacity_released(clinic_id)
    return member


def delete_staff(who: Principal, staff_id: int) -> None:
    who.require(CONFIGURE)
    with atomic():
        member = get_staff(who, staff_id)
        _refuse_if_shared(who, member, "deleting")
        _refuse_if_booked(who, _live_appointments(_uses("staff", staff_id)),
                          f"staff member {staff_id}")
        member.deleted_at = utcnow()
        _revoke_feeds(and_(Feed.scope == "staff", Feed.scope_id == staff_id))


def add_time_off(who: Principal, staff_id: int, data: dict) -> TimeOff:
    who.require(CONFIGURE)
    with atomic():
        member = get_staff(who, staff_id)
        # Time off holds at every clinic: whether it clashes with another clinic's bookings is
        # not this key's to learn (nor to change).
        _refuse_if_shared(who, member, "time off")
        entry = _build_time_off(data, "")
        clash = _live_appointments(
            _uses("staff", staff_id, entry.start, entry.end))
        _refuse_if_booked(who, clash, f"staff member {staff_id} during that time off",
                          verb="take time off")
        member.time_off.append(entry)
    return entry


def _refuse_if_shared(who: Principal, member: StaffMember, what: str) -> None:
    """What holds for the whole person (name, roles, capacity, time off, existence) is changed
    only by a key that sees every clinic they work at; a clinic-scoped key edits its shifts."""
    if who.scoped and not member.clinic_ids <= who.clinic_ids:
        raise Forbidden(f"{what}: this person also works at clinics outside this key's scope; "
                        "an unscoped key does that")


def _build_shifts(who: Principal, shifts: list[dict]) -> list[Shift]:
    built = []
    for i, s in enumerate(shifts):
        clinic = db.session.get(Clinic, s["clinic_id"])
        if clinic is None or clinic.is_deleted or not who.sees(s["clinic_id"]):
            raise Invalid.field(f"shifts[{i}].clinic_id", f"clinic {s['clinic_id']} does not exist")
        if s["start"] == s["end"]:
            raise Invalid.field(f"shifts[{i}].end", "must differ from start (an end before "
                                                    "the start is on the next day)")
        built.append(Shift(clinic_id=s["clinic_id"], weekday=s["weekday"],
                           weekday_index=WEEKDAY_INDEX[s["weekday"]],
                           start=s["start"], end=s["end"]))
    _check_shift_overlaps(built, "shifts")
    return built


# Shifts are weekly wall-clock times in their clinic's zone; two clinics in different zones (or
# changing clock on different days) overlap as instants, not as digits. A year of weeks covers
# every combination of their offsets.
SHIFT_CHECK_WEEKS = 53


def _check_shift_overlaps(shifts: list[Shift], path: str, hidden: list[Shift] = ()) -> None:
    """One person cannot work two overlapping shifts, even at two clinics.

    ``hidden`` are shifts at clinics the key does not see: an overlap with one is refused
    without saying when or where it is.
    """
    zones = {c.id: ZoneInfo(c.timezone) for c in db.session.scalars(
        select(Clinic).where(Clinic.id.in_({s.clinic_id for s in [*shifts, *hidden]})))}
    today = utcnow().date()
    monday = today - timedelta(days=today.weekday())
    occurrences = []
    for owner, group in (("new", shifts), ("hidden", hidden)):
        for i, shift in enumerate(group):
            zone = zones[shift.clinic_id]
            # A shift whose end is not after its start ends the next day (22:00-06:00).
            overnight = timedelta(days=1 if shift.end <= shift.start else 0)
            for week in range(SHIFT_CHECK_WEEKS):
                day = monday + timedelta(days=7 * week + WEEKDAY_INDEX[shift.weekday])
                occurrences.append((datetime.combine(day, shift.start, zone).astimezone(UTC),
                                    datetime.combine(day + overnight, shift.end,
                                                     zone).astimezone(UTC),
                                    owner, i))
    occurrences.sort()
    active: list[tuple] = []
    for start, end, owner, i in occurrences:
        active = [a for a in active if a[1] > start]
        for _, _, other_owner, j in active:
            if owner == other_owner == "hidden":
                continue
            if "hidden" in (owner, other_owner):
                index = i if owner == "new" else j
                raise Invalid.field(f"{path}[{index}]", "overlaps a shift this person works at "
                                                        "another clinic")
            first, second = sorted((i, j))
            if first != second:
                raise Invalid.field(f"{path}[{second}]", f"overlaps shift {first}")
        active.append((start, end, owner, i))


WEEK_MINUTES = 7 * 1440


def _minute_of(value) -> int:
    if isinstance(value, str):
        hours, minutes = value.split(":")
        return int(hours) * 60 + int(minutes)
    return value.hour * 60 + value.minute


def _week_spans(weekday: str, start, end) -> list[tuple[int, int]]:
    """A weekly window as minutes of the week (Monday 00:00 = 0); one that crosses midnight
    ends the next day, and Sunday night's part after midnight comes round to Monday."""
    lo = WEEKDAY_INDEX[weekday] * 1440 + _minute_of(start)
    hi = WEEKDAY_INDEX[weekday] * 1440 + _minute_of(end)
    if hi <= lo:
        hi += 1440
    if hi <= WEEK_MINUTES:
        return [(lo, hi)]
    return [(lo, WEEK_MINUTES), (0, hi - WEEK_MINUTES)]


def _covered(spans: list[tuple[int, int]], start: datetime, end: datetime) -> bool:
    """Does the union of weekly spans hold the local [start, end) (wall-clock minutes)?"""
    lo = WEEKDAY_INDEX[WEEKDAYS[start.weekday()]] * 1440 + start.hour * 60 + start.minute
    length = round((end.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds()
                   / 60)
    merged: list[list[int]] = []
    for a, b in sorted(spans + [(a + WEEK_MINUTES, b + WEEK_MINUTES) for a, b in spans]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return any(a <= lo and lo + length <= b for a, b in merged)


def _build_time_off(data: dict, path: str) -> TimeOff:
    prefix = f"{path}." if path else ""
    if data["start"] >= data["end"]:
        raise Invalid.field(f"{prefix}end", "must be after start")
    return TimeOff(start=data["start"], end=data["end"], reason=data.get("reason", ""))


# ---------------------------------------------------------------- patients

def get_patient(who: Principal, patient_id: int) -> Patient:
    who.require(READ)
    patient = db.session.get(Patient, patient_id)
    check_patient_visible(who, patient, f"patient {patient_id}")
    return patient


def list_patients(who: Principal, page: int, page_size: int, clinic_id: int | None = None,
                  external_id: str | None = None) -> Page:
    who.require(READ)
    query = select(Patient).order_by(Patient.id)
    if who.scoped:
        query = query.where(visible_patients(who))
    if clinic_id is not None:
        query = query.where(Patient.clinic_id == clinic_id)
    if external_id is not None:
        query = query.where(Patient.external_id == external_id)
    return paginate(query, page, page_size)


def create_patient(who: Principal, data: dict) -> Patient:
    who.require(BOOK)
    with atomic():
        data = {**data, "clinic_id": _home_clinic(who, data.get("clinic_id"))}
        _check_patient_refs(who, data)
        patient = Patient(**data)
        db.session.add(patient)
        db.session.flush()
    return patient


def update_patient(who: Principal, patient_id: int, data: dict) -> Patient:
    who.require(BOOK)
    with atomic():
        patient = get_patient(who, patient_id)
        if "clinic_id" in data and data["clinic_id"] != patient.clinic_id and \
                not who.sees(patient.clinic_id):
            raise Forbidden("clinic_id: a patient's home clinic is moved by a key that sees it")
        _check_patient_refs(who, data)
        for key, value in data.items():
            setattr(patient, key, value)
        db.session.flush()
    return patient


def _home_clinic(who: Principal, clinic_id: int | None) -> int:
    """A key that sees exactly one clinic needs not name it (SPEC 2)."""
    if clinic_id is not None:
        return clinic_id
    if who.scoped and len(who.clinic_ids) == 1:
        return next(iter(who.clinic_ids))
    raise Invalid.field("clinic_id", "required: this key may see more than one clinic, so "
                                     "name the patient's home clinic")


def _check_patient_refs(who: Principal, data: dict) -> None:
    if "clinic_id" in data:
        clinic = db.session.get(Clinic, data["clinic_id"])
        if clinic is None or clinic.is_deleted or not who.sees(data["clinic_id"]):
            raise Invalid.field("clinic_id", f"clinic {data['clinic_id']} does not exist")
    prefs = data.get("preferences") or {}
    if prefs.get("clinic_id") is not None:
        clinic = db.session.get(Clinic, prefs["clinic_id"])
        if clinic is None or clinic.is_deleted or not who.sees(prefs["clinic_id"]):
            raise Invalid.field("preferences.clinic_id",
                                f"clinic {prefs['clinic_id']} does not exist")
    if prefs.get("staff_id") is not None:
        member = db.session.get(StaffMember, prefs["staff_id"])
        if member is None or member.is_deleted or not _staff_visible(who, member):
            raise Invalid.field("preferences.staff_id",
                                f"staff member {prefs['staff_id']} does not exist")


# ---------------------------------------------------------------- shared checks

def _revoke_feeds(condition) -> None:
    """A deleted thing's calendar subscriptions stop answering (their URLs live on elsewhere)."""
    db.session.execute(update(Feed).where(condition, Feed.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def _uses(resource_type: str, resource_id: int, start: datetime | None = None,
          end: datetime | None = None):
    cond = [Allocation.appointment_id == Appointment.id,
            Allocation.resource_type == resource_type, Allocation.resource_id == resource_id,
            Allocation.active.is_(True)]
    if start is not None:
        cond += [Allocation.starts_at < end, Allocation.ends_at > start]
    return exists().where(*cond)


def _live_appointments(condition, limit: int | None = 5) -> list[Appointment]:
    query = (select(Appointment)
             .where(condition, Appointment.status.in_(UPCOMING),
                    Appointment.ends_at > utcnow())
             .order_by(Appointment.starts_at).limit(limit))
    return list(db.session.scalars(query))


# Booked appointments must still fit the configuration after an edit (SPEC 5.1: nothing outside
# hours, shifts, closures); an edit that would strand them is refused with their ids.

def _local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


def _inside_opening(appt: Appointment, clinic: Clinic) -> bool:
    start, end = _local(appt.starts_at, clinic.timezone), _local(appt.ends_at, clinic.timezone)
    closures = clinic.closures or []
    if start.date().isoformat() in closures or (
            end.date() != start.date() and end.date().isoformat() in closures
            and end.time() != datetime.min.time()):
        return False
    if _in_closed_period(appt.starts_at, appt.ends_at, clinic.closed_periods):
        return False
    spans = [span for day, windows in (clinic.hours or {}).items() for a, b in windows
             for span in _week_spans(day, a, b)]
    return _covered(spans, start, end)


def _kind(appt: Appointment, pinned: dict):
    """The session kind an appointment was booked as (its plan's pinned version).

    ``pinned`` caches parsed versions for one check: many appointments share one version, and
    versions never change.
    """
    from . import rule_store

    if appt.enrollment is not None:
        version_id = appt.enrollment.protocol_version_id
        if version_id not in pinned:
            pinned[version_id] = rule_store.enrollment_rules(appt.enrollment)[1]
        if appt.session_kind in pinned[version_id]:
            return pinned[version_id][appt.session_kind]
    return rule_store.known_session_kinds()[appt.session_kind]


def _staff_still_fits(member: StaffMember, appt: Appointment, pinned: dict) -> bool:
    kind = _kind(appt, pinned)
    if kind.staff and not {need.role for need in kind.staff} & set(member.roles):
        return False
    tz = db.session.get(Clinic, appt.clinic_id).timezone
    shifts = [s for s in member.shifts if s.clinic_id == appt.clinic_id]
    for allocation in appt.allocations:
        if allocation.resource_type != "staff" or allocation.resource_id != member.id:
            continue
        start, end = _local(allocation.starts_at, tz), _local(allocation.ends_at, tz)
        spans = [span for s in shifts for span in _week_spans(s.weekday, s.start, s.end)]
        if not _covered(spans, start, end):
            return False
    return True


def _refuse_if_booked(who: Principal, appointments: list[Appointment], what: str,
                      verb: str = "delete") -> None:
    if not appointments:
        return
    visible = [a for a in appointments if who.sees(a.clinic_id)]
    # Absences, closures and lost room features over bookings are disruptions: proposed with
    # their re-plan and applied all or nothing (SPEC 8).
    hint = "" if verb == "delete" else (
        "; to make the change and re-plan them in one step, propose it with "
        "POST /api/v1/disruptions")
    if not visible:
        # The wall holds in error messages too: say that, not which.
        raise Conflict(f"cannot {verb} {what}: it has future appointments at another "
                       f"clinic{hint}", details={"disruptions": "POST /api/v1/disruptions"}
                       if hint else None)
    first = visible[0]
    raise Conflict(
        f"cannot {verb} {what}: it has future appointments (first: #{first.id} at "
        f"{first.starts_at.isoformat()}); cancel or move them first{hint}",
        details={"appointment_ids": [a.id for a in visible],
                 **({"disruptions": "POST /api/v1/disruptions"} if hint else {})},
    )


def _refuse_units_in_use(resource_type: str, resource_id: int, new_units: int, field: str):
    clash = db.session.scalar(
        select(Allocation.appointment_id).join(Appointment)
        .where(Allocation.resource_type == resource_type, Allocation.resource_id == resource_id,
               Allocation.unit >= new_units, Allocation.active.is_(True),
               Appointment.status.in_(UPCOMING), Allocation.ends_at > utcnow())
        .limit(1))
    if clash is not None:
        raise Conflict(f"cannot lower {field} to {new_units}: future appointment #{clash} "
                       f"uses a higher unit; move it first", details={"appointment_id": clash})

