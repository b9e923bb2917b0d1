"""The rule model: session kinds, administration routes and protocols as immutable values.

Pure data (no Flask, no database) so the engine, the evaluator, the API and the templates all
speak about the same thing. Field names follow SPEC section 7. Parsing from JSON-like dicts and
semantic validation live in ``validation.py``; checking concrete sessions lives in ``evaluator.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday codes in ``date.weekday()`` order (Monday = 0)."""

Load = Literal["exclusive", "shared"]
LOADS: tuple[str, ...] = ("exclusive", "shared")


@dataclass(frozen=True)
class Route:
    """Clinical policy attached to an administration route."""

    code: str
    is_dose: bool
    """Dose spacing rules (``min_hours_between_doses``) apply to sessions of dose routes only."""
    min_monitoring_minutes: int = 0
    """Minutes of segments after the (last) dose segment that must follow it in the session."""
    required_certification: str | None = None
    """The clinic must hold this certification to give the route."""
    requires_prescriber_on_site: bool = False
    max_doses_per_7_days: int | None = None
    """At most N dose sessions of this route in any 7 consecutive local days."""
    patient_enrollment_required: bool = False
    """A dose session is checked in only for a patient enrolled (in a REMS) by its day."""
    discharge_after_monitoring: bool = False
    """Completing a dose session records dose and discharge times, and a discharge sooner
    than ``min_monitoring_minutes`` after the dose is refused."""
    monitoring_form_due_days: int | None = None
    """Each completed dose session owes a monitoring form within N calendar days."""


@dataclass(frozen=True)
class Segment:
    name: str
    minutes: int
    dose: bool = False


@dataclass(frozen=True)
class StaffNeed:
    """One person of ``role`` holds the need through every segment named in ``load``."""

    role: str
    load: tuple[tuple[str, Load], ...]
    """(segment name, load) pairs, in segment order."""

    def load_for(self, segment_name: str) -> Load | None:
        for name, load in self.load:
            if name == segment_name:
                return load
        return None


@dataclass(frozen=True)
class SessionKind:
    code: str
    name: str
    route: str
    segments: tuple[Segment, ...]
    room_features: frozenset[str] = frozenset()
    needs_room: bool = True
    staff: tuple[StaffNeed, ...] = ()
    prescriber_on_site: bool = False

    @property
    def duration_minutes(self) -> int:
        return sum(s.minutes for s in self.segments)

    def segment_offsets(self) -> tuple[tuple[Segment, int, int], ...]:
        """Each segment with its start and end minute relative to the session start."""
        out, at = [], 0
        for seg in self.segments:
            out.append((seg, at, at + seg.minutes))
            at += seg.minutes
        return tuple(out)

    def dose_offsets(self) -> tuple[int, ...]:
        """Start minute of every dose segment relative to the session start."""
        return tuple(start for seg, start, _ in self.segment_offsets() if seg.dose)

    @property
    def has_dose(self) -> bool:
        return any(s.dose for s in self.segments)

    @property
    def minutes_after_dose(self) -> int:
        """Minutes of the segments after the last dose segment: the post-dose monitoring time."""
        last_dose = max((i for i, seg in enumerate(self.segments) if seg.dose), default=None)
        if last_dose is None:
            return 0
        return sum(seg.minutes for seg in self.segments[last_dose + 1 :])


@dataclass(frozen=True)
class GapDays:
    min: int
    target: int
    max: int


@dataclass(frozen=True)
class After:
    phase: str
    min_days: int
    max_days: int | None = None


@dataclass(frozen=True)
class FollowUp:
    session_kind: str
    min_hours: float
    max_hours: float


@dataclass(frozen=True)
class Phase:
    name: str
    session_kind: str
    count: int | None = None
    until_days: int | None = None
    gap_days: GapDays | None = None
    within_days: int | None = None
    max_per_week: int | None = None
    weekdays: frozenset[str] | None = None
    after: After | None = None
    follow_up: FollowUp | None = None

    @property
    def open_ended(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class Protocol:
    code: str
    name: str
    phases: tuple[Phase, ...]
    min_hours_between_doses: float | None = None
    description: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def phase(self, name: str) -> Phase | None:
        for p in self.phases:
            if p.name == name:
                return p
        return None

    def placement_order(self) -> tuple[Phase, ...]:
        """Phases so that each comes after the phase its ``after`` names; listed order otherwise.

        Validation rejects cycles and unknown references, so every phase is placed exactly once.
        """
        placed: list[Phase] = []
        pending = list(self.phases)
        while pending:
            names = {p.name for p in placed}
            ready = next(
                (p for p in pending if p.after is None or p.after.phase in names), pending[0]
            )
            placed.append(ready)
            pending.remove(ready)
        return tuple(placed)
