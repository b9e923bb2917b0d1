"""Rules as this service stored them, read back as they were written: no validation.

A protocol version is validated once, when it is made, and frozen; what was valid then stays
the plan's rules. Reading it back must not re-run today's validation, which may have grown
stricter since (a stored version the current checks would refuse still governs its plans).
These are the exact inverses of ``session_kind_to_dict`` and ``protocol_to_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import After, FollowUp, GapDays, Phase, Protocol, Segment, SessionKind, StaffNeed


def stored_session_kind(data: Mapping[str, Any]) -> SessionKind:
    segments = tuple(Segment(s["name"], s["minutes"], bool(s.get("dose", False)))
                     for s in data["segments"])
    order = [s.name for s in segments]
    return SessionKind(
        code=data["code"], name=data["name"], route=data["route"], segments=segments,
        room_features=frozenset(data.get("room_features") or ()),
        needs_room=data.get("needs_room", True),
        staff=tuple(StaffNeed(role=n["role"], load=tuple(sorted(
            n["load"].items(), key=lambda pair: order.index(pair[0]))))
            for n in data.get("staff") or ()),
        prescriber_on_site=data.get("prescriber_on_site", False))


def stored_protocol(data: Mapping[str, Any]) -> Protocol:
    return Protocol(
        code=data["code"], name=data["name"],
        phases=tuple(_phase(p) for p in data["phases"]),
        min_hours_between_doses=data.get("min_hours_between_doses"),
        description=data.get("description", ""), source=data.get("source", ""))


def _phase(data: Mapping[str, Any]) -> Phase:
    after = data.get("after")
    gap = data.get("gap_days")
    follow = data.get("follow_up")
    return Phase(
        name=data["name"], session_kind=data["session_kind"], count=data.get("count"),
        until_days=data.get("until_days"),
        gap_days=GapDays(gap["min"], gap.get("target", gap["min"]), gap["max"]) if gap else None,
        within_days=data.get("within_days"), max_per_week=data.get("max_per_week"),
        weekdays=frozenset(data["weekdays"]) if data.get("weekdays") is not None else None,
        after=After(after["phase"], after["min_days"], after.get("max_days")) if after else None,
        follow_up=FollowUp(follow["session_kind"], follow["min_hours"], follow["max_hours"])
        if follow else None)
