"""Repairing plans a disruption broke, as one batch (SPEC 8's re-plan objective).

Each affected plan keeps every session before its first affected one. From there each session
keeps its slot if it still holds; an affected one (or one a rule now forces) goes as near its old
start as it can: the same time with other resources first (the patient notices nothing), then
the same day, then the nearest days, favouring its old room and people. Every rule of the plan
holds afterwards. A session that cannot be placed at all is given up (``unplaceable``, with the
engine's explanation) and the rest of the plan is repaired without it.

Plans are repaired one after the other in a canonical order (the first affected session's start,
then the caller's plan id), each seeing the slots the earlier ones took and freed, so the result
depends on the data only, never on the order rows were read in.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from scheduler.rules.model import SessionKind

from .context import Context
from .explain import Explanation, PlacementError
from .index import BookingIndex
from .inputs import Enrollment, Practice, SearchOptions
from .localtime import to_seconds
from .placement import make_context
from .plan import PlacedSession, Plan
from .reschedule import replan, replan_steps


@dataclass(frozen=True)
class RepairJob:
    plan_id: Hashable
    """The caller's id for the plan (an enrollment id): the tie-break of the order."""
    enrollment: Enrollment
    plan: Plan
    """The plan's sessions that may still move or block (in time order)."""
    affected: frozenset[str]
    """Keys of the sessions the disruption hits."""
    kinds: Mapping[str, SessionKind] | None = None
    """The session kinds of the plan's pinned version, when they differ from the practice's."""


@dataclass
class RepairResult:
    job: RepairJob
    plan: Plan
    """The repaired plan, without the sessions given up."""
    changed: tuple[PlacedSession, ...]
    unplaceable: dict[str, Explanation] = field(default_factory=dict)
    clinics: dict[str, Hashable] = field(default_factory=dict)
    """Sessions moved to another clinic (``elsewhere``): key -> that clinic's id."""


def repair_plans(practice: Practice, jobs: Sequence[RepairJob],
                 options: SearchOptions = SearchOptions()) -> list[RepairResult]:
    """Repair every job's plan; ``practice.bookings`` must hold none of the jobs' allocations
    (each plan's current ones come with its job and are freed as it moves)."""
    if isinstance(practice.bookings, BookingIndex):
        raise TypeError("repair_plans needs the bookings as allocations (it keeps its own index)")
    index = BookingIndex.from_allocations(
        [*practice.bookings, *(a for job in jobs for a in job.plan.allocations())])
    order = sorted(jobs, key=lambda j: (_first_affected(j), str(j.plan_id)))
    results = []
    for job in order:
        result = _repair_one(practice, index, job, options)
        index.discard_allocations(job.plan.allocations())
        index.add_allocations(result.plan.allocations())
        results.append(result)
    return results


def _first_affected(job: RepairJob) -> datetime:
    return min(s.start for s in job.plan.sessions if s.key in job.affected)


def _repair_one(practice: Practice, index: BookingIndex, job: RepairJob,
                options: SearchOptions) -> RepairResult:
    plan = job.plan
    unplaceable: dict[str, Explanation] = {}
    while True:
        keys = [s.key for s in plan.sessions]
        hit = [k for k in keys if k in job.affected or k in _dropped_parents(job, unplaceable)]
        if not hit:
            return RepairResult(job, plan, (), unplaceable)
        first = keys.index(hit[0])
        own = practice if job.kinds is None else replace(practice, kinds=job.kinds)
        ctx = make_context(own, job.enrollment, options, bookings=index,
                           exclude=tuple(job.plan.allocations()))
        steps = replan_steps(ctx, job.enrollment, plan, first)
        for step in steps[first:]:
            if step.key in job.affected:
                step.keep = None  # its old slot is what the disruption takes away
        try:
            result = replan(ctx, plan, steps, first, set(job.affected))
        except PlacementError as exc:
            failed = exc.explanation.session_key
            if failed not in keys[first:]:
                failed = hit[0]
            unplaceable[failed] = exc.explanation
            plan = Plan(tuple(s for s in plan.sessions
                              if s.key != failed and s.follow_up_of != failed))
            continue
        return RepairResult(job, result.plan, result.changed, unplaceable)


def _dropped_parents(job: RepairJob, unplaceable: dict[str, Explanation]) -> set[str]:
    """Sessions after a given-up one must be re-judged: the rules now see a gap there."""
    if not unplaceable:
        return set()
    first_gone = min(s.start for s in job.plan.sessions if s.key in unplaceable)
    return {s.key for s in job.plan.sessions if s.start > first_gone}


def prescriber_covered(practice: Practice, kind_code: str, start: datetime) -> bool:
    """A session of this kind starting then still has a prescriber on shift at the clinic
    through its dose segments (SPEC 8: an absence can leave it without one)."""
    t = to_seconds(start)
    ctx = Context(practice, protocol=None, patient_id=None, start_on=start.date(),
                  horizon=start.date())
    spec = ctx.spec(ctx.kind(kind_code))
    if not spec.prescriber_on_site:
        return True
    return ctx.finder._prescriber_hint(spec, t, ctx.day(ctx.clock.local_date(t))) == t
