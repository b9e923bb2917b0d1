"""The units of the search: a step (one session to place) and a placed session.

A step carries its protocol position (phase, number, follow-up parent) and, for rescheduling,
how its candidates are ordered (keep the old slot, stay near it, an exact start, a lower bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from scheduler.rules.model import Phase, SessionKind

from .resources import Assignment, KindSpec


@dataclass(eq=False, slots=True)
class Step:
    key: str
    phase_index: int
    phase: Phase
    number: int
    """1-based position among the phase's main sessions (a follow-up shares its parent's)."""
    kind: SessionKind
    spec: KindSpec
    parent: int | None = None
    """Position of the parent session in the placed list, for follow-ups."""
    until: bool = False
    """Belongs to an ``until_days`` phase: bounded by the horizon, may be left out."""
    required: bool = False
    """Reschedule: an existing session of an ``until_days`` phase; bounded like a new one but
    never left out."""
    keep: tuple[int, Assignment] | None = None
    """Reschedule: the old start and resources, tried first if still valid."""
    near: int | None = None
    """Reschedule: stay as close as possible to this old start."""
    exact: int | None = None
    not_before: int | None = None
    prefer: Assignment | None = None
    """Reschedule: the session's old resources, favoured wherever it lands."""

    @property
    def is_follow_up(self) -> bool:
        return self.parent is not None

    @property
    def label(self) -> str:
        return self.key.replace("#", " #")


@dataclass(eq=False, slots=True)
class Placed:
    step: Step
    start: int
    end: int
    day: date
    doses: tuple[int, ...]
    assignment: Assignment | None
    """None marks an optional step that was left out (ends an ``until_days`` phase)."""
    allocations: tuple = field(default=())

    @property
    def skipped(self) -> bool:
        return self.assignment is None


def main_positions(placed: list[Placed], phase_name: str) -> list[int]:
    """Positions of the phase's placed main sessions (no follow-ups, no left-out steps)."""
    return [i for i, p in enumerate(placed)
            if p.step.phase.name == phase_name and not p.step.is_follow_up and not p.skipped]
