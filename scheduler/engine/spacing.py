"""Protocol rules between sessions: the window a step may use given what is already placed.

Each bound remembers which placed session it came from (its culprit), so when a step finds
nothing the search can jump straight back to a session whose move could help.

Rules (SPEC section 2): ``gap_days`` and ``after`` and ``within_days`` compare local dates;
``max_per_week`` and the route's ``max_doses_per_7_days`` count sessions in any 7 consecutive
local days; ``min_hours_between_doses`` compares real hours between dose-segment starts across
the whole plan; a follow-up starts ``min_hours``..``max_hours`` after its parent ends. Engine
choices beyond the rules: a phase without ``gap_days`` spaces its sessions at least one day
apart; a phase without ``after`` starts no earlier than the previous phase's last session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from scheduler.rules import codes
from scheduler.rules.model import Phase

from .context import Context
from .steps import Placed, Step, main_positions


@dataclass(slots=True)
class Window:
    day_lo: date
    day_hi: date
    anchor: date
    """The preferred day (the gap target); candidates are tried by distance from it."""
    t_lo: int | None = None
    t_hi: int | None = None
    culprits: set[int] = field(default_factory=set)
    """Placed sessions whose local DATE bounds the window."""
    time_culprits: set[int] = field(default_factory=set)
    """Placed sessions whose exact TIME bounds it (a follow-up's parent)."""
    optional: bool = False
    rules: list[str] = field(default_factory=list)
    """Which rules bound the window, for explanations ('gap_days', 'within_days', ...)."""


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def window_for(ctx: Context, step: Step, placed: list[Placed]) -> Window:
    lo = ctx.start_on
    hi: date | None = None
    anchor: date | None = None
    t_lo = t_hi = None
    culprits: set[int] = set()
    time_culprits: set[int] = set()
    rules: list[str] = []
    optional = False
    phase = step.phase
    if step.parent is not None:
        parent = placed[step.parent]
        follow = parent.step.phase.follow_up
        assert follow is not None
        t_lo = parent.end + round(follow.min_hours * 3600)
        t_hi = parent.end + round(follow.max_hours * 3600)
        lo = max(lo, ctx.clock.local_date(t_lo))
        hi = ctx.clock.local_date(t_hi)
        time_culprits.add(step.parent)
        rules.append("follow_up")
    else:
        mains = main_positions(placed, phase.name)
        if mains:
            prev, first = placed[mains[-1]], placed[mains[0]]
            culprits.add(mains[-1])
            if phase.gap_days is not None:
                gap = phase.gap_days
                lo = max(lo, prev.day + _days(gap.min))
                hi = prev.day + _days(gap.max)
                anchor = prev.day + _days(gap.target)
                rules.append("gap_days")
            else:
                lo = max(lo, prev.day + _days(1))
            if phase.within_days is not None:
                hi = _min(hi, first.day + _days(phase.within_days))
                culprits.add(mains[0])
                rules.append("within_days")
            if step.until:
                limit = until_limit(ctx, phase, first.day)
                due = prev.day + _days(phase.gap_days.max) if phase.gap_days else None
                optional = not step.required and (due is None or due > limit)
                hi = _min(hi, limit)
                culprits.add(mains[0])
                rules.append("until_days")
        else:
            if phase.after is not None:
                ref = main_positions(placed, phase.after.phase)
                if ref:
                    ref_day = placed[ref[-1]].day
                    lo = max(lo, ref_day + _days(phase.after.min_days))
                    if phase.after.max_days is not None:
                        hi = ref_day + _days(phase.after.max_days)
                    culprits.add(ref[-1])
                    rules.append("after")
            elif step.phase_index > 0:
                earlier = [i for i, p in enumerate(placed)
                           if p.step.phase_index < step.phase_index and not p.skipped]
                if earlier:
                    last = max(earlier, key=lambda i: placed[i].day)
                    lo = max(lo, placed[last].day)
                    culprits.add(last)
            if step.until:
                optional = not step.required and (hi is None or hi > ctx.horizon)
                hi = _min(hi, ctx.horizon)
                rules.append("horizon")
    if not placed and step.phase_index == 0 and step.prefer is None and hi is None:
        hi = ctx.start_on + _days(ctx.options.start_within_days)
        rules.append("start_within_days")
    for bound in (step.not_before, ctx.not_before):
        if bound is not None:
            t_lo = bound if t_lo is None else max(t_lo, bound)
            lo = max(lo, ctx.clock.local_date(bound))
    if step.exact is not None:
        lo = max(lo, ctx.clock.local_date(step.exact))
    if hi is None:
        hi = lo + _days(ctx.options.earliest_date_search_days)
    if step.near is not None:  # a session being moved stays as near its old day as it can
        anchor = ctx.clock.local_date(step.near)
    if anchor is None or anchor < lo:
        anchor = lo
    if anchor > hi:
        anchor = hi
    return Window(lo, hi, anchor, t_lo, t_hi, culprits, time_culprits, optional, rules)


def until_limit(ctx: Context, phase: Phase, first: date) -> date:
    """Last local date an ``until_days`` phase that began on ``first`` may use: its span
    (``until_days``, or ``within_days`` when shorter) and the rolling horizon, whichever ends
    first. A next session is due (required) while ``last + gap_days.max`` stays inside it."""
    limit = min(first + _days(phase.until_days or 0), ctx.horizon)
    if phase.within_days is not None:
        limit = min(limit, first + _days(phase.within_days))
    return limit


def _min(a: date | None, b: date) -> date:
    return b if a is None or b < a else a


def _crowded(days: list[tuple[date, int]], day: date, limit: int, culprits: set[int]) -> bool:
    """Would one more session on ``day`` put more than ``limit`` in some 7-day window?"""
    near = [(d, i) for d, i in days if abs((d - day).days) <= 6]
    if len(near) < limit:
        return False
    for offset in range(7):
        start = day - _days(6 - offset)
        end = start + _days(6)
        inside = [i for d, i in near if start <= d <= end]
        if len(inside) + 1 > limit:
            culprits.update(inside)
            return True
    return False


def day_block(ctx: Context, step: Step, day: date, weekday: str, placed: list[Placed],
              culprits: set[int]) -> tuple[str, str] | None:
    """Day-level rules; returns (code, detail) of the first rule the day breaks."""
    phase = step.phase
    if step.parent is None:
        if phase.weekdays is not None and weekday not in phase.weekdays:
            return codes.WEEKDAYS, ", ".join(d for d in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                      "sun") if d in phase.weekdays)
        if phase.max_per_week is not None:
            days = [(placed[i].day, i) for i in main_positions(placed, phase.name)]
            if _crowded(days, day, phase.max_per_week, culprits):
                return codes.MAX_PER_WEEK, str(phase.max_per_week)
    route = ctx.route(step.kind)
    if route is not None and route.max_doses_per_7_days is not None \
            and ctx.is_dose_kind(step.kind):
        days = [(p.day, i) for i, p in enumerate(placed)
                if not p.skipped and p.step.kind.route == route.code
                and ctx.is_dose_kind(p.step.kind)]
        if _crowded(days, day, route.max_doses_per_7_days, culprits):
            return codes.ROUTE_MAX_DOSES_PER_7_DAYS, str(route.max_doses_per_7_days)
    return None


