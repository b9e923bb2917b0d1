"""``GET /ical/<token>.ics``: the feed itself. No bearer key: the secret token is the credential.

Conditional requests are decided before rendering: the ETag comes from one query of indexed
lookups (``feed_content.feed_state``: the clinics' calendar versions and a few stamps), so a
poll that changes nothing costs two small queries.
``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 13.2.2); ``Last-Modified`` is when
the ETag last changed (``feed_content.last_modified``). An unconditional poll of an unchanged
feed is served from ``feed_cache`` under the same ETag, gzipped once for clients that accept
it (a 2,000-event feed is ~700 KB of text, ~10× smaller gzipped); after a change only the
changed events are rendered again. Unknown, malformed and revoked tokens all answer the same 404.
"""

from __future__ import annotations

import gzip

from flask import Blueprint, Response, current_app, request

from ..models.types import utcnow
from ..services import feed_cache, feed_content, feeds

ical_bp = Blueprint("ical", __name__)

CALENDAR_MIMETYPE = "text/calendar; charset=utf-8"
# Fast and already ~10x on iCalendar text; the result is cached per ETag anyway.
GZIP_LEVEL = 6
GZIP_ETAG_SUFFIX = "-gzip"

# Not a flask-smorest route (no JSON, no bearer key), so described to OpenAPI by hand.
OPENAPI_OPERATIONS = {"get": {
    "tags": ["feeds"], "summary": "The iCal feed itself; the secret token is the credential",
    "security": [],
    "parameters": [
        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
        {"name": "If-Modified-Since", "in": "header", "schema": {"type": "string"}},
        {"name": "Accept-Encoding", "in": "header", "schema": {"type": "string"},
         "description": "gzip: the body is sent gzipped (Content-Encoding: gzip)"}],
    "responses": {
        "200": {"description": "RFC 5545 calendar",
                "content": {"text/calendar": {"schema": {"type": "string"}}}},
        "304": {"description": "Unchanged since the ETag or the date given"},
        "404": {"description": "Unknown, revoked or rotated token"}},
}}


@ical_bp.get("/ical/<token>.ics")
def feed(token: str):
    found = feeds.find_by_token(token)
    settings = feed_content.FeedSettings.from_config(current_app.config)
    now = utcnow()
    state = feed_content.feed_state(found, now, settings)
    modified = feed_content.last_modified(found, state.etag, now)
    gzipped = request.accept_encodings["gzip"] > 0
    # Each content coding is its own representation, so its own strong ETag; either one
    # names the same state, so either one revalidates.
    etag = state.etag + (GZIP_ETAG_SUFFIX if gzipped else "")
    if _not_modified(state.etag, modified):
        response = Response(status=304)
    else:
        response = Response(_body(found, state.etag, gzipped, now, settings),
                            content_type=CALENDAR_MIMETYPE)
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(etag)
    if modified is not None:
        response.last_modified = modified
    response.vary.add("Accept-Encoding")
    # May hold patient names (details): no shared caches; always revalidate (cheap, see above).
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _not_modified(etag: str, modified) -> bool:
    if request.if_none_match:
        return (request.if_none_match.contains_weak(etag)
                or request.if_none_match.contains_weak(etag + GZIP_ETAG_SUFFIX))
    since = request.if_modified_since
    return since is not None and modified is not None and modified <= since


def _body(found, etag: str, gzipped: bool, now, settings) -> bytes:
    cache = feed_cache.cache_for(current_app)
    key = (etag, "gzip" if gzipped else "identity")
    body = cache.get(key)
    if body is None:
        plain = cache.get((etag, "identity"))
        if plain is None:
            plain = feed_content.render_feed(found, now, settings,
                                             feed_cache.events_cache_for(current_app))
            cache.put((etag, "identity"), plain)
        body = gzip.compress(plain, GZIP_LEVEL, mtime=0) if gzipped else plain
        cache.put(key, body)
    return body
