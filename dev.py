#!/usr/bin/env python3
"""One entry point for a fresh machine that has only Python 3.11.

    python3 dev.py demo    install, migrate, seed a demo practice, print a key, serve
    python3 dev.py test    install and run the whole test suite (extra args go to pytest)
    python3 dev.py lint    ruff
    python3 dev.py bench engine|booking|feed|waitlist [args]   one benchmark (README, "Benchmarks")

It keeps its own virtual environment in .venv and reinstalls only when requirements change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_env(requirements: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py may be run by an older python3)
        sys.exit("Regimen needs Python 3.11 or newer")
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    req = ROOT / requirements
    digest = hashlib.sha256(b"".join(
        p.read_bytes() for p in sorted(ROOT.glob("requirements*.txt")))).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing {requirements} ...", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    "-r", str(req)], check=True)
    stamp.write_text(digest)


def run(args: list[str]) -> int:
    return subprocess.call(args, cwd=ROOT)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "demo":
        ensure_env("requirements.txt")
        return run([str(BIN / "flask"), "--app", "wsgi", "demo", *rest])
    if command == "test":
        ensure_env("requirements-dev.txt")
        return run([str(PY), "-m", "pytest", *rest])
    if command == "lint":
        ensure_env("requirements-dev.txt")
        return run([str(BIN / "ruff"), "check", "."])
    if command == "bench" and rest and rest[0] in ("engine", "booking", "feed", "waitlist"):
        ensure_env("requirements-dev.txt")
        return run([str(PY), "-m", f"benchmarks.{rest[0]}_bench", *rest[1:]])
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
