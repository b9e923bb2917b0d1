"""Placing a whole treatment plan: the protocol unrolled into steps, searched, explained.

Steps come in protocol order: each main session of a phase, directly followed by its follow-up.
``count`` phases are placed whole however far they reach; ``until_days`` phases keep adding
sessions at the gap target while the target day lies within both the phase's span and the
rolling horizon (a session that must come within the horizon is required, one that only may is
left out if it does not fit).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from scheduler.rules import codes
from scheduler.rules.model import WEEKDAYS, Phase, SessionKind
from scheduler.rules.wording import quantity

from .context import Context, Memo
from .explain import Blocker, Explanation, PlacementError
from .index import BookingIndex
from .inputs import Allocation, Enrollment, Practice, SearchOptions, format_hhmm
from .localtime import to_datetime, to_seconds
from .plan import PlacedSession, Plan
from .resources import Assignment
from .search import Failure, availability_words, backtrack
from .spacing import until_limit
from .steps import Placed, Step, main_positions
from .weekly import day_windows, never_fitting_phase

FOLLOW_UP_SUFFIX = "/follow_up"


def session_key(phase: Phase, number: int, follow_up: bool = False) -> str:
    key = f"{phase.name}#{number}"
    return key + FOLLOW_UP_SUFFIX if follow_up else key


class ProtocolSteps:
    """Unrolls a protocol into the next step to place, given the sessions placed so far."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.phases = ctx.protocol.phases

    def make(self, phase_index: int, number: int, parent: int | None = None) -> Step:
        phase = self.phases[phase_index]
        code = phase.follow_up.session_kind if parent is not None else phase.session_kind
        kind = self.ctx.kind(code)
        return Step(session_key(phase, number, parent is not None), phase_index, phase, number,
                    kind, self.ctx.spec(kind), parent=parent, until=phase.count is None)

    def __call__(self, placed: list[Placed]) -> Step | None:
        if not placed:
            return self._phase_start(0)
        last = placed[-1]
        step = last.step
        phase = step.phase
        if not last.skipped and step.parent is None and phase.follow_up is not None:
            return self.make(step.phase_index, step.number, parent=len(placed) - 1)
        if not last.skipped:
            mains = main_positions(placed, phase.name)
            if phase.count is not None and len(mains) < phase.count:
                return self.make(step.phase_index, len(mains) + 1)
            if phase.count is None and self._until_continues(phase, placed, mains):
                return self.make(step.phase_index, len(mains) + 1)
        return self._phase_start(step.phase_index + 1)

    def _phase_start(self, index: int) -> Step | None:
        while index < len(self.phases):
            phase = self.phases[index]
            if phase.count is None or phase.count > 0:
                return self.make(index, 1)
            index += 1
        return None

    def _until_continues(self, phase: Phase, placed: list[Placed], mains: list[int]) -> bool:
        if phase.gap_days is None:
            return False
        first, last = placed[mains[0]].day, placed[mains[-1]].day
        return last + timedelta(days=phase.gap_days.target) <= until_limit(self.ctx, phase, first)


def static_blockers(ctx: Context, kinds: list[SessionKind]) -> list[Blocker]:
    """Reasons no start date can ever work (checked before searching)."""
    out: list[Blocker] = []
    clinic = ctx.clinic
    longest_open = max((end - start for weekday in range(7)
                        for start, end in day_windows(clinic.hours, weekday)), default=0)
    a = ctx.availability
    longest_available = (a.latest if a.latest is not None else 2 * 1440) - (a.earliest or 0)
    for kind in kinds:
        route = ctx.route(kind)
        if route is not None and route.required_certification \
                and route.required_certification not in clinic.certifications:
            out.append(Blocker(codes.ROUTE_REQUIRED_CERTIFICATION,
                               route.required_certification, 1.0))
        spec = ctx.spec(kind)
        if kind.needs_room and not spec.rooms:
            out.append(Blocker(codes.ROOM_FEATURES, " and ".join(sorted(kind.room_features)), 1.0))
        for need in spec.needs:
            if not need.candidates:
                out.append(Blocker(codes.STAFF_ROLE, need.role, 1.0))
        if spec.prescriber_on_site and not ctx.finder.prescribers:
            out.append(Blocker(codes.STAFF_ROLE, "prescriber", 1.0))
        if kind.duration_minutes > longest_open:
            out.append(Blocker(codes.TOO_LONG, "opening window", 1.0))
        elif kind.duration_minutes > longest_available:
            out.append(Blocker(codes.TOO_LONG, "availability window of the patient", 1.0))
    return out


