"""Parse SPEC-shaped JSON (section 7) into the rule model, and refuse rules that cannot work.

A clinic manager writes these rules by hand, so every mistake is reported at once, each with the
field's path (``phases[1].gap_days.min``), a sentence, and a short machine code (``rule``) the API
turns into a 422. Beyond types and ranges, the checks catch rules that no calendar could satisfy
(spacing that contradicts a weekly cap, weekdays that cannot meet the gaps, a follow-up that never
fits before the next dose) and breaches of the route policies in ``routes.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import FieldError, RuleValidationError
from .feasibility import phase_feasibility_errors
from .model import (
    LOADS,
    WEEKDAYS,
    After,
    FollowUp,
    GapDays,
    Phase,
    Protocol,
    Segment,
    SessionKind,
    StaffNeed,
)
from .routes import ROUTES
from .wording import quantity

SLUG = re.compile(r"[a-z0-9_-]+")
MAX_CODE_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_SESSION_MINUTES = 24 * 60
MAX_COUNT = 365
MAX_DAYS = 3650
MAX_GAP_DAYS = 365
MAX_HOURS = 24 * 365
MAX_PHASES = 50


class _Bad:
    """Marks a field that was present but invalid (already reported), unlike an absent one."""

    def __repr__(self) -> str:
        return "<invalid>"


_BAD: Any = _Bad()


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.items.append(FieldError(path, message, rule))

    def raise_if_any(self) -> None:
        if self.items:
            raise RuleValidationError(self.items)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _ok(*values: Any) -> bool:
    return all(v is not _BAD for v in values)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


# --- field readers: each reports its own errors and returns _BAD when the value is unusable ---


def _fields(
    errors: _Errors, data: Any, path: str, required: Sequence[str], optional: Sequence[str]
) -> Mapping | None:
    if not isinstance(data, Mapping):
        errors.add(path, "type", f"must be an object, got {_describe(data)}")
        return None
    known = (*required, *optional)
    for key in data:
        if key not in known:
            errors.add(
                _at(path, str(key)),
                "unknown_field",
                f"unknown field {key!r}; expected one of: {', '.join(known)}",
            )
    for key in required:
        if key not in data:
            errors.add(_at(path, key), "required", "is required")
    return data


def _present(errors: _Errors, data: Mapping, key: str, path: str, required: bool) -> Any:
    """The raw value, None when absent (or null and optional), _BAD when required but missing."""
    value = data.get(key)
    if value is None:
        if required and key in data:
            errors.add(_at(path, key), "type", "must not be null")
        return _BAD if required else None
    return value


def _integer(
    errors: _Errors,
    data: Mapping,
    key: str,
    path: str,
    *,
    low: int,
    high: int,
    unit: str = "",
    required: bool = False,
) -> Any:
    value = _present(errors, data, key, path, required)
    if value is None or value is _BAD:
        return value
    where = _at(path, key)
    integral_float = isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not (isinstance(value, int) or integral_float):
        errors.add(where, "type", f"must be a whole number, got {_describe(value)}")
        return _BAD
    return _in_range(errors, where, int(value), low, high, unit)


def _number(
    errors: _Errors,
    data: Mapping,
    key: str,
    path: str,
    *,
    low: float,
    high: float,
    unit: str = "",
    required: bool = False,
) -> Any:
    value = _present(errors, data, key, path, required)
    if value is None or value is _BAD:
        return value
    where = _at(path, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        errors.add(where, "type", f"must be a number, got {_describe(value)}")
        return _BAD
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _in_range(errors, where, value, low, high, unit)


def _in_range(errors: _Errors, where: str, value: float, low: float, high: float, unit: str):
    suffix = f" {unit}" if unit else ""
    if value < low:
        errors.add(where, "range", f"must be at least {low:g}{suffix}, got {value:g}")
        return _BAD
    if value > high:
        errors.add(where, "range", f"must be at most {high:g}{suffix}, got {value:g}")
        return _BAD
    return value


def _text(
    errors: _Errors,
    data: Mapping,
    key: str,
    path: str,
    *,
    required: bool = False,
    max_length: int = MAX_NAME_LENGTH,
    slug: bool = False,
) -> Any:
    value = _present(errors, data, key, path, required)
    if value is None or value is _BAD:
        return value
    where = _at(path, key)
    if not isinstance(value, str):
        errors.add(where, "type", f"must be text, got {_describe(value)}")
        return _BAD
    if slug:
        if not SLUG.fullmatch(value) or len(value) > max_length:
            errors.add(
                where,
                "format",
                f"must be 1–{max_length} characters of a-z, 0-9, '_' or '-', got {value!r}",
            )
            return _BAD
    elif not value.strip() or len(value) > max_length:
        errors.add(where, "format", f"must be non-empty text of at most {max_length} characters")
        return _BAD
    return value


def _boolean(errors: _Errors, data: Mapping, key: str, path: str, default: bool) -> Any:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.add(_at(path, key), "type", f"must be true or false, got {_describe(value)}")
        return _BAD
    return value


def _list(errors: _Errors, data: Mapping, key: str, path: str, required: bool = False) -> Any:
    value = _present(errors, data, key, path, required)
    if value is None or value is _BAD:
        return value
    if not isinstance(value, (list, tuple)):
        errors.add(_at(path, key), "type", f"must be a list, got {_describe(value)}")
        return _BAD
    return value


def _text_list(errors: _Errors, data: Mapping, key: str, path: str) -> Any:
    items = _list(errors, data, key, path)
    if items is None or items is _BAD:
        return items
    where = _at(path, key)
    bad = False
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            errors.add(f"{where}[{i}]", "type", f"must be non-empty text, got {_describe(item)}")
            bad = True
    return _BAD if bad else items


# --- session kinds ---


def parse_session_kind(data: Any) -> SessionKind:
    """A session kind from its SPEC JSON shape; raises RuleValidationError listing every problem."""
    errors = _Errors()
    kind = _read_session_kind(errors, data, "")
    errors.raise_if_any()
    return kind


def _read_session_kind(errors: _Errors, data: Any, path: str) -> SessionKind | None:
    before = len(errors.items)
    fields = _fields(
        errors,
        data,
        path,
        required=("code", "name", "route", "segments"),
        optional=("room_features", "needs_room", "staff", "prescriber_on_site"),
    )
    if fields is None:
        return None
    code = _text(errors, fields, "code", path, required=True, slug=True, max_length=MAX_CODE_LENGTH)
    name = _text(errors, fields, "name", path, required=True)
    route = _text(errors, fields, "route", path, required=True)
    if _ok(route) and route not in ROUTES:
        errors.add(
            _at(path, "route"),
            "route.unknown",
            f"unknown route {route!r}; expected one of: {', '.join(ROUTES)}",
        )
        route = _BAD
    segments, segment_names = _read_segments(errors, fields, path)
    room_features = _text_list(errors, fields, "room_features", path)
    needs_room = _boolean(errors, fields, "needs_room", path, default=True)
    staff = _read_staff(errors, fields, path, segment_names)
    prescriber_on_site = _boolean(errors, fields, "prescriber_on_site", path, default=False)
    if needs_room is False and room_features:
        errors.add(
            _at(path, "room_features"),
            "room_features.without_room",
            "a session kind with needs_room false cannot ask for room features",
        )
    if _ok(route, segments, prescriber_on_site):
        draft = SessionKind(
            code="", name="", route=route, segments=segments, prescriber_on_site=prescriber_on_site
        )
        errors.items.extend(_prefix(check_route_policy(draft), path))
    if len(errors.items) > before:
        return None
    return SessionKind(
        code=code,
        name=name,
        route=route,
        segments=segments,
        room_features=frozenset(room_features or ()),
        needs_room=needs_room,
        staff=staff or (),
        prescriber_on_site=prescriber_on_site,
    )


def _read_segments(errors: _Errors, fields: Mapping, path: str) -> tuple[Any, list[str] | None]:
    """The segments, and the names that parsed (for checking staff loads even if others failed)."""
    items = _list(errors, fields, "segments", path, required=True)
    where = _at(path, "segments")
    if items is _BAD:
        return _BAD, None
    if not items:
        errors.add(where, "segments.empty", "must list at least one segment")
        return _BAD, None
    segments: list[Segment] = []
    names: list[str] = []
    bad = False
    for i, item in enumerate(items):
        item_path = f"{where}[{i}]"
        seg = _fields(errors, item, item_path, required=("name", "minutes"), optional=("dose",))
        if seg is None:
            bad = True
            continue
        name = _text(errors, seg, "name", item_path, required=True, max_length=MAX_CODE_LENGTH)
        minutes = _integer(
            errors, seg, "minutes", item_path, low=1, high=MAX_SESSION_MINUTES, unit="minutes",
            required=True,
        )
        dose = _boolean(errors, seg, "dose", item_path, default=False)
        if _ok(name):
            if name in names:
                errors.add(
                    f"{item_path}.name", "segments.duplicate_name", f"segment {name!r} is repeated"
                )
                name = _BAD
            else:
                names.append(name)
        if not _ok(name, minutes, dose):
            bad = True
            continue
        segments.append(Segment(name=name, minutes=minutes, dose=dose))
    if bad:
        return _BAD, names
    total = sum(s.minutes for s in segments)
    if total > MAX_SESSION_MINUTES:
        errors.add(
            where,
            "duration.too_long",
            f"segments add up to {total} minutes; a session lasts at most {MAX_SESSION_MINUTES}",
        )
        return _BAD, names
    return tuple(segments), names


def _read_staff(
    errors: _Errors, fields: Mapping, path: str, segment_names: list[str] | None
) -> Any:
    items = _list(errors, fields, "staff", path)
    if items is None or items is _BAD:
        return items
    where = _at(path, "staff")
    needs: list[StaffNeed] = []
    bad = False
    for i, item in enumerate(items):
        item_path = f"{where}[{i}]"
        need = _fields(errors, item, item_path, required=("role", "load"), optional=())
        if need is None:
            bad = True
            continue
        role = _text(errors, need, "role", item_path, required=True, max_length=MAX_CODE_LENGTH)
        load = _read_load(errors, need, item_path, segment_names)
        if not _ok(role, load):
            bad = True
            continue
        needs.append(StaffNeed(role=role, load=load))
    return _BAD if bad else tuple(needs)


def _read_load(
    errors: _Errors, need: Mapping, path: str, segment_names: list[str] | None
) -> Any:
    where = _at(path, "load")
    load = _present(errors, need, "load", path, required=True)
    if load is _BAD:
        return _BAD
    if not isinstance(load, Mapping):
        errors.add(where, "type", f"must be an object of segment → load, got {_describe(load)}")
        return _BAD
    if not load:
        errors.add(where, "staff.load.empty", "must name at least one segment")
        return _BAD
    bad = False
    for segment, value in load.items():
        if segment_names is not None and segment not in segment_names:
            errors.add(
                f"{where}.{segment}",
                "staff.load.unknown_segment",
                f"names segment {segment!r}, which this session kind does not have",
            )
            bad = True
        if value not in LOADS:
            errors.add(
                f"{where}.{segment}",
                "staff.load.value",
                f"must be 'exclusive' or 'shared', got {_describe(value)}",
            )
            bad = True
    if bad or segment_names is None:
        return _BAD
    return tuple(sorted(load.items(), key=lambda pair: segment_names.index(pair[0])))


def check_route_policy(kind: SessionKind) -> list[FieldError]:
    """Breaches of the route's clinical policy by a session kind's shape (paths relative to it)."""
    route = ROUTES[kind.route]
    out: list[FieldError] = []
    if route.is_dose and not kind.has_dose:
        out.append(FieldError(
            "segments",
            f"route {route.code} gives a dose, so one segment must be marked \"dose\": true",
            "route.dose_segment_missing",
        ))
    if not route.is_dose:
        for i, seg in enumerate(kind.segments):
            if seg.dose:
                out.append(FieldError(
                    f"segments[{i}].dose",
                    f"route {route.code} gives no drug, so no segment can be a dose",
                    "route.dose_segment_forbidden",
                ))
    monitored = kind.minutes_after_dose
    if route.is_dose and kind.has_dose and monitored < route.min_monitoring_minutes:
        missing = route.min_monitoring_minutes - monitored
        out.append(FieldError(
            "segments",
            f"route {route.code} needs at least {route.min_monitoring_minutes} minutes of "
            f"segments after the dose segment; these have {monitored} ({missing} too few)",
            "route.min_monitoring_minutes",
        ))
    if route.requires_prescriber_on_site and not kind.prescriber_on_site:
        out.append(FieldError(
            "prescriber_on_site",
            f"route {route.code} needs a prescriber on site during the dose; set it to true",
            "route.prescriber_on_site",
        ))
    return out


def _prefix(errors: list[FieldError], path: str) -> list[FieldError]:
    return [FieldError(_at(path, e.path) if e.path else path, e.message, e.rule) for e in errors]


# --- protocols ---


def parse_protocol(data: Any, session_kinds: Mapping[str, SessionKind]) -> Protocol:
    """A protocol from its SPEC JSON shape, checked against the known session kinds.

    Raises RuleValidationError listing every problem, including rules no calendar can satisfy.
    """
    errors = _Errors()
    protocol = _read_protocol(errors, data, "", session_kinds)
    errors.raise_if_any()
    return protocol


def parse_protocol_bundle(
    data: Any, known_kinds: Mapping[str, SessionKind] | None = None
) -> tuple[Protocol, dict[str, SessionKind]]:
    """A protocol document that carries its own ``session_kinds`` list (the template shape).

    Phases may use the bundled kinds and ``known_kinds``; a bundled kind wins over a known one of
    the same code. Returns the protocol and the bundled kinds; every problem is in one error.
    """
    errors = _Errors()
    kinds: dict[str, SessionKind | None] = dict(known_kinds or {})
    bundled: dict[str, SessionKind] = {}
    document = dict(data) if isinstance(data, Mapping) else data
    if isinstance(document, dict):
        raw_kinds = document.pop("session_kinds", [])
        if not isinstance(raw_kinds, (list, tuple)):
            errors.add("session_kinds", "type", f"must be a list, got {_describe(raw_kinds)}")
            raw_kinds = []
        for i, raw in enumerate(raw_kinds):
            kind = _read_session_kind(errors, raw, f"session_kinds[{i}]")
            if kind is None:
                code = raw.get("code") if isinstance(raw, Mapping) else None
                if isinstance(code, str):
                    kinds[code] = None  # known, but broken: phases naming it say nothing more
                continue
            if kind.code in bundled:
                errors.add(
                    f"session_kinds[{i}].code",
                    "session_kind.duplicate",
                    f"session kind {kind.code!r} is listed twice",
                )
            bundled[kind.code] = kind
    for code, kind in bundled.items():
        kinds[code] = kind
    protocol = _read_protocol(errors, document, "", kinds)
    errors.raise_if_any()
    return protocol, bundled


# Session kinds by code; None marks a bundled kind that failed to parse (already reported).
_KindLookup = Mapping[str, SessionKind | None]


@dataclass
class _PhaseDraft:
    """What parsed of one phase; ``phase`` is set only when the whole phase is valid."""

    path: str
    name: Any
    after_phase: Any
    phase: Phase | None


def _read_protocol(
    errors: _Errors, data: Any, path: str, kinds: _KindLookup
) -> Protocol | None:
    before = len(errors.items)
    fields = _fields(
        errors,
        data,
        path,
        required=("code", "name", "phases"),
        optional=("min_hours_between_doses", "description", "source"),
    )
    if fields is None:
        return None
    code = _text(errors, fields, "code", path, required=True, slug=True, max_length=MAX_CODE_LENGTH)
    name = _text(errors, fields, "name", path, required=True)
    description = _text(errors, fields, "description", path, max_length=4000)
    source = _text(errors, fields, "source", path, max_length=4000)
    min_hours = _number(
        errors, fields, "min_hours_between_doses", path, low=0, high=MAX_HOURS, unit="hours"
    )
    items = _list(errors, fields, "phases", path, required=True)
    drafts: list[_PhaseDraft] = []
    if _ok(items):
        where = _at(path, "phases")
        if not items:
            errors.add(where, "phases.empty", "must list at least one phase")
        elif len(items) > MAX_PHASES:
            errors.add(where, "range", f"must have at most {MAX_PHASES} phases")
        else:
            drafts = [
                _read_phase(errors, item, f"{where}[{i}]", kinds) for i, item in enumerate(items)
            ]
    _check_phase_names(errors, drafts)
    _check_after_graph(errors, drafts)
    for draft in drafts:
        if draft.phase is not None:
            spacing = min_hours if _ok(min_hours) else None
            errors.items.extend(
                phase_feasibility_errors(draft.phase, draft.path, kinds, spacing)
            )
    if len(errors.items) > before:
        return None
    return Protocol(
        code=code,
        name=name,
        phases=tuple(d.phase for d in drafts),
        min_hours_between_doses=min_hours,
        description=description or "",
        source=source or "",
    )


def _read_phase(errors: _Errors, data: Any, path: str, kinds: _KindLookup) -> _PhaseDraft:
    before = len(errors.items)
    fields = _fields(
        errors,
        data,
        path,
        required=("name", "session_kind"),
        optional=(
            "count", "until_days", "gap_days", "within_days", "max_per_week", "weekdays",
            "after", "follow_up",
        ),
    )
    if fields is None:
        return _PhaseDraft(path, _BAD, None, None)
    name = _text(errors, fields, "name", path, required=True, max_length=MAX_CODE_LENGTH)
    kind = _known_kind(errors, fields, "session_kind", path, kinds)
    count = _integer(errors, fields, "count", path, low=1, high=MAX_COUNT, unit="sessions")
    until = _integer(errors, fields, "until_days", path, low=1, high=MAX_DAYS, unit="days")
    if fields.get("count") is None and fields.get("until_days") is None:
        errors.add(
            path,
            "phase.count_or_until_days",
            "needs a count (sessions) or until_days (open-ended maintenance)",
        )
    elif fields.get("count") is not None and fields.get("until_days") is not None:
        errors.add(
            _at(path, "until_days"),
            "phase.count_or_until_days",
            "give either count or until_days, not both",
        )
    gap = _read_gap_days(errors, fields, path)
    within = _integer(errors, fields, "within_days", path, low=1, high=MAX_DAYS, unit="days")
    per_week = _integer(errors, fields, "max_per_week", path, low=1, high=7, unit="sessions")
    weekdays = _read_weekdays(errors, fields, path)
    after = _read_after(errors, fields, path)
    follow_up = _read_follow_up(errors, fields, path, kinds)

    repeats = (_ok(count) and count is not None and count > 1) or (_ok(until) and until is not None)
    if gap is None and repeats:
        errors.add(
            _at(path, "gap_days"),
            "gap_days.required",
            "a phase with more than one session needs gap_days {min, target, max}",
        )
    if _ok(count, gap, within) and count and gap and within is not None:
        shortest = (count - 1) * gap.min
        if shortest > within:
            errors.add(
                _at(path, "within_days"),
                "within_days.too_short",
                f"{count} sessions at least {quantity(gap.min, 'day')} apart span "
                f"{quantity(shortest, 'day')} or more; within_days is {within}",
            )
    # The reference is checked against the other phases even when the rest of ``after`` is bad.
    raw_after = fields.get("after")
    after_phase = raw_after.get("phase") if isinstance(raw_after, Mapping) else None
    if not isinstance(after_phase, str):
        after_phase = None
    values = (name, kind, count, until, gap, within, per_week, weekdays, after, follow_up)
    if len(errors.items) > before or not _ok(*values):
        return _PhaseDraft(path, name, after_phase, None)
    phase = Phase(
        name=name,
        session_kind=kind,
        count=count,
        until_days=until,
        gap_days=gap,
        within_days=within,
        max_per_week=per_week,
        weekdays=weekdays,
        after=after,
        follow_up=follow_up,
    )
    return _PhaseDraft(path, name, after_phase, phase)


def _known_kind(errors: _Errors, fields: Mapping, key: str, path: str, kinds: _KindLookup) -> Any:
    code = _text(errors, fields, key, path, required=True, max_length=MAX_CODE_LENGTH)
    if _ok(code) and code in kinds and kinds[code] is None:
        return _BAD  # a bundled kind that failed to parse: reported there, not again here
    if _ok(code) and code not in kinds:
        known = ", ".join(sorted(kinds)) or "none defined"
        errors.add(
            _at(path, key),
            "session_kind.unknown",
            f"unknown session kind {code!r}; known: {known}",
        )
        return _BAD
    return code


def _read_gap_days(errors: _Errors, fields: Mapping, path: str) -> Any:
    where = _at(path, "gap_days")
    raw = _present(errors, fields, "gap_days", path, required=False)
    if raw is None:
        return None
    gap = _fields(errors, raw, where, required=("min", "max"), optional=("target",))
    if gap is None:
        return _BAD
    low = _integer(errors, gap, "min", where, low=1, high=MAX_GAP_DAYS, unit="days", required=True)
    high = _integer(errors, gap, "max", where, low=1, high=MAX_GAP_DAYS, unit="days", required=True)
    target = _integer(errors, gap, "target", where, low=1, high=MAX_GAP_DAYS, unit="days")
    if not _ok(low, high, target):
        return _BAD
    if low > high:
        errors.add(f"{where}.min", "gap_days.order", f"min ({low}) is greater than max ({high})")
        return _BAD
    if target is None:
        target = low
    elif not low <= target <= high:
        errors.add(
            f"{where}.target", "gap_days.target", f"target ({target}) is outside [{low}, {high}]"
        )
        return _BAD
    return GapDays(min=low, target=target, max=high)


def _read_weekdays(errors: _Errors, fields: Mapping, path: str) -> Any:
    items = _list(errors, fields, "weekdays", path)
    if items is None or items is _BAD:
        return items
    where = _at(path, "weekdays")
    if not items:
        errors.add(where, "weekdays.empty", "must list at least one weekday (or be left out)")
        return _BAD
    bad = False
    for i, code in enumerate(items):
        if code not in WEEKDAYS:
            errors.add(
                f"{where}[{i}]",
                "weekdays.unknown",
                f"unknown weekday {_describe(code)}; expected one of: {', '.join(WEEKDAYS)}",
            )
            bad = True
    return _BAD if bad else frozenset(items)


def _read_after(errors: _Errors, fields: Mapping, path: str) -> Any:
    where = _at(path, "after")
    raw = _present(errors, fields, "after", path, required=False)
    if raw is None:
        return None
    after = _fields(errors, raw, where, required=("phase",), optional=("min_days", "max_days"))
    if after is None:
        return _BAD
    phase = _text(errors, after, "phase", where, required=True, max_length=MAX_CODE_LENGTH)
    low = _integer(errors, after, "min_days", where, low=0, high=MAX_DAYS, unit="days")
    high = _integer(errors, after, "max_days", where, low=0, high=MAX_DAYS, unit="days")
    if not _ok(phase, low, high):
        return _BAD
    low = low or 0
    if high is not None and low > high:
        errors.add(
            f"{where}.min_days",
            "after.order",
            f"min_days ({low}) is greater than max_days ({high})",
        )
        return _BAD
    return After(phase=phase, min_days=low, max_days=high)


def _read_follow_up(
    errors: _Errors, fields: Mapping, path: str, kinds: _KindLookup
) -> Any:
    where = _at(path, "follow_up")
    raw = _present(errors, fields, "follow_up", path, required=False)
    if raw is None:
        return None
    follow_up = _fields(
        errors, raw, where, required=("session_kind", "min_hours", "max_hours"), optional=()
    )
    if follow_up is None:
        return _BAD
    kind = _known_kind(errors, follow_up, "session_kind", where, kinds)
    low = _number(
        errors, follow_up, "min_hours", where, low=0, high=MAX_HOURS, unit="hours", required=True
    )
    high = _number(
        errors, follow_up, "max_hours", where, low=0, high=MAX_HOURS, unit="hours", required=True
    )
    if not _ok(kind, low, high):
        return _BAD
    if low > high:
        errors.add(
            f"{where}.min_hours",
            "follow_up.order",
            f"min_hours ({low:g}) is greater than max_hours ({high:g})",
        )
        return _BAD
    return FollowUp(session_kind=kind, min_hours=low, max_hours=high)


def _check_phase_names(errors: _Errors, drafts: list[_PhaseDraft]) -> None:
    seen: set[str] = set()
    for draft in drafts:
        if not _ok(draft.name):
            continue
        if draft.name in seen:
            errors.add(
                f"{draft.path}.name", "phase.duplicate", f"phase name {draft.name!r} is repeated"
            )
        seen.add(draft.name)


def _check_after_graph(errors: _Errors, drafts: list[_PhaseDraft]) -> None:
    names = {d.name for d in drafts if _ok(d.name)}
    first_of_name: dict[str, _PhaseDraft] = {}
    for draft in drafts:
        if _ok(draft.name):
            first_of_name.setdefault(draft.name, draft)
    # Only the first phase of a name joins the graph (a duplicate is reported already).
    refers_to: dict[str, str] = {}
    for draft in drafts:
        ref = draft.after_phase
        if ref is None or not _ok(ref):
            continue
        where = f"{draft.path}.after.phase"
        if _ok(draft.name) and ref == draft.name:
            errors.add(where, "after.self", f"phase {ref!r} cannot come after itself")
        elif ref not in names:
            errors.add(where, "after.unknown_phase", f"there is no phase named {ref!r}")
        elif _ok(draft.name) and first_of_name[draft.name] is draft:
            refers_to[draft.name] = ref
    for draft in drafts:
        if not _ok(draft.name) or first_of_name[draft.name] is not draft:
            continue
        if draft.name not in refers_to:
            continue
        chain = [draft.name]
        at = refers_to[draft.name]
        while at in refers_to and at not in chain:
            chain.append(at)
            at = refers_to[at]
        if at == draft.name:
            loop = " → ".join([*chain, draft.name])
            errors.add(
                f"{draft.path}.after.phase",
                "after.cycle",
                f"phases wait for each other in a circle ({loop}); none can start",
            )


# --- model → SPEC JSON ---


def session_kind_to_dict(kind: SessionKind) -> dict[str, Any]:
    """The SPEC section 7 shape; ``parse_session_kind`` of it gives back an equal kind."""
    return {
        "code": kind.code,
        "name": kind.name,
        "route": kind.route,
        "segments": [
            {"name": s.name, "minutes": s.minutes, "dose": s.dose} for s in kind.segments
        ],
        "room_features": sorted(kind.room_features),
        "needs_room": kind.needs_room,
        "staff": [{"role": n.role, "load": dict(n.load)} for n in kind.staff],
        "prescriber_on_site": kind.prescriber_on_site,
    }


def protocol_to_dict(protocol: Protocol) -> dict[str, Any]:
    """The SPEC section 7 shape; ``parse_protocol`` of it gives back an equal protocol."""
    out: dict[str, Any] = {
        "code": protocol.code,
        "name": protocol.name,
        "min_hours_between_doses": protocol.min_hours_between_doses,
        "phases": [_phase_to_dict(p) for p in protocol.phases],
    }
    if protocol.description:
        out["description"] = protocol.description
    if protocol.source:
        out["source"] = protocol.source
    return out


def _phase_to_dict(phase: Phase) -> dict[str, Any]:
    out: dict[str, Any] = {"name": phase.name, "session_kind": phase.session_kind}
    if phase.count is not None:
        out["count"] = phase.count
    if phase.until_days is not None:
        out["until_days"] = phase.until_days
    if phase.after is not None:
        after: dict[str, Any] = {"phase": phase.after.phase, "min_days": phase.after.min_days}
        if phase.after.max_days is not None:
            after["max_days"] = phase.after.max_days
        out["after"] = after
    if phase.gap_days is not None:
        gap = phase.gap_days
        out["gap_days"] = {"min": gap.min, "target": gap.target, "max": gap.max}
    for key in ("within_days", "max_per_week"):
        if getattr(phase, key) is not None:
            out[key] = getattr(phase, key)
    if phase.weekdays is not None:
        out["weekdays"] = [d for d in WEEKDAYS if d in phase.weekdays]
    if phase.follow_up is not None:
        f = phase.follow_up
        out["follow_up"] = {
            "session_kind": f.session_kind, "min_hours": f.min_hours, "max_hours": f.max_hours
        }
    return out
