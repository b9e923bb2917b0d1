"""Field types and base schemas shared by every resource."""

from __future__ import annotations

import re
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped: a typo must not pass as success."""

    class Meta:
        unknown = RAISE
        ordered = True


def parse_hhmm(value) -> time:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise ValidationError("must be a time as HH:MM (00:00-23:59)")
    h, m = value.split(":")
    return time(int(h), int(m))


class LocalTime(fields.Field):
    """A wall-clock time ``HH:MM``, kept as a string in JSON and a ``time`` in Python."""

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_hhmm(value)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.strftime("%H:%M") if isinstance(value, time) else value


class HHMM(fields.String):
    """A wall-clock time ``HH:MM`` validated but kept as a string (for JSON documents)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return parse_hhmm(value).strftime("%H:%M")


class TimeZoneName(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        if name not in _zone_names() or name in ("localtime", "Factory"):
            raise ValidationError(f"unknown IANA time zone {name!r}")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown IANA time zone {name!r}") from None
        return name


_ZONES: set[str] | None = None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


# Dates a clinic calendar can mean; beyond them arithmetic overflows and nothing is useful.
SUPPORTED_YEARS = (1970, 2200)


def check_year(value):
    if not SUPPORTED_YEARS[0] <= value.year <= SUPPORTED_YEARS[1]:
        raise ValidationError(f"must be between the years {SUPPORTED_YEARS[0]} and "
                              f"{SUPPORTED_YEARS[1]}")
    return value


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with an offset; a naive time is refused rather than guessed."""

    default_error_messages = {
        "invalid": "must be an ISO 8601 date-time",
        "invalid_awareness": "must include a UTC offset, e.g. 2026-12-01T09:00:00-05:00",
    }

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return check_year(super()._deserialize(value, attr, data, **kwargs))


class CalendarDate(fields.Date):
    def _deserialize(self, value, attr, data, **kwargs):
        return check_year(super()._deserialize(value, attr, data, **kwargs))


def windows_field(**kwargs):
    return fields.List(fields.List(fields.String(), validate=validate.Length(equal=2)), **kwargs)


class WeeklyHours(fields.Field):
    """``{"mon": [["08:00", "12:00"], ["13:00", "18:00"]], ...}``: ordered, non-overlapping.

    A window whose end is before its start crosses midnight: ``"fri": [["22:00", "06:00"]]``
    is open from Friday 22:00 to Saturday 06:00 (``["20:00", "00:00"]`` until midnight).
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object keyed by weekday (mon..sun)")
        errors: dict = {}
        out: dict[str, list[list[str]]] = {}
        for day, windows in value.items():
            if day not in WEEKDAY_CODES:
                errors[day] = [f"unknown weekday; use one of {', '.join(WEEKDAY_CODES)}"]
                continue
            if not isinstance(windows, list):
                errors[day] = ["must be a list of [start, end] windows"]
                continue
            parsed, day_errors = [], {}
            for i, window in enumerate(windows):
                if not isinstance(window, list) or len(window) != 2:
                    day_errors[i] = ["must be a [start, end] pair"]
                    continue
                try:
                    start, end = parse_hhmm(window[0]), parse_hhmm(window[1])
                except ValidationError as exc:
                    day_errors[i] = exc.messages
                    continue
                if start == end:
                    day_errors[i] = ["start and end must differ (an end before the start "
                                     "is on the next day)"]
                    continue
                parsed.append((start, end, i))
            parsed.sort()
            latest_end, latest_i = None, None
            for start, end, i in parsed:
                reach = _minute(end) + (1440 if end <= start else 0)
                if latest_end is not None and _minute(start) < latest_end:
                    day_errors.setdefault(i, []).append(f"overlaps window {latest_i}")
                if latest_end is None or reach > latest_end:
                    latest_end, latest_i = reach, i
            if day_errors:
                errors[day] = day_errors
            else:
                out[day] = [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e, _ in parsed]
        for n, day in enumerate(WEEKDAY_CODES):  # last night's window runs into the morning
            following = WEEKDAY_CODES[(n + 1) % 7]
            spill = max((_minute(e) for s_, e in (_times(w) for w in out.get(day, ()))
                         if e <= s_), default=0)
            for i, window in enumerate(out.get(following, ())):
                if _minute(_times(window)[0]) < spill:
                    errors.setdefault(following, {}).setdefault(i, []).append(
                        f"overlaps the {day} window that runs past midnight")
        if errors:
            raise ValidationError(errors)
        return {d: out[d] for d in WEEKDAY_CODES if d in out}

    def _serialize(self, value, attr, obj, **kwargs):
        return value


def _minute(value: time) -> int:
    return value.hour * 60 + value.minute


def _times(window: list[str]) -> tuple[time, time]:
    return parse_hhmm(window[0]), parse_hhmm(window[1])


class Slug(fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Regexp(
            r"^[a-z0-9][a-z0-9_-]{0,63}$", error="must be lowercase letters, digits, - or _"))
        super().__init__(**kwargs)


# A signed 64-bit column holds every stored integer: anything wider is the field's error, not
# the database's.
INT64 = (-(2**63), 2**63 - 1)
_DIGITS = re.compile(r"-?[0-9]{1,40}")


class Integer(fields.Integer):
    """A whole number within 64 bits. JSON must carry it as a number (``2``: not ``2.5``,
    ``"2"`` or ``true``); a query string carries it as digits."""

    default_error_messages = {"invalid": "must be a whole number",
                              "too_large": "must be between -2^63 and 2^63-1"}

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not isinstance(data, dict):
            # Query strings (webargs hands them over as a MultiDict, never a dict) are text.
            if not _DIGITS.fullmatch(value):
                raise self.make_error("invalid")
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if not INT64[0] <= value <= INT64[1]:
            raise self.make_error("too_large")
        return value


# Control characters (NUL, newlines, escapes) never belong in a one-line name: they break
# calendars, logs and terminals that show it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def single_line(value: str) -> bool:
    if _CONTROL.search(value):
        raise ValidationError("must be one line of text without control characters")
    return True


def name_field(**kwargs):
    return fields.String(validate=[validate.Length(min=1, max=200), single_line], **kwargs)


class EmailAddress(fields.Email):
    """RFC 5321 caps an address at 254 characters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(max=254))
        super().__init__(**kwargs)


class TimeWindowChecks:
    """``earliest`` must come before ``latest`` wherever a schema has both (``HH:MM``)."""

    @validates_schema
    def _earliest_before_latest(self, data, **kwargs):
        earliest, latest = data.get("earliest"), data.get("latest")
        if earliest is not None and latest is not None and str(earliest) >= str(latest):
            raise ValidationError("must be after earliest", field_name="latest")


def string_set(**kwargs):
    """A list of short codes (features, roles, certifications), de-duplicated, order kept."""
    return fields.List(fields.String(validate=[validate.Length(min=1, max=64), single_line]),
                       **kwargs)


class PageArgs(StrictSchema):
    page = Integer(load_default=1, validate=validate.Range(min=1))
    page_size = Integer(load_default=50, validate=validate.Range(min=1, max=500))
