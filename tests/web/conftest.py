"""The calendar page in a real browser: Debian's chromium driven by Playwright for Python.

The app is served on a free 127.0.0.1 port from a thread; every request the page makes is
recorded so a test can prove it never reaches another host. Screenshots go to
``$REGIMEN_WEB_ARTIFACTS`` (default: a temporary directory), and the path is printed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import time_machine

from tests.support.factories import Api
from tests.web.seed import NOW, seed_practice

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements-dev.txt)"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(app):
    """The app on a free loopback port, in a thread (werkzeug, threaded)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("REGIMEN_WEB_ARTIFACTS") or
                tempfile.mkdtemp(prefix="regimen-calendar-"))
    path.mkdir(parents=True, exist_ok=True)
    yield path
    print(f"\ncalendar screenshots: {path}")
    if not any(path.iterdir()):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def frozen():
    """Server time at NOW (ticking): the seeded plans lie ahead and one is due for check-in."""
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def seeded(frozen, client, admin):
    return seed_practice(Api(client, admin))


class Recorder:
    def __init__(self):
        self.urls: list[str] = []

    def __call__(self, request):
        self.urls.append(request.url)


@pytest.fixture
def page_factory(browser, live_server):
    """New pages at 1280×800 (or another viewport), the browser clock at NOW when asked."""
    contexts = []

    def make(viewport=(1280, 800), clock=True):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      timezone_id="Europe/Berlin", locale="en-GB")
        contexts.append(context)
        page = context.new_page()
        page.requests = Recorder()
        page.on("request", page.requests)
        page.console_errors = []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        if clock:
            page.clock.install(time=NOW)
        return page

    yield make
    for context in contexts:
        context.close()


def login(page, base: str, headers: dict, query: str = "") -> None:
    """Open the page, type the key once, wait for the calendar to be drawn."""
    page.goto(f"{base}/calendar{query}")
    page.get_by_label("API key").fill(headers["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Open calendar").click()
    wait_drawn(page)


def wait_drawn(page) -> None:
    page.wait_for_selector("#grid[aria-busy='false'] .cal")
