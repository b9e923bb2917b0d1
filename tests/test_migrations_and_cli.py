"""The schema comes from migrations on both databases, and matches the models exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import pg

ROOT = Path(__file__).resolve().parent.parent


def _flask(args, database_url, **kw):
    env = {**os.environ, "DATABASE_URL": database_url, "REGIMEN_ENV": "development"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, **kw)


def _assert_models_match(url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from scheduler import models  # noqa: F401
    from scheduler.extensions import db

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    engine.dispose()
    # The PostgreSQL-only exclusion constraint is created by hand in the revision.
    diff = [d for d in diff if "ex_allocations_no_overlap" not in repr(d)]
    assert diff == []


def test_upgrade_on_empty_sqlite_then_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = _flask(["db", "upgrade"], url)
    assert result.returncode == 0, result.stderr
    _assert_models_match(url)
    created = _flask(["api-key", "create", "--role", "front_desk", "--label", "desk"], url)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("rgk_") and " " not in secret
    listed = _flask(["api-key", "list"], url)
    assert "front_desk" in listed.stdout and secret not in listed.stdout
    revoked = _flask(["api-key", "revoke", "1"], url)
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    assert "revoked" in _flask(["api-key", "list"], url).stdout
    bad = _flask(["api-key", "create", "--role", "admin", "--clinic", "99"], url)
    assert bad.returncode != 0 and "clinic 99 does not exist" in bad.stderr


def test_upgrade_on_empty_postgresql():
    url = pg.fresh_database("regimen_migration_test")
    result = _flask(["db", "upgrade"], url)
    assert result.returncode == 0, result.stderr
    _assert_models_match(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        constraint = conn.execute(sa.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'ex_allocations_no_overlap'")).scalar_one()
        column_type = conn.execute(sa.text(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'appointments' AND column_name = 'starts_at'")).scalar_one()
    engine.dispose()
    assert "EXCLUDE USING gist" in constraint and "tstzrange" in constraint
    assert column_type == "timestamp with time zone"
    assert _flask(["db", "upgrade"], url).returncode == 0  # idempotent


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_down_and_up_again_on_a_database_that_holds_a_practice(tmp_path, database):
    """Migrations run on deployed databases, full of rows other rows refer to (SQLite's batch
    mode drops and re-creates tables: with foreign keys on that fails unless env.py turns them
    off around it)."""
    url = (f"sqlite:///{tmp_path / 'deployed.db'}" if database == "sqlite"
           else pg.fresh_database("regimen_migration_populated"))
    seeded = _flask(["demo", "--no-serve"], url)
    assert seeded.returncode == 0, seeded.stderr

    def counts():
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            found = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("clinics", "rooms", "shifts", "appointments", "allocations")}
        engine.dispose()
        return found

    before = counts()
    assert before["appointments"] > 0 and before["shifts"] > 0
    down = _flask(["db", "downgrade", "0008"], url)
    assert down.returncode == 0, down.stderr
    assert counts() == before
    up = _flask(["db", "upgrade"], url)
    assert up.returncode == 0, up.stderr
    assert counts() == before
    _assert_models_match(url)


@pytest.mark.parametrize("scoped", [False, True])
def test_api_key_create_prints_key_last(app, scoped):
    from scheduler.extensions import db
    from scheduler.models import Clinic

    with app.app_context():
        clinic = Clinic(name="x", timezone="UTC")
        db.session.add(clinic)
        db.session.commit()
        clinic_id = clinic.id
    args = ["api-key", "create", "--role", "viewer"] + (["--clinic", str(clinic_id)] if scoped
                                                         else [])
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    client = app.test_client()
    response = client.get(f"/api/v1/clinics/{clinic_id}",
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
