"""The front-desk calendar page (SPEC 11): one server-rendered page over the JSON API.

The page holds no data and needs no key to load: it asks for a key, keeps it in the tab's
``sessionStorage`` and sends it as a Bearer header to ``/api/v1`` (no cookie, so no CSRF
surface). Everything it loads comes from this server; its Content-Security-Policy says so.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, make_response, render_template

STATIC = Path(__file__).resolve().parent / "static"

# Only this server: scripts, styles, icon and API calls; no inline code, no frames, no forms
# posting elsewhere.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
])

web_bp = Blueprint("calendar", __name__, template_folder="templates",
                   static_folder="static", static_url_path="/calendar/static")


@cache
def asset_version() -> str:
    """A digest of the page's assets: a new release is never served from a stale cache."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@web_bp.get("/calendar")
def calendar_page() -> Response:
    response = make_response(render_template("calendar/page.html", version=asset_version()))
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-cache"
    return response


@web_bp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
