"""What the engine is given: the practice (clinic, rooms, staff, bookings) and one enrollment.

Plain frozen dataclasses, no Flask and no database, so the API layer, the tests and the
benchmarks build the same values. Local clock times are minutes after local midnight
(``parse_hhmm("08:30") == 510``, ``"24:00"`` is 1440) because a wall-clock time has no date or
offset until the engine puts it on a local day; instants are timezone-aware datetimes.

A weekly window (opening hours, a shift) that crosses midnight ends after 1440: a Friday shift
22:00–06:00 is ``(1320, 1800)`` on ``fri`` and runs into Saturday morning. It starts on its own
day and lasts at most a day (``0 <= start < 1440``, ``start < end <= start + 1440``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from scheduler.rules.model import WEEKDAYS, Protocol, Route, SessionKind

ResourceType = Literal["room", "staff", "patient"]
ResourceId = Hashable
LocalWindow = tuple[int, int]
"""[start, end) in minutes after local midnight."""

DEFAULT_HORIZON_DAYS = 90
DEFAULT_SLOT_MINUTES = 15
SLOT_MINUTES_RANGE = (5, 60)


def parse_hhmm(text: str) -> int:
    """'08:30' -> 510; '24:00' is accepted as the end of the day."""
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value <= 1440 or not 0 <= int(minutes or 0) < 60:
        raise ValueError(f"not a local time of day: {text!r}")
    return value


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _check_weekday(code: str) -> None:
    if code not in WEEKDAYS:
        raise ValueError(f"unknown weekday code {code!r}; expected one of {', '.join(WEEKDAYS)}")


def _check_windows(windows: Sequence[LocalWindow], what: str, *,
                   overnight: bool = False) -> None:
    for start, end in windows:
        last = start + 1440 if overnight else 1440
        if not (0 <= start < 1440 and start < end <= last):
            raise ValueError(f"{what}: window {start}-{end} must satisfy 0 <= start < end <= "
                             f"{'start + 1440' if overnight else '1440'}")


def overnight_end(start: int, end: int) -> int:
    """A stored window's end in the engine's terms: an end at or before the start (22:00–06:00,
    or 20:00–00:00) is on the next day."""
    return end + 1440 if end <= start else end


def _check_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")


@dataclass(frozen=True)
class Clinic:
    id: ResourceId
    timezone: str
    """IANA name; all reasoning about days, hours and weekdays happens in this zone."""
    hours: Mapping[str, tuple[LocalWindow, ...]]
    """Weekday code -> opening windows in local minutes; a missing weekday is closed."""
    closures: frozenset[date] = frozenset()
    certifications: frozenset[str] = frozenset()
    closed_periods: tuple[BusyInterval, ...] = ()
    """Closed stretches shorter than whole days (or any, e.g. an open disruption's): no
    session lies in them."""
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    """The grid of round start times (from local midnight). Sessions also start off the grid
    where the resources they need become free, so no minute of a busy person is lost to it."""

    def __post_init__(self) -> None:
        for code, windows in self.hours.items():
            _check_weekday(code)
            _check_windows(windows, f"clinic {self.id} hours[{code}]", overnight=True)
        lo, hi = SLOT_MINUTES_RANGE
        if not lo <= self.slot_minutes <= hi:
            raise ValueError(f"clinic {self.id}: slot_minutes must be {lo}-{hi}")


@dataclass(frozen=True)
class Room:
    id: ResourceId
    features: frozenset[str] = frozenset()
    capacity: int = 1
    """Chairs: the room's units are 0..capacity-1."""
    turnover_minutes: int = 0
    closed_periods: tuple[BusyInterval, ...] = ()
    """The room is out of use here (a broken pump): nothing holds it, turnover included."""

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.turnover_minutes < 0:
            raise ValueError(f"room {self.id}: capacity >= 1 and turnover >= 0 required")


@dataclass(frozen=True)
class Shift:
    clinic_id: ResourceId
    weekday: str
    start: int
    end: int

    def __post_init__(self) -> None:
        _check_weekday(self.weekday)
        _check_windows([(self.start, self.end)], f"shift {self.weekday}", overnight=True)


@dataclass(frozen=True)
class TimeOff:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _check_aware(self.start, "time_off.start")
        _check_aware(self.end, "time_off.end")


@dataclass(frozen=True)
class StaffMember:
    id: ResourceId
    roles: frozenset[str]
    max_concurrent_patients: int = 1
    """The person's units are 0..max_concurrent_patients-1; an exclusive load takes them all."""
    shifts: tuple[Shift, ...] = ()
    time_off: tuple[TimeOff, ...] = ()

    def __post_init__(self) -> None:
        if self.max_concurrent_patients < 1:
            raise ValueError(f"staff {self.id}: max_concurrent_patients must be >= 1")


@dataclass(frozen=True)
class Allocation:
    """One resource unit held over [start, end); the database's exclusion constraint unit."""

    resource_type: ResourceType
    resource_id: ResourceId
    unit: int
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _check_aware(self.start, "allocation.start")
        _check_aware(self.end, "allocation.end")


@dataclass(frozen=True)
class Availability:
    """Hard: the patient can only come on these weekdays, with the whole session inside."""

    weekdays: frozenset[str] | None = None
    earliest: int | None = None
    latest: int | None = None

    def __post_init__(self) -> None:
        for code in self.weekdays or ():
            _check_weekday(code)
        lo = 0 if self.earliest is None else self.earliest
        hi = 1440 if self.latest is None else self.latest
        _check_windows([(lo, hi)], "availability")


@dataclass(frozen=True)
class Preferences:
    """Soft: honoured when that costs no hard rule."""

    time: int | None = None
    """Preferred local start time (minutes after midnight)."""
    staff_id: ResourceId | None = None
    same_staff: bool = True
    """Keep the same person per staff need through a phase's sessions (same nurse)."""
    same_room: bool = True


@dataclass(frozen=True)
class BusyInterval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _check_aware(self.start, "busy.start")
        _check_aware(self.end, "busy.end")


@dataclass(frozen=True)
class Practice:
    """One clinic with everything placement needs to know about it."""

    clinic: Clinic
    rooms: tuple[Room, ...]
    staff: tuple[StaffMember, ...]
    kinds: Mapping[str, SessionKind]
    routes: Mapping[str, Route]
    bookings: object = ()
    """Existing allocations (cancelled ones left out) as a sequence of ``Allocation`` or an
    already built ``BookingIndex`` (reuse one across calls to skip rebuilding it)."""


@dataclass(frozen=True)
class Enrollment:
    """One patient in one protocol at the practice's clinic."""

    patient_id: ResourceId
    protocol: Protocol
    start_on: date
    availability: Availability = Availability()
    preferences: Preferences = Preferences()
    patient_busy: tuple[BusyInterval, ...] = ()
    """The patient's appointments elsewhere (other enrollments, other clinics)."""
    horizon_end: date | None = None
    """Exclusive end of the rolling horizon: ``until_days`` phases get sessions on local dates
    before it (default start_on + 90 days), as ``evaluate(horizon_end=...)`` expects."""
    not_before: datetime | None = None
    """The moment of the request: no session placed or moved starts earlier (a plan starting
    today starts after now). Sessions kept as they are may lie before it."""

    def __post_init__(self) -> None:
        if self.not_before is not None:
            _check_aware(self.not_before, "enrollment.not_before")

    @property
    def horizon(self) -> date:
        return self.horizon_end or self.start_on + timedelta(days=DEFAULT_HORIZON_DAYS)


@dataclass(frozen=True)
class SearchOptions:
    """Knobs that bound the search so it always ends fast; defaults suit interactive calls."""

    grid_minutes: int | None = None
    """Round start times: local wall-clock times on this grid from local midnight (default:
    the clinic's ``slot_minutes``). Besides them, a session may start the moment what it needs
    becomes free (a booking's end plus turnover, a shift's start, a rule's bound)."""
    start_within_days: int = 14
    """The plan's first session lies within this many days of the start date; beyond it the
    placement fails and explains the earliest start date that would work instead."""
    max_backtracks: int = 200
    max_evaluations: int = 20_000
    """Candidate start times checked against resources, per placement attempt."""
    earliest_date_search_days: int = 366
    explain_earliest_date: bool = True
    earliest_date_max_evaluations: int = 15_000
    """Candidate checks the earliest-date search may spend over all its attempts; when they
    run out the explanation gives the earliest date verified so far (or none) and says the
    search was cut short."""
