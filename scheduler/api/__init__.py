"""HTTP layer: parse the request, call one service function, serialise the result."""

from __future__ import annotations

from flask import Flask, send_from_directory
from flask_smorest import Api

from . import (
    appointments,
    audit,
    clinics,
    disruptions,
    enrollments,
    feeds,
    ical,
    jobs,
    patients,
    rems,
    rooms,
    rules,
    staff,
    waitlist,
    webhooks,
)
from .auth import authenticate, reset_actor
from .errors import register_error_handlers
from .headers import register_security_headers
from .ratelimit import init_rate_limits

BLUEPRINTS = [clinics.blp, rooms.blp, staff.blp, patients.blp, rules.blp, enrollments.blp,
              appointments.blp, audit.blp, feeds.blp, jobs.blp, disruptions.blp,
              rems.blp, webhooks.blp,
              waitlist.blp]


def register_api(app: Flask) -> None:
    api = Api(app)
    api.spec.options["info"] = {
        "title": "Regimen", "version": "v1",
        "description": "Ketamine treatment scheduling across clinics. Every call needs "
                       "`Authorization: Bearer <key>`.",
    }
    for blp in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix="/api/v1")
    # The iCal feed lives outside /api/v1: no bearer key, its token is the credential.
    app.register_blueprint(ical.ical_bp)
    api.spec.path(rule=next(app.url_map.iter_rules("ical.feed")),
                  operations=ical.OPENAPI_OPERATIONS)
    init_rate_limits(app)  # its hook runs before authentication: 429 costs no key lookup
    app.before_request(authenticate)
    app.teardown_request(lambda exc: reset_actor(None))
    register_error_handlers(app)
    register_security_headers(app)
    _serve_swagger_assets(app)


def _serve_swagger_assets(app: Flask) -> None:
    """Swagger UI from the installed swagger-ui-bundle package: no CDN, works offline."""
    from swagger_ui_bundle import swagger_ui_path

    @app.get("/api/v1/docs/static/<path:filename>")
    def swagger_asset(filename):
        return send_from_directory(swagger_ui_path, filename)
