"""Render a calendar feed as iCalendar text. Pure: rows in, bytes out, no database.

What calendar clients rely on, and the reasons:

- ``PRODID`` and the calendar ``UID`` are fixed per feed (``Calendar.new`` would make a random
  UID on every call, and clients treat a new UID as a new calendar); ``NAME`` and
  ``X-WR-CALNAME`` are ``vText`` so commas, semicolons and backslashes are escaped
  (``Calendar.new(name=…)`` stores them raw and vobject cuts the name at the first comma);
- each ``VEVENT`` keeps ``UID`` ``appointment-<id>@regimen`` for life, ``SEQUENCE`` is the
  appointment's own counter (the booking service bumps it on every visible change) and
  ``DTSTAMP``/``LAST-MODIFIED`` are its ``updated_at``, so the same state renders the same bytes;
- times are written in the clinic's zone (``TZID``) so a 09:00 infusion is 09:00 on both sides
  of a DST change, except where a local time is not one instant: an event whose start or end
  falls in the repeated autumn hour is written in UTC (``…Z``), start and end alike, because
  ``TZID`` cannot say which of the two 01:30s is meant and clients pick differently. A UTC
  clinic's times are UTC (``…Z``) with no ``VTIMEZONE`` at all;
- each ``VTIMEZONE`` (icalendar's, limited to the feed's window) has one observance block per
  onset, the onset its ``DTSTART``, and no ``RDATE``: icalendar merges repeated onsets into
  ``DTSTART`` plus ``RDATE``, which Mozilla's ical.js reads without the ``DTSTART`` onset (every
  event before the next change an hour off), and vobject 0.9.9 reads without the ``RDATE``
  ones (events after the second autumn change an hour off), also when ``RDATE`` lists every
  onset, the first included. Its ``COMMENT`` is dropped (RFC 5545 allows none directly inside
  ``VTIMEZONE``);
- ``REFRESH-INTERVAL`` needs ``VALUE=DURATION`` set by hand, and ``X-PUBLISHED-TTL`` must be a
  ``vDuration`` (a bare timedelta renders invalidly in icalendar 7.3).

Speed: an event is rendered alone (``render_event``), so a feed can reuse the bytes of events
that did not change; the calendar is assembled around them. Each line is icalendar's
(``vText``, ``vDatetime``, ``vInt``, ``Parameters`` and its folding), with the pieces that repeat
across events (statuses, names, zone parameters, timestamps shared by a plan) memoised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, vDatetime, vDuration, vInt, vText
from icalendar.parser import Contentline, Parameters

PRODID = "-//Regimen//Regimen iCal feeds 1//EN"
UID_DOMAIN = "regimen"
# Zones that are UTC under another name: their times are written as UTC, no VTIMEZONE.
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal",
                       "Etc/Zulu", "Zulu"})
# RFC 5545 3.1: lines longer than 75 octets are folded; shorter ones are left as they are.
FOLD_OCTETS = 75
CRLF = b"\r\n"
END_CALENDAR = b"END:VCALENDAR\r\n"

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
    """One appointment as the feed may show it: privacy was applied before this was built.

    Everything its VEVENT depends on is here, so it is also the key under which the rendered
    bytes may be reused.
    """

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


@dataclass(frozen=True)
class RenderedEvent:
    body: bytes
    tzid: str | None
    """The zone its times name (it needs a VTIMEZONE), or None when they are UTC."""


def calendar_uid(feed_id: int) -> str:
    return f"feed-{feed_id}@{UID_DOMAIN}"


def event_uid(appointment_id: int) -> str:
    return f"appointment-{appointment_id}@{UID_DOMAIN}"


def render_calendar(meta: CalendarMeta, events: Iterable[EventData | RenderedEvent]) -> bytes:
    """The whole feed; ``events`` may be data or events rendered earlier by ``render_event``."""
    rendered = [e if isinstance(e, RenderedEvent) else render_event(e) for e in events]
    zones = sorted({e.tzid for e in rendered if e.tzid is not None})
    if not rendered:
        # A calendar needs at least one component; an empty feed still describes its zone.
        zones = [meta.zone]
    parts = [_calendar_head(meta)]
    parts += [vtimezone(zone, meta.first_date, meta.last_date) for zone in zones]
    parts += [e.body for e in rendered]
    parts.append(END_CALENDAR)
    return b"".join(parts)


def render_event(item: EventData) -> RenderedEvent:
    tzid = event_tzid(item)
    if tzid is None:
        start, end = _utc_value(item.starts_at), _utc_value(item.ends_at)
        start_line, end_line = f"DTSTART:{start}", f"DTEND:{end}"
    else:
        zone = _zoneinfo(tzid)
        params = _tzid_params(tzid)
        start = _local_value(item.starts_at.astimezone(zone).replace(tzinfo=None))
        end = _local_value(item.ends_at.astimezone(zone).replace(tzinfo=None))
        start_line, end_line = f"DTSTART;{params}:{start}", f"DTEND;{params}:{end}"
    stamp = _utc_value(item.updated_at)
    status = STATUS[item.status]
    lines = [
        "BEGIN:VEVENT",
        f"UID:{vText(event_uid(item.appointment_id)).to_ical().decode()}",
        f"DTSTAMP:{stamp}",
        start_line,
        end_line,
        f"SEQUENCE:{_integer(item.sequence)}",
        f"CREATED:{_utc_value(item.created_at)}",
        f"LAST-MODIFIED:{stamp}",
        f"STATUS:{_text(status)}",
        f"TRANSP:{'TRANSPARENT' if status == 'CANCELLED' else 'OPAQUE'}",
        f"SUMMARY:{_text(item.summary)}",
    ]
    if item.description:
        lines.append(f"DESCRIPTION:{_text(item.description)}")
    if item.location:
        lines.append(f"LOCATION:{_text(item.location)}")
    lines.append("END:VEVENT")
    return RenderedEvent(body=b"".join(_fold(line) for line in lines), tzid=tzid)


def event_tzid(item: EventData) -> str | None:
    """The zone to write the event's times in, or None for UTC (see the module docstring)."""
    if item.zone in UTC_ZONES:
        return None
    zone = _zoneinfo(item.zone)
    if _ambiguous(item.starts_at.astimezone(zone)) or _ambiguous(item.ends_at.astimezone(zone)):
        return None
    return item.zone


