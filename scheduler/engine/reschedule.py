"""Moving one session of a placed plan, shifting later sessions only as far as the rules need.

Sessions before the moved one (in plan order) stay exactly as they are. The moved session goes
to the exact start asked for, or to the earliest workable start at or after ``not_before``.
Every later session keeps its time and resources if all rules and its resources still hold;
otherwise it is re-placed as close as possible to its old start, with the same backtracking as
a new plan. The plan's own allocations (if the bookings passed in contain them) never block it,
and neither do the old slots of its later sessions: a moved session may take the time a later one
leaves (the later one then keeps its slot only if it still fits).
Sessions of ``until_days`` phases stay within the phase's span (from its first session, as
moved) and the enrollment's horizon (or the latest such session already booked, if later).
"""

from __future__ import annotations

from datetime import datetime

from .context import Context, as_index
from .explain import PlacementError
from .inputs import Enrollment, Practice, SearchOptions
from .localtime import to_seconds
from .placement import explain_failure, from_session, make_context, to_plan
from .plan import Plan, RescheduleResult
from .resources import Assignment
from .search import backtrack
from .steps import Placed, Step


def reschedule(practice: Practice, enrollment: Enrollment, plan: Plan, session_key: str, *,
               start: datetime | None = None, not_before: datetime | None = None,
               options: SearchOptions = SearchOptions()) -> RescheduleResult:
    if (start is None) == (not_before is None):
        raise ValueError("give exactly one of start and not_before")
    keys = [s.key for s in plan.sessions]
    if session_key not in keys:
        raise KeyError(f"no session {session_key!r} in the plan")
    moved = keys.index(session_key)
    ctx = make_context(practice, enrollment, options, bookings=as_index(practice.bookings),
                       exclude=tuple(plan.allocations()))
    steps = replan_steps(ctx, enrollment, plan, moved)
    target = steps[moved]
    target.keep = None
    if start is not None:
        target.exact = to_seconds(start)
    else:
        target.not_before = to_seconds(not_before)
        target.near = None
    return replan(ctx, plan, steps, moved, {session_key})


def replan_steps(ctx: Context, enrollment: Enrollment, plan: Plan, first: int) -> list[Step]:
    """The plan as steps: those before ``first`` stay; from ``first`` on each keeps its old
    slot if it still holds, else goes as near its old start as it can, on its old resources
    where they are free."""
    protocol = enrollment.protocol
    phase_index = {p.name: i for i, p in enumerate(protocol.phases)}
    keys = [s.key for s in plan.sessions]
    # Open-ended phases stay inside until_days and the horizon; the horizon never evicts a
    # session already booked beyond it (it only bounds where sessions may move).
    open_days = [ctx.clock.local_date(to_seconds(s.start)) for s in plan.sessions
                 if s.phase in phase_index and protocol.phases[phase_index[s.phase]].count is None]
    ctx.horizon = max([ctx.horizon, *open_days])
    steps: list[Step] = []
    numbers: dict[str, int] = {}
    for session in plan.sessions:
        if session.phase not in phase_index:
            raise ValueError(f"session {session.key}: phase {session.phase!r} not in protocol")
        index = phase_index[session.phase]
        phase = protocol.phases[index]
        kind = ctx.kind(session.kind)
        parent = keys.index(session.follow_up_of) if session.follow_up_of else None
        if parent is None:
            numbers[phase.name] = numbers.get(phase.name, 0) + 1
        number = numbers.get(phase.name, 0) if parent is None else steps[parent].number
        open_ended = phase.count is None
        step = Step(session.key, index, phase, number, kind, ctx.spec(kind), parent=parent,
                    until=open_ended, required=open_ended)
        begin = to_seconds(session.start)
        allocations = tuple((a.resource_type, a.resource_id, a.unit, to_seconds(a.start),
                             to_seconds(a.end)) for a in session.allocations
                            if a.resource_type != "patient")
        old = Assignment(session.room_id, tuple(session.staff_ids), allocations)
        step.prefer = old
        if len(steps) >= first:
            step.keep = (begin, old)
            step.near = begin
        steps.append(step)
    return steps


def replan(ctx: Context, plan: Plan, steps: list[Step], first: int,
           always_changed: set[str]) -> RescheduleResult:
    """Search the steps from ``first`` on; report every session whose time or resources
    changed (and those in ``always_changed``)."""
    fixed = [from_session(ctx, step, session)
             for step, session in zip(steps[:first], plan.sessions, strict=False)]

    def next_step(placed: list[Placed]) -> Step | None:
        return steps[len(placed)] if len(placed) < len(steps) else None

    placed, failure = backtrack(ctx, next_step, fixed)
    if placed is None:
        raise PlacementError(explain_failure(ctx, failure, None, False))
    new_plan = to_plan(ctx, placed)
    changed = tuple(new for new, old in zip(new_plan.sessions, plan.sessions, strict=True)
                    if new.start != old.start or set(new.allocations) != set(old.allocations)
                    or new.key in always_changed)
    return RescheduleResult(new_plan, changed)
