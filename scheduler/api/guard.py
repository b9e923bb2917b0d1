"""Checks that come before the request's body is read, in this order, on every endpoint:

1. **401** no or an unknown key (``auth.authenticate``, before this);
2. **403** the key's role may not do this at all (each blueprint says what its reads and writes
   need; a view marked with ``@needs`` says otherwise), or the endpoint is practice-wide and the
   key is scoped to clinics;
3. **404** a thing named in the path does not exist or is behind the key's wall;
4. then the body: an endpoint whose OpenAPI document has no request body takes none (an empty
   body or ``{}``), and every other body is parsed and validated by the view.

The services check role and wall again (the second line); this is what makes the answer the
same whatever the body holds: a viewer learns nothing from a 422 it should never have reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app, request

from ..errors import Forbidden, Invalid
from ..services import (
    appointments,
    disruptions,
    enrollments,
    feeds,
    offers,
    practice,
    rule_store,
    webhooks,
)
from ..services.access import READ, Principal
from .auth import principal
from .body import has_body, read_json

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Path parameter → the lookup that answers 404 for a missing or walled-off thing.
PATH_LOADERS: dict[str, Callable[[Principal, object], object]] = {
    "clinic_id": practice.get_clinic,
    "room_id": practice.get_room,
    "staff_id": practice.get_staff,
    "patient_id": practice.get_patient,
    "enrollment_id": enrollments.get_enrollment,
    "appointment_id": appointments.get_appointment,
    "protocol_id": rule_store.get_protocol,
    "feed_id": feeds.get_feed,
    "disruption_id": disruptions.get_disruption,
    "webhook_id": webhooks.get_webhook,
    "offer_id": offers.get_offer,
    "code": rule_store.get_session_kind,
}


@dataclass(frozen=True)
class Need:
    permission: str
    practice_wide: bool = False
    """Only an unscoped key: the endpoint reaches every clinic."""
    paths: dict[str, Callable] = field(default_factory=dict)
    """Path parameters this endpoint looks up differently from ``PATH_LOADERS``."""


def needs(permission: str, *, practice_wide: bool = False, paths: dict | None = None):
    """Mark a view whose need differs from its blueprint's default for the method."""
    def mark(view):
        view.regimen_need = Need(permission, practice_wide, paths or {})
        return view
    return mark


def check_request() -> None:
    """Blueprint ``before_request``: runs after authentication, before argument parsing."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return
    who = principal()
    need = getattr(view, "regimen_need", None) or _blueprint_need()
    if need is not None:
        who.require(need.permission)
        if need.practice_wide and who.scoped:
            raise Forbidden("this reaches every clinic; only an unscoped key may do it")
    loaders = {**PATH_LOADERS, **(need.paths if need else {})}
    for name, value in (request.view_args or {}).items():
        if name in loaders:
            loaders[name](who, value)
    if request.method in WRITE_METHODS and not _takes_body(view):
        _refuse_body()


def _blueprint_need() -> Need | None:
    blueprint = current_app.blueprints.get(request.blueprint or "")
    if request.method in WRITE_METHODS:
        declared = getattr(blueprint, "write_permission", None)
    else:
        declared = getattr(blueprint, "read_permission", READ)
    if declared is None or isinstance(declared, Need):
        return declared
    return Need(declared)


def _takes_body(view) -> bool:
    doc = getattr(view, "_apidoc", {})
    if doc.get("manual_doc", {}).get("requestBody"):
        return True
    return any(p.get("in") in ("json", "form", "files", "json_or_form")
               for p in doc.get("arguments", {}).get("parameters", []))


def _refuse_body() -> None:
    if not has_body(request):
        return
    data = read_json(request)
    if data is None or data == {}:
        return
    if isinstance(data, dict):
        raise Invalid("Invalid request: this action takes no body",
                      fields={key: ["Unknown field."] for key in data})
    raise Invalid.field("body", "this action takes no body (send none, or {})")
