"""Instants as independent calendar parsers read them: ical.js (node), vobject, icalendar.

Each returns ``{uid: (start, end)}`` in UTC. ical.js and vobject resolve a ``TZID`` through
the feed's own ``VTIMEZONE``; icalendar through the system's zone database.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
import vobject

ICALJS_DIR = Path(__file__).resolve().parent / "icaljs"
ICALJS_SCRIPT = ICALJS_DIR / "instants.mjs"
Instants = dict[str, tuple[datetime, datetime]]


def icaljs_missing() -> str | None:
    """Why ical.js cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (CI installs it; see .ci/run)"
    if not (ICALJS_DIR / "node_modules" / "ical.js" / "package.json").exists():
        return (f"ical.js is not installed: run `npm ci --prefix {ICALJS_DIR}` "
                "(.ci/run does)")
    return None


def require_icaljs() -> None:
    reason = icaljs_missing()
    if reason:
        pytest.skip(reason)


def icaljs(body: bytes) -> Instants:
    require_icaljs()
    done = subprocess.run(["node", str(ICALJS_SCRIPT)], input=body, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    out = {}
    for line in done.stdout.decode().splitlines():
        event = json.loads(line)
        out[event["uid"]] = (_iso(event["start"]), _iso(event["end"]))
    return out


# vobject keeps the first VTIMEZONE it ever read per TZID for the whole process: forget them,
# or a feed would be read with an earlier feed's zone description.
_VOBJECT_ZONES = vars(vobject.icalendar)["__tzidMap"]


def forget_vobject_zones() -> None:
    for tzid in [tzid for tzid in _VOBJECT_ZONES if tzid != "UTC"]:
        del _VOBJECT_ZONES[tzid]


def vobject_instants(body: bytes) -> Instants:
    forget_vobject_zones()
    parsed = vobject.readOne(body.decode())
    return {ev.uid.value: (_utc(ev.dtstart.value), _utc(ev.dtend.value))
            for ev in getattr(parsed, "vevent_list", [])}


def icalendar_instants(body: bytes) -> Instants:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(ev["UID"]): (_utc(ev["DTSTART"].dt), _utc(ev["DTEND"].dt))
            for ev in calendar.walk("VEVENT")}


def _utc(value: datetime) -> datetime:
    assert value.tzinfo is not None, f"floating time {value}"
    return value.astimezone(UTC)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
