"""The README's demo, really served: ``python3 dev.py demo`` on a free port and a fresh file."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServedDemo:
    base: str   # http://127.0.0.1:PORT
    key: str    # the admin key the demo printed last
    output: list[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_env(database: Path) -> dict:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "REGIMEN_ENV": "development"}


@contextlib.contextmanager
def served_demo(tmp_path: Path, port: int | None = None) -> Iterator[ServedDemo]:
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "demo", "--port",
                             str(port)], cwd=ROOT, env=demo_env(tmp_path / "demo.db"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        output, key = [], None
        for line in proc.stdout:
            output.append(line.rstrip("\n"))
            if line.startswith("rgk_"):
                key = line.strip()
                break
        assert key, f"the demo printed no key: {output}"
        base = f"http://127.0.0.1:{port}"
        _wait_until_served(base, key)
        yield ServedDemo(base, key, output)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_until_served(base: str, key: str) -> None:
    for _ in range(200):
        try:
            request = urllib.request.Request(f"{base}/api/v1/clinics",
                                             headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                json.loads(response.read())
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the demo server never answered")
