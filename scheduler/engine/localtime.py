"""Clinic-local wall-clock time on top of UTC instants (integer epoch seconds).

The engine reasons in local days and wall-clock minutes (a 09:00 session stays 09:00 across DST)
and computes with UTC seconds, which compare and subtract correctly across the 23- and 25-hour
days. Conversions follow three rules:

- a candidate start whose wall time does not exist (spring-forward gap) is skipped;
- a wall time that happens twice (the repeated autumn hour) yields both instants;
- a window boundary (opening hours, shift, availability) that falls into a gap maps to the
  moment the clocks jump; an ambiguous boundary maps to its earliest instant for a start and its
  latest instant for an end, so the window covers every instant the wall clock shows inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.rules.model import WEEKDAYS

DAY = 86_400


def to_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: an aware instant is required")
    return int(moment.timestamp())


def to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class LocalDay:
    date: date
    weekday: str
    start: int
    """First instant of the local day."""
    end: int
    """First instant of the next local day (23 or 25 hours later on DST days)."""
    regular: bool
    """One UTC offset all day long, so wall minute m is the instant ``start + 60 * m``."""


class LocalClock:
    """Local days and wall-clock minutes of one IANA zone, cached per date.

    Pure function of the zone, so one instance per zone is shared by all engine calls
    (``LocalClock.of``); profiling showed per-call day caches dominating short placements.
    """

    _shared: dict[str, LocalClock] = {}

    @classmethod
    def of(cls, timezone: str) -> LocalClock:
        clock = cls._shared.get(timezone)
        if clock is None:
            clock = cls._shared[timezone] = cls(timezone)
        return clock

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self._days: dict[date, LocalDay] = {}
        self._grids: dict[tuple[date, int], list[int]] = {}

    # -- single conversions -------------------------------------------------------------

    def _interpretations(self, day: date, minute: int) -> tuple[datetime, int, int, bool]:
        naive = datetime.combine(day, time()) + timedelta(minutes=minute)
        first = int(naive.replace(tzinfo=self.tz, fold=0).timestamp())
        second = int(naive.replace(tzinfo=self.tz, fold=1).timestamp())
        exists = datetime.fromtimestamp(first, self.tz).replace(tzinfo=None) == naive
        return naive, first, second, exists

    def starts_at(self, day: date, minute: int) -> tuple[int, ...]:
        """Every instant at which the wall clock shows ``minute`` on ``day``: none, one or two."""
        _naive, first, second, exists = self._interpretations(day, minute)
        if not exists:
            return ()
        return (first,) if first == second else (min(first, second), max(first, second))

    def boundary(self, day: date, minute: int, *, is_end: bool) -> int:
        """Instant of a window boundary (see the module rules for gaps and repeated hours)."""
        naive, first, second, exists = self._interpretations(day, minute)
        if exists:
            return max(first, second) if is_end else min(first, second)
        lo, hi = min(first, second), max(first, second)
        while hi - lo > 1:  # first instant whose wall time is at or after the missing one
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.tz).replace(tzinfo=None) >= naive:
                hi = mid
            else:
                lo = mid
        return hi

    def local_datetime(self, seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, self.tz)

    def local_date(self, seconds: int) -> date:
        return datetime.fromtimestamp(seconds, self.tz).date()

    def wall_minute(self, seconds: int) -> int:
        local = datetime.fromtimestamp(seconds, self.tz)
        return local.hour * 60 + local.minute

    # -- days ---------------------------------------------------------------------------

    def day(self, day: date) -> LocalDay:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        start = self.boundary(day, 0, is_end=False)
        end = self.boundary(day + timedelta(days=1), 0, is_end=False)
        offset_start = datetime.fromtimestamp(start, self.tz).utcoffset()
        offset_end = datetime.fromtimestamp(end - 1, self.tz).utcoffset()
        regular = end - start == DAY and offset_start == offset_end
        info = LocalDay(day, WEEKDAYS[day.weekday()], start, end, regular)
        self._days[day] = info
        return info

    def window(self, day: date, start_minute: int, end_minute: int) -> tuple[int, int]:
        """A local [start, end) wall-clock window on ``day`` as UTC seconds; an end past
        1440 lies on the next day (a window that crosses midnight)."""
        if end_minute > 1440:
            return (self.window(day, start_minute, 1440)[0],
                    self.window(day + timedelta(days=1), 0, end_minute - 1440)[1])
        info = self.day(day)
        if info.regular:
            return info.start + 60 * start_minute, info.start + 60 * end_minute
        return (self.boundary(day, start_minute, is_end=False),
                self.boundary(day, end_minute, is_end=True))

    def grid(self, day: date, step_minutes: int) -> list[int]:
        """Candidate start instants of ``day``: every wall time on the grid that exists, both
        instants of a repeated wall time, in chronological order."""
        key = (day, step_minutes)
        cached = self._grids.get(key)
        if cached is not None:
            return cached
        info = self.day(day)
        if info.regular:
            out = list(range(info.start, info.end, 60 * step_minutes))
        else:
            instants: set[int] = set()
            for minute in range(0, 1440, step_minutes):
                instants.update(self.starts_at(day, minute))
            out = sorted(instants)
        self._grids[key] = out
        return out

    def minute_of(self, info: LocalDay, seconds: int) -> int:
        """Wall-clock minute of an instant inside ``info``'s day (fast path on regular days)."""
        if info.regular:
            return (seconds - info.start) // 60
        return self.wall_minute(seconds)
