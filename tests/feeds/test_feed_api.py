"""POST/GET/DELETE /feeds and rotation: roles, the tenant wall, tokens kept only as hashes."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.support.factories import Api

from .conftest import path_of

TOKEN_URL = re.compile(r"^http://localhost/ical/rgf_[A-Za-z0-9_-]{43}\.ics$")


def test_create_answers_id_and_url(api, world, new_feed):
    feed = new_feed("room", world["a"].room)
    assert TOKEN_URL.match(feed["url"]), feed["url"]
    assert {k: feed[k] for k in ("scope", "scope_id", "privacy", "clinic_id")} == {
        "scope": "room", "scope_id": world["a"].room, "privacy": "busy",
        "clinic_id": world["a"].clinic}
    assert isinstance(feed["id"], int)


def test_token_is_stored_only_as_its_hash(app, world, new_feed):
    from scheduler.extensions import db
    from scheduler.models import AuditEntry, Feed

    feed = new_feed("clinic", world["a"].clinic)
    token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    with app.app_context():
        row = db.session.get(Feed, feed["id"])
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = repr([(c.name, getattr(row, c.name)) for c in Feed.__table__.columns])
        audit = repr([(e.before, e.after) for e in db.session.query(AuditEntry)])
    assert token not in stored and token not in audit


def test_public_base_url_is_used_when_configured(app, api, world, new_feed):
    app.config["PUBLIC_BASE_URL"] = "https://calendars.example.org/"
    try:
        feed = new_feed("clinic", world["a"].clinic)
    finally:
        app.config["PUBLIC_BASE_URL"] = None
    assert feed["url"].startswith("https://calendars.example.org/ical/rgf_")


def test_every_feed_gets_a_different_unguessable_token(world, new_feed):
    urls = {new_feed("room", world["a"].room)["url"] for _ in range(5)}
    assert len(urls) == 5


@pytest.mark.parametrize("body, field", [
    ({"scope": "building", "scope_id": 1}, "scope"),
    ({"scope": "room", "scope_id": "1"}, "scope_id"),
    ({"scope": "room", "scope_id": 0}, "scope_id"),
    ({"scope": "room"}, "scope_id"),
    ({"scope_id": 1}, "scope"),
    ({"scope": "room", "scope_id": 1, "privacy": "everything"}, "privacy"),
    ({"scope": "room", "scope_id": 1, "token": "mine"}, "token"),
])
def test_bad_bodies_name_the_field(api, world, body, field):
    response = api.call("POST", "/feeds", body, expect=422)
    assert field in response.get_json()["error"]["fields"]
    assert api.get("/feeds") == []


@pytest.mark.parametrize("scope", ["clinic", "room", "staff", "patient"])
def test_missing_scope_object_is_422(api, world, scope):
    response = api.call("POST", "/feeds", {"scope": scope, "scope_id": 9999}, expect=422)
    assert "scope_id" in response.get_json()["error"]["fields"]


def test_privacy_defaults_to_busy(api, world):
    feed = api.post("/feeds", {"scope": "room", "scope_id": world["a"].room})
    assert feed["privacy"] == "busy"


@pytest.mark.parametrize("role, status", [
    ("admin", 201), ("manager", 201), ("front_desk", 201), ("viewer", 403)])
@pytest.mark.parametrize("privacy", ["busy", "details"])
def test_front_desk_and_above_may_create(client, keys, world, role, status, privacy):
    Api(client, keys(role)).call("POST", "/feeds", {
        "scope": "room", "scope_id": world["a"].room, "privacy": privacy}, expect=status)


def test_viewer_may_list_but_not_revoke_or_rotate(client, keys, world, new_feed):
    feed = new_feed("room", world["a"].room)
    viewer = Api(client, keys("viewer"))
    assert [f["id"] for f in viewer.get("/feeds")] == [feed["id"]]
    assert "url" not in viewer.get("/feeds")[0]
    viewer.call("DELETE", f"/feeds/{feed['id']}", expect=403)
    viewer.call("POST", f"/feeds/{feed['id']}/rotate", expect=403)


def test_no_key_no_feed_api(client, world):
    assert client.post("/api/v1/feeds", json={"scope": "room", "scope_id": 1}).status_code == 401
    assert client.get("/api/v1/feeds").status_code == 401


# ---------------------------------------------------------------- tenant wall

@pytest.mark.parametrize("scope", ["clinic", "room", "staff", "patient"])
def test_scoped_key_cannot_create_a_feed_for_another_clinic(client, keys, world, scope):
    desk_a = Api(client, keys("front_desk", clinics=[world["a"].clinic]))
    other = getattr(world["b"], scope)
    refused = desk_a.call("POST", "/feeds", {"scope": scope, "scope_id": other}, expect=422)
    assert "scope_id" in refused.get_json()["error"]["fields"]
    for privacy in ("busy", "details"):
        desk_a.post("/feeds", {"scope": scope, "scope_id": getattr(world["a"], scope),
                               "privacy": privacy})


def test_scoped_key_lists_and_touches_only_its_clinics_feeds(client, keys, world, new_feed):
    feed_a = new_feed("room", world["a"].room)
    feed_b = new_feed("room", world["b"].room)
    unrestricted = new_feed("staff", world["b"].staff)  # admin: follows the nurse anywhere
    assert unrestricted["clinic_id"] is None
    desk_a = Api(client, keys("front_desk", clinics=[world["a"].clinic]))
    assert [f["id"] for f in desk_a.get("/feeds")] == [feed_a["id"]]
    for other in (feed_b, unrestricted):
        desk_a.call("GET", f"/feeds/{other['id']}", expect=404)
        desk_a.call("DELETE", f"/feeds/{other['id']}", expect=404)
        desk_a.call("POST", f"/feeds/{other['id']}/rotate", expect=404)
    desk_a.delete(f"/feeds/{feed_a['id']}")


def test_scoped_staff_feed_is_walled_to_the_keys_clinic(client, keys, world):
    admin = Api(client, keys("admin"))
    # Nurse a also works at clinic b (Saturdays).
    nurse = admin.get(f"/staff/{world['a'].staff}")
    shifts = [{k: s[k] for k in ("clinic_id", "weekday", "start", "end")} for s in nurse["shifts"]]
    shifts.append({"clinic_id": world["b"].clinic, "weekday": "sat", "start": "08:00",
                   "end": "12:00"})
    admin.patch(f"/staff/{world['a'].staff}", {"shifts": shifts})
    desk_a = Api(client, keys("front_desk", clinics=[world["a"].clinic]))
    feed = desk_a.post("/feeds", {"scope": "staff", "scope_id": world["a"].staff})
    assert feed["clinic_id"] == world["a"].clinic
    both = Api(client, keys("front_desk", clinics=[world["a"].clinic, world["b"].clinic]))
    response = both.call("POST", "/feeds", {"scope": "staff", "scope_id": world["a"].staff},
                         expect=422)
    assert "clinic_id" in response.get_json()["error"]["fields"]
    chosen = both.post("/feeds", {"scope": "staff", "scope_id": world["a"].staff,
                                  "clinic_id": world["b"].clinic})
    assert chosen["clinic_id"] == world["b"].clinic
    desk_a.call("POST", "/feeds", {"scope": "staff", "scope_id": world["a"].staff,
                                   "clinic_id": world["b"].clinic}, expect=422)


def test_room_feed_cannot_be_narrowed_to_another_clinic(api, world):
    response = api.call("POST", "/feeds", {"scope": "room", "scope_id": world["a"].room,
                                           "clinic_id": world["b"].clinic}, expect=422)
    assert "clinic_id" in response.get_json()["error"]["fields"]


# ---------------------------------------------------------------- revoke and rotate

def test_delete_revokes_the_url(api, world, new_feed, fetch):
    feed = new_feed("room", world["a"].room)
    fetch(feed, 200)
    api.delete(f"/feeds/{feed['id']}")
    gone = fetch(feed, 404)
    assert gone.get_json()["error"]["code"] == "not_found"
    assert api.get("/feeds") == []
    api.call("DELETE", f"/feeds/{feed['id']}", expect=404)
    api.call("POST", f"/feeds/{feed['id']}/rotate", expect=404)


def test_rotate_gives_a_new_url_and_kills_the_old(api, world, new_feed, fetch):
    feed = new_feed("room", world["a"].room)
    rotated = api.post(f"/feeds/{feed['id']}/rotate", expect=200)
    assert rotated["id"] == feed["id"] and rotated["url"] != feed["url"]
    assert rotated["rotated_at"] is not None
    fetch(feed, 404)
    fetch(rotated, 200)


def test_unknown_revoked_and_malformed_tokens_look_the_same(api, client, world, new_feed):
    feed = new_feed("room", world["a"].room)
    api.delete(f"/feeds/{feed['id']}")
    revoked = client.get(path_of(feed))
    unknown = client.get("/ical/rgf_" + "A" * 43 + ".ics")
    malformed = client.get("/ical/nonsense.ics")
    assert revoked.status_code == unknown.status_code == malformed.status_code == 404
    assert revoked.data == unknown.data == malformed.data


def test_feed_does_not_need_and_ignores_a_bearer_key(client, world, new_feed, fetch, keys):
    feed = new_feed("room", world["a"].room)
    assert client.get(path_of(feed)).status_code == 200
    assert client.get(path_of(feed), headers={"Authorization": "Bearer nope"}).status_code == 200


def test_openapi_documents_feeds_jobs_and_the_ical_route(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/feeds", "/api/v1/feeds/{feed_id}", "/api/v1/feeds/{feed_id}/rotate",
                 "/api/v1/jobs"):
        assert path in spec["paths"], path
    ical = spec["paths"]["/ical/{token}.ics"]["get"]
    assert ical["security"] == [] and set(ical["responses"]) == {"200", "304", "404"}


@pytest.mark.parametrize("scope", ["room", "staff", "clinic"])
def test_deleting_the_scope_object_revokes_its_feeds(api, world, new_feed, fetch, scope):
    feed = new_feed(scope, getattr(world["a"], scope))
    fetch(feed, 200)
    path = {"room": "/rooms/{}", "staff": "/staff/{}", "clinic": "/clinics/{}"}[scope]
    api.delete(path.format(getattr(world["a"], scope)))
    fetch(feed, 404)


def test_revoking_a_key_revokes_the_feeds_it_made(app, client, keys, world, new_feed, fetch):
    from scheduler.services import keys as key_service

    headers = keys("front_desk")
    mine = new_feed("room", world["a"].room, headers=headers)
    other = new_feed("room", world["a"].room)
    fetch(mine)
    with app.app_context():
        key = key_service.find_active(headers["Authorization"].removeprefix("Bearer "))
        key_service.revoke_key(key.id)
    fetch(mine, 404)
    fetch(other, 200)
    listed = {f["id"] for f in client.get("/api/v1/feeds", headers=keys("admin")).get_json()}
    assert mine["id"] not in listed and other["id"] in listed


def test_feeds_of_keys_revoked_before_the_upgrade_are_revoked_by_it(app, keys, world,
                                                                    new_feed, fetch):
    """Migration 0005 revokes what revoking a key did not revoke before."""
    import importlib.util
    from pathlib import Path

    import sqlalchemy as sa

    from scheduler.extensions import db
    from scheduler.services import keys as key_service

    path = Path(__file__).resolve().parents[2] / "migrations/versions/0005_feed_validators.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    headers = keys("front_desk")
    feed = new_feed("room", world["a"].room, headers=headers)
    with app.app_context():
        key = key_service.find_active(headers["Authorization"].removeprefix("Bearer "))
        # As the old code did: the key alone.
        db.session.execute(sa.text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP "
                                   "WHERE id = :id"), {"id": key.id})
        db.session.commit()
    fetch(feed, 200)
    with app.app_context():
        db.session.execute(sa.text(migration.REVOKE_FEEDS_OF_REVOKED_KEYS))
        db.session.commit()
    fetch(feed, 404)


def test_bad_clinic_id_is_named_as_clinic_id(api, world):
    for scope, scope_id in (("patient", world["a"].patient), ("staff", world["a"].staff),
                            ("room", world["a"].room)):
        response = api.call("POST", "/feeds", {"scope": scope, "scope_id": scope_id,
                                               "clinic_id": 9999}, expect=422)
        assert list(response.get_json()["error"]["fields"]) == ["clinic_id"], scope
