"""A busy day (80 appointments in 10 rooms) is drawn within 300 ms after its data arrives."""

from __future__ import annotations

import json
import os
import statistics
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.factories import Api
from tests.web.conftest import login, wait_drawn

ZONE = ZoneInfo("America/Chicago")
DAY = datetime(2027, 6, 15, tzinfo=ZONE)
KINDS = ["iv_infusion", "consult", "integration", "esketamine_dose"]
STATUSES = ["booked", "held", "checked_in", "completed", "no_show"]


def busy_day(rooms: list[int], staff: list[int], day: datetime) -> list[dict]:
    """8 appointments per room, 08:00-18:00, as the API shows them (allocations by unit)."""
    out = []
    for r, room in enumerate(rooms):
        for i in range(8):
            start = day.replace(hour=8) + timedelta(minutes=75 * i + 5 * (r % 3))
            end = start + timedelta(minutes=70)
            appt_id = 1000 + r * 8 + i
            nurse = staff[(r + i) % len(staff)]
            out.append({
                "id": appt_id, "enrollment_id": 1, "patient_id": appt_id, "clinic_id": 1,
                "session_kind": KINDS[(r + i) % len(KINDS)], "phase": "induction",
                "key": f"induction#{i + 1}", "follow_up_of": None, "status": STATUSES[i % 5],
                "start": start.isoformat(), "end": end.isoformat(), "sequence": 1,
                "overdue_at": None, "updated_at": start.isoformat(),
                "allocations": [
                    {"resource_type": "room", "resource_id": room, "unit": 0, "active": True,
                     "start": start.isoformat(),
                     "end": (end + timedelta(minutes=10)).isoformat()},
                    {"resource_type": "staff", "resource_id": nurse, "unit": 0, "active": True,
                     "start": start.isoformat(), "end": end.isoformat()},
                    {"resource_type": "staff", "resource_id": nurse, "unit": 1, "active": True,
                     "start": start.isoformat(),
                     "end": (start + timedelta(minutes=15)).isoformat()}]})
    return out


def test_eighty_appointments_are_drawn_within_300_ms(client, admin, live_server, page_factory,
                                                     artifacts):
    api = Api(client, admin)
    clinic = api.post("/clinics", {"name": "Busy", "timezone": "America/Chicago",
                                   "hours": {"tue": [["08:00", "18:00"]]}})["id"]
    rooms = [api.post(f"/clinics/{clinic}/rooms", {"name": f"Chair {i + 1}",
                                                    "features": ["iv_pump"]})["id"]
             for i in range(10)]
    staff = [api.post("/staff", {"name": f"Nurse {i + 1}", "roles": ["nurse"], "shifts": [
        {"clinic_id": clinic, "weekday": "tue", "start": "08:00", "end": "18:00"}]})["id"]
        for i in range(6)]
    days = {}

    def appointments(route):
        start = route.request.url.split("start=")[1][:10]
        when = datetime.fromisoformat(start).replace(tzinfo=ZONE)
        days.setdefault(start, busy_day(rooms, staff, when))
        route.fulfill(status=200, content_type="application/json",
                      headers={"X-Pagination": json.dumps({"total": 80, "total_pages": 1})},
                      body=json.dumps(days[start]))

    def patient(route):
        pid = int(route.request.url.rsplit("/", 1)[1])
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"id": pid, "clinic_id": clinic, "name": f"Patient {pid}"}))

    page = page_factory(clock=False)
    page.route("**/api/v1/appointments?*", appointments)
    page.route("**/api/v1/patients/*", patient)
    login(page, live_server, admin, f"?clinic={clinic}&date={DAY.date()}")
    page.screenshot(path=str(artifacts / "busy-day-1280x800.png"))
    draws, builds = [], []
    for step in range(7):
        assert page.locator(".appt").count() == 80
        page.wait_for_function("performance.getEntriesByName('calendar-draw').length > 0")
        draws.append(page.evaluate("performance.getEntriesByName('calendar-draw')[0].duration"))
        builds.append(page.evaluate("performance.getEntriesByName('calendar-build')[0].duration"))
        page.get_by_role("button", name="Next day" if step % 2 == 0 else "Previous day").click()
        wait_drawn(page)
    median, load = statistics.median(draws), os.getloadavg()[0]
    oversubscribed = load > (os.cpu_count() or 1)
    print(f"80-appointment day drawn in {', '.join(f'{d:.1f}' for d in draws)} ms "
          f"(best {min(draws):.1f}, median {median:.1f}, worst {max(draws):.1f}; DOM built in "
          f"{', '.join(f'{b:.1f}' for b in builds)} ms; load average {load:.1f} on "
          f"{os.cpu_count()} cores)")
    # Other processes only ever add time. On a machine with a core to spare the typical draw
    # must be within 300 ms; on an oversubscribed one, at least the page's own cost (the best).
    assert min(draws) < 300
    if not oversubscribed:
        assert median < 300
