"""PostgreSQL for tests: found through ``TEST_PG_URL`` or the local default, else skipped."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL)


def available() -> bool:
    try:
        engine = sa.create_engine(admin_url(), connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def recreate_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    engine = sa.create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def require() -> str:
    """The admin URL of a reachable PostgreSQL, or skip the test saying why."""
    if not available():
        shown = sa.engine.make_url(admin_url()).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL not reachable at {shown} (set TEST_PG_ADMIN_URL); "
                    ".ci/run runs these tests against it")
    return admin_url()


def fresh_database(prefix: str) -> str:
    """A new, empty database for one test process: several suites may share one server."""
    url = sa.engine.make_url(require()).set(database=f"{prefix}_{os.getpid()}")
    rendered = url.render_as_string(hide_password=False)
    recreate_database(rendered)
    return rendered
