"""Who is busy when: busy intervals per resource unit, searchable in O(log n).

A resource unit is ``(resource_type, resource_id, unit)``, the key of the database's exclusion
constraint. Each unit keeps its busy time as merged, disjoint intervals in two parallel sorted
lists (starts, ends), so "is [s, e) free?" and "when is the next free stretch of length L?" are
one ``bisect`` plus a short walk over the intervals right at the candidate time.

``BookingIndex`` holds the practice's existing bookings and only grows (placements are added
once committed). The plan being searched lives in ``PlanOverlay``, a small per-unit list that
supports undo during backtracking and remembers which session holds each interval, so a failure
can name the earlier session that blocked it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from .inputs import Allocation
from .localtime import to_seconds

UnitKey = tuple[str, object, int]


class BookingIndex:
    """Existing bookings per resource unit as merged sorted interval arrays."""

    def __init__(self) -> None:
        self._units: dict[UnitKey, tuple[list[int], list[int]]] = {}
        self.count = 0

    @classmethod
    def from_allocations(cls, allocations: Iterable[Allocation]) -> BookingIndex:
        index = cls()
        raw: dict[UnitKey, list[tuple[int, int]]] = {}
        for a in allocations:
            key = (a.resource_type, a.resource_id, a.unit)
            raw.setdefault(key, []).append((to_seconds(a.start), to_seconds(a.end)))
        for key, intervals in raw.items():
            intervals.sort()
            starts, ends = index.unit(key)
            for s, e in intervals:
                if e <= s:
                    continue
                if ends and s < ends[-1]:  # overlapping input (bad data): keep the union
                    if e > ends[-1]:
                        ends[-1] = e
                else:
                    starts.append(s)
                    ends.append(e)
            index.count += len(intervals)
        return index

    def unit(self, key: UnitKey) -> tuple[list[int], list[int]]:
        """The live (starts, ends) lists of a unit, created empty if unknown."""
        lists = self._units.get(key)
        if lists is None:
            lists = ([], [])
            self._units[key] = lists
        return lists

    def add(self, key: UnitKey, start: int, end: int) -> None:
        """Mark [start, end) busy. Intervals stay disjoint: an overlapping one (which the
        database would refuse) is merged; touching ones stay separate so exact bookings can
        be recognised (see ``Occupancy`` exclusions)."""
        if end <= start:
            return
        starts, ends = self.unit(key)
        lo = bisect_right(ends, start)
        hi = bisect_left(starts, end)
        if lo < hi:
            start = min(start, starts[lo])
            end = max(end, ends[hi - 1])
        starts[lo:hi] = [start]
        ends[lo:hi] = [end]
        self.count += 1

    def discard(self, key: UnitKey, start: int, end: int) -> None:
        """Free exactly [start, end) if it is held as one interval. An interval merged with
        another (touching ones never are) stays busy: freeing too little is always safe."""
        starts, ends = self._units.get(key, ([], []))
        i = bisect_left(starts, start)
        if i < len(starts) and starts[i] == start and ends[i] == end:
            del starts[i]
            del ends[i]

    def discard_allocations(self, allocations: Iterable[Allocation]) -> None:
        for a in allocations:
            self.discard((a.resource_type, a.resource_id, a.unit), to_seconds(a.start),
                         to_seconds(a.end))

    def add_allocations(self, allocations: Iterable[Allocation]) -> None:
        for a in allocations:
            self.add((a.resource_type, a.resource_id, a.unit), to_seconds(a.start),
                     to_seconds(a.end))

    def intervals(self, key: UnitKey) -> list[tuple[int, int]]:
        starts, ends = self._units.get(key, ([], []))
        return list(zip(starts, ends, strict=True))


def held_twice(held: Iterable[tuple[Allocation, str]]) -> list[str]:
    """Independent free check: every unit held by two owners at once, in words (a brute sort
    and sweep per unit, sharing nothing with the search's indexes)."""
    spans: dict[UnitKey, list[tuple[int, int, str]]] = {}
    for a, owner in held:
        spans.setdefault((a.resource_type, a.resource_id, a.unit), []).append(
            (to_seconds(a.start), to_seconds(a.end), owner))
    problems = []
    for unit, items in spans.items():
        items.sort()
        end, holder = None, None
        for start, stop, owner in items:
            if end is not None and start < end:
                problems.append(f"{unit} held by {holder} and {owner} at once")
            if end is None or stop > end:
                end, holder = stop, owner
    return problems


def next_free(lists: tuple[list[int], list[int]], start: int, length: int,
              skip: set[tuple[int, int]] | None = None) -> int:
    """Earliest t >= start such that [t, t + length) misses every interval in ``lists``
    (except those in ``skip``)."""
    starts, ends = lists
    j = bisect_right(ends, start)
    n = len(starts)
    t = start
    while j < n and starts[j] < t + length:
        if ends[j] > t and (skip is None or (starts[j], ends[j]) not in skip):
            t = ends[j]
        j += 1
    return t


class PlanOverlay:
    """Allocations of the plan under construction, per unit, each tagged with its owner.

    Plans hold tens of allocations, so plain lists beat any index here and make undo trivial.
    """

    def __init__(self) -> None:
        self._units: dict[UnitKey, list[tuple[int, int, int]]] = {}

    def add(self, key: UnitKey, start: int, end: int, owner: int) -> None:
        self._units.setdefault(key, []).append((start, end, owner))

    def remove_owner(self, owner: int) -> None:
        for key, intervals in self._units.items():
            if any(o == owner for _, _, o in intervals):
                self._units[key] = [iv for iv in intervals if iv[2] != owner]

    def next_free(self, key: UnitKey, start: int, length: int,
                  blockers: set[int] | None) -> int:
        """Like ``next_free`` over the plan's own intervals; owners met go into ``blockers``."""
        intervals = self._units.get(key)
        if not intervals:
            return start
        t = start
        moved = True
        while moved:
            moved = False
            for s, e, owner in intervals:
                if s < t + length and e > t:
                    if blockers is not None:
                        blockers.add(owner)
                    t = e
                    moved = True
        return t


class Occupancy:
    """Existing bookings, the patient's outside appointments and the plan, seen as one.

    ``exclude`` names existing bookings that must not count (a plan being rescheduled does not
    block itself); they are matched exactly, so the shared index is never mutated.
    """

    def __init__(self, bookings: BookingIndex, extra: BookingIndex | None = None,
                 exclude: Iterable[tuple[UnitKey, int, int]] = ()) -> None:
        self.bookings = bookings
        self.extra = extra or BookingIndex()
        self.plan = PlanOverlay()
        self.exclude: dict[UnitKey, set[tuple[int, int]]] = {}
        for key, s, e in exclude:
            self.exclude.setdefault(key, set()).add((s, e))

    def next_free(self, key: UnitKey, start: int, length: int,
                  blockers: set[int] | None = None) -> int:
        """Earliest t >= start with [t, t + length) free in every layer for this unit."""
        base = self.bookings._units.get(key)
        extra = self.extra._units.get(key)
        overlay = self.plan._units.get(key)
        skip = self.exclude.get(key) if self.exclude else None
        t = start
        while True:
            t1 = t if base is None else next_free(base, t, length, skip)
            if extra is not None:
                t1 = next_free(extra, t1, length)
            if not overlay:
                return t1
            t2 = self.plan.next_free(key, t1, length, blockers)
            if t2 == t1:
                return t1
            t = t2
