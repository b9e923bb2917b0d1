"""Every parser reads the same instants from a feed as the API shows: ical.js (Thunderbird),
vobject and icalendar, on real feeds across DST changes in four zones."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.services import ical
from tests.feeds.conftest import IV_INFUSION, Site, parse_everywhere
from tests.feeds.readers import icalendar_instants, icaljs, require_icaljs, vobject_instants
from tests.support.factories import clinic_body, room_body, staff_body

# The window (30 days back, 365 ahead) then holds the 2027 changes and the repeated hour.
LATER = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "UTC")
# Instants whose local times are repeated (the autumn hour), start and end.
REPEATED_HOUR = {
    "America/New_York": (datetime(2027, 11, 7, 5, 30, tzinfo=UTC),
                         datetime(2027, 11, 7, 6, 15, tzinfo=UTC)),
    "Europe/London": (datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
                      datetime(2027, 10, 31, 1, 15, tzinfo=UTC)),
    "Australia/Sydney": (datetime(2027, 4, 3, 15, 30, tzinfo=UTC),
                         datetime(2027, 4, 3, 16, 15, tzinfo=UTC)),
}
PARSERS = {"ical.js": icaljs, "vobject": vobject_instants, "icalendar": icalendar_instants}


def _site(api, zone: str) -> Site:
    clinic = api.post("/clinics", clinic_body(name=f"Clinic {zone}", timezone=zone))["id"]
    return Site(clinic=clinic,
                room=api.post(f"/clinics/{clinic}/rooms", room_body())["id"],
                staff=api.post("/staff", staff_body(clinic))["id"],
                patient=api.post("/patients", {"name": f"Patient {zone}",
                                               "clinic_id": clinic})["id"])


def _series(site: Site, zone: str, appointment) -> None:
    """Every 61 hours (so every time of day comes round) across the window, 85 minutes
    each, plus the zone's repeated hour."""
    special = REPEATED_HOUR.get(zone)
    if special:
        appointment(site, special[0], minutes=int((special[1] - special[0]).seconds / 60))
    at = LATER - timedelta(days=29)
    while at < LATER + timedelta(days=364):
        end = at + timedelta(minutes=85)
        if not special or end <= special[0] - timedelta(hours=1) or at >= special[1]:
            appointment(site, at)
        at += timedelta(hours=61)


def _api_instants(api, site: Site) -> dict[str, tuple[datetime, datetime]]:
    out = {}
    page = 1
    while True:
        rows = api.get(f"/appointments?clinic_id={site.clinic}&start=2026-01-01"
                       f"&end=2029-01-01&page_size=500&page={page}")
        for row in rows:
            out[ical.event_uid(row["id"])] = (
                datetime.fromisoformat(row["start"]).astimezone(UTC),
                datetime.fromisoformat(row["end"]).astimezone(UTC))
        if len(rows) < 500:
            return out
        page += 1


@pytest.fixture
def zoned_feeds(api, clock, appointment, new_feed, fetch):
    """{zone: (feed body, the API's instants)} for a busy clinic feed per zone."""
    clock.move_to(LATER)
    api.post("/session-kinds", IV_INFUSION)
    out = {}
    for zone in ZONES:
        site = _site(api, zone)
        _series(site, zone, appointment)
        body = fetch(new_feed("clinic", site.clinic)).data
        out[zone] = (body, _api_instants(api, site))
    return out


def test_every_parser_reads_the_apis_instants(zoned_feeds):
    """The issue's check, on four zones' real feeds: ical.js, vobject and icalendar each read
    every event's start and end as the API answers them."""
    require_icaljs()
    for zone, (body, expected) in zoned_feeds.items():
        assert len(expected) > 150, zone
        for parser, read_feed in PARSERS.items():
            read = read_feed(body)
            wrong = {uid: (read.get(uid), want) for uid, want in expected.items()
                     if read.get(uid) != want}
            assert not wrong, (zone, parser, len(wrong), sorted(wrong.items())[:3])
            assert set(read) == set(expected), (zone, parser)


