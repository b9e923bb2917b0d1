"""One session of a plan at its time: what the engine places and the evaluator judges."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class PlacedSession:
    key: str
    """Its place in the plan: 'consult#1', 'induction#3', follow-ups 'induction#3/follow_up'
    (or any id the caller chooses, e.g. an appointment id as text)."""
    phase: str
    """Phase name; a follow-up carries the phase of its parent."""
    kind: str
    start: datetime
    end: datetime
    follow_up_of: str | None = None
    """Key of the parent session, for follow-up sessions."""
    allocations: tuple[Any, ...] = ()
    """The engine's resource units held (``engine.Allocation``); rules never read them."""
    room_id: Hashable | None = None
    staff_ids: tuple[Hashable, ...] = ()
    """One person per staff need of the kind, in the kind's order."""
