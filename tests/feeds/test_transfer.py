"""gzip, If-Modified-Since, and reusing rendered events after a change."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

START = datetime(2026, 10, 20, 13, 0, tzinfo=UTC)


def test_gzip_when_accepted_identity_otherwise(world, new_feed, fetch, appointment):
    for day in range(20):
        appointment(world["a"], START + timedelta(days=day))
    feed = new_feed("room", world["a"].room)
    plain = fetch(feed)
    zipped = fetch(feed, **{"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) * 4 < len(plain.data)
    for response in (plain, zipped):
        assert "Accept-Encoding" in response.headers["Vary"]
    # Two representations, two strong validators; either revalidates the same state.
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    fetch(feed, 304, **{"If-None-Match": zipped.headers["ETag"]})
    fetch(feed, 304, **{"If-None-Match": plain.headers["ETag"], "Accept-Encoding": "gzip"})
    assert fetch(feed, **{"Accept-Encoding": "gzip;q=0"}).data == plain.data


def test_if_modified_since_answers_304_until_the_feed_changes(world, new_feed, fetch,
                                                            appointment, update_appointment,
                                                            clock):
    appt = appointment(world["a"], START)
    feed = new_feed("room", world["a"].room)
    first = fetch(feed)
    modified = first.headers["Last-Modified"]
    assert parsedate_to_datetime(modified) <= datetime.now(UTC)
    clock.shift(timedelta(minutes=5))
    fetch(feed, 304, **{"If-Modified-Since": modified})
    later = format_datetime(datetime.now(UTC), usegmt=True)
    fetch(feed, 304, **{"If-Modified-Since": later})
    older = format_datetime(parsedate_to_datetime(modified) - timedelta(seconds=1), usegmt=True)
    assert fetch(feed, 200, **{"If-Modified-Since": older}).data == first.data

    update_appointment(appt, status="cancelled")
    changed = fetch(feed, 200, **{"If-Modified-Since": modified})
    assert b"STATUS:CANCELLED" in changed.data
    assert parsedate_to_datetime(changed.headers["Last-Modified"]) > \
        parsedate_to_datetime(modified)


def test_removal_from_the_feed_moves_last_modified(app, world, new_feed, fetch, appointment,
                                                   clock):
    """An appointment that leaves a room's feed (moved to another room) changes no row the
    feed still shows: Last-Modified must move all the same."""
    from scheduler.extensions import db
    from scheduler.models import Allocation

    appointment(world["a"], START)
    moved = appointment(world["a"], START + timedelta(days=2))
    feed = new_feed("room", world["a"].room)
    modified = fetch(feed).headers["Last-Modified"]
    clock.shift(timedelta(minutes=5))
    with app.app_context():
        room = db.session.query(Allocation).filter_by(appointment_id=moved,
                                                      resource_type="room").one()
        room.active = False  # as a reassignment leaves the old room's allocation
        db.session.commit()
    response = fetch(feed, 200, **{"If-Modified-Since": modified})
    assert f"appointment-{moved}@".encode() not in response.data


def test_if_none_match_wins_over_if_modified_since(world, new_feed, fetch, appointment):
    appointment(world["a"], START)
    feed = new_feed("room", world["a"].room)
    first = fetch(feed)
    fetch(feed, 200, **{"If-None-Match": '"stale"',
                        "If-Modified-Since": first.headers["Last-Modified"]})


def test_after_one_change_only_that_event_is_rendered_again(monkeypatch, world, new_feed,
                                                            fetch, appointment,
                                                            update_appointment, clock):
    from scheduler.services import ical

    ids = [appointment(world["a"], START + timedelta(days=day)) for day in range(5)]
    feed = new_feed("room", world["a"].room)
    fetch(feed)
    rendered: list[int] = []
    real = ical.render_event

    def counting(item):
        rendered.append(item.appointment_id)
        return real(item)

    monkeypatch.setattr(ical, "render_event", counting)
    clock.shift(timedelta(minutes=1))
    update_appointment(ids[2], starts_at=START + timedelta(days=2, hours=1),
                       ends_at=START + timedelta(days=2, hours=2))
    body = fetch(feed).data
    assert rendered == [ids[2]]
    assert b"DTSTART;TZID=America/New_York:20261022T100000" in body
    # Another feed showing the same appointments the same way reuses the same events.
    rendered.clear()
    fetch(new_feed("room", world["a"].room))
    assert rendered == []


@pytest.mark.parametrize("privacy", ["busy", "details"])
def test_reused_events_equal_a_fresh_render(app, world, new_feed, fetch, appointment, privacy):
    from scheduler.services import feed_cache

    for day in range(3):
        appointment(world["a"], START + timedelta(days=day))
    feed = new_feed("room", world["a"].room, privacy)
    fetch(feed)
    feed_cache.cache_for(app).clear()  # bodies gone, events kept
    assert len(feed_cache.events_cache_for(app)) == 3
    reused = fetch(feed).data
    feed_cache.clear_all(app)
    assert fetch(feed).data == reused
