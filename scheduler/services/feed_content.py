"""What a feed shows (which appointments, with privacy applied) and a cheap fingerprint of it.

The fingerprint (``feed_state``) is one query of indexed lookups: the calendar versions the
database moves with every appointment and allocation change, plus the few things the calendar
text depends on besides them (names, zones, the day the window moves). Clients poll often;
most polls end in a 304 decided by that one query, and the calendar is rendered only when
something changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import String, and_, exists, func, or_, select, type_coerce, update

from ..extensions import db
from ..models import (
    Allocation,
    Appointment,
    Clinic,
    Feed,
    Patient,
    Room,
    SessionKindRecord,
    StaffMember,
)
from ..models.status import RELEASED
from . import ical
from .feed_cache import LruCache

# Bump when the rendering changes, so clients do not keep a stale copy through a 304.
RENDER_VERSION = 3
GONE_STATUSES = RELEASED
SCOPE_MODELS = {"clinic": Clinic, "room": Room, "staff": StaffMember, "patient": Patient}
BUSY_SUMMARY = {"room": "Room booked"}
# Changed events up to this many are fetched by id; more (a cold cache) fetch the whole feed.
MAX_FETCH_BY_ID = 500


@dataclass(frozen=True)
class FeedSettings:
    past_days: int = 30
    future_days: int = 365
    cancelled_days: int = 14
    refresh_minutes: int = 60

    @classmethod
    def from_config(cls, config) -> FeedSettings:
        return cls(past_days=config["FEED_PAST_DAYS"], future_days=config["FEED_FUTURE_DAYS"],
                   cancelled_days=config["FEED_CANCELLED_DAYS"],
                   refresh_minutes=config["FEED_REFRESH_MINUTES"])


@dataclass(frozen=True)
class Window:
    """Whole UTC days, so the feed's content moves once a day, not on every poll."""

    start: datetime
    end: datetime
    cancelled_since: datetime

    @classmethod
    def around(cls, now: datetime, settings: FeedSettings) -> Window:
        today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
        return cls(start=today - timedelta(days=settings.past_days),
                   end=today + timedelta(days=settings.future_days + 1),
                   cancelled_since=today - timedelta(days=settings.cancelled_days))


@dataclass(frozen=True)
class FeedState:
    etag: str


def feed_state(feed: Feed, now: datetime, settings: FeedSettings) -> FeedState:
    """The ETag of what ``render_feed`` would produce now, without rendering or aggregating
    the feed's rows: one query of indexed lookups.

    What a feed shows is a function of the appointments and allocations of its clinic (or of
    every clinic, for a staff or patient feed not walled to one), the names it prints and the
    day (the window moves at midnight UTC). The database moves ``clinics.calendar_version`` in
    the transaction of every appointment and allocation change (migration 0010), so the
    versions stand for the rows; ``updated_at`` of the clinic(s), the scope object, and (details
    feeds) the newest patient and session kind stand for the names; the clinics' and the feed's
    ``created_at`` tell a re-created database apart. Any of them moving gives a new ETag (a few
    more 200s than strictly needed, never a stale 304).
    """
    window = Window.around(now, settings)
    scope_model = SCOPE_MODELS[feed.scope]
    clinics = select(func.coalesce(func.sum(Clinic.calendar_version), 0), func.count(Clinic.id),
                     func.max(Clinic.updated_at), func.max(Clinic.created_at))
    walled = feed.clinic_id if feed.clinic_id is not None else \
        (feed.scope_id if feed.scope == "clinic" else None)
    if walled is not None:
        clinics = clinics.where(Clinic.id == walled)
    columns = [
        *clinics.subquery().c,
        select(scope_model.updated_at).where(scope_model.id == feed.scope_id).scalar_subquery(),
    ]
    if feed.privacy == "details":
        # Names shown in a details feed: patients' and session kinds'.
        columns += [select(func.max(Patient.updated_at)).scalar_subquery(),
                    select(func.max(SessionKindRecord.updated_at)).scalar_subquery()]
    row = db.session.execute(select(*columns)).one()
    fingerprint = repr((RENDER_VERSION, feed.id, feed.created_at, feed.scope, feed.scope_id,
                        feed.clinic_id, feed.privacy, settings, window.start.date(),
                        tuple(row)))
    return FeedState(etag=hashlib.sha256(fingerprint.encode()).hexdigest()[:32])


