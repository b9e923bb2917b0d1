"""An exact second opinion on a disruption's batch repair: CP-SAT chooses every plan's repair
jointly (SPEC 8's re-plan objective).

The greedy batch (``repair``) repairs plans one after the other, each taking the nearest slot it
finds; an earlier plan can take the only slot a later one could use. Here each affected plan gets
a bounded set of *options*, whole repaired plans the engine itself builds and checks (every rule
of the plan's pinned version, the patient's availability, closures, hours, shifts, route and
certification rules): the greedy answer, and one per candidate for an affected session — the
same start with other resources, other starts of the same day, the nearest starts of the nearest
days — each with later sessions moved only as far as a rule forces them (``reschedule.replan``).
Plan rules concern one plan only, so an option is valid on its own; what ties plans together is
resources. CP-SAT picks exactly one option per plan so that no resource unit (room chair, staff
unit, patient) is held twice at once, minimising, in this order: sessions given up, sessions
moved (the patient sees it), sessions moved to another day, total minutes shifted. It is hinted
with the greedy answer, which is always feasible, and bounded in time and in the number of
options built. Its answer is kept only if strictly better, and only after an independent check
that no two chosen allocations overlap each other or an existing booking; the caller proves each
plan with the evaluator again before anything is held or written.

Pure: no Flask, no database. Deterministic for a given input while within its time bound (one
worker, fixed seed, options built and numbered in a canonical order).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import NamedTuple

from .explain import PlacementError
from .index import BookingIndex, held_twice
from .inputs import Allocation, Practice, SearchOptions
from .localtime import LocalClock, to_seconds
from .placement import make_context
from .plan import Plan
from .repair import RepairJob, RepairResult
from .reschedule import replan, replan_steps
from .resources import Assignment, Miss

GREEDY = "greedy"
EXACT = "exact"


@dataclass(frozen=True)
class ExactSettings:
    time_limit_seconds: float = 0.3
    """Wall-clock bound on the whole second opinion (building options and solving)."""
    num_workers: int = 1
    """CP-SAT search workers (one keeps the answer deterministic and leaves a core free)."""
    max_options: int = 400
    """Plans the engine builds over the whole call: the deterministic bound."""
    same_day_starts: int = 8
    other_day_starts: int = 3
    days_each_side: int = 7
    resource_variants: int = 3
    """Distinct room and staff choices tried at each start (another chair, another nurse)."""
    prune: bool = True
    """Build first only candidates that could beat a plan's greedy repair (see
    ``_build_options``); False builds every candidate (the quality benchmark's reference)."""
    search: SearchOptions = SearchOptions(max_backtracks=10, max_evaluations=600,
                                          explain_earliest_date=False)
    """Budget of each option's engine call (cascades of later sessions)."""


class RepairCost(NamedTuple):
    """SPEC 8's objective, compared in this order (smaller is better)."""

    unplaceable: int
    moved: int
    """Sessions whose time changed: what the patient sees."""
    other_day: int
    """Of those, the ones moved to another local day."""
    shift_minutes: int

    def __add__(self, other):  # type: ignore[override]
        return RepairCost(*(a + b for a, b in zip(self, other, strict=True)))


ZERO = RepairCost(0, 0, 0, 0)


@dataclass
class ExactAnswer:
    results: list[RepairResult]
    """The repair kept: the exact one if it is strictly better, else the greedy one."""
    solver: str
    """Which answered: ``greedy`` or ``exact``."""
    status: str
    """What the exact model came to: optimal, feasible, infeasible, unknown, not_run,
    rejected (its answer failed the independent check)."""
    greedy_cost: RepairCost
    exact_cost: RepairCost | None
    seconds: float
    options: int
    """Options built (greedy ones included)."""
    problems: list[str] = field(default_factory=list)


def needs_second_opinion(results: Sequence[RepairResult]) -> bool:
    """SPEC 8 leaves room for better when a session was given up or more sessions moved than
    were merely reassigned."""
    moved = reassigned = 0
    for r in results:
        if r.unplaceable:
            return True
        before = {s.key: s for s in r.job.plan.sessions}
        for s in r.changed:
            old = before.get(s.key)
            if old is not None and old.start == s.start and old.end == s.end:
                reassigned += 1
            else:
                moved += 1
    return moved > reassigned


def plan_cost(job: RepairJob, plan: Plan, clock: LocalClock) -> RepairCost:
    before = {s.key: s for s in job.plan.sessions}
    kept = {s.key for s in plan.sessions}
    moved = other_day = shift = 0
    for s in plan.sessions:
        old = before.get(s.key)
        if old is None or (old.start == s.start and old.end == s.end):
            continue
        moved += 1
        a, b = to_seconds(old.start), to_seconds(s.start)
        if clock.local_date(a) != clock.local_date(b):
            other_day += 1
        shift += abs(b - a) // 60
    return RepairCost(sum(1 for k in before if k not in kept), moved, other_day, shift)


def repair_cost(practice: Practice, results: Sequence[RepairResult]) -> RepairCost:
    clock = LocalClock.of(practice.clinic.timezone)
    total = ZERO
    for r in results:
        total = total + plan_cost(r.job, r.plan, clock)
    return total


# ---------------------------------------------------------------- options


@dataclass
class _Option:
    result: RepairResult
    cost: RepairCost
    units: list[tuple[tuple, int, int]]
    """Every allocation of the plan as (unit, start, end) in seconds."""


def _units(plan: Plan) -> list[tuple[tuple, int, int]]:
    return sorted({((a.resource_type, a.resource_id, a.unit), to_seconds(a.start),
                    to_seconds(a.end)) for a in plan.allocations()})


def _signature(plan: Plan) -> tuple:
    return tuple((s.key, s.start, s.end, tuple(sorted(
        (a.resource_type, str(a.resource_id), a.unit, a.start, a.end) for a in s.allocations)))
        for s in plan.sessions)


class _Builder:
    """Options for one plan: candidate starts and resources for its affected sessions, each
    made into a whole repaired plan by the engine (or dropped if no such plan exists)."""

    def __init__(self, practice: Practice, index: BookingIndex, job: RepairJob,
                 freed: list[Allocation], settings: ExactSettings, deadline: float) -> None:
        self.deadline = deadline
        self.practice = practice if job.kinds is None else replace(practice, kinds=job.kinds)
        self.index = index
        self.job = job
        self.exclude = tuple(job.plan.allocations()) + tuple(freed)
        self.settings = settings
        keys = [s.key for s in job.plan.sessions]
        self.first = min(keys.index(k) for k in job.affected if k in keys)
        self.tried: set[tuple] = set()

    def _context(self):
        return make_context(self.practice, self.job.enrollment, self.settings.search,
                            bookings=self.index, exclude=self.exclude)

    def candidates(self, reach: int, better_than: RepairCost | None = None):
        """(position, start, preferred resources), best first: nearer days (up to ``reach``
        days away), then nearer starts, then resource variants; built lazily, a day distance
        at a time. With ``better_than``, only those that could beat it (a lower bound: the
        session's own move)."""
        plan = self.job.plan
        ctx = self._context()
        hit = []
        for position, session in enumerate(plan.sessions):
            if session.key in self.job.affected:
                t0 = to_seconds(session.start)
                hit.append((position, ctx.spec(ctx.kind(session.kind)), t0,
                            ctx.clock.local_date(t0), ctx.clock.wall_minute(t0)))
        for distance in range(reach + 1):
            level = []
            for position, spec, t0, home, wall in hit:
                days = (home,) if distance == 0 else \
                    (home - timedelta(days=distance), home + timedelta(days=distance))
                for day in days:
                    for rank, t, variants in self._starts(ctx, spec, day, t0, wall,
                                                          distance == 0):
                        if better_than is not None and not _bound(
                                ctx.clock, t0, t) < better_than:
                            continue
                        for variant, assignment in enumerate(variants):
                            level.append(((rank, variant, position, t), position, t, assignment))
            level.sort(key=lambda c: c[0])
            for _, position, t, assignment in level:
                key = (position, t, assignment.room_id, assignment.staff_ids)
                if key not in self.tried:
                    self.tried.add(key)
                    yield position, t, assignment

    def _starts(self, ctx, spec, day: date, t0: int, wall: int, home: bool):
        """The day's starts nearest the old time (its wall time on other days) at which the
        session's resources are free, each with its resource variants. Busy stretches are
        jumped over with the resource check's lower bounds, so a full day costs a few checks."""
        info = ctx.day(day)
        starts = list(ctx.day_starts(info, spec.duration).starts)
        if home and t0 not in starts and not ctx.fits(info, t0, spec.duration):
            starts = sorted([*starts, t0])  # off the grid: its own start too
        if ctx.not_before is not None:
            starts = starts[bisect_left(starts, ctx.not_before):]
        free, i = [], 0
        while i < len(starts):
            if time.monotonic() >= self.deadline:
                return []
            t = starts[i]
            got = ctx.finder.find(spec, t, info)
            if isinstance(got, Miss):
                i = bisect_left(starts, max(got.hint, t + 1), i + 1)
                continue
            free.append(t)
            i += 1
        target = t0 if home else ctx.clock.window(day, wall, wall)[0]
        count = self.settings.same_day_starts if home else self.settings.other_day_starts
        out = []
        for t in sorted(free, key=lambda t: (abs(t - target), t))[:count]:
            out.append((abs(t - target), t, self._variants(ctx, spec, t, info)))
        return out

    def _variants(self, ctx, spec, t: int, info) -> list[Assignment]:
        """Distinct first-fit resources at ``t`` with the room and staff orders rotated."""
        found: list[Assignment] = []
        seen = set()
        for v in range(self.settings.resource_variants):
            rooms = _rotated(spec.rooms, v)
            staff = tuple(_rotated(n.candidates, v) for n in spec.needs)
            got = ctx.finder.find(spec, t, info, room_order=rooms, staff_order=staff)
            if isinstance(got, Miss):
                return found
            key = (got.room_id, got.staff_ids)
            if key not in seen:
                seen.add(key)
                found.append(got)
        return found

    def build(self, position: int, t: int, assignment: Assignment) -> RepairResult | None:
        ctx = self._context()
        plan = self.job.plan
        steps = replan_steps(ctx, self.job.enrollment, plan, self.first)
        for step in steps[self.first:]:
            if step.key in self.job.affected:
                step.keep = None
        target = steps[position]
        target.exact = t
        target.prefer = Assignment(assignment.room_id, assignment.staff_ids, ())
        try:
            result = replan(ctx, plan, steps, self.first, set(self.job.affected))
        except PlacementError:
            return None
        return RepairResult(self.job, result.plan, result.changed, {})


def _bound(clock: LocalClock, t0: int, t: int) -> RepairCost:
    """What moving one session from ``t0`` to ``t`` costs at least."""
    if t == t0:
        return ZERO
    return RepairCost(0, 1, int(clock.local_date(t) != clock.local_date(t0)), abs(t - t0) // 60)


def _reach(job: RepairJob, result: RepairResult, clock: LocalClock) -> int:
    """How many days away the greedy repair moved the plan's affected sessions."""
    before = {s.key: s for s in job.plan.sessions}
    return max((abs((clock.local_date(to_seconds(s.start))
                     - clock.local_date(to_seconds(before[s.key].start))).days)
                for s in result.plan.sessions if s.key in job.affected), default=0)


def _rotated(order: tuple[int, ...], by: int) -> tuple[int, ...]:
    if not order:
        return order
    by %= len(order)
    return order[by:] + order[:by]


def _build_options(practice: Practice, jobs: Sequence[RepairJob],
                   greedy: Sequence[RepairResult], settings: ExactSettings,
                   deadline: float) -> list[list[_Option]]:
    clock = LocalClock.of(practice.clinic.timezone)
    index = BookingIndex.from_allocations(
        [*practice.bookings, *(a for job in jobs for a in job.plan.allocations())])
    affected_allocations = {
        job.plan_id: [a for s in job.plan.sessions if s.key in job.affected
                      for a in s.allocations] for job in jobs}
    options = [[_Option(r, plan_cost(r.job, r.plan, clock), _units(r.plan))] for r in greedy]
    seen = [{_signature(r.plan)} for r in greedy]
    builders = []
    for job in jobs:
        freed = [a for other in jobs if other.plan_id != job.plan_id
                 for a in affected_allocations[other.plan_id]]
        builders.append(_Builder(practice, index, job, freed, settings, deadline))
    # Plans the greedy answer serves worst get their alternatives first; then round robin,
    # best candidates first, so a bound reached early still leaves every plan some choice.
    # Pruned (the default): a plan that kept all its sessions first gets only candidates that
    # could beat its greedy repair, no farther away than that repair went; a plan whose
    # greedy slots such a candidate needs then gets all of its own (to make room), and so on.
    order = sorted(range(len(jobs)), key=lambda i: (
        -options[i][0].cost.unplaceable, -options[i][0].cost.moved, i))
    built = len(jobs)

    def out_of_budget() -> bool:
        return built >= settings.max_options or time.monotonic() >= deadline

    full: set[int] = set()
    streams = {}
    for i in order:
        cost = options[i][0].cost
        if not settings.prune or cost.unplaceable:
            full.add(i)
            streams[i] = builders[i].candidates(settings.days_each_side)
        else:
            streams[i] = builders[i].candidates(
                min(settings.days_each_side, _reach(jobs[i], greedy[i], clock)), cost)
    greedy_units = defaultdict(list)
    for i, opts in enumerate(options):
        for unit, s, e in opts[0].units:
            greedy_units[unit].append((s, e, i))
    checked = [1] * len(jobs)
    while streams and not out_of_budget():
        active = [i for i in order if i in streams]
        while active and not out_of_budget():
            still = []
            for i in active:
                if out_of_budget():
                    break
                candidate = next(streams[i], None)
                if candidate is None:
                    del streams[i]
                    continue
                still.append(i)
                result = builders[i].build(*candidate)
                built += 1
                if result is None:
                    continue
                signature = _signature(result.plan)
                if signature not in seen[i]:
                    seen[i].add(signature)
                    options[i].append(_Option(result, plan_cost(jobs[i], result.plan, clock),
                                              _units(result.plan)))
            active = still
        # plans whose greedy slots the new options need: all their candidates too
        for i, opts in enumerate(options):
            for option in opts[checked[i]:]:
                for unit, s, e in option.units:
                    for s2, e2, j in greedy_units.get(unit, ()):
                        if j != i and j not in full and s < e2 and s2 < e:
                            full.add(j)
                            streams[j] = builders[j].candidates(settings.days_each_side)
            checked[i] = len(opts)
    return options


# ---------------------------------------------------------------- the model


def _weights(options: list[list[_Option]]) -> tuple[int, int, int, int, int]:
    """Weights making the weighted sum order answers lexicographically; minutes are counted
    coarser when the sum would not fit CP-SAT's integers comfortably."""
    def total(field_index: int, scale: int = 1) -> int:
        return sum(max(o.cost[field_index] for o in opts) // scale for opts in options)

    scale = 1
    while True:
        w_shift = 1
        w_day = total(3, scale) + 1
        w_move = w_day * (total(2) + 1)
        w_gone = w_move * (total(1) + 1)
        if w_gone * (total(0) + 1) < 2 ** 52:
            return w_gone, w_move, w_day, w_shift, scale
        scale *= 15


def _conflicts(options: list[list[_Option]]) -> list[tuple[int, frozenset, int, frozenset]]:
    """Pairs (plan, its options holding an interval; other plan, its options holding an
    overlapping interval on the same unit)."""
    holders: dict[tuple, set[int]] = defaultdict(set)
    for p, opts in enumerate(options):
        for o, option in enumerate(opts):
            for unit, s, e in option.units:
                holders[(unit, s, e, p)].add(o)
    by_unit: dict[tuple, list] = defaultdict(list)
    for (unit, s, e, p), held in holders.items():
        by_unit[unit].append((s, e, p, frozenset(held)))
    out = []
    for spans in by_unit.values():
        spans.sort(key=lambda x: (x[0], x[1], x[2]))
        active: list = []
        for s, e, p, held in spans:
            active = [a for a in active if a[1] > s]
            for a in active:
                if a[2] != p:
                    out.append((a[2], a[3], p, held))
            active.append((s, e, p, held))
    return out


def _solver_module():
    from ortools.sat.python import cp_model

    return cp_model


def _solve(options: list[list[_Option]], settings: ExactSettings, seconds: float):
    cp_model = _solver_module()

    model = cp_model.CpModel()
    x = [[model.NewBoolVar(f"x{p}_{o}") for o in range(len(opts))]
         for p, opts in enumerate(options)]
    for row in x:
        model.AddExactlyOne(row)
        for o, var in enumerate(row):
            model.AddHint(var, o == 0)
    pairs = set()
    for p, held_p, q, held_q in _conflicts(options):
        key = (p, held_p, q, held_q) if p < q else (q, held_q, p, held_p)
        if key in pairs:
            continue
        pairs.add(key)
        model.Add(sum(x[p][o] for o in sorted(held_p)) + sum(x[q][o] for o in sorted(held_q))
                  <= 1)
    w_gone, w_move, w_day, w_shift, scale = _weights(options)
    model.Minimize(sum(
        (w_gone * opt.cost.unplaceable + w_move * opt.cost.moved + w_day * opt.cost.other_day
         + w_shift * (opt.cost.shift_minutes // scale)) * x[p][o]
        for p, opts in enumerate(options) for o, opt in enumerate(opts)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, seconds)
    solver.parameters.num_workers = max(1, settings.num_workers)
    solver.parameters.random_seed = 0
    status = solver.Solve(model)
    name = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
            cp_model.INFEASIBLE: "infeasible", cp_model.MODEL_INVALID: "invalid"}.get(
                status, "unknown")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return name, None
    return name, [next(o for o, var in enumerate(row) if solver.Value(var)) for row in x]


def overlaps(practice: Practice, results: Sequence[RepairResult]) -> list[str]:
    """Independent free check of a whole batch: no unit held twice at once by the repaired
    plans and the other bookings."""
    return held_twice([*((a, "booking") for a in practice.bookings),
                       *((a, f"{r.job.plan_id}:{s.key}") for r in results
                         for s in r.plan.sessions for a in s.allocations)])


def exact_repair(practice: Practice, jobs: Sequence[RepairJob],
                 greedy: Sequence[RepairResult],
                 settings: ExactSettings = ExactSettings()) -> ExactAnswer:
    """The better of the greedy repair ``greedy`` (``repair_plans``'s answer for ``jobs``) and
    an exact joint repair; ``practice.bookings`` as for ``repair_plans``."""
    began = time.monotonic()
    greedy = list(greedy)
    by_plan = {r.job.plan_id: r for r in greedy}
    greedy = [by_plan[job.plan_id] for job in jobs]
    greedy_cost = repair_cost(practice, greedy)

    def answer(results, solver, status, exact_cost=None, options=0, problems=()):
        return ExactAnswer(results, solver, status, greedy_cost, exact_cost,
                           time.monotonic() - began, options, list(problems))

    if not jobs or settings.time_limit_seconds <= 0:
        return answer(greedy, GREEDY, "not_run")
    _solver_module()  # the first call in a process imports OR-Tools (~0.3-1 s), unbounded
    began = time.monotonic()
    deadline = began + settings.time_limit_seconds
    options = _build_options(practice, jobs, greedy, settings,
                             began + 0.7 * settings.time_limit_seconds)
    count = sum(len(o) for o in options)
    if count == len(jobs):
        return answer(greedy, GREEDY, "no_alternatives", greedy_cost, count)
    status, chosen = _solve(options, settings, deadline - time.monotonic())
    if chosen is None:
        return answer(greedy, GREEDY, status, None, count)
    results = [options[p][o].result for p, o in enumerate(chosen)]
    exact_cost = ZERO
    for p, o in enumerate(chosen):
        exact_cost = exact_cost + options[p][o].cost
    if not exact_cost < greedy_cost:
        return answer(greedy, GREEDY, status, exact_cost, count)
    problems = overlaps(practice, results)
    if problems:
        return answer(greedy, GREEDY, "rejected", exact_cost, count, problems)
    return answer(results, EXACT, status, exact_cost, count)
