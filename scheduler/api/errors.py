"""One JSON error shape for every failure the API can give.

    {"error": {"status": 422, "code": "validation_failed", "message": "...",
               "fields": {"hours.mon[0]": ["start must be before end"]}, "details": {...}}}
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from ..errors import DomainError
from ..extensions import db

log = logging.getLogger(__name__)


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dict into ``{"a.b[0].c": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                path = prefix or "body"
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for p, msgs in flatten_messages(value, path).items():
                out.setdefault(p, []).extend(msgs)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "body"] = list(messages)
        else:
            for i, value in enumerate(messages):
                for p, msgs in flatten_messages(value, f"{prefix}[{i}]").items():
                    out.setdefault(p, []).extend(msgs)
    else:
        out[prefix or "body"] = [str(messages)]
    return out


# An error answers the request, it does not echo it: a body with 100,000 bad items (or one huge
# unknown key) gets the first few faults, each cut short, and a count of the rest.
MAX_ERROR_FIELDS = 20
MAX_ERROR_TEXT = 300


def _cut(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _bounded_fields(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for path, messages in list(fields.items())[:MAX_ERROR_FIELDS]:
        out[_cut(str(path), 200)] = [_cut(str(m)) for m in messages[:5]]
    if len(fields) > MAX_ERROR_FIELDS:
        out["…"] = [f"and {len(fields) - MAX_ERROR_FIELDS} more fields with errors"]
    return out


def error_response(status: int, code: str, message: str, fields=None, details=None):
    body = {"status": status, "code": code, "message": _cut(message, 1000)}
    if fields:
        body["fields"] = _bounded_fields(fields)
    if details:
        body["details"] = {key: value[:100] if isinstance(value, list) else value
                           for key, value in details.items()}
    return jsonify(error=body), status


def _webargs_fields(exc: HTTPException) -> dict[str, list[str]]:
    messages = (getattr(exc, "data", None) or {}).get("messages") or {}
    fields: dict[str, list[str]] = {}
    for inner in messages.values():
        fields.update(flatten_messages(inner))
    return fields


def register_error_handlers(app) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        db.session.rollback()
        fields = _webargs_fields(exc)
        status = exc.code or 500
        if status == 400 and fields.get("body") == ["Invalid JSON body."]:
            return error_response(400, "malformed_json", "Request body is not valid JSON",
                                  {"body": ["Invalid JSON body."]})
        if fields:
            bounded = _bounded_fields(fields)
            summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(bounded.items()))
            return error_response(status, "validation_failed", f"Invalid request: {summary}",
                                  fields)
        if status == 413:
            limit_kb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // 1024
            return error_response(413, "payload_too_large",
                                  f"The request body is larger than {limit_kb} KB",
                                  {"body": [f"must be at most {limit_kb} KB"]})
        if status == 429:
            from .ratelimit import retry_after_seconds

            wait = retry_after_seconds()
            response = error_response(429, "too_many_requests",
                                      f"Too many requests ({exc.description}); retry in {wait} s")
            response[0].headers["Retry-After"] = str(wait)
            return response
        code = (exc.name or "error").lower().replace(" ", "_")
        message = getattr(exc, "description", None) or exc.name
        response = error_response(status, code, message)
        if status == 401:
            response[0].headers["WWW-Authenticate"] = 'Bearer realm="regimen"'
        return response

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        db.session.rollback()
        log.info("integrity error: %s", exc.orig)
        return error_response(409, "conflict", "The change conflicts with stored data",
                              details={"constraint": _constraint_name(exc)})

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(exc):
        # Numbers beyond 64 bits, dates beyond year 9999, NUL characters: the database cannot
        # even hold what was asked, so the request is invalid, not the server broken.
        db.session.rollback()
        log.info("out-of-range input: %s", exc)
        return error_response(422, "validation_failed",
                              "A number, date or text in the request is out of range",
                              {"body": ["a number, date or text is out of the supported range"]})

    @app.errorhandler(OperationalError)
    def _operational(exc: OperationalError):
        db.session.rollback()
        log.exception("database unavailable")
        return error_response(503, "database_unavailable", "The database did not answer; retry")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Internal error; nothing was changed")


def _constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)
