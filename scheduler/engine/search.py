"""Bounded backtracking over a sequence of steps, with conflict-directed backjumping.

Each step enumerates candidates lazily in preference order: days by distance from the preferred
day (the gap target), and on each day the feasible round start closest to the preferred time,
then the day's earliest and latest feasible starts (different hours help follow-up and
dose-spacing rules downstream). Infeasible starts are skipped with the lower bounds the checks
return, so a busy afternoon costs a few bisects, not one check per grid point.

Round starts lie on the clinic's slot grid, but the earliest start of a day is searched over
every instant: a check that fails says when the blocking room, person, shift or rule lets go,
and that moment is tried next. So a session starts back to back after a booking (its end plus
turnover) even when that is 10:50 on a 15-minute grid, and a day is never lost because only
round times were tried. Round times are preferred where they cost no day and waste no one's
time: the earliest start is moved to the next round time when that one fits too and the
earliest abuts nothing it needs (it only came from a rule's bound, such as 24 h after the
parent session); the off-grid start stays the next candidate of the same day. When a later
session fails on time (its resources, or a window this session's hour bounds: a follow-up's
``max_hours``), the day's other starts follow in time order; after a failure on whole days
only (closed, unavailable) they are skipped, as another hour could not help.

When a step runs dry, the search jumps back to the most recent placed session among the
step's culprits (the sessions that bounded its window or held what it needed) instead of the
previous one: a 6th infusion squeezed by ``within_days`` moves the 1st, not the 5th follow-up.
Budgets on evaluations and backtracks make it always end fast; the deepest failure is kept
for the explanation. A step that runs dry leaves a nogood (its conflict set and their values)
so the same dead end is not explored twice, neither later in the search nor in the attempts of
the earliest-date search, which share the call's ``Memo`` (nogoods, resource checks that no
session of the plan influenced, day calendars, lookahead results).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from scheduler.rules import codes as rule_codes

from .context import (
    RESOURCE_LOOKAHEAD_AFTER,
    Context,
    SearchLimit,
    clip_ranges,
    minute_up,
    next_start,
)
from .explain import Tally
from .localtime import LocalDay
from .resources import AllocTuple, Assignment, Miss
from .spacing import Window, day_block, dose_hint, series_can_finish, window_for
from .steps import Placed, Step

NextStep = Callable[[list[Placed]], Step | None]
LATEST_SCAN_LIMIT = 16


@dataclass(slots=True)
class Failure:
    step: Step
    window: Window
    tally: Tally
    limit_reached: bool = False


class StepSearch:
    """Candidates for one step given the sessions placed before it."""

    def __init__(self, ctx: Context, step: Step, placed: list[Placed]) -> None:
        self.ctx = ctx
        self.step = step
        self.placed = placed
        self.position = len(placed)
        self.window = window_for(ctx, step, placed)
        self.culprits: set[int] = set(self.window.culprits)
        """Placed sessions whose DATE contributed to rejecting candidates."""
        self.time_culprits: set[int] = set(self.window.time_culprits)
        """Placed sessions whose TIME or resources did (moving them within their day may help)."""
        self._skip_day: date | None = None
        self._no_rest_day: date | None = None
        self.last_day: date | None = None
        self.tally = Tally()
        self.room_order, self.staff_order = self._resource_orders()
        self._offsets = ctx.dose_offsets(step.kind)
        self._candidates = self._generate()
        self._skip_offered = False

    def skip_day(self, day: date) -> None:
        """Later steps failed for reasons that only this session's date can change."""
        self._skip_day = day

    def no_rest(self, day: date) -> None:
        """Later steps failed on whole days only (closed, unavailable): other hours of this
        day are not worth trying one by one; its canonical candidates are enough."""
        self._no_rest_day = day

    def next(self) -> Placed | None:
        found = next(self._candidates, None)
        while found is not None and found.day == self._skip_day:
            found = next(self._candidates, None)
        if found is not None:
            self.last_day = found.day
        if found is None and self.window.optional and not self._skip_offered:
            self._skip_offered = True
            return Placed(self.step, 0, 0, self.window.day_lo, (), None)
        return found

    # -- preferences --------------------------------------------------------------------

    def _series(self) -> Placed | None:
        """The latest placed session of the same series (phase, kind, follow-up or not)."""
        for p in reversed(self.placed):
            s = p.step
            if (not p.skipped and s.phase.name == self.step.phase.name
                    and s.kind.code == self.step.kind.code
                    and s.is_follow_up == self.step.is_follow_up):
                return p
        return None

    def _resource_orders(self):
        spec = self.step.spec
        prefs = self.ctx.preferences
        finder = self.ctx.finder
        series = self._series()
        old = self.step.prefer
        favourite_room = []
        if old is not None and old.room_id is not None:
            favourite_room.append(old.room_id)
        if prefs.same_room and series is not None and series.assignment.room_id is not None:
            favourite_room.append(series.assignment.room_id)
        room_order = _favour(spec.rooms, [finder.room_position.get(r) for r in favourite_room])
        staff_order = []
        for n, need in enumerate(spec.needs):
            favourites = []
            if old is not None and n < len(old.staff_ids):
                favourites.append(old.staff_ids[n])
            if prefs.staff_id is not None:
                favourites.append(prefs.staff_id)
            if prefs.same_staff and series is not None and n < len(series.assignment.staff_ids):
                favourites.append(series.assignment.staff_ids[n])
            staff_order.append(_favour(need.candidates,
                                       [finder.staff_position.get(s) for s in favourites]))
        return room_order, tuple(staff_order)

    # -- enumeration --------------------------------------------------------------------

    def _days(self) -> Iterator[date]:
        w = self.window
        yield w.anchor
        below, above = w.anchor - timedelta(days=1), w.anchor + timedelta(days=1)
        while below >= w.day_lo or above <= w.day_hi:
            if below >= w.day_lo:
                yield below
                below -= timedelta(days=1)
            if above <= w.day_hi:
                yield above
                above += timedelta(days=1)

    def _generate(self) -> Iterator[Placed]:
        step = self.step
        if self.window.day_lo > self.window.day_hi:
            self.tally.day(rule_codes.WINDOW, ", ".join(self.window.rules) or "start date")
            return
        if step.exact is not None:
            info = self.ctx.day(self.ctx.clock.local_date(step.exact))
            found = self._exact(step.exact, info)
            if found is not None:
                yield found
            return
        if step.keep is not None:
            kept = self._kept()
            if kept is not None:
                yield kept
        preferred = self._preferred_minute()
        for day in self._days():
            yield from self._day(self.ctx.day(day), preferred)

    def _preferred_minute(self) -> int | None:
        step = self.step
        if step.not_before is not None and step.near is None:
            return None
        if step.near is not None:
            return self.ctx.clock.wall_minute(step.near)
        return self.ctx.preferences.time

    def _day_candidates(self, info: LocalDay) -> tuple[list[int], tuple[tuple[int, int], ...]]:
        """Round starts and every fitting start (as ranges) of the day, inside the window."""
        ctx, step, w = self.ctx, self.step, self.window
        block = day_block(ctx, step, info.date, info.weekday, self.placed, self.culprits)
        if block is not None:
            self.tally.day(*block, weekday=info.weekday)
            return [], ()
        if not series_can_finish(ctx, step, info.date, self.placed, self.culprits):
            self.tally.day(rule_codes.SERIES, ", ".join(r for r in ("gap_days", "within_days")))
            return [], ()
        day_starts = ctx.day_starts(info, step.spec.duration)
        starts, ranges = day_starts.starts, day_starts.ranges
        if not ranges:
            detail = ""
            if day_starts.reason == rule_codes.AVAILABILITY:
                detail = availability_words(ctx)
            self.tally.day(day_starts.reason, detail, weekday=info.weekday)
            return [], ()
        ranges = clip_ranges(ranges, w.t_lo, w.t_hi)
        if starts and w.t_lo is not None and starts[0] < w.t_lo:
            starts = starts[bisect_left(starts, w.t_lo):]
        if starts and w.t_hi is not None and starts[-1] > w.t_hi:
            starts = starts[:bisect_left(starts, w.t_hi + 1)]
        if not ranges:
            self.tally.day(rule_codes.WINDOW, ", ".join(w.rules))
        return starts, ranges

    def _day(self, info: LocalDay, preferred: int | None) -> Iterator[Placed]:
        starts, ranges = self._day_candidates(info)
        if not ranges:
            return
        tried: set[int] = set()
        yield from self._day_pass(starts, ranges, info, preferred, tried)

    def _day_pass(self, starts: list[int], ranges: tuple[tuple[int, int], ...], info: LocalDay,
                  preferred: int | None, tried: set[int]) -> Iterator[Placed]:
        """The round start closest to the preferred time, then the day's earliest start (a
        round one if that wastes nothing), then its latest round start, then (only reached
        when a later session needs this one at another hour) the rest, in time order."""
        if preferred is not None and starts:
            target = self.ctx.clock.window(info.date, preferred, preferred)[0]
            pivot = bisect_left(starts, target)
            after = self._forward(starts, pivot, info)
            limit = (after.start - target) if after is not None else None
            before = self._backward(starts, pivot - 1, info, target, limit)
            best = before if before is not None else after
            if best is not None and best.start not in tried:
                tried.add(best.start)
                yield best
            if self._skip_day == info.date:
                return
        if ranges:
            first = self._earliest(ranges, info)
        else:
            first = self._forward(starts, 0, info)
        if first is None:
            return
        for candidate in self._rounded(first, starts, info):
            if candidate.start not in tried:
                tried.add(candidate.start)
                yield candidate
            if self._skip_day == info.date:
                return
        if starts:
            last = self._backward(starts, len(starts) - 1, info, None, None)
            if last is not None and last.start not in tried:
                tried.add(last.start)
                yield last
        yield from self._rest(first.start, starts, ranges, info, tried)

    def _rest(self, after: int, starts: list[int], ranges: tuple[tuple[int, int], ...],
              info: LocalDay, tried: set[int]) -> Iterator[Placed]:
        """Every other start of the day, in time order, for when a later session needs this
        one at another hour (a follow-up's max_hours, dose spacing): each round start that
        fits, and where round ones do not, the first moment after them that does."""
        grid_step = 60 * self.ctx.grid
        t = after + 60
        while self._skip_day != info.date and self._no_rest_day != info.date:
            index = bisect_left(starts, t)
            nxt = starts[index] if index < len(starts) else None
            if ranges:
                moment = next_start(ranges, t)
                if moment is None:
                    return
                if nxt is None or nxt - moment >= grid_step:
                    nxt = moment  # no round start in this range: its first moment
            if nxt is None:
                return
            found = self._evaluate(nxt, info) if nxt not in tried else nxt + 1
            if isinstance(found, Placed):
                tried.add(found.start)
                yield found
                t = found.start + 60
                continue
            if ranges:
                moment = next_start(ranges, minute_up(found))
                if moment is None:
                    return
                index = bisect_left(starts, moment)
                if index < len(starts) and starts[index] == moment or moment in tried:
                    t = moment
                    continue
                found = self._evaluate(moment, info)  # the first moment it could: back to back
                if isinstance(found, Placed):
                    tried.add(found.start)
                    yield found
                    t = found.start + 60
                    continue
                t = minute_up(found)
            else:
                t = found

    def _rounded(self, first: Placed, starts: list[int], info: LocalDay) -> list[Placed]:
        """The earliest start, or the next round start before it when that also fits and the
        earliest abuts no booking of what it takes (so moving it idles no one)."""
        index = bisect_left(starts, first.start)
        if index < len(starts) and starts[index] == first.start:
            return [first]
        if index == len(starts) or starts[index] >= first.start + 60 * self.ctx.grid \
                or self._abuts(first):
            return [first]
        found = self._evaluate(starts[index], info)
        return [found, first] if isinstance(found, Placed) else [first]

    def _abuts(self, p: Placed) -> bool:
        """Does some unit the session takes end a busy stretch right where the session's use
        of it begins (back to back)?"""
        occupancy = self.ctx.occupancy
        for rtype, rid, unit, s, _e in p.allocations:
            if rtype != "patient" and occupancy.next_free((rtype, rid, unit), s - 60, 60) != s - 60:
                return True
        return False

    def _earliest(self, ranges: tuple[tuple[int, int], ...], info: LocalDay) -> Placed | None:
        """The first instant of the day at which the session fits: each failed check's lower
        bound (a booking's end plus turnover, a shift's start, a rule's bound) is tried next."""
        t = next_start(ranges, ranges[0][0])
        while t is not None:
            found = self._evaluate(t, info)
            if isinstance(found, Placed):
                return found
            t = next_start(ranges, minute_up(found))
        return None

    def _forward(self, starts: list[int], index: int, info: LocalDay) -> Placed | None:
        while index < len(starts):
            t = starts[index]
            found = self._evaluate(t, info)
            if isinstance(found, Placed):
                return found
            index = bisect_left(starts, found, index + 1)
        return None

    def _backward(self, starts: list[int], index: int, info: LocalDay, target: int | None,
                  limit: int | None) -> Placed | None:
        tries = 0
        while index >= 0 and tries < LATEST_SCAN_LIMIT:
            t = starts[index]
            if target is not None and limit is not None and target - t >= limit:
                return None
            found = self._evaluate(t, info)
            if isinstance(found, Placed):
                return found
            index -= 1
            tries += 1
        return None

    # -- checks -------------------------------------------------------------------------

    def _evaluate(self, t: int, info: LocalDay) -> Placed | int:
        """A placement at ``t`` or the earliest later start that might work."""
        ctx, spec = self.ctx, self.step.spec
        ctx.budget.evaluate()
        codes: list[str] = []
        hint = t
        dose = dose_hint(ctx, self._offsets, t, self.placed, self.time_culprits)
        if dose != t:
            codes.append(rule_codes.MIN_HOURS_BETWEEN_DOSES)
            hint = dose
        free_at = ctx.occupancy.next_free(ctx.patient_key, t, spec.duration, self.time_culprits)
        if free_at != t:
            codes.append(rule_codes.PATIENT_BUSY)
            hint = max(hint, free_at)
        found = self._find(t, info)
        if isinstance(found, Miss):
            codes.extend(found.codes)
            hint = max(hint, found.hint)
        if codes:
            hint = max(hint, t + 1)
            for code in codes:
                detail = ""
                if code == rule_codes.ROOM:
                    detail = " and ".join(sorted(spec.kind.room_features)) or "a chair"
                elif code == rule_codes.MIN_HOURS_BETWEEN_DOSES:
                    detail = _hours_words(ctx)
                self.tally.time(code, hint - t, detail, weekday=info.weekday)
            return hint
        return self._placed(t, info, found)

    def _find(self, t: int, info: LocalDay) -> Assignment | Miss:
        """The resource check, remembering what no session of the plan influenced: a miss on
        the bookings alone holds in every branch and attempt of this call (the plan only adds
        busy time); a fit is reused once its units are checked against the plan's sessions
        (the bookings are unchanged, so the same resources are still the first that fit)."""
        ctx, spec = self.ctx, self.step.spec
        memo = ctx.memo
        key = (spec.kind.code, spec.prescriber_on_site, t)
        if len(spec.needs) > 1:  # several people: the greedy choice depends on the order
            key += (self.room_order, self.staff_order)
        miss = memo.misses.get(key)
        if miss is not None:
            return miss
        fit_key = key if len(spec.needs) > 1 else key + (self.room_order, self.staff_order)
        fit = memo.fits.get(fit_key)
        if fit is not None:
            plan = ctx.occupancy.plan
            if all(plan.next_free((rtype, rid, unit), start, end - start, None) == start
                   for rtype, rid, unit, start, end in fit.allocations):
                return fit
        blockers: set[int] = set()
        found = ctx.finder.find(spec, t, info, room_order=self.room_order,
                                staff_order=self.staff_order, blockers=blockers)
        if blockers:
            self.time_culprits |= blockers
        elif isinstance(found, Miss):
            memo.misses[key] = found
        else:
            memo.fits[fit_key] = found
        return found

    def _placed(self, t: int, info: LocalDay, found: Assignment) -> Placed:
        end = t + self.step.spec.duration
        allocations: tuple[AllocTuple, ...] = found.allocations
        if self.ctx.patient_id is not None:
            allocations = allocations + (("patient", self.ctx.patient_id, 0, t, end),)
        doses = tuple(t + off for off in self._offsets)
        return Placed(self.step, t, end, info.date, doses, found, allocations)

    def _exact(self, t: int, info: LocalDay) -> Placed | None:
        """Only ``t`` (any minute, not only the grid), if every rule and resource allows it."""
        w = self.window
        if not w.day_lo <= info.date <= w.day_hi or (w.t_lo is not None and t < w.t_lo) \
                or (w.t_hi is not None and t > w.t_hi):
            self.tally.day(rule_codes.WINDOW, ", ".join(w.rules) or "start date")
            return None
        block = day_block(self.ctx, self.step, info.date, info.weekday, self.placed,
                          self.culprits)
        if block is not None:
            self.tally.day(*block, weekday=info.weekday)
            return None
        reason = self.ctx.fits(info, t, self.step.spec.duration)
        if reason:
            detail = availability_words(self.ctx) if reason == rule_codes.AVAILABILITY else ""
            self.tally.day(reason, detail, weekday=info.weekday)
            return None
        found = self._evaluate(t, info)
        return found if isinstance(found, Placed) else None

    def _kept(self) -> Placed | None:
        """The old slot, if every rule still holds and its own resources are still free."""
        ctx = self.ctx
        start, old = self.step.keep
        info = ctx.day(ctx.clock.local_date(start))
        w = self.window
        if not w.day_lo <= info.date <= w.day_hi or (w.t_lo is not None and start < w.t_lo) \
                or (w.t_hi is not None and start > w.t_hi):
            return None
        if day_block(ctx, self.step, info.date, info.weekday, self.placed, self.culprits):
            return None
        if ctx.fits(info, start, self.step.spec.duration):
            return None
        if dose_hint(ctx, self._offsets, start, self.placed, self.time_culprits) != start:
            return None
        spec = self.step.spec
        if ctx.occupancy.next_free(ctx.patient_key, start, spec.duration,
                                   self.time_culprits) != start:
            return None
        for rtype, rid, unit, s, e in old.allocations:
            if rtype == "patient":
                continue
            if ctx.occupancy.next_free((rtype, rid, unit), s, e - s, self.time_culprits) != s:
                return None
        if spec.prescriber_on_site and ctx.finder._prescriber_hint(spec, start, info) != start:
            return None
        for n, need in enumerate(spec.needs):
            position = ctx.finder.staff_position.get(old.staff_ids[n]) \
                if n < len(old.staff_ids) else None
            if position is None:
                return None
            duty = ctx.finder.on_duty(position, info)
            for a, b in need.coverage:
                if not any(ws <= start + a and start + b <= we for ws, we in duty):
                    return None
        kept = Assignment(old.room_id, old.staff_ids,
                          tuple(a for a in old.allocations if a[0] != "patient"))
        ctx.budget.evaluate()
        return self._placed(start, info, kept)


