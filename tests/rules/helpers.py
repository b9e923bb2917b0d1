"""Small session kinds and a plan builder shared by the rule tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.rules import PlacedSession, SessionKind, parse_protocol, parse_session_kind

NEW_YORK = ZoneInfo("America/New_York")

KIND_DOCUMENTS = {
    "consult": {
        "code": "consult", "name": "Consult", "route": "none",
        "segments": [{"name": "talk", "minutes": 30}],
        "staff": [{"role": "prescriber", "load": {"talk": "exclusive"}}],
    },
    # 15 setup + 40 dosing + 30 recovery: the dose starts 15 minutes in, 85 minutes in all.
    "iv_infusion": {
        "code": "iv_infusion", "name": "IV infusion", "route": "iv",
        "segments": [
            {"name": "setup", "minutes": 15},
            {"name": "dosing", "minutes": 40, "dose": True},
            {"name": "recovery", "minutes": 30},
        ],
        "room_features": ["iv_pump", "vitals_monitor"],
        "staff": [{
            "role": "nurse",
            "load": {"setup": "exclusive", "dosing": "shared", "recovery": "shared"},
        }],
        "prescriber_on_site": True,
    },
    "integration": {
        "code": "integration", "name": "Integration", "route": "none",
        "segments": [{"name": "session", "minutes": 60}],
        "staff": [{"role": "therapist", "load": {"session": "exclusive"}}],
    },
    "spray": {
        "code": "spray", "name": "Esketamine", "route": "intranasal",
        "segments": [
            {"name": "pre", "minutes": 15},
            {"name": "dosing", "minutes": 15, "dose": True},
            {"name": "monitoring", "minutes": 120},
        ],
        "prescriber_on_site": True,
    },
    "shot": {
        "code": "shot", "name": "IM injection", "route": "im",
        "segments": [
            {"name": "injection", "minutes": 5, "dose": True},
            {"name": "watch", "minutes": 60},
        ],
    },
}

KINDS: dict[str, SessionKind] = {
    code: parse_session_kind(doc) for code, doc in KIND_DOCUMENTS.items()
}

# The SPEC section 7 example protocol.
SPEC_PROTOCOL = {
    "code": "iv-depression", "name": "IV ketamine for depression", "min_hours_between_doses": 48,
    "phases": [
        {"name": "consult", "session_kind": "consult", "count": 1},
        {"name": "induction", "session_kind": "iv_infusion", "count": 6,
         "after": {"phase": "consult", "min_days": 1, "max_days": 30},
         "gap_days": {"min": 1, "target": 2, "max": 4}, "within_days": 21, "max_per_week": 3,
         "follow_up": {"session_kind": "integration", "min_hours": 24, "max_hours": 72}},
        {"name": "maintenance", "session_kind": "iv_infusion", "count": 4,
         "after": {"phase": "induction", "min_days": 14, "max_days": 42},
         "gap_days": {"min": 21, "target": 28, "max": 42}},
    ],
}


def protocol(document: dict, kinds: dict[str, SessionKind] = KINDS):
    return parse_protocol(document, kinds)


def local(text: str, tz: ZoneInfo = NEW_YORK) -> datetime:
    """'2026-12-01 10:00' as a wall-clock time in ``tz``."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def session(
    key: str,
    phase: str,
    kind: str,
    start: datetime | str,
    *,
    follow_up_of: str | None = None,
    minutes: int | None = None,
    tz: ZoneInfo = NEW_YORK,
    kinds: dict[str, SessionKind] = KINDS,
) -> PlacedSession:
    """A session lasting its kind's duration (or ``minutes``), measured in real time."""
    if isinstance(start, str):
        start = local(start, tz)
    length = minutes if minutes is not None else kinds[kind].duration_minutes
    end = (start.astimezone(ZoneInfo("UTC")) + timedelta(minutes=length)).astimezone(start.tzinfo)
    return PlacedSession(key, phase, kind, start, end, follow_up_of)


def series(
    phase: str,
    kind: str,
    starts: list[str],
    tz: ZoneInfo = NEW_YORK,
    kinds: dict[str, SessionKind] = KINDS,
) -> list[PlacedSession]:
    """Sessions keyed ``phase#1``, ``phase#2``… at the given local start times."""
    return [
        session(f"{phase}#{n}", phase, kind, s, tz=tz, kinds=kinds)
        for n, s in enumerate(starts, 1)
    ]
