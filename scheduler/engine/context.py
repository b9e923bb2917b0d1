"""Everything one engine call shares: clock, occupancy, resource finder, day calendars, budget."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from scheduler.rules.model import Protocol, Route, SessionKind

from .index import BookingIndex, Occupancy
from .inputs import (
    Allocation,
    Availability,
    BusyInterval,
    Practice,
    Preferences,
    ResourceId,
    SearchOptions,
)
from .localtime import LocalClock, LocalDay, to_seconds
from .resources import KindSpec, ResourceFinder


class SearchLimit(Exception):
    """The bounded search ran out of budget."""


class Budget:
    def __init__(self, options: SearchOptions) -> None:
        self.max_evaluations = options.max_evaluations
        self.max_backtracks = options.max_backtracks
        self.evaluations = 0
        self.backtracks = 0

    def evaluate(self) -> None:
        self.evaluations += 1
        if self.evaluations > self.max_evaluations:
            raise SearchLimit

    def backtrack(self) -> None:
        self.backtracks += 1
        if self.backtracks > self.max_backtracks:
            raise SearchLimit


def as_index(bookings: object) -> BookingIndex:
    if isinstance(bookings, BookingIndex):
        return bookings
    return BookingIndex.from_allocations(bookings)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DayStarts:
    starts: list[int]
    """Grid starts on the day where the whole session lies inside opening hours and the
    patient's availability."""
    reason: str
    """Why the list is empty: 'closed', 'hours' or 'availability' ('' when not empty)."""


class Context:
    """Per-call state; cheap to build, caches per local day."""

    def __init__(self, practice: Practice, *, protocol: Protocol | None,
                 patient_id: ResourceId | None, start_on: date, horizon: date,
                 availability: Availability = Availability(),
                 preferences: Preferences = Preferences(),
                 patient_busy: Iterable[BusyInterval] = (),
                 options: SearchOptions = SearchOptions(),
                 bookings: BookingIndex | None = None,
                 exclude: Iterable[Allocation] = ()) -> None:
        self.practice = practice
        self.clinic = practice.clinic
        self.protocol = protocol
        self.kinds = practice.kinds
        self.routes: dict[str, Route] = dict(practice.routes)
        self.patient_id = patient_id
        self.start_on = start_on
        self.horizon = horizon
        """Last local date (inclusive) for ``until_days`` sessions."""
        self.availability = availability
        self.preferences = preferences
        self.options = options
        self.grid = options.grid_minutes
        self.clock = LocalClock.of(practice.clinic.timezone)
        index = bookings if bookings is not None else as_index(practice.bookings)
        extra = BookingIndex()
        self.patient_key = ("patient", patient_id, 0)
        for busy in patient_busy:
            extra.add(self.patient_key, to_seconds(busy.start), to_seconds(busy.end))
        excluded = [((a.resource_type, a.resource_id, a.unit), to_seconds(a.start),
                     to_seconds(a.end)) for a in exclude]
        self.occupancy = Occupancy(index, extra, excluded)
        self.finder = ResourceFinder(practice.clinic, practice.rooms, practice.staff,
                                     self.clock, self.occupancy)
        self.budget = Budget(options)
        self._day_starts: dict[tuple[date, int], DayStarts] = {}
        self._dose_offsets: dict[str, tuple[int, ...]] = {}
        self.lookahead: dict[tuple, bool] = {}
        self._hours = {code: sorted(windows) for code, windows in practice.clinic.hours.items()}

    # -- kinds and routes ---------------------------------------------------------------

    def kind(self, code: str) -> SessionKind:
        kind = self.kinds.get(code)
        if kind is None:
            raise ValueError(f"unknown session kind {code!r}")
        return kind

    def route(self, kind: SessionKind) -> Route | None:
        return self.routes.get(kind.route)

    def spec(self, kind: SessionKind) -> KindSpec:
        route = self.route(kind)
        return self.finder.spec(kind, bool(route and route.requires_prescriber_on_site))

    def is_dose_kind(self, kind: SessionKind) -> bool:
        route = self.route(kind)
        return kind.has_dose and (route is None or route.is_dose)

    def dose_offsets(self, kind: SessionKind) -> tuple[int, ...]:
        """Dose segment starts (seconds after session start) that dose-spacing rules see."""
        cached = self._dose_offsets.get(kind.code)
        if cached is None:
            cached = (tuple(m * 60 for m in kind.dose_offsets())
                      if self.is_dose_kind(kind) else ())
            self._dose_offsets[kind.code] = cached
        return cached

    # -- days ---------------------------------------------------------------------------

    def day(self, day: date) -> LocalDay:
        return self.clock.day(day)

    def day_starts(self, info: LocalDay, duration: int, *,
                   use_availability: bool = True) -> DayStarts:
        key = (info.date, duration if use_availability else -duration)
        cached = self._day_starts.get(key)
        if cached is not None:
            return cached
        result = self._compute_day_starts(info, duration, use_availability)
        self._day_starts[key] = result
        return result

    def open_windows(self, info: LocalDay, *,
                     use_availability: bool = True) -> tuple[list[tuple[int, int]], str]:
        """Where sessions may lie on the day: opening hours intersected with the patient's
        availability, as UTC windows; with the reason when there are none."""
        if info.date in self.clinic.closures:
            return [], "closed"
        hours = self._hours.get(info.weekday)
        if not hours:
            return [], "closed"
        avail = self.availability if use_availability else Availability()
        if avail.weekdays is not None and info.weekday not in avail.weekdays:
            return [], "availability"
        a_lo, a_hi = self.clock.window(info.date, avail.earliest or 0,
                                       1440 if avail.latest is None else avail.latest)
        out = []
        for open_minute, close_minute in hours:
            lo, hi = self.clock.window(info.date, open_minute, close_minute)
            lo, hi = max(lo, a_lo), min(hi, a_hi)
            if lo < hi:
                out.append((lo, hi))
        return out, "" if out else "availability"

    def fits(self, info: LocalDay, start: int, duration: int) -> str:
        """'' if a session at ``start`` lies inside the day's windows, else why not."""
        windows, reason = self.open_windows(info)
        if reason:
            return reason
        if any(lo <= start and start + duration <= hi for lo, hi in windows):
            return ""
        hours, _ = self.open_windows(info, use_availability=False)
        inside_hours = any(lo <= start and start + duration <= hi for lo, hi in hours)
        return "availability" if inside_hours else "hours"

    def _compute_day_starts(self, info: LocalDay, duration: int,
                            use_availability: bool) -> DayStarts:
        windows, reason = self.open_windows(info, use_availability=use_availability)
        if reason:
            return DayStarts([], reason)
        grid = self.clock.grid(info.date, self.grid)
        starts: list[int] = []
        for lo, hi in windows:
            hi -= duration
            if hi >= lo:
                starts.extend(grid[bisect_left(grid, lo):bisect_right(grid, hi)])
        if not starts:
            longest = max(hi - lo for lo, hi in
                          self.open_windows(info, use_availability=False)[0] or [(0, 0)])
            return DayStarts([], "availability" if longest >= duration else "hours")
        return DayStarts(sorted(set(starts)), "")

    def dates(self, first: date, last: date) -> Iterable[date]:
        day = first
        while day <= last:
            yield day
            day += timedelta(days=1)