def test_feeds_describe_their_zones_in_the_shape_every_parser_reads(zoned_feeds):
    for zone, (body, _expected) in zoned_feeds.items():
        calendar = parse_everywhere(body)
        described = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
        named = {ev["DTSTART"].params.get("TZID") for ev in calendar.walk("VEVENT")} - {None}
        assert named <= described
        if zone == "UTC":
            assert named == set() and b"DTSTART:2027" in body
        else:
            assert named == {zone}
    body, _ = zoned_feeds["America/New_York"]
    [zone] = icalendar.Calendar.from_ical(body).walk("VTIMEZONE")
    assert "COMMENT" not in zone
    # One block per onset, no RDATE (the shape ical.js and vobject each misread).
    assert all("RDATE" not in observance for observance in zone.subcomponents)
    onsets = [(observance.name, observance["DTSTART"].dt) for observance in zone.subcomponents]
    # The window from 2026-11-15 to 2027-12-16 holds both changes of 2027.
    assert ("DAYLIGHT", datetime(2027, 3, 14, 3)) in onsets
    assert ("STANDARD", datetime(2027, 11, 7, 2)) in onsets
    # The repeated autumn hour is written in UTC; other events stay in local wall time.
    text = body.decode()
    assert "DTSTART:20271107T053000Z\r\nDTEND:20271107T061500Z\r\n" in text
    assert "TZID=America/New_York:20271107T01" not in text
    assert "DTSTART;TZID=America/New_York:" in text


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_event_touching_the_repeated_hour_only_at_its_end_is_utc_too():
    start = datetime(2027, 11, 7, 4, 0, tzinfo=UTC)  # 00:00 EDT
    end = datetime(2027, 11, 7, 5, 15, tzinfo=UTC)   # 01:15 EDT: happens again at 06:15Z
    item = ical.EventData(1, start, end, "America/New_York", "booked", 1, start, start, "Busy")
    assert ical.event_tzid(item) is None
    after = ical.EventData(1, start + timedelta(hours=4), end + timedelta(hours=4),
                           "America/New_York", "booked", 1, start, start, "Busy")
    assert ical.event_tzid(after) == "America/New_York"


@pytest.mark.parametrize("name", ["Regimen: R. Alvarez, RN (Back Bay)",
                                  "Back\\slash; semi, comma"])
def test_calendar_name_is_escaped_and_survives_every_parser(name):
    import vobject

    meta = ical.CalendarMeta(feed_id=1, name=name, zone="UTC", refresh=timedelta(hours=1),
                             first_date=date(2026, 1, 1), last_date=date(2026, 2, 1))
    body = ical.render_calendar(meta, [])
    parsed = vobject.readOne(body.decode())
    assert parsed.contents["x-wr-calname"][0].value == name
    assert parsed.contents["name"][0].value == name
    # icalendar 7.3 reads NAME back unescaped-as-is (vUnknown); the line itself is escaped.
    assert "\\," in body.decode().split("X-WR-CALNAME:", 1)[1].split("\r\n", 1)[0]


def test_staff_feed_name_with_a_comma_reaches_the_client_whole(api, world, new_feed, fetch):
    import vobject

    staff = api.post("/staff", staff_body(world["a"].clinic, name="R. Alvarez, RN"))["id"]
    body = fetch(new_feed("staff", staff)).data.decode()
    assert vobject.readOne(body).contents["x-wr-calname"][0].value == "Regimen: R. Alvarez, RN"


@settings(max_examples=60, deadline=None)
@given(zone=st.sampled_from(ZONES + ("Europe/Berlin", "America/Sao_Paulo")),
       start=st.datetimes(min_value=datetime(2026, 9, 1), max_value=datetime(2027, 12, 1),
                          timezones=st.just(UTC)),
       minutes=st.integers(min_value=5, max_value=600))
def test_any_event_reads_back_as_its_instants(zone, start, minutes):
    """Pure rendering, any instant (repeated hours included): vobject (through the feed's own
    VTIMEZONE) and icalendar read back exactly the instants given."""
    start = start.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=minutes)
    item = ical.EventData(7, start, end, zone, "booked", 1, start, start, "Busy")
    meta = ical.CalendarMeta(feed_id=1, name="x", zone=zone, refresh=timedelta(hours=1),
                             first_date=date(2026, 8, 1), last_date=date(2027, 12, 3))
    body = ical.render_calendar(meta, [item])
    want = {ical.event_uid(7): (start, end)}
    assert vobject_instants(body) == want
    assert icalendar_instants(body) == want


def test_every_parser_reads_a_window_spanning_two_autumn_changes():
    """Over 2026-08 to 2027-12 icalendar merges the two autumn onsets into DTSTART + RDATE:
    ical.js then misses the first, vobject the second. Pure rendering, seeded instants."""
    require_icaljs()
    rng = random.Random(15)
    zones = ("America/New_York", "Europe/London", "Australia/Sydney")
    items, want = [], {}
    for n in range(600):
        start = datetime(2026, 8, 2, tzinfo=UTC) + timedelta(minutes=15 * rng.randrange(46000))
        end = start + timedelta(minutes=rng.choice((45, 85, 240)))
        items.append(ical.EventData(n, start, end, zones[n % 3], "booked", 1, start, start,
                                    "Busy"))
        want[ical.event_uid(n)] = (start, end)
    meta = ical.CalendarMeta(feed_id=1, name="x", zone=zones[0], refresh=timedelta(hours=1),
                             first_date=date(2026, 8, 1), last_date=date(2027, 12, 3))
    body = ical.render_calendar(meta, items)
    for parser, read_feed in PARSERS.items():
        read = read_feed(body)
        wrong = {uid: (read.get(uid), instants) for uid, instants in want.items()
                 if read.get(uid) != instants}
        assert not wrong, (parser, len(wrong), sorted(wrong.items())[:3])
