"""Moving a session a disruption leaves nowhere to go to another clinic (SPEC 8:
``allow_clinic_ids``).

After the batch repair (greedy, or the exact second opinion), a session given up in its own
clinic may still fit at an allowed clinic. Each given-up main session (with the follow-ups that
went with it) is tried there, nearest days first, nearest start to its old wall time first: the
clinic must hold the certification its route requires (esketamine REMS), a room with the
features, people with the roles on shift and free, a prescriber on site where the route or kind
needs one, its hours, closures and closed periods; the patient must be free and available; and
the whole plan, with the session there, must pass the evaluator (every rule of the pinned
version: spacing, within_days, max_per_week, weekdays, after, follow-up hours, dose spacing).
Other sessions of the plan never move for it.

Pure: the caller gives each allowed clinic as a ``Practice`` whose bookings already hold the
batch's repaired plans (so nothing is taken twice).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from scheduler.rules.evaluator import evaluate
from scheduler.rules.model import SessionKind

from .context import as_index
from .index import BookingIndex
from .inputs import Allocation, Practice, SearchOptions
from .localtime import to_datetime, to_seconds
from .placement import make_context
from .plan import PlacedSession, Plan
from .repair import RepairResult
from .resources import Miss


@dataclass(frozen=True)
class ElsewhereSettings:
    days_each_side: int = 14
    starts_per_day: int = 12
    max_checks: int = 2_000
    """Evaluator calls per plan: the bound on the search."""


def place_elsewhere(results: Sequence[RepairResult], clinics: Sequence[Practice],
                    home: Practice,
                    settings: ElsewhereSettings = ElsewhereSettings()) -> list[RepairResult]:
    """``results`` (one batch) with as many of their given-up sessions as fit moved to one of
    ``clinics`` (tried in the order given); ``RepairResult.clinics`` names where each moved one
    went. Plans are served in the batch's order, each seeing what the earlier ones took.
    ``home`` is the plans' own clinic: its zone and certifications are the evaluator's view of
    a plan, as in the proof."""
    if not clinics or not any(r.unplaceable for r in results):
        return list(results)
    indexes = [as_index(_allocations(p.bookings)) for p in clinics]
    return [_place_one(r, clinics, indexes, home, settings) if r.unplaceable else r
            for r in results]


def _place_one(result: RepairResult, clinics: Sequence[Practice], indexes: list[BookingIndex],
               home: Practice, settings: ElsewhereSettings) -> RepairResult:
    job = result.job
    kinds: Mapping[str, SessionKind] | None = job.kinds
    home_tz = ZoneInfo(home.clinic.timezone)
    certifications = home.clinic.certifications
    old = {s.key: s for s in job.plan.sessions}
    given_up = [k for k in sorted(result.unplaceable, key=lambda k: (old[k].start, k))
                if old[k].follow_up_of is None or old[k].follow_up_of not in result.unplaceable]
    plan, changed = result.plan, list(result.changed)
    placed_at: dict[str, Hashable] = dict(result.clinics)
    unplaceable = dict(result.unplaceable)
    checks = [0]
    for key in given_up:
        group = [old[key]] + [s for s in job.plan.sessions if s.follow_up_of == key
                              and s.key not in {x.key for x in plan.sessions}]
        for practice, index in zip(clinics, indexes, strict=True):
            own = practice if kinds is None else replace(practice, kinds=kinds)
            found = _fit_group(own, index, job, plan, group, certifications, home_tz,
                               settings, checks)
            if found is not None:
                plan = Plan(tuple(sorted((*plan.sessions, *found), key=lambda s: s.start)))
                changed += found
                for s in found:
                    placed_at[s.key] = practice.clinic.id
                    unplaceable.pop(s.key, None)
                    index.add_allocations(s.allocations)  # later plans see it taken
                break
    if len(unplaceable) == len(result.unplaceable):
        return result
    return RepairResult(job, plan, tuple(changed), unplaceable, placed_at)


def _fit_group(practice: Practice, index: BookingIndex, job, plan: Plan,
               group: list[PlacedSession], certifications: frozenset[str], home_tz: ZoneInfo,
               settings: ElsewhereSettings, checks: list[int]) -> list[PlacedSession] | None:
    ctx = make_context(practice, job.enrollment, SearchOptions(), bookings=index)
    placed: list[PlacedSession] = []
    for session in group:
        parent = next((p for p in placed if p.key == session.follow_up_of), None)
        found = _fit(ctx, job, Plan(tuple((*plan.sessions, *placed))), session, parent,
                     certifications, home_tz, settings, checks)
        if found is None:
            return None
        placed.append(found)
        for a in found.allocations:
            ctx.occupancy.plan.add((a.resource_type, a.resource_id, a.unit),
                                   to_seconds(a.start), to_seconds(a.end), -1)
    return placed


def _allocations(bookings) -> list[Allocation]:
    if isinstance(bookings, BookingIndex):
        raise TypeError("place_elsewhere needs the bookings as allocations")
    return list(bookings)


def _fit(ctx, job, plan: Plan, session: PlacedSession, parent: PlacedSession | None,
         certifications, home_tz, settings: ElsewhereSettings, checks: list[int]):
    kind = ctx.kind(session.kind)
    route = ctx.route(kind)
    if route is not None and route.required_certification \
            and route.required_certification not in ctx.clinic.certifications:
        return None
    spec = ctx.spec(kind)
    if (kind.needs_room and not spec.rooms) or any(not n.candidates for n in spec.needs):
        return None
    t0 = to_seconds(session.start)
    home = ctx.clock.local_date(t0)
    wall = ctx.clock.wall_minute(t0)
    patient = ("patient", job.enrollment.patient_id, 0)
    for distance in range(settings.days_each_side + 1):
        days = (home,) if distance == 0 else (home - timedelta(days=distance),
                                              home + timedelta(days=distance))
        for day in days:
            info = ctx.day(day)
            target = ctx.clock.window(day, wall, wall)[0]
            starts = ctx.day_starts(info, spec.duration).starts
            tried = 0
            for t in sorted(starts, key=lambda t: (abs(t - target), t)):
                if tried >= settings.starts_per_day or checks[0] >= settings.max_checks:
                    break
                if ctx.not_before is not None and t < ctx.not_before:
                    continue
                if parent is not None and not _follows(parent, t, job):
                    continue
                if ctx.occupancy.next_free(patient, t, spec.duration) != t:
                    continue
                got = ctx.finder.find(spec, t, info)
                if isinstance(got, Miss):
                    continue
                tried += 1
                checks[0] += 1
                candidate = PlacedSession(
                    session.key, session.phase, session.kind, to_datetime(t),
                    to_datetime(t + spec.duration), follow_up_of=session.follow_up_of,
                    allocations=tuple(Allocation(rtype, rid, unit, to_datetime(s),
                                                 to_datetime(e))
                                      for rtype, rid, unit, s, e in got.allocations)
                    + (Allocation("patient", job.enrollment.patient_id, 0, to_datetime(t),
                                  to_datetime(t + spec.duration)),),
                    room_id=got.room_id, staff_ids=got.staff_ids)
                sessions = sorted((*plan.sessions, candidate), key=lambda s: s.start)
                if not evaluate(job.enrollment.protocol, ctx.kinds, sessions, tz=home_tz,
                                clinic_certifications=certifications, complete=False):
                    return candidate
    return None


def _follows(parent: PlacedSession, t: int, job) -> bool:
    """A cheap pre-check of the follow-up window (the evaluator has the last word)."""
    for phase in job.enrollment.protocol.phases:
        if phase.name == parent.phase and phase.follow_up is not None:
            lo = to_seconds(parent.end) + phase.follow_up.min_hours * 3600
            hi = to_seconds(parent.end) + phase.follow_up.max_hours * 3600
            return lo <= t <= hi
    return True
