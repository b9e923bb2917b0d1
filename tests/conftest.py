"""Fixtures: one app per test session on a migrated database, emptied between tests.

The database is SQLite in a temporary file by default (never ``:memory:``: locking must behave as
in production) or whatever ``TEST_DATABASE_URL`` names (``.ci/run`` points it at PostgreSQL).
The schema is always built by the real migrations, so every test run also tests them.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from tests.support import pg

os.environ.setdefault("REGIMEN_ENV", "testing")


def pytest_report_header(config):
    """Say which database the suite runs on, and where PostgreSQL-only tests look."""
    url = os.environ.get("TEST_DATABASE_URL")
    shown = sa.engine.make_url(url).render_as_string(hide_password=True) if url else None
    admin = sa.engine.make_url(pg.admin_url()).render_as_string(hide_password=True)
    return [f"regimen: suite database {shown or 'SQLite (a temporary file)'}; "
            f"PostgreSQL-only tests use {admin} "
            f"({'reachable' if pg.available() else 'not reachable: they skip'})"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        pg.recreate_database(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'regimen-test.db'}"


@pytest.fixture(scope="session")
def app(database_url):
    from flask_migrate import upgrade

    from scheduler import create_app

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Empty every table after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from scheduler.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(sa.text(f'DELETE FROM "{name}"'))


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keys(app):
    """Create keys on demand: ``keys('front_desk', clinics=[1])`` → bearer headers."""
    from scheduler.services import keys as key_service

    def make(role: str = "admin", clinics: list[int] | None = None) -> dict:
        with app.app_context():
            _key, secret = key_service.create_key(role, clinics or [])
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def admin(keys):
    return keys("admin")
