"""Check concrete sessions against a protocol and report every broken rule, in words and data.

The placement engine checks its plans with it, the booking service checks a change before
writing it, and ``/impact`` replays booked appointments against a new rule version. Day rules
compare LOCAL dates in the clinic's zone; hour rules compare real elapsed time (UTC instants), so a
09:00 session stays "1 day later" across a DST change while dose spacing counts the real hours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from . import codes
from .codes import RULES  # noqa: F401  (re-exported: the rule codes evaluate reports)
from .model import WEEKDAYS, Phase, Protocol, SessionKind
from .routes import ROUTES, gives_dose
from .session import PlacedSession
from .wording import quantity


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    sessions: tuple[str, ...]
    phase: str | None = None
    amount: float | None = None
    """By how much the rule is broken, in the unit ``RULES`` names for the rule."""




def evaluate(
    protocol: Protocol,
    kinds: Mapping[str, SessionKind],
    sessions: Sequence[PlacedSession],
    *,
    tz: ZoneInfo,
    clinic_certifications: frozenset[str] = frozenset(),
    complete: bool = True,
    horizon_end: date | None = None,
) -> list[Violation]:
    """Every violation of ``protocol`` by ``sessions`` (one patient's plan), in time order.

    ``complete`` also demands what a whole plan must have: each ``count`` phase exactly full and a
    follow-up for every parent; with ``horizon_end`` (exclusive), open-ended phases must reach it
    without a gap beyond gap_days.max unless they reached until_days.
    """
    plan = _Plan(protocol, kinds, sessions, tz)
    found: list[Violation] = [*_session_checks(plan, clinic_certifications)]
    for phase in protocol.phases:
        parents = plan.parents[phase.name]
        found += _count(phase, parents, plan, complete)
        found += _gaps(phase, parents, plan)
        found += _within_days(phase, parents, plan)
        found += _until_days(phase, parents, plan, complete, horizon_end)
        found += _max_per_week(phase, parents, plan)
        found += _weekdays(phase, parents, plan)
        found += _after(phase, parents, plan)
        found += _follow_ups(phase, parents, plan, complete)
    found += _follow_up_links(plan)
    found += _dose_spacing(protocol, plan)
    found += _route_caps(plan)
    found += _overlaps(plan)
    return sorted(found, key=plan.chronological)


class _Plan:
    """The sessions indexed the ways the checks need them: by key, by phase, with labels."""

    def __init__(
        self,
        protocol: Protocol,
        kinds: Mapping[str, SessionKind],
        sessions: Sequence[PlacedSession],
        tz: ZoneInfo,
    ):
        self.protocol = protocol
        self.kinds = kinds
        self.tz = tz
        self.by_key: dict[str, PlacedSession] = {}
        for s in sessions:
            if s.key in self.by_key:
                raise ValueError(f"two sessions share the key {s.key!r}")
            for moment in (s.start, s.end):
                if moment.tzinfo is None or moment.utcoffset() is None:
                    raise ValueError(f"session {s.key!r}: start and end must be timezone-aware")
            self.by_key[s.key] = s
        # Sorted by real instant: aware datetimes in one zone compare by wall time, not by UTC.
        self.ordered = sorted(sessions, key=lambda s: (self.utc_start(s), s.key))
        self.parents: dict[str, list[PlacedSession]] = {p.name: [] for p in protocol.phases}
        self.follow_ups = [s for s in self.ordered if s.follow_up_of is not None]
        self.follow_ups_of: dict[str, list[PlacedSession]] = {}
        for s in self.follow_ups:
            self.follow_ups_of.setdefault(s.follow_up_of, []).append(s)
        for s in self.ordered:
            if s.follow_up_of is None and s.phase in self.parents:
                self.parents[s.phase].append(s)
        self.labels: dict[str, str] = {}
        for phase, items in self.parents.items():
            for number, s in enumerate(items, 1):
                self.labels[s.key] = _key_label(s.key, phase) or f"{phase} #{number}"
        for s in self.follow_ups:
            parent = self.by_key.get(s.follow_up_of)
            if parent is not None and parent.key in self.labels:
                self.labels[s.key] = f"{s.kind} after {self.labels[parent.key]}"

    def chronological(self, violation: Violation) -> tuple[datetime, datetime]:
        """Sort key: by the first session involved, then by the last (no session: at the end)."""
        starts = [self.utc_start(self.by_key[k]) for k in violation.sessions]
        if not starts:
            never = datetime.max.replace(tzinfo=UTC)
            return never, never
        return min(starts), max(starts)

    def label(self, s: PlacedSession) -> str:
        return self.labels.get(s.key, s.key)

    def day(self, s: PlacedSession) -> date:
        return s.start.astimezone(self.tz).date()

    @staticmethod
    def utc_start(s: PlacedSession) -> datetime:
        return s.start.astimezone(UTC)

    @staticmethod
    def utc_end(s: PlacedSession) -> datetime:
        return s.end.astimezone(UTC)

    def is_dose(self, s: PlacedSession) -> bool:
        kind = self.kinds.get(s.kind)
        return kind is not None and gives_dose(kind)


def _key_label(key: str, phase: str) -> str | None:
    """``induction#6`` reads "induction #6": a plan's sessions keep the number of their key
    (stable across moves and cancellations), so words and data never number them apart."""
    prefix = f"{phase}#"
    number = key[len(prefix):] if key.startswith(prefix) else ""
    return f"{phase} #{number}" if number.isdigit() else None


def _days(n: float) -> str:
    return quantity(n, "day")


def _hours(n: float) -> str:
    return quantity(n, "hour")


def _outside(value: float, low: float, high: float | None, rules: tuple[str, str],
             where: str, keys: tuple[str, ...], phase: str, amount,
             words: tuple[str, str] = ("too few", "too many")) -> Iterator[Violation]:
    """The violation, if any, of a [low, high] band rule, saying by how much it is missed."""
    if value < low:
        yield Violation(rules[0], f"{where}{rules[0]} is {low:g} ({amount(low - value)} "
                                  f"{words[0]})", keys, phase, low - value)
    elif high is not None and value > high:
        yield Violation(rules[1], f"{where}{rules[1]} is {high:g} ({amount(value - high)} "
                                  f"{words[1]})", keys, phase, value - high)


def _hours_between(earlier: datetime, later: datetime) -> float:
    return (later.astimezone(UTC) - earlier.astimezone(UTC)).total_seconds() / 3600


def _session_checks(plan: _Plan, certifications: frozenset[str]) -> Iterator[Violation]:
    """What each session must be on its own: a known phase and kind, its duration, its route."""
    for s in plan.ordered:
        label = plan.label(s)
        phase = plan.protocol.phase(s.phase)
        kind = plan.kinds.get(s.kind)
        if phase is None:
            yield Violation(
                codes.PHASE, f"{label}: the protocol has no phase {s.phase!r}", (s.key,), s.phase
            )
        if kind is None:
            yield Violation(
                codes.SESSION_KIND, f"{label}: unknown session kind {s.kind!r}", (s.key,), s.phase
            )
            continue
        if phase is not None:
            if s.follow_up_of is None:
                expected = phase.session_kind
            else:
                expected = phase.follow_up.session_kind if phase.follow_up else s.kind
            if s.kind != expected:
                yield Violation(
                    codes.SESSION_KIND,
                    f"{label} is a {s.kind}, but {phase.name} needs {expected}",
                    (s.key,),
                    phase.name,
                )
        minutes = (plan.utc_end(s) - plan.utc_start(s)).total_seconds() / 60
        if minutes != kind.duration_minutes:
            off = abs(minutes - kind.duration_minutes)
            word = "short" if minutes < kind.duration_minutes else "too long"
            yield Violation(
                codes.DURATION,
                f"{label} lasts {minutes:g} minutes, a {kind.code} takes "
                f"{kind.duration_minutes} ({off:g} minutes {word})",
                (s.key,),
                s.phase,
                off,
            )
        route = ROUTES[kind.route]
        if route.required_certification and route.required_certification not in certifications:
            yield Violation(
                codes.ROUTE_REQUIRED_CERTIFICATION,
                f"{label} is given {route.code}, which only a clinic certified "
                f"{route.required_certification} may give",
                (s.key,),
                s.phase,
            )


def _count(
    phase: Phase, parents: list[PlacedSession], plan: _Plan, complete: bool
) -> Iterator[Violation]:
    if phase.count is None:
        return
    have = len(parents)
    if have > phase.count:
        extra = parents[phase.count :]
        yield Violation(
            codes.COUNT,
            f"{phase.name} has {have} sessions, count is {phase.count} ({have - phase.count} too "
            f"many: {', '.join(plan.label(s) for s in extra)})",
            tuple(s.key for s in extra),
            phase.name,
            have - phase.count,
        )
    elif complete and have < phase.count:
        yield Violation(
            codes.COUNT,
            f"{phase.name} has {have} sessions, count is {phase.count} "
            f"({phase.count - have} missing)",
            tuple(s.key for s in parents),
            phase.name,
            phase.count - have,
        )


def _gaps(phase: Phase, parents: list[PlacedSession], plan: _Plan) -> Iterator[Violation]:
    gap = phase.gap_days
    if gap is None:
        return
    for a, b in zip(parents, parents[1:]):
        apart = (plan.day(b) - plan.day(a)).days
        where = f"{plan.label(a)} → {plan.label(b)}: {_days(apart)} apart"
        yield from _outside(apart, gap.min, gap.max, (codes.GAP_DAYS_MIN, codes.GAP_DAYS_MAX),
                            f"{where}, ", (a.key, b.key), phase.name, _days)


def _within_days(
    phase: Phase, parents: list[PlacedSession], plan: _Plan
) -> Iterator[Violation]:
    if phase.within_days is None or len(parents) < 2:
        return
    first, last = parents[0], parents[-1]
    span = (plan.day(last) - plan.day(first)).days
    if span > phase.within_days:
        over = span - phase.within_days
        yield Violation(
            codes.WITHIN_DAYS,
            f"{phase.name}: {plan.label(first)} on {plan.day(first)} to {plan.label(last)} on "
            f"{plan.day(last)} is {_days(span)}, within_days is {phase.within_days} "
            f"({_days(over)} too many)",
            (first.key, last.key),
            phase.name,
            over,
        )


def _until_days(
    phase: Phase,
    parents: list[PlacedSession],
    plan: _Plan,
    complete: bool,
    horizon_end: date | None,
) -> Iterator[Violation]:
    if phase.until_days is None or not parents:
        return
    first = plan.day(parents[0])
    limit = first + timedelta(days=phase.until_days)
    for s in parents:
        late = (plan.day(s) - limit).days
        if late > 0:
            yield Violation(
                codes.UNTIL_DAYS,
                f"{plan.label(s)} on {plan.day(s)} is {_days((plan.day(s) - first).days)} after "
                f"{phase.name} #1, until_days is {phase.until_days} ({_days(late)} too late)",
                (s.key,),
                phase.name,
                late,
            )
    if not (complete and horizon_end and phase.gap_days):
        return
    # Sessions are due up to the horizon, or until the phase's span (until_days, or within_days
    # when shorter) is used up, whichever comes first.
    last = parents[-1]
    span = min(phase.until_days, phase.within_days or phase.until_days)
    end = min(horizon_end, first + timedelta(days=span + 1))
    due = plan.day(last) + timedelta(days=phase.gap_days.max)
    if due < end:
        over = (end - plan.day(last)).days - phase.gap_days.max
        yield Violation(
            codes.GAP_DAYS_MAX,
            f"{phase.name}: nothing after {plan.label(last)} ({plan.day(last)}) although the next "
            f"session was due by {due} (gap_days.max {phase.gap_days.max}) and the plan runs to "
            f"{end}",
            (last.key,),
            phase.name,
            over,
        )


def _crowded_weeks(
    dated: list[tuple[date, PlacedSession]], limit: int
) -> Iterator[list[tuple[date, PlacedSession]]]:
    """Each largest group of more than ``limit`` items within 7 consecutive local days."""
    previous_end = -1
    for i, (day, _) in enumerate(dated):
        end = i
        while end < len(dated) and (dated[end][0] - day).days <= 6:
            end += 1
        # A window ending where the previous one ended holds a subset of it: already reported.
        if end - i > limit and end != previous_end:
            yield dated[i:end]
        previous_end = end


def _max_per_week(
    phase: Phase, parents: list[PlacedSession], plan: _Plan
) -> Iterator[Violation]:
    if phase.max_per_week is None:
        return
    dated = [(plan.day(s), s) for s in parents]
    for group in _crowded_weeks(dated, phase.max_per_week):
        over = len(group) - phase.max_per_week
        start = group[0][0]
        yield Violation(
            codes.MAX_PER_WEEK,
            f"{phase.name}: {len(group)} sessions ({plan.label(group[0][1])} to "
            f"{plan.label(group[-1][1])}) in the 7 days {start} to {start + timedelta(days=6)}, "
            f"max_per_week is {phase.max_per_week} ({over} too many)",
            tuple(s.key for _, s in group),
            phase.name,
            over,
        )


def _weekdays(phase: Phase, parents: list[PlacedSession], plan: _Plan) -> Iterator[Violation]:
    if phase.weekdays is None:
        return
    allowed = ", ".join(d for d in WEEKDAYS if d in phase.weekdays)
    for s in parents:
        weekday = WEEKDAYS[plan.day(s).weekday()]
        if weekday not in phase.weekdays:
            yield Violation(
                codes.WEEKDAYS,
                f"{plan.label(s)} is on a {weekday} ({plan.day(s)}); {phase.name} allows {allowed}",
                (s.key,),
                phase.name,
            )


def _after(phase: Phase, parents: list[PlacedSession], plan: _Plan) -> Iterator[Violation]:
    after = phase.after
    if after is None or not parents or not plan.parents.get(after.phase):
        return
    last_before = plan.parents[after.phase][-1]
    first = parents[0]
    apart = (plan.day(first) - plan.day(last_before)).days
    where = (
        f"{plan.label(first)} ({plan.day(first)}) is {_days(apart)} after the last "
        f"{after.phase} session, {plan.label(last_before)} ({plan.day(last_before)})"
    )
    yield from _outside(apart, after.min_days, after.max_days,
                        (codes.AFTER_MIN_DAYS, codes.AFTER_MAX_DAYS), f"{where}; ",
                        (last_before.key, first.key), phase.name, _days)


def _follow_ups(
    phase: Phase, parents: list[PlacedSession], plan: _Plan, complete: bool
) -> Iterator[Violation]:
    rule = phase.follow_up
    if rule is None:
        return
    window = f"{rule.min_hours:g}–{_hours(rule.max_hours)}"
    for parent in parents:
        attached = plan.follow_ups_of.get(parent.key, [])
        if not attached:
            if complete:
                yield Violation(
                    codes.FOLLOW_UP_MISSING,
                    f"{plan.label(parent)} has no {rule.session_kind} follow-up ({window} after "
                    "it ends)",
                    (parent.key,),
                    phase.name,
                )
            continue
        for extra in attached[1:]:
            yield Violation(
                codes.FOLLOW_UP_UNEXPECTED,
                f"{plan.label(extra)}: {plan.label(parent)} already has a follow-up",
                (parent.key, extra.key),
                phase.name,
            )
        follow = attached[0]
        hours = _hours_between(parent.end, follow.start)
        where = f"{plan.label(follow)} starts {_hours(hours)} after it ends"
        yield from _outside(hours, rule.min_hours, rule.max_hours,
                            (codes.FOLLOW_UP_MIN_HOURS, codes.FOLLOW_UP_MAX_HOURS), f"{where}, ",
                            (parent.key, follow.key), phase.name, _hours,
                            words=("too soon", "too late"))


def _follow_up_links(plan: _Plan) -> Iterator[Violation]:
    """Follow-ups must hang off a parent session of their own phase that has a follow_up rule."""
    for s in plan.follow_ups:
        parent = plan.by_key.get(s.follow_up_of)
        label = plan.label(s)
        if parent is None or parent.follow_up_of is not None:
            yield Violation(
                codes.FOLLOW_UP_UNEXPECTED,
                f"{label} follows {s.follow_up_of!r}, which is not a session of this plan "
                "that can have follow-ups",
                (s.key,),
                s.phase,
            )
        elif parent.phase != s.phase:
            yield Violation(
                codes.PHASE,
                f"{label} carries phase {s.phase!r}, but its session is in {parent.phase!r}",
                (parent.key, s.key),
                s.phase,
            )
        else:
            phase = plan.protocol.phase(s.phase)
            if phase is not None and phase.follow_up is None:
                yield Violation(
                    codes.FOLLOW_UP_UNEXPECTED,
                    f"{label}: phase {phase.name} has no follow-up sessions",
                    (parent.key, s.key),
                    s.phase,
                )


def _dose_instants(plan: _Plan, s: PlacedSession) -> list[datetime]:
    start = plan.utc_start(s)
    return [start + timedelta(minutes=m) for m in plan.kinds[s.kind].dose_offsets()]


def _dose_spacing(protocol: Protocol, plan: _Plan) -> Iterator[Violation]:
    minimum = protocol.min_hours_between_doses
    if not minimum:
        return
    doses = sorted(
        ((_dose_instants(plan, s), s) for s in plan.ordered if plan.is_dose(s)),
        key=lambda pair: (pair[0][0], pair[1].key),
    )
    for (earlier, a), (later, b) in zip(doses, doses[1:]):
        hours = (later[0] - earlier[-1]).total_seconds() / 3600
        if hours < minimum:
            short = minimum - hours
            yield Violation(
                codes.MIN_HOURS_BETWEEN_DOSES,
                f"{plan.label(a)} → {plan.label(b)}: {_hours(hours)} between doses, "
                f"min_hours_between_doses is {minimum:g} ({_hours(short)} too few)",
                (a.key, b.key),
                b.phase,
                short,
            )


def _route_caps(plan: _Plan) -> Iterator[Violation]:
    for route in ROUTES.values():
        if route.max_doses_per_7_days is None:
            continue
        dated = [
            (_dose_instants(plan, s)[0].astimezone(plan.tz).date(), s)
            for s in plan.ordered
            if plan.is_dose(s) and plan.kinds[s.kind].route == route.code
        ]
        for group in _crowded_weeks(dated, route.max_doses_per_7_days):
            over = len(group) - route.max_doses_per_7_days
            start = group[0][0]
            labels = ", ".join(plan.label(s) for _, s in group)
            yield Violation(
                codes.ROUTE_MAX_DOSES_PER_7_DAYS,
                f"{len(group)} {route.code} doses ({labels}) in the 7 days {start} to "
                f"{start + timedelta(days=6)}; at most {route.max_doses_per_7_days} "
                f"({over} too many)",
                tuple(s.key for _, s in group),
                None,
                over,
            )


def _overlaps(plan: _Plan) -> Iterator[Violation]:
    """One patient cannot be in two sessions at once."""
    running: list[PlacedSession] = []
    for s in plan.ordered:
        start = plan.utc_start(s)
        running = [r for r in running if plan.utc_end(r) > start]
        for r in running:
            minutes = (min(plan.utc_end(r), plan.utc_end(s)) - start).total_seconds() / 60
            yield Violation(
                codes.OVERLAP,
                f"{plan.label(r)} and {plan.label(s)} overlap by {minutes:g} minutes",
                (r.key, s.key),
                s.phase,
                minutes,
            )
        running.append(s)

