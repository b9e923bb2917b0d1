"""The one vocabulary of rule and blocker codes, shared by the evaluator, the engine and the API.

A rule code names the rule as a manager writes it (``gap_days.max``, ``weekdays``,
``route.max_doses_per_7_days``): the evaluator reports broken rules with it and the engine
charges what it rejected to it, so a 409 and a cancel warning speak of the same rule the same
way. Blocker codes name what a calendar, not a rule, ruled out (a busy room, a closed day).
"""

from __future__ import annotations

# ---------------------------------------------------------------- protocol rules
GAP_DAYS_MIN = "gap_days.min"
GAP_DAYS_MAX = "gap_days.max"
WITHIN_DAYS = "within_days"
MAX_PER_WEEK = "max_per_week"
WEEKDAYS = "weekdays"
AFTER_MIN_DAYS = "after.min_days"
AFTER_MAX_DAYS = "after.max_days"
FOLLOW_UP_MIN_HOURS = "follow_up.min_hours"
FOLLOW_UP_MAX_HOURS = "follow_up.max_hours"
FOLLOW_UP_MISSING = "follow_up.missing"
FOLLOW_UP_UNEXPECTED = "follow_up.unexpected"
MIN_HOURS_BETWEEN_DOSES = "min_hours_between_doses"
COUNT = "count"
UNTIL_DAYS = "until_days"
ROUTE_MAX_DOSES_PER_7_DAYS = "route.max_doses_per_7_days"
ROUTE_REQUIRED_CERTIFICATION = "route.required_certification"
SESSION_KIND = "session_kind"
PHASE = "phase"
DURATION = "duration"
OVERLAP = "overlap"

RULES: dict[str, str] = {
    GAP_DAYS_MIN: "consecutive sessions of a phase too few local days apart (amount: days)",
    GAP_DAYS_MAX: (
        "consecutive sessions too many local days apart, or an open-ended phase left without a "
        "session for longer than gap_days.max before the horizon (amount: days)"
    ),
    WITHIN_DAYS: "last session of a phase too long after its first (amount: days)",
    MAX_PER_WEEK: "more sessions of a phase in 7 consecutive local days (amount: sessions)",
    WEEKDAYS: "a session on a weekday the phase does not allow",
    AFTER_MIN_DAYS: "a phase starts too soon after the phase it follows (amount: days)",
    AFTER_MAX_DAYS: "a phase starts too long after the phase it follows (amount: days)",
    FOLLOW_UP_MIN_HOURS: "a follow-up starts too soon after its session ends (amount: hours)",
    FOLLOW_UP_MAX_HOURS: "a follow-up starts too late after its session ends (amount: hours)",
    FOLLOW_UP_MISSING: "a session has no follow-up (complete plans only)",
    FOLLOW_UP_UNEXPECTED: (
        "a follow-up without a valid parent, for a phase without follow_up, or a second one"
    ),
    MIN_HOURS_BETWEEN_DOSES: "dose segments start too close together (amount: hours)",
    COUNT: "a phase has too many sessions, or too few in a complete plan (amount: sessions)",
    UNTIL_DAYS: "an open-ended phase's session after first + until_days (amount: days)",
    ROUTE_MAX_DOSES_PER_7_DAYS: "too many doses of a route in 7 local days (amount: doses)",
    ROUTE_REQUIRED_CERTIFICATION: "the clinic lacks the certification the route needs",
    SESSION_KIND: "unknown session kind, or not the kind the phase or follow-up names",
    PHASE: "a session names no phase of the protocol, or not its parent's phase",
    DURATION: "end is not start + the session kind's duration (amount: minutes)",
    OVERLAP: "two sessions of the plan overlap in time (amount: minutes)",
}
"""Every rule code ``evaluate`` reports, with what it means and the unit of ``amount``."""

# ---------------------------------------------------------------- what a calendar rules out
ROOM = "room"
"""Every room with the needed features is taken."""
STAFF_SHIFT = "staff_shift"
"""Nobody with the role is on shift then."""
STAFF_BUSY = "staff_busy"
"""Everyone with the role on shift is already booked."""
PRESCRIBER_ON_SITE = "prescriber_on_site"
PATIENT_BUSY = "patient_busy"
CLOSED = "closed"
"""A weekday without opening hours."""
CLOSURE = "closure"
"""A dated closure (a holiday, a snow day)."""
HOURS = "hours"
"""The session does not fit inside the day's opening hours."""
AVAILABILITY = "availability"
"""The patient cannot come then (their availability is hard)."""
WINDOW = "window"
"""The plan's spacing rules leave no day for the session."""
SERIES = "series"
"""The rest of the series could not fit after this day."""
ROOM_FEATURES = "room_features"
STAFF_ROLE = "staff_role"
TOO_LONG = "too_long"
SEARCH_LIMIT = "search_limit"
EXACT_START = "exact_start"

BLOCKERS: dict[str, str] = {
    ROOM: "every room with the features the session needs is taken",
    STAFF_SHIFT: "nobody with the role is on shift",
    STAFF_BUSY: "everybody with the role on shift is booked",
    PRESCRIBER_ON_SITE: "no prescriber on site during the dose",
    PATIENT_BUSY: "the patient has another appointment",
    CLOSED: "the clinic is closed that weekday",
    CLOSURE: "the clinic is closed that day",
    HOURS: "outside opening hours",
    AVAILABILITY: "outside the patient's availability",
    WINDOW: "the plan's spacing rules leave no day",
    SERIES: "the rest of the series would not fit",
    ROOM_FEATURES: "no room at the clinic has the features",
    STAFF_ROLE: "nobody with the role works at the clinic",
    TOO_LONG: "the session is longer than any opening or availability window",
    SEARCH_LIMIT: "the search reached its work limit",
    EXACT_START: "the requested start breaks a rule or a resource is taken",
}
"""Codes for what is not a protocol rule; an explanation's ``blocking`` uses these and
``RULES``' codes, nothing else."""

CODES = frozenset(RULES) | frozenset(BLOCKERS)
