"""Can any calendar satisfy a phase? Checks that turn impossible rules into clear 422s.

Each check only refuses what no calendar at all could satisfy (a clinic's hours and staff are
not known here), so a protocol that validates may still fail to fit one clinic, never every
clinic. Spacing is searched exactly over days; follow-ups are measured in minutes from the local
midnight of the parent's day, the most room any real day gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from . import codes
from .errors import FieldError
from .model import WEEKDAYS, Phase, SessionKind
from .routes import ROUTES, gives_dose
from .wording import quantity

DAY_MINUTES = 24 * 60

# Spacing checks look this many days ahead at most; beyond it a pattern that is still alive is
# taken to repeat for ever (weekday patterns repeat every 7 days).
_FEASIBILITY_HORIZON_DAYS = 366


def phase_feasibility_errors(
    phase: Phase,
    path: str,
    kinds: Mapping[str, SessionKind],
    min_hours_between_doses: float | None,
) -> list[FieldError]:
    """Why no calendar could satisfy ``phase`` (at ``path``), or an empty list."""
    kind = kinds[phase.session_kind]
    out = _route_cap_errors(phase, path, kind)
    out += _spacing_errors(phase, path, kind, min_hours_between_doses)
    if phase.follow_up is not None:
        follow_kind = kinds[phase.follow_up.session_kind]
        out += _follow_up_fit_errors(phase, path, kind, follow_kind, min_hours_between_doses)
    return out


def _route_cap_errors(phase: Phase, path: str, kind: SessionKind) -> list[FieldError]:
    """A weekly cap that promises more doses than the route allows is a rule to correct."""
    cap = ROUTES[kind.route].max_doses_per_7_days
    if cap is None or not gives_dose(kind) or phase.max_per_week is None:
        return []
    if phase.max_per_week <= cap:
        return []
    return [FieldError(
        f"{path}.max_per_week",
        f"max_per_week {phase.max_per_week} allows more doses than route {kind.route} does "
        f"(at most {cap} in 7 days); set it to {cap} or less",
        codes.ROUTE_MAX_DOSES_PER_7_DAYS,
    )]


def _spacing_errors(
    phase: Phase, path: str, kind: SessionKind, min_hours_between_doses: float | None
) -> list[FieldError]:
    gap = phase.gap_days
    if gap is None or (phase.count is not None and phase.count < 2):
        return []
    route = ROUTES[kind.route]
    doses = gives_dose(kind)
    gap_min = gap.min
    out: list[FieldError] = []
    if doses and min_hours_between_doses:
        # Two starts on local dates k days apart are less than (k + 1) × 24 hours apart.
        implied = int(min_hours_between_doses // 24)
        if implied > gap.max and phase.count is not None:
            return [FieldError(
                f"{path}.gap_days.max",
                f"min_hours_between_doses ({min_hours_between_doses:g}) keeps doses at least "
                f"{quantity(implied, 'day')} apart, but gap_days.max is {gap.max}",
                "min_hours_between_doses.gap_conflict",
            )]
        gap_min = max(gap_min, implied)

    count = phase.count
    if count is not None:
        span = phase.within_days
    else:
        span = min(phase.until_days, phase.within_days or phase.until_days)

    # The sparsest calendar (every gap at max) still puts this many sessions in the 7 days that
    # start with the phase's first session.
    forced = (6 if span is None else min(6, span)) // gap.max + 1
    if count is not None:
        forced = min(forced, count)
    if phase.max_per_week is not None and forced > phase.max_per_week:
        out.append(FieldError(
            f"{path}.max_per_week",
            f"with gap_days.max {gap.max}, some 7 consecutive days always hold {forced} sessions; "
            f"max_per_week is {phase.max_per_week}",
            "max_per_week.gap_conflict",
        ))
    route_cap = route.max_doses_per_7_days if doses else None
    if route_cap is not None and forced > route_cap:
        out.append(FieldError(
            f"{path}.gap_days.max",
            f"with gap_days.max {gap.max}, some 7 consecutive days always hold {forced} doses; "
            f"route {route.code} allows at most {route_cap}",
            codes.ROUTE_MAX_DOSES_PER_7_DAYS,
        ))
    if out:
        return out

    weekdays = None
    if phase.weekdays is not None and len(phase.weekdays) < 7:
        weekdays = frozenset(WEEKDAYS.index(d) for d in phase.weekdays)
        probe_span = None if count is not None else phase.until_days
        if not _spacing_feasible(count, probe_span, gap.min, gap.max, weekdays, None):
            allowed = ", ".join(d for d in WEEKDAYS if d in phase.weekdays)
            return [FieldError(
                f"{path}.weekdays",
                f"sessions only on {allowed} cannot be {gap.min}–{gap.max} days apart",
                "weekdays.gap_conflict",
            )]

    caps = [c for c in (phase.max_per_week, route_cap) if c is not None]
    cap = min(caps) if caps else None
    if _spacing_feasible(count, span, gap_min, gap.max, weekdays, cap):
        return []
    # Say which rule makes the difference: the first whose removal makes the phase feasible.
    if count is None:
        goal = f"sessions cannot keep coming for {span} days"
    elif span is None:
        goal = f"{count} sessions cannot be placed"
    else:
        goal = f"{count} sessions do not fit within {span} days"
    limit = "within_days" if span is not None else "weekdays"
    if gap_min > gap.min and _spacing_feasible(count, span, gap.min, gap.max, weekdays, cap):
        return [FieldError(
            path,
            f"min_hours_between_doses ({min_hours_between_doses:g}) keeps doses at least "
            f"{quantity(gap_min, 'day')} apart; then {goal}",
            "min_hours_between_doses.gap_conflict",
        )]
    if cap is not None and _spacing_feasible(count, span, gap_min, gap.max, weekdays, None):
        if cap == phase.max_per_week:
            return [FieldError(
                f"{path}.max_per_week",
                f"with at most {cap} a week, {goal}",
                f"max_per_week.{limit}",
            )]
        return [FieldError(
            f"{path}.{limit}",
            f"route {route.code} allows at most {cap} doses in 7 days; then {goal}",
            codes.ROUTE_MAX_DOSES_PER_7_DAYS,
        )]
    if weekdays is not None and _spacing_feasible(count, span, gap_min, gap.max, None, cap):
        return [FieldError(
            f"{path}.weekdays", f"on these weekdays only, {goal}", "weekdays.within_days"
        )]
    return [FieldError(
        path, f"these spacing rules contradict each other: {goal}", "phase.unsatisfiable"
    )]


@lru_cache(maxsize=4096)
def _spacing_feasible(
    count: int | None,
    span: int | None,
    gap_min: int,
    gap_max: int,
    weekdays: frozenset[int] | None,
    per_week: int | None,
) -> bool:
    """Whether some sequence of session dates meets the phase's day rules.

    With a ``count``: ``count`` sessions whose last is at most ``span`` days after the first
    (``None``: no limit). Open-ended (``count`` None): sessions can keep coming, each gap in
    [gap_min, gap_max], until ``span`` days after the first. A search over days whose state is
    (sessions in the last 7 days, days since the last one); every rule is prefix-closed, so a
    state only needs the most sessions placed to reach it.
    """
    if count is not None and count <= 1:
        return True
    if count is not None:
        needed = (count - 1) * gap_max if span is None else min(span, (count - 1) * gap_max)
    else:
        needed = span
    horizon = min(needed, max(_FEASIBILITY_HORIZON_DAYS, 8 * gap_max))
    if per_week is not None and per_week >= 6 // gap_min + 1:
        per_week = None  # gap_min alone keeps the weekly count below the cap
    first_days = sorted(weekdays) if weekdays is not None else [0]
    for first in first_days:
        states: dict[tuple[int, int], int] = {(1, 0): 1}
        for day in range(1, horizon + 1):
            allowed = weekdays is None or (first + day) % 7 in weekdays
            following: dict[tuple[int, int], int] = {}
            for (recent, since), placed in states.items():
                shifted = (recent << 1) & 0x7F if per_week is not None else 0
                since += 1
                if since < gap_max:
                    key = (shifted, since)
                    following[key] = max(following.get(key, 0), placed)
                if (
                    allowed
                    and gap_min <= since <= gap_max
                    and (per_week is None or shifted.bit_count() < per_week)
                ):
                    if count is not None and placed + 1 >= count:
                        return True
                    key = (shifted | 1, 0)
                    following[key] = max(following.get(key, 0), placed + 1)
            states = following
            if not states:
                break
        if count is None or horizon < needed:
            if states:
                return True
    return False


def _follow_up_fit_errors(
    phase: Phase,
    path: str,
    kind: SessionKind,
    follow_kind: SessionKind,
    min_hours_between_doses: float | None,
) -> list[FieldError]:
    """A follow-up that can never start within its window or finish before the next session.

    Minutes from local midnight of the parent's day, with the parent starting at midnight: the
    most room any real calendar could have.
    """
    follow_up = phase.follow_up
    where = f"{path}.follow_up"
    spacing = (min_hours_between_doses or 0) * 60
    follow_is_dose = gives_dose(follow_kind)
    parent_is_dose = gives_dose(kind)
    parent_end = kind.duration_minutes
    follow_start = parent_end + follow_up.min_hours * 60
    if spacing and follow_is_dose and parent_is_dose:
        earliest = kind.dose_offsets()[-1] + spacing - follow_kind.dose_offsets()[0]
        if earliest > parent_end + follow_up.max_hours * 60:
            return [FieldError(
                f"{where}.max_hours",
                f"the follow-up {follow_kind.code} is a dose: min_hours_between_doses "
                f"({min_hours_between_doses:g}) pushes it past max_hours ({follow_up.max_hours:g})",
                "follow_up.no_fit",
            )]
        follow_start = max(follow_start, earliest)
    has_next = phase.gap_days is not None and (phase.count is None or phase.count > 1)
    if not has_next:
        return []
    next_start = follow_start + follow_kind.duration_minutes
    if spacing and follow_is_dose and parent_is_dose:
        next_dose = follow_start + follow_kind.dose_offsets()[-1] + spacing
        next_start = max(next_start, next_dose - kind.dose_offsets()[0])
    latest_next = (phase.gap_days.max + 1) * DAY_MINUTES
    if next_start >= latest_next:
        return [FieldError(
            f"{where}.min_hours",
            f"{kind.code} ({kind.duration_minutes} min), then {follow_up.min_hours:g} hours, then "
            f"{follow_kind.code} ({follow_kind.duration_minutes} min) cannot finish before the "
            f"next session, at most {quantity(phase.gap_days.max, 'day')} later",
            "follow_up.no_fit",
        )]
    return []