def _ambiguous(local: datetime) -> bool:
    """This wall time happens twice (the repeated autumn hour). A local time converted from
    an instant is never one that does not happen (the spring gap), so that needs no check."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


@lru_cache(maxsize=256)
def vtimezone(zone: str, first_date: date, last_date: date) -> bytes:
    """icalendar's VTIMEZONE for the window, in the shape every parser tried reads alike:
    one observance per onset, each onset its block's ``DTSTART``, no ``RDATE``."""
    tz = Timezone.from_tzid(zone, first_date=first_date, last_date=last_date)
    tz.pop("COMMENT", None)
    singles = []
    for observance in tz.subcomponents:
        for onset in _onsets(observance):
            single = type(observance)()
            single.add("DTSTART", onset)
            for name in ("TZNAME", "TZOFFSETFROM", "TZOFFSETTO"):
                if name in observance:
                    single[name] = observance[name]
            singles.append((onset, single))
    tz.subcomponents = [single for _, single in sorted(singles, key=lambda pair: pair[0])]
    return tz.to_ical()


def _onsets(observance) -> list[datetime]:
    onsets = [observance["DTSTART"].dt]
    listed = observance.get("RDATE")
    for rdate in listed if isinstance(listed, list) else [listed] if listed else []:
        onsets += [value.dt for value in rdate.dts]
    return sorted(set(onsets))


def _calendar_head(meta: CalendarMeta) -> bytes:
    """The calendar's own properties, rendered by icalendar, without its END line."""
    cal = Calendar.new(prodid=PRODID, uid=calendar_uid(meta.feed_id), calscale="GREGORIAN",
                       refresh_interval=meta.refresh)
    cal["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"
    cal.add("NAME", vText(meta.name))
    cal.add("X-WR-CALNAME", vText(meta.name))
    cal.add("X-PUBLISHED-TTL", vDuration(meta.refresh))
    cal.add("X-WR-TIMEZONE", meta.zone)
    text = cal.to_ical()
    assert text.endswith(END_CALENDAR)
    return text[: -len(END_CALENDAR)]


def _fold(line: str) -> bytes:
    encoded = line.encode()
    if len(encoded) <= FOLD_OCTETS:
        return encoded + CRLF
    return Contentline(line).to_ical() + CRLF


@lru_cache(maxsize=64)
def _zoneinfo(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=64)
def _tzid_params(zone: str) -> str:
    return Parameters({"TZID": zone}).to_ical().decode()


@lru_cache(maxsize=4096)
def _text(value: str) -> str:
    return vText(value).to_ical().decode()


@lru_cache(maxsize=256)
def _integer(value: int) -> str:
    return vInt(value).to_ical().decode()


@lru_cache(maxsize=8192)
def _utc_value(instant: datetime) -> str:
    return vDatetime(instant.astimezone(UTC)).to_ical().decode()


def _local_value(wall: datetime) -> str:
    return vDatetime(wall).to_ical().decode()