def last_modified(feed: Feed, etag: str, now: datetime) -> datetime | None:
    """When the feed's content became what ``etag`` names: its ``Last-Modified``.

    The newest ``updated_at`` among the rows shown would miss a removal (an appointment moved
    to another room or clinic, cancelled out of the window), so the time is kept with the ETag
    on the feed row and moves whenever the ETag does: the first request (any worker) to see a
    new ETag records it, in whole seconds and always later than the previous one (a second
    change within one second is stamped a second ahead), so an ``If-Modified-Since`` copied
    from an older answer is always older. The write is a compare-and-set on its own short
    transaction; a worker that loses the race answers without ``Last-Modified`` (None) rather
    than with a time another state owns.
    """
    if feed.content_etag == etag and feed.content_changed_at is not None:
        return feed.content_changed_at
    previous = feed.content_changed_at
    stamp = now.astimezone(UTC).replace(microsecond=0)
    if previous is not None and stamp <= previous:
        stamp = previous + timedelta(seconds=1)
    unchanged = (Feed.content_changed_at.is_(None) if previous is None
                 else Feed.content_changed_at == previous)
    with db.engine.begin() as conn:
        won = conn.execute(update(Feed).where(Feed.id == feed.id, unchanged).values(
            content_etag=etag, content_changed_at=stamp)).rowcount == 1
    return stamp if won else None


def render_feed(feed: Feed, now: datetime, settings: FeedSettings,
                events_cache: LruCache | None = None) -> bytes:
    """The calendar text; events found in ``events_cache`` (see ``feed_cache``) are reused."""
    window = Window.around(now, settings)
    name, zone = _title_and_zone(feed)
    meta = ical.CalendarMeta(
        feed_id=feed.id, name=name, zone=zone,
        refresh=timedelta(minutes=settings.refresh_minutes),
        # VTIMEZONE from a day before the window to a day after: local times stray ±14 h.
        first_date=(window.start - timedelta(days=1)).date(),
        last_date=(window.end + timedelta(days=1)).date())
    if events_cache is None:
        return ical.render_calendar(meta, _events(feed, window))
    keys = _event_keys(feed, window)
    rendered: dict[int, ical.RenderedEvent] = {}
    for appointment_id, key in keys:
        event = events_cache.get(key)
        if event is not None:
            rendered[appointment_id] = event
    missing = {appointment_id for appointment_id, _ in keys if appointment_id not in rendered}
    if missing:
        # Few misses (one appointment changed): fetch just those rows; many (cold): all.
        only = sorted(missing) if len(missing) <= MAX_FETCH_BY_ID else None
        for item in _events(feed, window, only):
            if item.appointment_id not in rendered:
                rendered[item.appointment_id] = ical.render_event(item)
        for appointment_id, key in keys:
            if appointment_id in missing and appointment_id in rendered:
                events_cache.put(key, rendered[appointment_id])
    return ical.render_calendar(meta, [rendered[a] for a, _ in keys if a in rendered])


def _event_keys(feed: Feed, window: Window) -> list[tuple[int, tuple]]:
    """Each shown appointment's id and the key of its rendered event, in feed order.

    The key stands for every input of the event's text without loading it: the appointment's
    ``sequence`` and ``updated_at`` (any change to it moves them), its clinic's ``updated_at``
    and zone (the location and the time zone), for details feeds the patient's ``updated_at``
    and the session-kind names, and the summary the privacy and scope give. It is the same
    change detection the ETag relies on. Stamps are read as stored (no datetime conversion):
    only equality matters, and converting 2,000 of them was most of a changed feed's cost.
    """
    details = feed.privacy == "details"
    columns = [Appointment.id, Appointment.sequence, Appointment.status,
               type_coerce(Appointment.updated_at, String).label("appointment_stamp"),
               Clinic.timezone, type_coerce(Clinic.updated_at, String).label("clinic_stamp")]
    query = select(*columns).join(Clinic, Clinic.id == Appointment.clinic_id)
    shared: tuple = (RENDER_VERSION, feed.privacy, BUSY_SUMMARY.get(feed.scope, "Busy"))
    if details:
        query = query.add_columns(
            type_coerce(Patient.updated_at, String).label("patient_stamp")).join(
            Patient, Patient.id == Appointment.patient_id)
        shared += (tuple(sorted(_kind_names().items())),)
    query = query.where(*_conditions(feed, window)).order_by(Appointment.starts_at,
                                                             Appointment.id)
    return [(row[0], (shared, tuple(row))) for row in db.session.execute(query)]


