"""Response headers that keep browsers and caches from doing more with an answer than meant.

- ``X-Content-Type-Options: nosniff`` on everything: a JSON error or an iCal feed is never run
  as a script or shown as a page.
- ``Cache-Control: no-store`` on every answer to a keyed ``/api/v1`` call: each is one key's view
  of the practice and most carry patient data; no browser or proxy keeps a copy.
- A ``Content-Security-Policy`` with ``frame-ancestors 'none'`` on HTML (the API docs): scripts
  from this origin only, no framing (clickjacking), no plugins. A page that needs another policy
  sets its own header, which is kept.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

HTML_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")

SWAGGER_INIT = """window.onload = function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({url: container.dataset.specUrl, dom_id: "#swagger-ui-container"});
};
"""


def register_security_headers(app: Flask) -> None:
    @app.get("/api/v1/docs/init.js", endpoint="swagger_init")
    def swagger_init():
        return Response(SWAGGER_INIT, mimetype="text/javascript")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith("/api/v1") and g.get("principal") is not None:
            response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", HTML_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
