"""``GET /ical/<token>.ics``: the feed itself. No bearer key: the secret token is the credential.

Conditional requests are decided before rendering: the ETag comes from one aggregate query
(``feed_content.feed_state``), so a poll that changes nothing costs two small queries; an
unconditional poll of an unchanged feed is served from ``feed_cache`` under the same ETag.
Unknown, malformed and revoked tokens all answer the same 404.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..models.types import utcnow
from ..services import feed_cache, feed_content, feeds

ical_bp = Blueprint("ical", __name__)

CALENDAR_MIMETYPE = "text/calendar; charset=utf-8"

# Not a flask-smorest route (no JSON, no bearer key), so described to OpenAPI by hand.
OPENAPI_OPERATIONS = {"get": {
    "tags": ["feeds"], "summary": "The iCal feed itself; the secret token is the credential",
    "security": [],
    "parameters": [
        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
    "responses": {
        "200": {"description": "RFC 5545 calendar",
                "content": {"text/calendar": {"schema": {"type": "string"}}}},
        "304": {"description": "Unchanged since the ETag given"},
        "404": {"description": "Unknown, revoked or rotated token"}},
}}


@ical_bp.get("/ical/<token>.ics")
def feed(token: str):
    found = feeds.find_by_token(token)
    settings = feed_content.FeedSettings.from_config(current_app.config)
    now = utcnow()
    state = feed_content.feed_state(found, now, settings)
    if request.if_none_match.contains_weak(state.etag):
        response = Response(status=304)
    else:
        cache = feed_cache.cache_for(current_app)
        body = cache.get(state.etag)
        if body is None:
            body = feed_content.render_feed(found, now, settings)
            cache.put(state.etag, body)
        response = Response(body, content_type=CALENDAR_MIMETYPE)
    response.set_etag(state.etag)
    response.last_modified = state.last_modified
    # May hold patient names (details): no shared caches; always revalidate (cheap, see above).
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