def dose_hint(ctx: Context, offsets: tuple[int, ...], t: int, placed: list[Placed],
              culprits: set[int]) -> int:
    """``t`` if every dose of a session starting at t keeps ``min_hours_between_doses`` from
    every placed dose, else a lower bound on the next start that could."""
    hours = ctx.protocol.min_hours_between_doses if ctx.protocol is not None else None
    if not hours or not offsets:
        return t
    spacing = round(hours * 3600)
    hint = t
    for i, p in enumerate(placed):
        for other in p.doses:
            for off in offsets:
                if abs(t + off - other) < spacing:
                    culprits.add(i)
                    if other + spacing - off > hint:
                        hint = other + spacing - off
    return hint


def series_can_finish(ctx: Context, step: Step, day: date, placed: list[Placed],
                      culprits: set[int]) -> bool:
    """Day-level lookahead for a ``count`` phase: with this session on ``day``, can the rest of
    the series still find open days that keep ``gap_days``, ``within_days`` and
    ``max_per_week`` (with the phase's sessions already placed) and leave room for the
    follow-up? With ``ctx.resource_lookahead`` (switched on once the search backtracks) a day
    also needs a start at which the kind's room and staff are free in the bookings.

    The plan's other sessions, times and dose spacing are ignored (they only make it harder),
    so a False is certain; it prunes whole subtrees that closures, weekday rules or full days
    doom, long before the last session would notice. It starts off resource-blind so that
    when nothing fits the deepest failure still names the session and resource that blocked
    it rather than "the rest of the series".
    """
    phase = step.phase
    if step.parent is not None or phase.count is None or phase.gap_days is None:
        return True
    mains = main_positions(placed, phase.name)
    remaining = phase.count - len(mains) - 1
    if remaining <= 0:
        return True
    first = placed[mains[0]].day if mains else day
    gap = phase.gap_days
    deadline = day + _days(remaining * gap.max)
    if phase.within_days is not None:
        deadline = min(deadline, first + _days(phase.within_days))
    recent: tuple[date, ...] = ()
    if phase.max_per_week is not None:
        recent = tuple(placed[i].day for i in mains if placed[i].day > day - WEEK)
    key = (step.phase_index, remaining, day, deadline, step.spec.duration, recent,
           ctx.resource_lookahead)
    cached = ctx.lookahead.get(key)
    if cached is None:
        cached = _reachable(ctx, step, day, remaining, deadline, recent)
        ctx.lookahead[key] = cached
    if not cached:
        if mains and phase.within_days is not None:
            culprits.add(mains[0])
        culprits.update(i for i in mains if placed[i].day > day - WEEK)
    return cached