def protocol_kinds(ctx: Context) -> list[SessionKind]:
    kind_codes: list[str] = []
    for phase in ctx.protocol.phases:
        kind_codes.append(phase.session_kind)
        if phase.follow_up is not None:
            kind_codes.append(phase.follow_up.session_kind)
    return [ctx.kind(code) for code in dict.fromkeys(kind_codes)]


def make_context(practice: Practice, enrollment: Enrollment, options: SearchOptions, *,
                 start_on: date | None = None, bookings: BookingIndex | None = None,
                 exclude: tuple[Allocation, ...] = (), memo: Memo | None = None) -> Context:
    return Context(practice, protocol=enrollment.protocol, patient_id=enrollment.patient_id,
                   start_on=start_on or enrollment.start_on,
                   horizon=enrollment.horizon - timedelta(days=1),
                   availability=enrollment.availability, preferences=enrollment.preferences,
                   patient_busy=enrollment.patient_busy, options=options, bookings=bookings,
                   exclude=exclude, memo=memo, not_before=enrollment.not_before)


def place_plan(practice: Practice, enrollment: Enrollment,
               options: SearchOptions = SearchOptions()) -> Plan:
    """Place every session of the enrollment's protocol; raise ``PlacementError`` if none fits.

    Bookings may be passed as a prebuilt ``BookingIndex`` in ``practice.bookings`` to reuse it
    across calls; the engine never changes it. What no start date can fix (a missing room
    feature, role or certification; a series the patient's week can never hold, see
    ``weekly``) fails before any search; otherwise a failed search is followed by the
    earliest-date search, which reuses what the search learned.
    """
    from .context import as_index

    bookings = as_index(practice.bookings)
    ctx = make_context(practice, enrollment, options, bookings=bookings)
    kinds = protocol_kinds(ctx)
    static = static_blockers(ctx, kinds)
    if static:
        raise PlacementError(Explanation(None, None, None, tuple(static),
                                         searched_earliest=True))
    never = never_fitting_phase(ctx)
    if never is not None:
        raise PlacementError(never_fits(ctx, *never))
    placed, failure = backtrack(ctx, ProtocolSteps(ctx), [])
    if placed is not None:
        return to_plan(ctx, placed)
    earliest, complete = None, True
    if options.explain_earliest_date:
        earliest, complete = earliest_start(practice, enrollment, options, bookings, ctx.memo)
    explanation = explain_failure(ctx, failure, earliest, options.explain_earliest_date)
    if not complete:
        explanation = replace(explanation, earliest_search_limited=True)
    raise PlacementError(explanation)


def never_fits(ctx: Context, phase: Phase, availability_rules_out: bool) -> Explanation:
    """A series no start date can fit (``weekly``): say which rules and what limits the days."""
    rules = [r for r, on in (("gap_days", phase.gap_days), ("within_days", phase.within_days),
                             ("weekdays", phase.weekdays), ("follow_up", phase.follow_up))
             if on is not None]
    blockers = []
    if availability_rules_out:
        # The patient's weekdays on which the clinic never opens are the first thing to say.
        days = ctx.availability.weekdays or frozenset()
        closed = tuple(d for d in WEEKDAYS if d in days and not ctx.clinic.hours.get(d))
        if closed:
            blockers.append(Blocker(codes.CLOSED, "", 1.0, weekdays=closed))
        blockers.append(Blocker(codes.AVAILABILITY, availability_words(ctx), 1.0))
    else:
        blockers.append(Blocker(codes.HOURS, "", 1.0))
    blockers.append(Blocker(codes.SERIES, ", ".join(rules) or "count", 1.0))
    kind = ctx.kind(phase.session_kind)
    key = session_key(phase, 1)
    note = (f"no week has days for {quantity(phase.count, phase.name + ' session')}"
            + (f" {phase.gap_days.min}-{phase.gap_days.max} days apart" if phase.gap_days else "")
            + (f" within {phase.within_days} days" if phase.within_days is not None else "")
            + (f", each with a {phase.follow_up.session_kind} {phase.follow_up.min_hours:g}-"
               f"{phase.follow_up.max_hours:g} h later" if phase.follow_up else "")
            + (" when the patient can come" if availability_rules_out
               else " inside the opening hours"))
    return Explanation(key, phase.name, kind.code, tuple(blockers), searched_earliest=True,
                       notes=(note,))


class _OutOfWork(Exception):
    pass


