"""Can a ``count`` phase ever fit the patient's week? A check before any search, per phase.

A series of sessions ``gap_days`` apart (each with its follow-up, all inside ``within_days``)
needs days on which the clinic is open and the patient available. Opening hours, the patient's
availability and the phase's weekdays repeat every week, so if no weekday can start such a
series in the model below, no start date ever can, and the earliest-date search is pointless.

The model drops everything that only makes placement harder (closures, bookings, shifts, staff,
``max_per_week``, dose spacing, route caps, the 15-minute grid), so a "no" is certain. Wall-clock
windows keep their local times across DST, but a window may gain up to an hour of real time on
the day the clocks change and follow-up hours are real hours, so lengths and follow-up distances
get an hour of slack.
"""

from __future__ import annotations

from scheduler.rules.model import WEEKDAYS, Phase

from .context import Context, union
from .inputs import Availability

SLACK = 60
"""Minutes of slack for the days the clocks change."""

DAY = 1440


def day_windows(hours, weekday: int) -> list[tuple[int, int]]:
    """Local minutes (from this weekday's midnight) where sessions starting on the weekday may
    lie: its own opening, the previous night's that runs into it, and the next day's that
    continues it past midnight, merged."""
    windows = [(lo - DAY, hi - DAY) for lo, hi in hours.get(WEEKDAYS[(weekday - 1) % 7], ())
               if hi > DAY]
    windows += list(hours.get(WEEKDAYS[weekday % 7], ()))
    windows += [(lo + DAY, hi + DAY) for lo, hi in hours.get(WEEKDAYS[(weekday + 1) % 7], ())]
    return [(max(lo, 0), hi) for lo, hi in union(windows) if hi > 0 and lo < DAY]


def _windows(ctx: Context, weekday: int, availability: Availability) -> list[tuple[int, int]]:
    """Local minutes where sessions may lie on this weekday (hours and availability)."""
    code = WEEKDAYS[weekday % 7]
    if availability.weekdays is not None and code not in availability.weekdays:
        return []
    earliest = availability.earliest or 0
    latest = 2 * DAY if availability.latest is None else availability.latest
    out = []
    for lo, hi in day_windows(ctx.clinic.hours, weekday):
        lo, hi = max(lo, earliest), min(hi, latest)
        if lo < hi:
            out.append((lo, hi))
    return out


def _start_range(windows: list[tuple[int, int]], minutes: int) -> tuple[int, int] | None:
    """First and last local start minute of a session of ``minutes`` (relaxed), or None."""
    fitting = [(lo, hi) for lo, hi in windows if hi - lo + SLACK >= minutes]
    if not fitting:
        return None
    return min(lo for lo, _ in fitting), max(hi - minutes + SLACK for _, hi in fitting)


def _day_ok(ctx: Context, phase: Phase, weekday: int, availability: Availability) -> bool:
    """Could a session of the phase (and its follow-up) be on this weekday?"""
    if phase.weekdays is not None and WEEKDAYS[weekday % 7] not in phase.weekdays:
        return False
    minutes = ctx.kind(phase.session_kind).duration_minutes
    starts = _start_range(_windows(ctx, weekday, availability), minutes)
    if starts is None:
        return False
    follow = phase.follow_up
    if follow is None:
        return True
    follow_minutes = ctx.kind(follow.session_kind).duration_minutes
    lo = starts[0] + minutes + round(follow.min_hours * 60) - SLACK
    hi = starts[1] + minutes + round(follow.max_hours * 60) + SLACK
    for k in range(max(0, lo // DAY), hi // DAY + 1):
        found = _start_range(_windows(ctx, weekday + k, availability), follow_minutes)
        if found is not None and k * DAY + found[0] <= hi and k * DAY + found[1] >= lo:
            return True
    return False


def series_fits_some_week(ctx: Context, phase: Phase, availability: Availability) -> bool:
    """False only if no start date at all lets the phase's ``count`` sessions fit."""
    count = phase.count or 0
    if count < 1:
        return True
    ok = [_day_ok(ctx, phase, w, availability) for w in range(7)]
    gap = phase.gap_days
    if gap is None or count == 1:
        return any(ok)
    limit = phase.within_days if phase.within_days is not None else (count - 1) * gap.max
    for first in range(7):
        reach = {0} if ok[first] else set()
        for _ in range(count - 1):
            reach = {d + g for d in reach for g in range(gap.min, gap.max + 1)
                     if d + g <= limit and ok[(first + d + g) % 7]}
            if not reach:
                break
        if reach:
            return True
    return False


def never_fitting_phase(ctx: Context) -> tuple[Phase, bool] | None:
    """The first ``count`` phase that no start date can fit, and whether the patient's
    availability is what rules it out (it would fit the clinic's hours alone); else None."""
    for phase in ctx.protocol.phases:
        if phase.count is None or series_fits_some_week(ctx, phase, ctx.availability):
            continue
        return phase, series_fits_some_week(ctx, phase, Availability())
    return None
