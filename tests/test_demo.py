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


def test_demo_serves_the_api(tmp_path):
    """Without --no-serve the command keeps running and answers HTTP with the printed key."""
    import json
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
           "REGIMEN_ENV": "development"}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "demo", "--port",
                             str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        key = None
        for line in proc.stdout:
            if line.startswith("rgk_"):
                key = line.strip()
                break
        assert key, "the demo printed no key"
        for _ in range(100):
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/clinics",
                                                 headers={"Authorization": f"Bearer {key}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    clinics = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the demo server never answered")
        assert len(clinics) == 3
        # A write too: nothing left over from seeding may hold the database's write lock.
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/patients", method="POST",
            data=json.dumps({"name": "Walk-in", "clinic_id": clinics[0]["id"]}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
    finally:
        proc.terminate()
        proc.wait(timeout=30)
