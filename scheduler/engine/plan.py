"""What the engine answers: a plan of placed sessions with their allocations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .inputs import Allocation, ResourceId


@dataclass(frozen=True)
class PlacedSession:
    key: str
    """'consult#1', 'induction#3', follow-ups 'induction#3/follow_up'."""
    phase: str
    kind: str
    start: datetime
    end: datetime
    allocations: tuple[Allocation, ...]
    room_id: ResourceId | None = None
    staff_ids: tuple[ResourceId, ...] = ()
    """One person per staff need of the kind, in the kind's order."""
    follow_up_of: str | None = None


@dataclass(frozen=True)
class Plan:
    sessions: tuple[PlacedSession, ...]

    def allocations(self) -> list[Allocation]:
        return [a for s in self.sessions for a in s.allocations]

    def session(self, key: str) -> PlacedSession:
        for s in self.sessions:
            if s.key == key:
                return s
        raise KeyError(key)


@dataclass(frozen=True)
class RescheduleResult:
    plan: Plan
    """The whole plan after the move."""
    changed: tuple[PlacedSession, ...]
    """Sessions whose time or resources changed (the moved one first)."""