WEEK = timedelta(days=7)


def _reachable(ctx: Context, step: Step, day: date, remaining: int, deadline: date,
               recent: tuple[date, ...]) -> bool:
    """Breadth-first over (last day, the series' days in the 6 days before it), with days as
    ordinals."""
    gap = step.phase.gap_days
    limit = step.phase.max_per_week
    if not _follow_up_possible(ctx, step, day):
        return False
    first = day.toordinal()
    end = deadline.toordinal()
    usable: dict[int, bool] = {}

    def ok(n: int) -> bool:
        found = usable.get(n)
        if found is None:
            other = date.fromordinal(n)
            found = _open_for(ctx, step, other) and _follow_up_possible(ctx, step, other)
            usable[n] = found
        return found

    week = tuple(sorted(d.toordinal() for d in recent)) + (first,) if limit is not None else ()
    reach = {(first, week)}
    for _ in range(remaining):
        following: set[tuple[int, tuple[int, ...]]] = set()
        for d, days in reach:
            for candidate in range(d + gap.min, min(d + gap.max, end) + 1):
                if not ok(candidate):
                    continue
                if limit is not None:
                    kept = tuple(x for x in days if x > candidate - 7) + (candidate,)
                    if len(kept) > limit:
                        continue
                    following.add((candidate, kept))
                else:
                    following.add((candidate, ()))
        if not following:
            return False
        reach = following
    return True


def _open_for(ctx: Context, step: Step, day: date) -> bool:
    aware = ctx.resource_lookahead
    key = ("open", step.phase_index, day, aware)
    cached = ctx.lookahead.get(key)
    if cached is not None:
        return cached
    info = ctx.day(day)
    weekdays = step.phase.weekdays
    result = weekdays is None or info.weekday in weekdays
    if result:
        result = (ctx.bookable_start(step.spec, info) is not None if aware
                  else bool(ctx.day_starts(info, step.spec.duration).ranges))
    ctx.lookahead[key] = result
    return result


def _follow_up_possible(ctx: Context, step: Step, day: date) -> bool:
    """Could a session of this phase on ``day`` get its follow-up? The follow-up starts
    min..max hours after the session ends; the session ends between the day's first bookable
    start + duration and its last start + duration, and the follow-up needs a bookable start
    in that stretch."""
    follow = step.phase.follow_up
    if follow is None:
        return True
    aware = ctx.resource_lookahead
    key = ("follow_up", step.phase_index, day, aware)
    cached = ctx.lookahead.get(key)
    if cached is not None:
        return cached
    info = ctx.day(day)
    ranges = ctx.day_starts(info, step.spec.duration).ranges
    first = None
    if ranges:
        first = ctx.bookable_start(step.spec, info) if aware else ranges[0][0]
    result = False
    if first is not None:
        spec = ctx.spec(ctx.kind(follow.session_kind))
        lo = first + step.spec.duration + round(follow.min_hours * 3600)
        hi = ranges[-1][1] + step.spec.duration + round(follow.max_hours * 3600)
        candidate, last = ctx.clock.local_date(lo), ctx.clock.local_date(hi)
        while candidate <= last and not result:
            other = ctx.day(candidate)
            if aware:
                result = ctx.bookable_start(spec, other, lo, hi) is not None
            else:
                result = any(a <= hi and lo <= b
                             for a, b in ctx.day_starts(other, spec.duration).ranges)
            candidate += _days(1)
    ctx.lookahead[key] = result
    return result
