"""Continuing a placed plan when the rolling horizon moves forward: ``extend_plan``.

``until_days`` phases are placed only up to the enrollment's horizon; a background job later
moves the horizon and asks for the continuation. The sessions already placed (the fixed plan,
as stored: keys, times, rooms, staff, allocations) stay exactly as they are and count for
every rule and every resource as if the engine had just placed them:

- an open-ended phase continues from its LAST fixed session (``gap_days``) and stops where
  ``place_plan`` would: at its FIRST session + ``until_days`` (or ``within_days`` when shorter)
  or at the new horizon; a phase without a session yet starts as its ``after`` rule says;
- ``min_hours_between_doses``, ``max_per_week`` and route caps count the fixed sessions;
- the fixed sessions' allocations (not expected among the practice's bookings) and the
  patient's unit over each fixed session block the new sessions;
- an open-ended phase is closed once a later phase has sessions (continuing it would break
  that phase's ``after`` rule or order); ``count`` phases are never topped up: a session
  missing from the fixed plan was cancelled on purpose;
- numbering continues after the highest number of the phase among the fixed sessions (a
  cancelled booster is simply absent) and ``reserved_keys`` (keys a caller must not reuse,
  such as cancelled appointments'); follow-ups take their parent's number.

New sessions follow the fixed ones in the returned plan; when nothing new is due before the
horizon the fixed plan itself is returned, so extending twice to the same horizon adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from .context import Context, as_index
from .explain import PlacementError
from .inputs import Enrollment, Practice, SearchOptions
from .localtime import to_seconds
from .placement import (
    ProtocolSteps,
    explain_failure,
    from_session,
    make_context,
    static_blockers,
    to_session,
)
from .plan import PlacedSession, Plan
from .search import Failure, backtrack
from .steps import Placed, Step, main_positions

_NUMBER = re.compile(r"^(?P<phase>.+)#(?P<number>\d+)(?:/.*)?$")


def extend_plan(practice: Practice, enrollment: Enrollment, fixed_plan: Plan,
                options: SearchOptions = SearchOptions(), *, not_before: date | None = None,
                reserved_keys: Iterable[str] = ()) -> Plan:
    """The fixed plan continued up to ``enrollment.horizon`` (exclusive); see the module doc.

    ``not_before``: no new session on an earlier local date (e.g. today, when the job ran
    late). Raises ``PlacementError`` when a session that is due cannot be placed, and
    ``ValueError`` when a fixed session names a phase or kind the protocol does not know.
    """
    protocol = enrollment.protocol
    if all(phase.count is not None for phase in protocol.phases):
        return fixed_plan
    start_on = enrollment.start_on if not_before is None else max(enrollment.start_on,
                                                                   not_before)
    ctx = make_context(practice, enrollment, options, start_on=start_on,
                       bookings=as_index(practice.bookings))
    fixed = fixed_placed(ctx, fixed_plan.sessions)
    highest: dict[str, int] = {}
    named = [(s.phase, s.key) for s in fixed_plan.sessions]
    named += [(m["phase"], key) for key in reserved_keys if (m := _NUMBER.match(key))]
    for phase, key in named:
        match = _NUMBER.match(key)
        if match:
            highest[phase] = max(highest.get(phase, 0), int(match["number"]))
    placed, failure = backtrack(ctx, ContinuationSteps(ctx, fixed, highest), fixed)
    if placed is None:
        raise PlacementError(_explain(ctx, failure))
    new = tuple(to_session(ctx, placed, p) for p in placed[len(fixed):] if not p.skipped)
    return Plan(fixed_plan.sessions + new) if new else fixed_plan


def fixed_placed(ctx: Context, sessions: Iterable[PlacedSession]) -> list[Placed]:
    """The fixed sessions as placed steps in time order (a phase's first and last sessions are
    then its first and last positions, as the spacing rules expect)."""
    protocol = ctx.protocol
    phase_index = {p.name: i for i, p in enumerate(protocol.phases)}
    ordered = sorted(sessions, key=lambda s: (to_seconds(s.start), s.key))
    position = {s.key: i for i, s in enumerate(ordered)}
    out: list[Placed] = []
    for i, session in enumerate(ordered):
        index = phase_index.get(session.phase)
        if index is None:
            raise ValueError(f"session {session.key}: phase {session.phase!r} not in protocol")
        phase = protocol.phases[index]
        kind = ctx.kind(session.kind)
        parent = None
        if session.follow_up_of is not None:
            # a follow-up whose session was cancelled still is a follow-up (never a main)
            parent = position.get(session.follow_up_of, i)
        match = _NUMBER.match(session.key)
        number = int(match["number"]) if match else 0
        step = Step(session.key, index, phase, number, kind, ctx.spec(kind), parent=parent,
                    until=phase.count is None)
        out.append(from_session(ctx, step, session))
    return out


class ContinuationSteps(ProtocolSteps):
    """The next step after the fixed sessions: only open-ended phases continue."""

    def __init__(self, ctx: Context, fixed: list[Placed], highest: dict[str, int]) -> None:
        super().__init__(ctx)
        self.base = len(fixed)
        self.highest = highest
        last_phase = max((p.step.phase_index for p in fixed), default=-1)
        self.closed = [i < last_phase for i in range(len(self.phases))]
        """A phase is closed once a later phase has fixed sessions."""

    def __call__(self, placed: list[Placed]) -> Step | None:
        if len(placed) == self.base:
            return self._phase_from(0, placed)
        last = placed[-1]
        step = last.step
        phase = step.phase
        if not last.skipped and step.parent is None and phase.follow_up is not None:
            return self.make(step.phase_index, step.number, parent=len(placed) - 1)
        if not last.skipped and self._until_continues(phase, placed,
                                                      main_positions(placed, phase.name)):
            return self._next_main(step.phase_index, placed)
        return self._phase_from(step.phase_index + 1, placed)

    def _phase_from(self, index: int, placed: list[Placed]) -> Step | None:
        for i in range(index, len(self.phases)):
            phase = self.phases[i]
            if phase.count is not None or self.closed[i]:
                continue
            mains = main_positions(placed, phase.name)
            if not mains or self._until_continues(phase, placed, mains):
                return self._next_main(i, placed)
        return None

    def _next_main(self, phase_index: int, placed: list[Placed]) -> Step:
        name = self.phases[phase_index].name
        new = sum(1 for p in placed[self.base:] if p.step.phase.name == name
                  and not p.step.is_follow_up and not p.skipped)
        return self.make(phase_index, self.highest.get(name, 0) + new + 1)


def _explain(ctx: Context, failure: Failure | None):
    explanation = explain_failure(ctx, failure, None, False)
    if failure is not None:
        static = static_blockers(ctx, [failure.step.kind])
        if static:
            explanation = replace(explanation, blockers=tuple(static))
    return explanation