def earliest_start(practice: Practice, enrollment: Enrollment, options: SearchOptions,
                   bookings: BookingIndex, memo: Memo | None = None) -> tuple[date | None, bool]:
    """Earliest start date within ``earliest_date_search_days`` from which the plan fits, and
    whether the search finished within its work limit.

    Galloping (1, 2, 4, ... days later) finds a workable date in O(log n) attempts, then a
    binary search narrows the gap to the last failing date. Workability is not strictly
    monotone in the start date, so the answer is a verified workable date (a plan was found
    from it) that is the earliest among those the search probed. Each attempt runs with a
    reduced budget; all attempts share ``memo`` (resource misses, dead ends, day calendars of
    the failed placement) and together spend at most ``earliest_date_max_evaluations`` checks:
    when that runs out the answer is the earliest verified date so far, or None, and
    ``complete`` is False.
    """
    cheap = replace(options, max_backtracks=max(10, options.max_backtracks // 20),
                    max_evaluations=max(1500, options.max_evaluations // 20),
                    explain_earliest_date=False)
    memo = memo if memo is not None else Memo()
    start = enrollment.start_on
    span = options.earliest_date_search_days
    spent = 0

    def works(offset: int) -> bool:
        nonlocal spent
        if spent >= options.earliest_date_max_evaluations:
            raise _OutOfWork
        ctx = make_context(practice, enrollment, cheap, start_on=start + timedelta(days=offset),
                           bookings=bookings, memo=memo)
        ctx.resource_lookahead = True
        placed, _ = backtrack(ctx, ProtocolSteps(ctx), [])
        spent += ctx.budget.evaluations
        return placed is not None

    failing, step = 0, 1
    found = None
    try:
        while step <= span:
            if works(step):
                found = step
                break
            failing = step
            step *= 2
        if found is None:
            if failing < span and works(span):
                found = span
            else:
                return None, True
    except _OutOfWork:
        return None, False
    lo, hi = failing, found
    try:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if works(mid):
                hi = mid
            else:
                lo = mid
    except _OutOfWork:
        return start + timedelta(days=hi), False
    return start + timedelta(days=hi), True


def explain_failure(ctx: Context, failure: Failure | None, earliest: date | None,
                    searched: bool) -> Explanation:
    if failure is None:
        return Explanation(None, None, None, (Blocker(codes.SEARCH_LIMIT),),
                           earliest_start_on=earliest, searched_earliest=searched)
    step, window = failure.step, failure.window
    blockers = failure.tally.blockers()
    if failure.limit_reached:
        blockers = blockers + (Blocker(codes.SEARCH_LIMIT),)
    if not blockers:
        blockers = (Blocker(codes.WINDOW, ", ".join(window.rules) or "start date", 1.0),)
    start = ctx.day(window.day_lo).start
    end = ctx.day(window.day_hi).end
    if window.t_lo is not None:
        start = max(start, window.t_lo)
    if window.t_hi is not None:
        end = min(end, window.t_hi)
    words = _window_words(ctx, window.day_lo, window.day_hi)
    return Explanation(step.key, step.phase.name, step.kind.code, blockers,
                       to_datetime(start), to_datetime(end), words, earliest, searched)


def _window_words(ctx: Context, first: date, last: date) -> str:
    a = ctx.availability
    span = f"{first:%a %Y-%m-%d}" if first == last else f"{first:%a %Y-%m-%d}–{last:%a %Y-%m-%d}"
    if a.earliest is not None or a.latest is not None:
        span += f" {format_hhmm(a.earliest or 0)}–{format_hhmm(a.latest or 1440)}"
    return f"searched {span}"


def to_plan(ctx: Context, placed: list[Placed]) -> Plan:
    return Plan(tuple(to_session(ctx, placed, p) for p in placed if not p.skipped))


def to_session(ctx: Context, placed: list[Placed], p: Placed) -> PlacedSession:
    step = p.step
    parent = placed[step.parent].step.key if step.parent is not None else None
    allocations = tuple(Allocation(rtype, rid, unit, to_datetime(s), to_datetime(e))
                        for rtype, rid, unit, s, e in p.allocations)
    return PlacedSession(step.key, step.phase.name, step.kind.code, to_datetime(p.start),
                         to_datetime(p.end), follow_up_of=parent, allocations=allocations,
                         room_id=p.assignment.room_id, staff_ids=p.assignment.staff_ids)


def from_session(ctx: Context, step: Step, session: PlacedSession) -> Placed:
    """A session of an existing plan as a placed step that stays where it is: its own
    resources (the patient's unit over the session included) block everything placed after it."""
    begin, end = to_seconds(session.start), to_seconds(session.end)
    allocations = tuple((a.resource_type, a.resource_id, a.unit, to_seconds(a.start),
                         to_seconds(a.end)) for a in session.allocations
                        if a.resource_type != "patient")
    assignment = Assignment(session.room_id, tuple(session.staff_ids), allocations)
    if ctx.patient_id is not None:
        allocations = allocations + (("patient", ctx.patient_id, 0, begin, end),)
    doses = tuple(begin + offset for offset in ctx.dose_offsets(step.kind))
    return Placed(step, begin, end, ctx.clock.local_date(begin), doses, assignment, allocations)
