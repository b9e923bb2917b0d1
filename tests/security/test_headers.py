"""Security headers: nosniff everywhere, no-store on keyed API answers, a CSP on HTML."""

from __future__ import annotations

import re


def test_nosniff_on_every_kind_of_answer(client, admin, world):
    for path, headers in (("/healthz", {}), ("/api/v1/clinics", admin), ("/api/v1/clinics", {}),
                          ("/api/v1/openapi.json", {}), ("/api/v1/docs", {}),
                          ("/ical/rgf_unknown.ics", {})):
        response = client.get(path, headers=headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def test_patient_data_is_never_stored_by_caches(client, admin, world):
    for path in ("/api/v1/patients", f"/api/v1/patients/{world['a']['patient']}",
                 "/api/v1/appointments", "/api/v1/patients/999999"):
        response = client.get(path, headers=admin)
        assert response.headers["Cache-Control"] == "no-store", path


def test_the_docs_page_has_a_content_security_policy_and_no_inline_script(client):
    response = client.get("/api/v1/docs")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    html = response.get_data(as_text=True)
    assert re.findall(r"<script>", html) == []  # every script is a same-origin file
    init = re.search(r'<script src="(/api/v1/docs/init\.js)"', html).group(1)
    script = client.get(init)
    assert script.status_code == 200 and "SwaggerUIBundle" in script.get_data(as_text=True)
    assert "/api/v1/openapi.json" in html
    # JSON is not HTML: no page policy on it.
    assert "Content-Security-Policy" not in client.get("/api/v1/openapi.json").headers
