"""The README's demo command seeds a realistic practice with real, conflict-free plans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.support.checker import calendar_problems

ROOT = Path(__file__).resolve().parent.parent


def test_demo_seeds_plans_and_prints_a_key_last(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "DATABASE_URL": url, "REGIMEN_ENV": "development"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "demo", "--no-serve"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("rgk_")
    assert any("/api/v1/docs" in line for line in lines)
    assert not any("not placed" in line for line in lines), result.stdout
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        zones = {z for (z,) in conn.execute(sa.text("SELECT timezone FROM clinics"))}
        kinds = {k for (k,) in conn.execute(sa.text(
            "SELECT DISTINCT session_kind FROM appointments WHERE status = 'booked'"))}
        protocols = conn.execute(sa.text("SELECT count(*) FROM protocols")).scalar_one()
        assert calendar_problems(conn) == []
    engine.dispose()
    assert len(zones) == 3
    assert protocols == 5
    assert {"iv_infusion", "consult"} <= kinds and len(kinds) >= 5
