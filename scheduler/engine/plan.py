"""What the engine answers: a plan of placed sessions with their allocations."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.rules.session import PlacedSession

from .inputs import Allocation


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
