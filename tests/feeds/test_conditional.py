"""ETag and 304: a poll that changes nothing is decided by one aggregate query, not a render."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

START = datetime(2026, 10, 20, 13, 0, tzinfo=UTC)


@pytest.fixture
def no_rendering(monkeypatch):
    from scheduler.services import feed_content, ical

    def boom(*args, **kwargs):
        raise AssertionError("the calendar was rendered for a conditional hit")

    monkeypatch.setattr(ical, "render_calendar", boom)
    monkeypatch.setattr(feed_content, "render_feed", boom)


@contextlib.contextmanager
def counting_selects(app):
    from scheduler.extensions import db

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_etag_and_last_modified_are_sent(world, new_feed, fetch, appointment):
    appointment(world["a"], START)
    response = fetch(new_feed("room", world["a"].room))
    assert response.headers["ETag"].startswith('"') and len(response.headers["ETag"]) > 20
    assert response.headers["Last-Modified"].endswith("GMT")
    assert "no-cache" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"]


def test_if_none_match_answers_304_without_rendering(app, world, new_feed, fetch, appointment,
                                                     no_rendering):
    appointment(world["a"], START)
    feed = new_feed("room", world["a"].room)
    fetch(feed, 500)  # the patch is live: a fetch that has to render fails
    from scheduler.services.feed_content import FeedSettings, feed_state
    from scheduler.services.feeds import find_by_token

    token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    with app.test_request_context():
        from scheduler.models.types import utcnow

        etag = feed_state(find_by_token(token), utcnow(), FeedSettings.from_config(app.config)).etag
    with counting_selects(app) as selects:
        response = fetch(feed, 304, **{"If-None-Match": f'"{etag}"'})
    assert response.data == b""
    assert response.headers["ETag"] == f'"{etag}"'
    assert len(selects) == 2, selects  # the token lookup and the one aggregate


@pytest.mark.parametrize("header", ['W/"{e}"', '"other", "{e}"', "*"])
def test_if_none_match_forms(world, new_feed, fetch, appointment, header):
    appointment(world["a"], START)
    feed = new_feed("room", world["a"].room)
    etag = fetch(feed).headers["ETag"].strip('"')
    fetch(feed, 304, **{"If-None-Match": header.format(e=etag)})


def test_stale_etag_gets_the_new_calendar(world, new_feed, fetch, appointment,
                                          update_appointment, clock):
    appt = appointment(world["a"], START)
    feed = new_feed("room", world["a"].room)
    first = fetch(feed)
    etag = first.headers["ETag"]
    fetch(feed, 304, **{"If-None-Match": etag})
    clock.shift(timedelta(minutes=1))
    update_appointment(appt, status="cancelled")
    changed = fetch(feed, 200, **{"If-None-Match": etag})
    assert changed.headers["ETag"] != etag and b"STATUS:CANCELLED" in changed.data


@pytest.mark.parametrize("change", ["new", "moved_out", "patient_renamed", "room_renamed",
                                    "next_day"])
def test_etag_follows_everything_the_calendar_shows(app, api, world, new_feed, fetch,
                                                    appointment, clock, change):
    appt = appointment(world["a"], START)
    feed = new_feed("room", world["a"].room, "details")
    etag = fetch(feed).headers["ETag"]
    if change == "new":
        appointment(world["a"], START + timedelta(days=1))
    elif change == "moved_out":
        from scheduler.extensions import db
        from scheduler.models import Appointment

        with app.app_context():  # an update that does not touch updated_at still counts
            db.session.get(Appointment, appt).starts_at = START - timedelta(days=400)
            db.session.get(Appointment, appt).ends_at = START - timedelta(days=399)
            db.session.commit()
    elif change == "patient_renamed":
        clock.shift(timedelta(seconds=1))
        api.patch(f"/patients/{world['a'].patient}", {"name": "Someone Else"})
    elif change == "room_renamed":
        clock.shift(timedelta(seconds=1))
        api.patch(f"/rooms/{world['a'].room}", {"name": "Infusion Z"})
    else:
        clock.shift(timedelta(days=1))
    assert fetch(feed, 200, **{"If-None-Match": etag}).headers["ETag"] != etag


def test_busy_and_details_feeds_of_one_room_differ(world, new_feed, fetch, appointment):
    appointment(world["a"], START)
    busy = fetch(new_feed("room", world["a"].room, "busy")).headers["ETag"]
    details = fetch(new_feed("room", world["a"].room, "details")).headers["ETag"]
    assert busy != details


def test_revoked_feed_is_404_even_with_a_matching_etag(api, world, new_feed, fetch):
    feed = new_feed("room", world["a"].room)
    etag = fetch(feed).headers["ETag"]
    api.delete(f"/feeds/{feed['id']}")
    fetch(feed, 404, **{"If-None-Match": etag})


# ---------------------------------------------------------------- rendered-body cache

def test_unconditional_poll_of_an_unchanged_feed_is_not_rendered_again(
        world, new_feed, fetch, appointment, update_appointment, monkeypatch, clock):
    from scheduler.services import feed_content

    appt = appointment(world["a"], START)
    feed = new_feed("room", world["a"].room)
    first = fetch(feed)
    renders = []
    real = feed_content.render_feed
    monkeypatch.setattr(feed_content, "render_feed",
                        lambda *a: renders.append(1) or real(*a))
    again = fetch(feed)  # no If-None-Match, like many calendar clients
    assert again.data == first.data and renders == []
    clock.shift(timedelta(minutes=1))
    update_appointment(appt, status="cancelled")
    changed = fetch(feed)
    assert renders == [1] and b"STATUS:CANCELLED" in changed.data


def test_cache_can_be_turned_off_and_is_bounded(app):
    from scheduler.services.feed_cache import LruCache

    cache = LruCache(max_bytes=10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"  # a is now the most recently used
    cache.put("c", b"123")
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None
    off = LruCache(max_bytes=0)
    off.put("a", b"1")
    assert off.get("a") is None