def _favour(order: tuple[int, ...], favourites: list[int | None]) -> tuple[int, ...]:
    chosen = [f for f in dict.fromkeys(favourites) if f is not None and f in order]
    if not chosen:
        return order
    return tuple(chosen) + tuple(i for i in order if i not in chosen)


def availability_words(ctx: Context) -> str:
    from .inputs import format_hhmm

    a = ctx.availability
    parts = []
    if a.weekdays is not None:
        parts.append("/".join(d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                              if d in a.weekdays))
    if a.earliest is not None or a.latest is not None:
        parts.append(f"{format_hhmm(a.earliest or 0)}-{format_hhmm(a.latest or 1440)}")
    return " ".join(parts)


def _hours_words(ctx: Context) -> str:
    hours = ctx.protocol.min_hours_between_doses if ctx.protocol else None
    return f"{hours:g}" if hours else ""


def backtrack(ctx: Context, next_step: NextStep, fixed: list[Placed]) -> tuple[
        list[Placed] | None, Failure | None]:
    """Place steps after ``fixed`` until ``next_step`` says the plan is complete.

    Returns (placed, None) on success or (None, deepest failure).

    Dead ends are remembered (``ctx.memo.nogoods``): when a step runs out of candidates, its
    conflict set (the earlier sessions whose date or time rejected its candidates or its
    descendants' ones) and their values form a nogood; reaching the same step again with the
    same values for those sessions fails at once, without enumerating anything. Nogoods
    outlive the call: the earliest-date search's attempts share them. Like the backjumping,
    they only prune, so they never let a plan break a rule.
    """
    placed = list(fixed)
    base = len(fixed)
    for position, p in enumerate(placed):
        _occupy(ctx, position, p)
    step = next_step(placed)
    if step is None:
        return placed, None
    nogoods = ctx.memo.nogoods
    searches = [StepSearch(ctx, step, placed)]
    dead = [_known_dead(nogoods, searches[0], base)]
    day_conflicts: list[set[int]] = [set()]
    time_conflicts: list[set[int]] = [set()]
    deepest: Failure | None = None
    deepest_position = -1
    try:
        while True:
            search = searches[-1]
            known = dead[-1]
            candidate = search.next() if known is None else None
            if candidate is not None:
                _occupy(ctx, len(placed), candidate)
                placed.append(candidate)
                step = next_step(placed)
                if step is None:
                    return placed, None
                search = StepSearch(ctx, step, placed)
                searches.append(search)
                dead.append(_known_dead(nogoods, search, base))
                day_conflicts.append(set())
                time_conflicts.append(set())
                continue
            position = len(placed)
            if known is not None:
                by_day, by_time, failure = known
            else:
                by_day = {c for c in search.culprits | day_conflicts[-1] if base <= c < position}
                by_time = {c for c in search.time_culprits | time_conflicts[-1]
                           if base <= c < position}
                failure = Failure(search.step, search.window, search.tally)
                _remember_dead(nogoods, search, base, by_day, by_time, failure)
            if position >= deepest_position:
                deepest = Failure(failure.step, failure.window, failure.tally)
                deepest_position = position
            if not by_day and not by_time:
                return None, deepest
            if known is not None:
                ctx.budget.nogood()
            else:
                ctx.budget.backtrack()
                if ctx.budget.backtracks >= RESOURCE_LOOKAHEAD_AFTER:
                    ctx.resource_lookahead = True
            target = max(by_day | by_time)
            for gone in range(len(placed) - 1, target - 1, -1):
                ctx.occupancy.plan.remove_owner(gone)
                placed.pop()
            keep = target - base + 1
            del searches[keep:]
            del dead[keep:]
            del day_conflicts[keep:]
            del time_conflicts[keep:]
            day_conflicts[-1] |= by_day - {target}
            time_conflicts[-1] |= by_time - {target}
            if target not in by_time:
                searches[-1].skip_day(searches[-1].last_day)
            elif not _time_sensitive(failure.tally):
                searches[-1].no_rest(searches[-1].last_day)
    except SearchLimit:
        if deepest is None:
            search = searches[-1]
            deepest = Failure(search.step, search.window, search.tally)
        deepest.limit_reached = True
        return None, deepest


