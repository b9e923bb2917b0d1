"""Feed URLs in production, and feed tokens in gunicorn's access log."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_production_refuses_to_start_without_a_public_base_url(tmp_path):
    from scheduler import create_app

    url = f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(RuntimeError, match="REGIMEN_PUBLIC_BASE_URL"):
        create_app("production", SQLALCHEMY_DATABASE_URI=url, PUBLIC_BASE_URL=None,
                   SECRET_ENCRYPTION_KEY="k" * 43,
                   RATELIMIT_ENABLED=False)
    app = create_app("production", SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False,
                     SECRET_ENCRYPTION_KEY="k" * 43,
                     PUBLIC_BASE_URL="https://regimen.example.org")
    assert app.config["PUBLIC_BASE_URL"] == "https://regimen.example.org"


@pytest.mark.parametrize("base", ["regimen.example.org", "ftp://x.org", "https://x.org/?a=1"])
def test_a_malformed_public_base_url_is_refused(tmp_path, base):
    from scheduler import create_app

    with pytest.raises(RuntimeError, match="absolute http"):
        create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'p.db'}",
                   PUBLIC_BASE_URL=base)


def test_configured_base_url_wins_over_the_host_header(app, client, admin, world):
    app.config["PUBLIC_BASE_URL"] = "https://regimen.example.org/"
    try:
        response = client.post("/api/v1/feeds", json={"scope": "room",
                                                      "scope_id": world["a"].room},
                               headers={**admin, "Host": "evil.example.com"})
    finally:
        app.config["PUBLIC_BASE_URL"] = None
    assert response.status_code == 201
    assert response.get_json()["url"].startswith("https://regimen.example.org/ical/rgf_")


def _access_line(logger_class, uri: str, referer: str = "-") -> str:
    from gunicorn.config import Config

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", '%(r)s %(U)s %(q)s %(f)s')
    logger = logger_class(config)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.access_log.addHandler(handler)
    path, _, query = uri.partition("?")
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": uri, "PATH_INFO": path,
               "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": referer}
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    return records[-1]


def test_masking_logger_cuts_every_feed_token():
    from gunicorn.glogging import Logger

    from scheduler.access_log import MaskingLogger
    from scheduler.services.feeds import _new_token

    token = _new_token()
    uri = f"/ical/{token}.ics?again={token}"
    assert token in _access_line(Logger, uri)  # what gunicorn does by itself
    line = _access_line(MaskingLogger, uri, referer=f"https://x.org/ical/{token}.ics")
    assert token not in line and token[4:] not in line
    assert line.count(token[:8] + "…") == 5  # request line, path, query, query again, referer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_from_the_repository_masks_tokens_in_its_access_log(tmp_path):
    """The README's production command, `gunicorn wsgi:app` from the repository root, reads
    gunicorn.conf.py there and logs no feed token."""
    from scheduler.services.feeds import _new_token

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
           "REGIMEN_ENV": "development"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    port, log = _free_port(), tmp_path / "access.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--access-logfile", str(log), "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = _new_token()
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ical/{token}.ics", timeout=2)
            except urllib.error.HTTPError as answered:
                assert answered.code == 404
                break
            except OSError:
                time.sleep(0.1)
        for _ in range(50):
            if log.exists() and "/ical/" in log.read_text():
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert f"/ical/{token[:8]}…" in text and token not in text
