"""The rule language: session kinds, routes and protocols, their validation, and the evaluator.

Pure Python (no Flask, no database): the engine, the services and the API all build on it.
"""

from .evaluator import RULES, Violation, evaluate
from .model import (
    LOADS,
    WEEKDAYS,
    After,
    FollowUp,
    GapDays,
    Phase,
    Protocol,
    Route,
    Segment,
    SessionKind,
    StaffNeed,
)
from .routes import ROUTES
from .session import PlacedSession
from .templates import (
    UnknownTemplateError,
    apply_overrides,
    list_templates,
    load_template,
    template_codes,
    template_document,
)
from .validation import (
    FieldError,
    RuleValidationError,
    check_route_policy,
    parse_protocol,
    parse_protocol_bundle,
    parse_session_kind,
    protocol_to_dict,
    session_kind_to_dict,
)

__all__ = [
    "LOADS",
    "ROUTES",
    "RULES",
    "WEEKDAYS",
    "After",
    "FieldError",
    "FollowUp",
    "GapDays",
    "Phase",
    "PlacedSession",
    "Protocol",
    "Route",
    "RuleValidationError",
    "Segment",
    "SessionKind",
    "StaffNeed",
    "UnknownTemplateError",
    "Violation",
    "apply_overrides",
    "check_route_policy",
    "evaluate",
    "list_templates",
    "load_template",
    "parse_protocol",
    "parse_protocol_bundle",
    "parse_session_kind",
    "protocol_to_dict",
    "session_kind_to_dict",
    "template_codes",
    "template_document",
]
