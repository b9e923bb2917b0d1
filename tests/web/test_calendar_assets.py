"""The page itself, without a browser: headers, size, nothing from elsewhere."""

from __future__ import annotations

import re

ASSET = re.compile(r'(?:src|href)="(/calendar/static/[^"?]+)(?:\?v=[0-9a-f]+)?"')


def _page_and_assets(client):
    page = client.get("/calendar")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    paths = ASSET.findall(html)
    assets = {p: client.get(p) for p in paths}
    # calendar.js imports zone.js: the module graph is part of the page.
    js = assets["/calendar/static/calendar.js"].get_data(as_text=True)
    for name in re.findall(r'from "\./([\w.]+)"', js):
        assets[f"/calendar/static/{name}"] = client.get(f"/calendar/static/{name}")
    return page, html, assets


def test_page_needs_no_key_and_sets_a_self_only_policy(client):
    page, html, assets = _page_and_assets(client)
    policy = page.headers["Content-Security-Policy"]
    csp = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert csp["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert csp[directive] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in page.headers
    assert {a.status_code for a in assets.values()} == {200}
    assert assets["/calendar/static/calendar.js"].mimetype == "text/javascript"


def test_nothing_comes_from_another_host_and_nothing_runs_inline(client):
    _page, html, assets = _page_and_assets(client)
    texts = [html] + [a.get_data(as_text=True) for a in assets.values()]
    for text in texts:
        assert not re.search(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", text.replace(
            "http://www.w3.org/2000/svg", "")), "an absolute URL to another host"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"<[^>]*\s(?:style|on[a-z]+)=", html), "inline style or handler"


def test_the_page_s_own_assets_weigh_under_100_kb(client):
    _page, html, assets = _page_and_assets(client)
    sizes = {"/calendar": len(html.encode())} | {p: len(a.get_data()) for p, a in assets.items()}
    total = sum(sizes.values())
    print(f"calendar page assets: {total} bytes {sizes}")
    assert set(sizes) >= {"/calendar", "/calendar/static/calendar.js",
                          "/calendar/static/zone.js", "/calendar/static/calendar.css"}
    assert total < 100 * 1024


def test_api_calls_still_need_the_key(client):
    assert client.get("/api/v1/clinics").status_code == 401