def _time_sensitive(tally: Tally) -> bool:
    """Did the failed step reject anything for its time (resources, hours bounds, a window
    another hour of an earlier session would move), not only whole days?"""
    return bool(tally.seconds) or rule_codes.WINDOW in tally.days


def _nogood_key(search: StepSearch, base: int) -> tuple:
    """What a step's enumeration depends on besides its conflict set: the step and its place
    in the plan, its resource preference order, and the start date if it bounds the window."""
    ctx, window = search.ctx, search.window
    start = ctx.start_on if window.day_lo <= ctx.start_on or not search.placed else None
    return (search.step.key, search.position, base, start, search.room_order,
            search.staff_order)


def _signature(placed: list[Placed], positions: tuple[int, ...],
               by_time: set[int]) -> tuple:
    """The values of the conflict set's sessions that matter: the whole placement for those
    whose time or resources rejected candidates, only the date for the others."""
    out = []
    for c in positions:
        p = placed[c]
        if c in by_time:
            out.append((p.step.key, p.start, p.end, p.allocations))
        else:
            out.append((p.step.key, p.day, p.skipped))
    return tuple(out)


def _known_dead(nogoods: dict, search: StepSearch, base: int):
    stored = nogoods.get(_nogood_key(search, base))
    if not stored:
        return None
    for (positions, time_positions), table in stored.items():
        hit = table.get(_signature(search.placed, positions, time_positions))
        if hit is not None:
            return hit
    return None


def _remember_dead(nogoods: dict, search: StepSearch, base: int, by_day: set[int],
                   by_time: set[int], failure: Failure) -> None:
    positions = tuple(sorted(by_day | by_time))
    time_positions = frozenset(by_time)
    table = nogoods.setdefault(_nogood_key(search, base), {}).setdefault(
        (positions, time_positions), {})
    table[_signature(search.placed, positions, time_positions)] = (
        frozenset(by_day), frozenset(by_time), failure)


def _occupy(ctx: Context, position: int, p: Placed) -> None:
    if p.skipped:
        return
    plan = ctx.occupancy.plan
    for rtype, rid, unit, s, e in p.allocations:
        plan.add((rtype, rid, unit), s, e, position)
