"""Everything one engine call shares: clock, occupancy, resource finder, day calendars, budget."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scheduler.rules import codes
from scheduler.rules.model import Protocol, Route, SessionKind

from .index import BookingIndex, Occupancy, next_free
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
from .resources import KindSpec, Miss, ResourceFinder, merge_intervals, subtract_intervals


class SearchLimit(Exception):
    """The bounded search ran out of budget."""


RESOURCE_LOOKAHEAD_AFTER = 8
"""Backtracks after which the day lookahead also checks resources (see ``spacing``)."""


class Budget:
    def __init__(self, options: SearchOptions) -> None:
        self.max_evaluations = options.max_evaluations
        self.max_backtracks = options.max_backtracks
        self.evaluations = 0
        self.backtracks = 0
        self.nogoods = 0

    def evaluate(self) -> None:
        self.evaluations += 1
        if self.evaluations > self.max_evaluations:
            raise SearchLimit

    def backtrack(self) -> None:
        self.backtracks += 1
        if self.backtracks > self.max_backtracks:
            raise SearchLimit

    def nogood(self) -> None:
        """A dead end recognised from memory: costs no enumeration, so it is charged as a
        tenth of a backtrack (the search still ends)."""
        self.nogoods += 1
        if self.nogoods % 10 == 0:
            self.backtrack()


def as_index(bookings: object) -> BookingIndex:
    if isinstance(bookings, BookingIndex):
        return bookings
    return BookingIndex.from_allocations(bookings)  # type: ignore[arg-type]


class Memo:
    """What one enrollment's searches learn that holds for the whole call, so the attempts
    of the earliest-date search reuse it instead of finding it again.

    Valid while the bookings, the practice and the enrollment (protocol, availability,
    preferences) stay the same; the start date may differ. ``misses``: resource checks that
    failed on the bookings alone (no session of the plan involved), per kind and start;
    ``fits``: ones that succeeded that way, per preference order (reused once the plan's own
    sessions are checked); ``free`` and ``bookable``: the lookahead's bookings-only checks;
    ``nogoods``: dead ends of the backtracking search (see ``search.backtrack``).
    """

    def __init__(self) -> None:
        self.day_starts: dict[tuple[date, int], DayStarts] = {}
        self.lookahead: dict[tuple, bool] = {}
        self.misses: dict[tuple, object] = {}
        self.fits: dict[tuple, object] = {}
        self.bookable: dict[tuple, int | None] = {}
        self.free: set[tuple] = set()
        self.nogoods: dict[tuple, dict] = {}


@dataclass(frozen=True, slots=True)
class DayStarts:
    starts: list[int]
    """Round starts (on the clinic's slot grid) on the day where the whole session lies
    inside opening hours and the patient's availability."""
    reason: str
    """Why there are no starts: 'closed', 'hours' or 'availability' ('' when there are)."""
    ranges: tuple[tuple[int, int], ...] = ()
    """Every start instant that fits, grid or not: [first, last] pairs, in order."""


def next_start(ranges: tuple[tuple[int, int], ...], moment: int) -> int | None:
    """The first instant at or after ``moment`` inside one of the start ranges, or None."""
    for lo, hi in ranges:
        if moment <= hi:
            return lo if moment < lo else moment
    return None


def clip_ranges(ranges: tuple[tuple[int, int], ...], lo: int | None,
                hi: int | None) -> tuple[tuple[int, int], ...]:
    if lo is None and hi is None:
        return ranges
    out = []
    for a, b in ranges:
        a = a if lo is None or a >= lo else lo
        b = b if hi is None or b <= hi else hi
        if a <= b:
            out.append((a, b))
    return tuple(out)


def union(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching windows merged, in order."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def minute_up(seconds: int) -> int:
    return -(-seconds // 60) * 60


class Context:
    """Per-call state; cheap to build, caches per local day."""

    def __init__(self, practice: Practice, *, protocol: Protocol | None,
                 patient_id: ResourceId | None, start_on: date, horizon: date,
                 availability: Availability = Availability(),
                 preferences: Preferences = Preferences(),
                 patient_busy: Iterable[BusyInterval] = (),
                 options: SearchOptions = SearchOptions(),
                 bookings: BookingIndex | None = None,
                 exclude: Iterable[Allocation] = (),
                 memo: Memo | None = None,
                 not_before: datetime | None = None) -> None:
        self.practice = practice
        self.clinic = practice.clinic
        self.protocol = protocol
        self.kinds = practice.kinds
        self.routes: dict[str, Route] = dict(practice.routes)
        self.patient_id = patient_id
        self.start_on = start_on
        self.not_before = to_seconds(not_before) if not_before is not None else None
        """No new start before this instant (seconds): the moment of the request."""
        self.horizon = horizon
        """Last local date (inclusive) for ``until_days`` sessions."""
        self.availability = availability
        self.preferences = preferences
        self.options = options
        self.grid = options.grid_minutes or practice.clinic.slot_minutes
        self.clock = LocalClock.of(practice.clinic.timezone)
        index = bookings if bookings is not None else as_index(practice.bookings)
        extra = BookingIndex()
        self.patient_key = ("patient", patient_id, 0)
        for busy in patient_busy:
            extra.add(self.patient_key, to_seconds(busy.start), to_seconds(busy.end))
        for room in practice.rooms:  # a closed room is busy on every chair
            for period in room.closed_periods:
                for unit in range(room.capacity):
                    extra.add(("room", room.id, unit), to_seconds(period.start),
                              to_seconds(period.end))
        self._closed = merge_intervals([(to_seconds(p.start), to_seconds(p.end))
                                        for p in practice.clinic.closed_periods])
        excluded = [((a.resource_type, a.resource_id, a.unit), to_seconds(a.start),
                     to_seconds(a.end)) for a in exclude]
        self.occupancy = Occupancy(index, extra, excluded)
        self.finder = ResourceFinder(practice.clinic, practice.rooms, practice.staff,
                                     self.clock, self.occupancy)
        self.budget = Budget(options)
        self.resource_lookahead = False
        """Day lookahead checks resources too: off at first (so when nothing fits the deepest
        failure names the blocking resource), on after a few backtracks, and from the start
        in the earliest-date search's attempts (their failures are not explained)."""
        self.memo = memo if memo is not None else Memo()
        self._day_starts = self.memo.day_starts
        self._dose_offsets: dict[str, tuple[int, ...]] = {}
        self.lookahead = self.memo.lookahead
        self._hours = {code: sorted(windows) for code, windows in practice.clinic.hours.items()}
        self._open: dict[tuple[date, bool], tuple[list[tuple[int, int]], str]] = {}

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
        """Where sessions starting on the day may lie: opening hours (the day's own, running
        into the next day if they cross midnight, and the previous day's that run into this
        one) intersected with the patient's availability, as UTC windows; with the reason
        when there are none. A closed date is closed from midnight to midnight."""
        key = (info.date, use_availability)
        cached = self._open.get(key)
        if cached is None:
            cached = self._open[key] = self._open_windows(info, use_availability)
        return cached

    def _open_windows(self, info: LocalDay,
                      use_availability: bool) -> tuple[list[tuple[int, int]], str]:
        # A day the patient cannot come is charged to that, whatever else holds that day: the
        # explanation's causes are what blocked the days the patient could come.
        avail = self.availability if use_availability else Availability()
        if avail.weekdays is not None and info.weekday not in avail.weekdays:
            return [], codes.AVAILABILITY
        if info.date in self.clinic.closures:
            return [], codes.CLOSURE
        hours = self._open_hours(info)
        if not hours:
            return [], codes.CLOSED
        a_lo = (self.clock.window(info.date, avail.earliest, avail.earliest)[0]
                if avail.earliest is not None else None)
        a_hi = (self.clock.window(info.date, avail.latest, avail.latest)[1]
                if avail.latest is not None else None)
        out = []
        for lo, hi in hours:
            if a_lo is not None and a_lo > lo:
                lo = a_lo
            if a_hi is not None and a_hi < hi:
                hi = a_hi
            if lo < hi:
                out.append((lo, hi))
        if out and self._closed:
            out = subtract_intervals(out, self._closed)
            if not out:
                return [], codes.CLOSURE
        return out, "" if out else codes.AVAILABILITY

    def _open_hours(self, info: LocalDay) -> list[tuple[int, int]]:
        """The opening windows that sessions starting on the day can use, in UTC."""
        windows = [self.clock.window(info.date, a, b)
                   for a, b in self._hours.get(info.weekday, ())]
        before = info.date - timedelta(days=1)
        if before not in self.clinic.closures:
            for a, b in self._hours.get(self.clock.day(before).weekday, ()):
                if b > 1440:
                    windows.append((info.start, self.clock.window(before, a, b)[1]))
        after = info.date + timedelta(days=1)
        if after in self.clinic.closures:
            windows = [(lo, min(hi, info.end)) for lo, hi in windows]
        else:  # opening that goes on past midnight (a day open until 24:00, then from 00:00)
            windows += [self.clock.window(after, a, b)
                        for a, b in self._hours.get(self.clock.day(after).weekday, ())]
        return [(lo, hi) for lo, hi in union(windows) if lo < hi]

    def fits(self, info: LocalDay, start: int, duration: int) -> str:
        """'' if a session at ``start`` lies inside the day's windows, else why not."""
        windows, reason = self.open_windows(info)
        if reason:
            return reason
        if any(lo <= start and start + duration <= hi for lo, hi in windows):
            return ""
        hours, _ = self.open_windows(info, use_availability=False)
        inside_hours = any(lo <= start and start + duration <= hi for lo, hi in hours)
        return codes.AVAILABILITY if inside_hours else codes.HOURS

    def _compute_day_starts(self, info: LocalDay, duration: int,
                            use_availability: bool) -> DayStarts:
        windows, reason = self.open_windows(info, use_availability=use_availability)
        if reason:
            return DayStarts([], reason)
        ranges = []
        for lo, hi in windows:
            lo, hi = minute_up(max(lo, info.start)), min(hi - duration, info.end - 1)
            if lo <= hi:
                ranges.append((lo, hi))
        if not ranges:
            longest = max(hi - lo for lo, hi in
                          self.open_windows(info, use_availability=False)[0] or [(0, 0)])
            return DayStarts([], codes.AVAILABILITY if longest >= duration else codes.HOURS)
        grid = self.clock.grid(info.date, self.grid)
        starts: list[int] = []
        for lo, hi in ranges:
            starts.extend(grid[bisect_left(grid, lo):bisect_right(grid, hi)])
        return DayStarts(sorted(set(starts)), "", tuple(ranges))

    def bookable_start(self, spec: KindSpec, info: LocalDay, lo: int | None = None,
                       hi: int | None = None) -> int | None:
        """The first start of the day in [lo, hi] at which the kind's room and staff are free
        in the bookings and the patient has nothing else on, or None. Every instant counts,
        not only round ones (a session may start the moment a resource becomes free). The
        plan being searched is ignored (it only takes more), so None is certain; lookahead
        uses it to drop full days. Misses are shared with the search through
        ``memo.misses``."""
        cache_key = (spec.kind.code, spec.prescriber_on_site, info.date, lo, hi)
        cached = self.memo.bookable.get(cache_key, False)
        if cached is not False:
            return cached
        ranges = clip_ranges(self.day_starts(info, spec.duration).ranges, lo, hi)
        t = next_start(ranges, ranges[0][0]) if ranges else None
        found = None
        patient = self.occupancy.extra._units.get(self.patient_key)
        misses = self.memo.misses
        free = self.memo.free
        while t is not None:
            if patient is not None:
                free_at = next_free(patient, t, spec.duration)
                if free_at != t:
                    t = next_start(ranges, minute_up(free_at))
                    continue
            key = (spec.kind.code, spec.prescriber_on_site, t)
            if len(spec.needs) > 1:
                key += (spec.rooms, tuple(need.candidates for need in spec.needs))
            if key in free:
                found = t
                break
            miss = misses.get(key)
            if miss is None:
                self.budget.evaluate()
                blockers: set[int] = set()
                result = self.finder.find(spec, t, info, blockers=blockers)
                if not isinstance(result, Miss) or blockers:
                    if not blockers:
                        free.add(key)
                    found = t
                    break
                misses[key] = miss = result
            t = next_start(ranges, minute_up(max(miss.hint, t + 1)))
        self.memo.bookable[cache_key] = found
        return found

    def dates(self, first: date, last: date) -> Iterable[date]:
        day = first
        while day <= last:
            yield day
            day += timedelta(days=1)
