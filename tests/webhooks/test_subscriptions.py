"""POST/GET/DELETE /webhooks, rotate-secret: who may, what is refused, what is kept secret."""

from __future__ import annotations

import pytest

from tests.support.factories import Api
from tests.support.practice import build_practice

EVENTS = ["appointment.created", "reminder.due"]


def test_subscribe_list_read_delete(api, allow_private, receiver):
    created = api.post("/webhooks", {"url": receiver.url, "events": EVENTS,
                                     "privacy": "details", "reminder_hours": [2, 48, 0.5]})
    assert created["secret"].startswith("whsec_")
    assert created["reminder_hours"] == [48, 2, 0.5]
    assert created["status"] == "active" and created["clinic_ids"] is None
    shown = api.get(f"/webhooks/{created['id']}")
    assert "secret" not in shown and shown["url"] == receiver.url
    assert [h["id"] for h in api.get("/webhooks")] == [created["id"]]
    api.delete(f"/webhooks/{created['id']}")
    api.get(f"/webhooks/{created['id']}", expect=404)
    assert api.get("/webhooks") == []


def test_the_spec_example_body_is_accepted(api):
    # A public address literal: accepted without any DNS (none on a closed network).
    body = {"url": "https://93.184.215.14/hooks/regimen", "events": [
        "appointment.created", "appointment.updated", "appointment.cancelled",
        "enrollment.confirmed", "enrollment.cancelled", "disruption.applied",
        "offer.created", "reminder.due"], "privacy": "busy", "reminder_hours": [48, 2]}
    assert api.post("/webhooks", body)["events"] == sorted(body["events"])


@pytest.mark.parametrize("url, words", [
    ("ftp://93.184.215.14/x", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("http://127.0.0.1:8080/x", "loopback"),
    ("http://localhost/x", "loopback"),
    ("http://[::1]/x", "loopback"),
    ("http://10.1.2.3/x", "private"),
    ("http://192.168.0.10/x", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fe80::1]/x", "link-local"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),
    ("http://0.0.0.0/x", "unspecified"),
    ("https://user:pw@93.184.215.14/x", "credentials"),
    ("http:///nohost", "host"),
])
def test_unsafe_urls_are_refused_naming_the_field(api, url, words):
    error = api.post("/webhooks", {"url": url, "events": EVENTS}, expect=422)["error"]
    assert "url" in error["fields"] and words in error["fields"]["url"][0], error


def test_private_targets_are_allowed_when_configured(api, allow_private):
    api.post("/webhooks", {"url": "http://127.0.0.1:9/x", "events": EVENTS})


@pytest.mark.parametrize("body, field", [
    ({"events": ["appointment.moved"]}, "events[0]"),
    ({"events": []}, "events"),
    ({"privacy": "everything"}, "privacy"),
    ({"reminder_hours": [-1]}, "reminder_hours[0]"),
    ({"reminder_hours": [0]}, "reminder_hours[0]"),
    ({"reminder_hours": ["soon"]}, "reminder_hours[0]"),
    ({"clinic_ids": [999]}, "clinic_ids[0]"),
    ({"secret": "mine"}, "secret"),
])
def test_bad_bodies_are_422_naming_the_field(api, body, field):
    full = {"url": "https://93.184.215.14/x", "events": EVENTS, **body}
    error = api.post("/webhooks", full, expect=422)["error"]
    assert field in error["fields"], error


def test_only_managers_and_admins_subscribe(client, keys):
    body = {"url": "https://93.184.215.14/x", "events": EVENTS}
    for role, status in (("front_desk", 403), ("viewer", 403), ("manager", 201)):
        Api(client, keys(role)).post("/webhooks", body, expect=status)
    Api(client, keys("front_desk")).get("/webhooks", expect=403)


def test_a_scoped_key_sees_only_its_own_subscriptions(client, api, keys):
    first = build_practice(api)
    second = build_practice(api, templates=())
    mine = Api(client, keys("manager", clinics=[first.clinic]))
    theirs = Api(client, keys("manager", clinics=[second.clinic]))
    body = {"url": "https://93.184.215.14/x", "events": EVENTS}
    hook = mine.post("/webhooks", body)
    assert hook["clinic_ids"] == [first.clinic]
    other = theirs.post("/webhooks", body)
    everything = api.post("/webhooks", body)
    assert [h["id"] for h in mine.get("/webhooks")] == [hook["id"]]
    for hidden in (other["id"], everything["id"]):
        mine.get(f"/webhooks/{hidden}", expect=404)
        mine.post(f"/webhooks/{hidden}/rotate-secret", expect=404)
        mine.get(f"/webhooks/{hidden}/deliveries", expect=404)
        mine.delete(f"/webhooks/{hidden}", expect=404)
    mine.post("/webhooks", {**body, "clinic_ids": [second.clinic]}, expect=422)
    assert len(api.get("/webhooks")) == 3


def test_the_secret_is_stored_encrypted_and_a_dump_cannot_sign(app, api):
    import sqlalchemy as sa

    from scheduler.extensions import db

    hook = api.post("/webhooks", {"url": "https://93.184.215.14/x", "events": EVENTS})
    rotated = api.post(f"/webhooks/{hook['id']}/rotate-secret", expect=200)
    raw_secrets = [s.removeprefix("whsec_") for s in (hook["secret"], rotated["secret"])]
    with app.app_context(), db.engine.connect() as conn:
        dump = []
        for table in ("webhooks", "audit_log"):
            dump += [str(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    text = "\n".join(dump)
    for raw in raw_secrets:
        assert raw not in text and raw[:16] not in text
    # Only the configured key opens it.
    from cryptography.fernet import InvalidToken

    from scheduler.models import Webhook
    from scheduler.services import secret_box

    with app.app_context():
        sealed = db.session.get(Webhook, hook["id"]).secret_ciphertext
        assert secret_box.open_sealed(sealed) == rotated["secret"]
        original = app.config["SECRET_ENCRYPTION_KEY"]
        app.config["SECRET_ENCRYPTION_KEY"] = "some-other-key"
        try:
            with pytest.raises(InvalidToken):
                secret_box.open_sealed(sealed)
            # Rotation of the operator's key: the new key first, the old one still opens.
            app.config["SECRET_ENCRYPTION_KEY"] = f"some-other-key,{original}"
            assert secret_box.open_sealed(sealed) == rotated["secret"]
        finally:
            app.config["SECRET_ENCRYPTION_KEY"] = original


def test_production_refuses_to_start_without_a_secret_key():
    from scheduler import create_app

    with pytest.raises(RuntimeError, match="REGIMEN_SECRET_KEY"):
        create_app("production", SECRET_ENCRYPTION_KEY=None, RATELIMIT_ENABLED=False,
                   PUBLIC_BASE_URL="https://x.example.org")
    assert create_app("production", SECRET_ENCRYPTION_KEY="k" * 43, RATELIMIT_ENABLED=False,
                      PUBLIC_BASE_URL="https://x.example.org") is not None