def _kind_names() -> dict[str, str]:
    return {code: name for code, name in db.session.execute(
        select(SessionKindRecord.code, SessionKindRecord.name))}


def _conditions(feed: Feed, window: Window) -> list:
    shown = or_(Appointment.status.not_in(GONE_STATUSES),
                and_(Appointment.status.in_(GONE_STATUSES),
                     Appointment.updated_at >= window.cancelled_since))
    conditions = [Appointment.starts_at < window.end, Appointment.ends_at > window.start, shown]
    if feed.clinic_id is not None:
        conditions.append(Appointment.clinic_id == feed.clinic_id)
    if feed.scope == "clinic":
        conditions.append(Appointment.clinic_id == feed.scope_id)
    elif feed.scope == "patient":
        conditions.append(Appointment.patient_id == feed.scope_id)
    else:
        # An inactive allocation of a live appointment is a resource it moved away from; a
        # cancelled appointment keeps its inactive ones so the feed can show it cancelled.
        conditions.append(exists().where(
            Allocation.appointment_id == Appointment.id,
            Allocation.resource_type == feed.scope, Allocation.resource_id == feed.scope_id,
            or_(Allocation.active.is_(True), Appointment.status.in_(GONE_STATUSES))))
    return conditions


def _events(feed: Feed, window: Window,
            only: list[int] | None = None) -> list[ical.EventData]:
    columns = [Appointment.id, Appointment.starts_at, Appointment.ends_at, Appointment.status,
               Appointment.sequence, Appointment.created_at, Appointment.updated_at,
               Clinic.timezone]
    details = feed.privacy == "details"
    query = select(*columns).join(Clinic, Clinic.id == Appointment.clinic_id)
    kind_names: dict[str, str] = {}
    if details:
        # Only a details feed ever reads patient columns: a busy feed cannot leak what it
        # never loaded.
        query = query.add_columns(Patient.name, Appointment.session_kind, Clinic.name).join(
            Patient, Patient.id == Appointment.patient_id)
        kind_names = _kind_names()
    conditions = _conditions(feed, window)
    if only is not None:
        conditions.append(Appointment.id.in_(only))
    query = query.where(*conditions).order_by(Appointment.starts_at,
                                                             Appointment.id)
    busy_summary = BUSY_SUMMARY.get(feed.scope, "Busy")
    out = []
    for row in db.session.execute(query):
        summary, description, location = busy_summary, None, None
        if details:
            patient, kind, clinic_name = row[8], row[9], row[10]
            kind_name = kind_names.get(kind, kind)
            summary, description, location = f"{patient}: {kind_name}", kind_name, clinic_name
        out.append(ical.EventData(
            appointment_id=row[0], starts_at=row[1], ends_at=row[2], status=row[3],
            sequence=row[4], created_at=row[5], updated_at=row[6], zone=row[7],
            summary=summary, description=description, location=location))
    return out


def _title_and_zone(feed: Feed) -> tuple[str, str]:
    """Calendar name and default zone. A busy patient feed is not named after the patient."""
    clinic = db.session.get(Clinic, feed.clinic_id) if feed.clinic_id else None
    subject = db.session.get(SCOPE_MODELS[feed.scope], feed.scope_id)
    zone = clinic.timezone if clinic else None
    if feed.scope == "clinic":
        title = clinic.name
    elif feed.scope == "room":
        title = f"{subject.name} ({clinic.name})"
    elif feed.scope == "staff":
        title = subject.name + (f" ({clinic.name})" if clinic else "")
        if zone is None and subject.shifts:
            zone = db.session.get(Clinic, subject.shifts[0].clinic_id).timezone
    else:
        title = subject.name if feed.privacy == "details" else "Appointments"
        if zone is None:
            zone = db.session.get(Clinic, subject.clinic_id).timezone
    return f"Regimen: {title}", zone or "UTC"
