"""Rate limits: per key, failed authentications per address, 429 in the JSON shape with
Retry-After, off in tests and benchmarks, and a storage shared by every worker in production."""

from __future__ import annotations

import uuid

import pytest

from scheduler import create_app

REDIS_URI = "redis://127.0.0.1:6379"


def _limited_app(database_url, **overrides):
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": True,
                "RATELIMIT_PER_KEY": "5 per minute", "RATELIMIT_AUTH_FAILURES": "3 per minute",
                "RATELIMIT_STORAGE_URI": "memory://",
                "RATELIMIT_KEY_PREFIX": f"regimen-test-{uuid.uuid4().hex}"}
    return create_app("testing", **{**settings, **overrides})


@pytest.fixture
def limited(app, database_url):
    return _limited_app(database_url)


def test_each_key_has_its_own_budget(limited, keys):
    client = limited.test_client()
    first, second = keys("viewer"), keys("viewer")
    for _ in range(5):
        assert client.get("/api/v1/clinics", headers=first).status_code == 200
    response = client.get("/api/v1/clinics", headers=first)
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "too_many_requests" and error["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/clinics", headers=second).status_code == 200
    # Outside the API (health, docs) nothing is counted.
    for _ in range(10):
        assert client.get("/healthz").status_code == 200


def test_failed_authentications_lock_out_the_address(limited, keys):
    client = limited.test_client()
    valid = keys("viewer")
    for i in range(3):
        response = client.get("/api/v1/clinics", headers={"Authorization": f"Bearer bad{i}"})
        assert response.status_code == 401
    response = client.get("/api/v1/clinics", headers={"Authorization": "Bearer bad9"})
    assert response.status_code == 429 and "Retry-After" in response.headers
    # The address is locked out whatever it presents: no oracle for a guesser.
    assert client.get("/api/v1/clinics", headers=valid).status_code == 429
    other = {"REMOTE_ADDR": "10.9.8.7"}
    assert client.get("/api/v1/clinics", headers=valid, environ_base=other).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, database_url):
    proxied = _limited_app(database_url, PROXY_HOPS=1).test_client()
    for i in range(3):
        proxied.get("/api/v1/clinics", headers={"Authorization": f"Bearer bad{i}",
                                                "X-Forwarded-For": "203.0.113.5"})
    locked = proxied.get("/api/v1/clinics", headers={"Authorization": "Bearer bad",
                                                     "X-Forwarded-For": "203.0.113.5"})
    other = proxied.get("/api/v1/clinics", headers={"Authorization": "Bearer bad",
                                                    "X-Forwarded-For": "203.0.113.6"})
    assert (locked.status_code, other.status_code) == (429, 401)


def test_successful_requests_do_not_count_as_failures(limited, keys):
    client = limited.test_client()
    for _ in range(4):
        assert client.get("/api/v1/clinics", headers=keys("viewer")).status_code == 200
    assert client.get("/api/v1/clinics", headers={"Authorization": "Bearer x"}).status_code == 401


def test_limits_are_off_in_the_test_configuration(app, client):
    assert app.config["RATELIMIT_ENABLED"] is False
    statuses = {client.get("/api/v1/clinics", headers={"Authorization": f"Bearer b{i}"})
                .status_code for i in range(40)}
    assert statuses == {401}


def test_limits_turn_off_with_the_setting(app, database_url, keys):
    off = _limited_app(database_url, RATELIMIT_ENABLED=False)
    client = off.test_client()
    statuses = {client.get("/api/v1/clinics", headers={"Authorization": "Bearer b"}).status_code
                for _ in range(10)}
    assert statuses == {401}


def test_production_refuses_per_process_storage(app, database_url):
    from scheduler.api.ratelimit import RateLimitStorageError

    with pytest.raises(RateLimitStorageError, match="REGIMEN_RATELIMIT_STORAGE_URI"):
        create_app("production", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                   RATELIMIT_STORAGE_URI="memory://", PUBLIC_BASE_URL="https://x.example.org",
                   SECRET_ENCRYPTION_KEY="k" * 43)
    assert create_app("production", SQLALCHEMY_DATABASE_URI=database_url,
                      PUBLIC_BASE_URL="https://x.example.org", SECRET_ENCRYPTION_KEY="k" * 43,
                      RATELIMIT_ENABLED=False).config["RATELIMIT_ENABLED"] is False


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URI, socket_timeout=1).ping())
    except Exception:
        return False


def test_workers_share_one_budget_through_redis(app, database_url, keys):
    if not _redis_available():
        pytest.skip(f"redis not reachable at {REDIS_URI}; .ci/run starts it")
    prefix = f"regimen-test-{uuid.uuid4().hex}"
    workers = [_limited_app(database_url, RATELIMIT_STORAGE_URI=REDIS_URI,
                            RATELIMIT_KEY_PREFIX=prefix, RATELIMIT_REQUIRE_SHARED_STORAGE=True)
               for _ in range(2)]
    clients = [w.test_client() for w in workers]
    key = keys("viewer")
    for i in range(5):
        assert clients[i % 2].get("/api/v1/clinics", headers=key).status_code == 200
    for client in clients:
        response = client.get("/api/v1/clinics", headers=key)
        assert response.status_code == 429, "the budget is shared across workers"
        assert int(response.headers["Retry-After"]) >= 1
