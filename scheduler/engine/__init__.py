"""Placement engine: puts treatment plans into a clinic's calendar without conflicts.

Pure Python (no Flask, no database). Entry points: ``place_plan`` (a whole enrollment),
``extend_plan`` (continue open-ended phases when the rolling horizon moves, keeping the placed
sessions as they are), ``find_slots`` (free start times for one session kind) and
``reschedule`` (move one session, shifting later ones only as far as the rules need). Inputs
are the dataclasses of ``inputs``; failures raise ``PlacementError`` whose ``explanation`` says
which session, which rule or resource, and the earliest workable start date.
"""

from .availability import Slot, find_slots
from .elsewhere import ElsewhereSettings, place_elsewhere
from .exact_repair import (
    ExactAnswer,
    ExactSettings,
    exact_repair,
    needs_second_opinion,
    repair_cost,
)
from .explain import Blocker, Explanation, PlacementError
from .extend import extend_plan
from .index import BookingIndex, held_twice
from .inputs import (
    DEFAULT_SLOT_MINUTES,
    Allocation,
    Availability,
    BusyInterval,
    Clinic,
    Enrollment,
    Practice,
    Preferences,
    Room,
    SearchOptions,
    Shift,
    StaffMember,
    TimeOff,
    format_hhmm,
    overnight_end,
    parse_hhmm,
)
from .placement import place_plan
from .plan import PlacedSession, Plan, RescheduleResult
from .repair import RepairJob, RepairResult, prescriber_covered, repair_plans
from .reschedule import reschedule

__all__ = [
    "DEFAULT_SLOT_MINUTES",
    "Allocation",
    "Availability",
    "Blocker",
    "BookingIndex",
    "BusyInterval",
    "Clinic",
    "Enrollment",
    "ElsewhereSettings",
    "ExactAnswer",
    "ExactSettings",
    "Explanation",
    "PlacedSession",
    "PlacementError",
    "Plan",
    "Practice",
    "Preferences",
    "RescheduleResult",
    "RepairJob",
    "RepairResult",
    "Room",
    "SearchOptions",
    "Slot",
    "Shift",
    "StaffMember",
    "TimeOff",
    "exact_repair",
    "extend_plan",
    "find_slots",
    "format_hhmm",
    "held_twice",
    "needs_second_opinion",
    "overnight_end",
    "parse_hhmm",
    "place_elsewhere",
    "place_plan",
    "prescriber_covered",
    "repair_cost",
    "repair_plans",
    "reschedule",
]
