"""A real HTTP receiver on 127.0.0.1 and a small practice, for webhook tests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.factories import Api
from tests.support.practice import build_practice


@dataclass
class Received:
    headers: dict
    body: str
    status: int
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Records every request; answers from ``script`` (status codes, one per request) and then
    ``default``. ``delay`` seconds of thinking per request."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    extra_headers: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.ok()]


@pytest.fixture
def receivers():
    """``receivers()`` starts one more receiver on 127.0.0.1; all stop after the test."""
    servers = []

    def start() -> Receiver:
        state = Receiver()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                if state.delay:
                    time.sleep(state.delay)
                with state.lock:
                    status = state.script.pop(0) if state.script else state.default
                    state.requests.append(Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, status,
                        time.time()))
                self.send_response(status)
                for name, value in state.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(receivers):
    return receivers()


@pytest.fixture
def allow_private(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def practice(api):
    return build_practice(api)


@pytest.fixture
def patient(api, practice):
    return api.post("/patients", {"name": "Ada Lovelace", "clinic_id": practice.clinic,
                                  "external_id": "MRN-4471", "email": "ada@example.org",
                                  "phone": "+1 617 555 0199"})


@pytest.fixture
def enroll(api, practice):
    def make(patient_id, start_on="2027-02-01", clinic=None, protocol=None, who=None):
        ids = clinic or practice
        return (who or api).post("/enrollments", {
            "patient_id": patient_id, "protocol_id": (protocol or ids.protocols["iv-depression"]),
            "clinic_id": ids.clinic, "start_on": start_on,
            "availability": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                             "earliest": "09:00", "latest": "17:00"}})
    return make


@pytest.fixture
def subscribe(api, receiver, allow_private):
    def make(events=("appointment.created", "appointment.updated", "appointment.cancelled",
                     "enrollment.confirmed", "enrollment.cancelled"), privacy="busy",
             who=None, to=None, **extra):
        return (who or api).post("/webhooks", {"url": (to or receiver).url,
                                               "events": list(events), "privacy": privacy,
                                               **extra})
    return make


@pytest.fixture
def deliver(app):
    """One run of the delivery job's body, as the scheduler would make it."""
    from scheduler.services import webhook_delivery

    def run() -> int:
        with app.app_context():
            return webhook_delivery.deliver_webhooks()
    return run
