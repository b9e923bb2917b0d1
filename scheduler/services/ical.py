"""Render a calendar feed as iCalendar text. Pure: rows in, bytes out, no database.

What calendar clients rely on, and the reasons:

- ``PRODID`` and the calendar ``UID`` are fixed per feed (``Calendar.new`` would make a random
  UID on every call, and clients treat a new UID as a new calendar);
- each ``VEVENT`` keeps ``UID`` ``appointment-<id>@regimen`` for life, ``SEQUENCE`` is the
  appointment's own counter (the booking service bumps it on every visible change) and
  ``DTSTAMP``/``LAST-MODIFIED`` are its ``updated_at``, so the same state renders the same bytes;
- times are written in the clinic's zone (``TZID``) so a 09:00 infusion is 09:00 on both sides
  of a DST change, with a ``VTIMEZONE`` limited to the feed's window (icalendar would otherwise
  describe 1970-2038, which bloats every fetch);
- ``REFRESH-INTERVAL`` needs ``VALUE=DURATION`` set by hand, and ``X-PUBLISHED-TTL`` must be a
  ``vDuration`` (a bare timedelta renders invalidly in icalendar 7.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vDuration

PRODID = "-//Regimen//Regimen iCal feeds 1//EN"
UID_DOMAIN = "regimen"

# Appointment status -> iCalendar STATUS.
STATUS = {
    "held": "TENTATIVE",
    "booked": "CONFIRMED",
    "checked_in": "CONFIRMED",
    "completed": "CONFIRMED",
    "cancelled": "CANCELLED",
    "no_show": "CANCELLED",
}


@dataclass(frozen=True)
class CalendarMeta:
    feed_id: int
    name: str
    zone: str
    """Zone named in X-WR-TIMEZONE and described even when the feed has no events."""
    refresh: timedelta
    first_date: date
    last_date: date


@dataclass(frozen=True)
class EventData:
    """One appointment as the feed may show it: privacy was applied before this was built."""

    appointment_id: int
    starts_at: datetime
    ends_at: datetime
    zone: str
    status: str
    sequence: int
    created_at: datetime
    updated_at: datetime
    summary: str
    description: str | None = None
    location: str | None = None


def calendar_uid(feed_id: int) -> str:
    return f"feed-{feed_id}@{UID_DOMAIN}"


def event_uid(appointment_id: int) -> str:
    return f"appointment-{appointment_id}@{UID_DOMAIN}"


def render_calendar(meta: CalendarMeta, events: Iterable[EventData]) -> bytes:
    cal = Calendar.new(prodid=PRODID, uid=calendar_uid(meta.feed_id), name=meta.name,
                       calscale="GREGORIAN", refresh_interval=meta.refresh)
    cal["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"
    cal.add("X-PUBLISHED-TTL", vDuration(meta.refresh))
    cal.add("X-WR-TIMEZONE", meta.zone)

    zones: dict[str, ZoneInfo] = {}
    for item in events:
        zone = zones.get(item.zone) or zones.setdefault(item.zone, ZoneInfo(item.zone))
        cal.add_component(_event(item, zone))

    if not zones:
        # A calendar needs at least one component; an empty feed still describes its zone.
        cal.add_component(Timezone.from_tzid(meta.zone, first_date=meta.first_date,
                                             last_date=meta.last_date))
    cal.add_missing_timezones(first_date=meta.first_date, last_date=meta.last_date)
    return cal.to_ical()


def _event(item: EventData, zone: ZoneInfo) -> Event:
    event = Event()
    event.add("UID", event_uid(item.appointment_id))
    event.add("DTSTAMP", item.updated_at)
    event.add("DTSTART", item.starts_at.astimezone(zone))
    event.add("DTEND", item.ends_at.astimezone(zone))
    event.add("SEQUENCE", item.sequence)
    event.add("CREATED", item.created_at)
    event.add("LAST-MODIFIED", item.updated_at)
    status = STATUS[item.status]
    event.add("STATUS", status)
    event.add("TRANSP", "TRANSPARENT" if status == "CANCELLED" else "OPAQUE")
    event.add("SUMMARY", item.summary)
    if item.description:
        event.add("DESCRIPTION", item.description)
    if item.location:
        event.add("LOCATION", item.location)
    return event
