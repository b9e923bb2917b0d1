"""The README's demo command seeds a realistic practice with real, conflict-free plans."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request

import sqlalchemy as sa

from tests.support.checker import calendar_problems
from tests.support.demo_server import ROOT, demo_env, served_demo


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
    with served_demo(tmp_path) as demo:
        headers = {"Authorization": f"Bearer {demo.key}"}
        request = urllib.request.Request(f"{demo.base}/api/v1/clinics", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            clinics = json.loads(response.read())
        assert len(clinics) == 3
        # A write too: nothing left over from seeding may hold the database's write lock.
        request = urllib.request.Request(
            f"{demo.base}/api/v1/patients", method="POST",
            data=json.dumps({"name": "Walk-in", "clinic_id": clinics[0]["id"]}).encode(),
            headers={**headers, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201


def test_demo_on_a_busy_port_says_what_to_do(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "demo", "--port", str(port)],
            cwd=ROOT, env=demo_env(tmp_path / "busy.db"), capture_output=True, text=True,
            timeout=120)
    assert result.returncode != 0
    assert f"--port {port + 1}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "busy.db").exists(), "nothing is seeded when it cannot serve"


def test_rerunning_the_demo_keeps_one_live_demo_key(tmp_path):
    env = demo_env(tmp_path / "again.db")
    secrets = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "demo",
                                 "--no-serve"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        secrets.append(result.stdout.strip().splitlines()[-1])
    assert secrets[0] != secrets[1]
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        live = conn.execute(sa.text(
            "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")).scalar_one()
    engine.dispose()
    assert live == 1


def test_dev_py_help_names_the_port_option():
    result = subprocess.run([sys.executable, str(ROOT / "dev.py"), "--help"], capture_output=True,
                            text=True, timeout=30)
    assert "--port" in result.stdout
