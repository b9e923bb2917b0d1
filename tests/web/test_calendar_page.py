"""The front-desk calendar in headless Chromium, on a seeded practice (SPEC 11)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support.factories import Api
from tests.web.conftest import login, wait_drawn
from tests.web.seed import DST_DAY, FRIDAY, NEW_YORK

ROW_PX = 18  # one 15-minute row, as calendar.css draws it


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(NEW_YORK)


def day_appointments(api: Api, clinic: int, day: date) -> list[dict]:
    return api.get(f"/appointments?clinic_id={clinic}&start={day}&end={day + timedelta(days=1)}")


def only_this_server(page, base: str) -> None:
    foreign = [u for u in page.requests.urls if not u.startswith(base + "/")]
    assert page.requests.urls and not foreign, foreign
    # An API answer of 4xx is logged by the browser too; anything else (a CSP refusal, a
    # script error) is a defect.
    errors = [e for e in page.console_errors if not e.startswith("Failed to load resource")]
    assert not errors, errors


def expected_top(page, start: datetime) -> float:
    """Where a block starting at this wall-clock time must begin: its 15-minute row, plus
    the part of the row already gone."""
    slot = start.replace(minute=start.minute - start.minute % 15)
    row = page.locator(f".times .row[data-time='{slot:%H:%M}']")
    assert row.count() == 1, f"no single row for {slot:%H:%M}"
    return row.bounding_box()["y"] + (start.minute % 15) / 15 * ROW_PX


def check_day(page, api: Api, clinic: int, day: date) -> list[dict]:
    appts = day_appointments(api, clinic, day)
    assert appts, f"the seed has nothing on {day}"
    for appt in appts:
        start, end = local(appt["start"]), local(appt["end"])
        room = next(a["resource_id"] for a in appt["allocations"] if a["resource_type"] == "room")
        block = page.locator(f".col[data-resource='{room}'] .appt[data-id='{appt['id']}']")
        assert block.count() == 1, f"appointment {appt['id']} not in room {room}'s column"
        assert block.locator(".t").inner_text() == f"{start:%H:%M}–{end:%H:%M}"
        box = block.bounding_box()
        assert abs(box["y"] - expected_top(page, start)) < 1.5
        minutes = (end - start).total_seconds() / 60
        assert abs(box["height"] - minutes / 15 * ROW_PX) < 1.5
    assert page.locator(".appt").count() == len(appts)
    return appts


def test_day_shows_seeded_appointments_in_their_rooms_at_clinic_time(
        seeded, admin, client, live_server, page_factory, artifacts):
    api = Api(client, admin)
    page = page_factory()
    login(page, live_server, admin, f"?clinic={seeded.clinic}&date={FRIDAY}")
    assert page.locator(".colhead").all_inner_texts() == ["Infusion 1", "Infusion 2", "Consult A"]
    friday = check_day(page, api, seeded.clinic, FRIDAY)
    ada = next(a for a in friday if a["patient_id"] == seeded.patients["Ada Lovelace"])
    block = page.locator(f".appt[data-id='{ada['id']}']")
    assert "Ada Lovelace" in block.inner_text() and "Medical consultation" in block.inner_text()
    # The line at the current time: 07:30 is before opening, so the day starts at 07:00.
    now_line = page.locator(".body > .now")
    assert now_line.get_attribute("data-label") == "now 07:30"
    assert abs(now_line.bounding_box()["y"] - expected_top(page, datetime(
        2027, 3, 12, 7, 30, tzinfo=NEW_YORK))) < 2
    page.screenshot(path=str(artifacts / "day-1280x800.png"))

    # Sunday 14 March: 23 hours in New York; 09:00 EDT is 13:00 UTC, not 14:00.
    page.locator("#date").fill(DST_DAY.isoformat())
    page.locator("#date").dispatch_event("change")
    wait_drawn(page)
    check_day(page, api, seeded.clinic, DST_DAY)
    page.get_by_label("24 h").check()
    assert page.locator(".cal").get_attribute("data-hours") == "23"
    times = page.locator(".times .row").evaluate_all("rows => rows.map(r => r.dataset.time)")
    assert len(times) == 92 and "02:00" not in times and times[7:9] == ["01:45", "03:00"]
    check_day(page, api, seeded.clinic, DST_DAY)
    page.screenshot(path=str(artifacts / "day-dst-24h.png"), full_page=True)

    # Sunday 7 November: 25 hours, 01:00-01:45 twice (EDT, then EST).
    page.locator("#date").fill("2027-11-07")
    page.locator("#date").dispatch_event("change")
    wait_drawn(page)
    assert page.locator(".cal").get_attribute("data-hours") == "25"
    rows = page.locator(".times .row").evaluate_all(
        "rows => rows.map(r => [r.dataset.time, r.dataset.iso])")
    assert len(rows) == 100
    assert [iso for t, iso in rows if t == "01:00"] == ["2027-11-07T01:00:00-04:00",
                                                        "2027-11-07T01:00:00-05:00"]
    only_this_server(page, live_server)


def test_week_view_and_staff_columns(seeded, admin, client, live_server, page_factory,
                                     artifacts):
    api = Api(client, admin)
    page = page_factory()
    login(page, live_server, admin, f"?clinic={seeded.clinic}&date={DST_DAY}")
    page.get_by_label("Staff").check()
    assert page.locator(".colhead").all_inner_texts() == ["R. Alvarez, RN", "Dr. M. Okafor"]
    for appt in day_appointments(api, seeded.clinic, DST_DAY):
        for staff in {a["resource_id"] for a in appt["allocations"]
                      if a["resource_type"] == "staff"}:
            assert page.locator(f".col[data-resource='{staff}'] "
                                f".appt[data-id='{appt['id']}']").count() == 1
    page.get_by_label("Week").check()
    wait_drawn(page)
    monday = date(2027, 3, 8)
    week = api.get(f"/appointments?clinic_id={seeded.clinic}&start={monday}"
                   f"&end={monday + timedelta(days=7)}")
    assert page.locator(".appt").count() == len(week)
    for appt in week:
        start = local(appt["start"])
        block = page.locator(f".col[data-date='{start.date()}'] .appt[data-id='{appt['id']}']")
        assert block.count() == 1
        # Wall-clock rows in the week too: Sunday's 09:00 EDT sits level with Friday's 09:00 EST.
        assert abs(block.bounding_box()["y"] - expected_top(page, start)) < 1.5
    page.screenshot(path=str(artifacts / "week-1280x800.png"))
    page.set_viewport_size({"width": 1024, "height": 768})
    page.screenshot(path=str(artifacts / "week-1024x768.png"))
    only_this_server(page, live_server)


def test_check_in_from_the_details_changes_the_colour(seeded, admin, client, live_server,
                                                       page_factory, artifacts):
    api = Api(client, admin)
    page = page_factory()
    login(page, live_server, admin, f"?clinic={seeded.clinic}&date={FRIDAY}")
    consult = next(a for a in day_appointments(api, seeded.clinic, FRIDAY)
                   if a["patient_id"] == seeded.patients["Ada Lovelace"])
    block = page.locator(f".appt[data-id='{consult['id']}']")
    before = block.evaluate("b => getComputedStyle(b).backgroundColor")
    # Keyboard: focus the block, Enter opens the details, whose title takes the focus.
    block.focus()
    page.keyboard.press("Enter")
    details = page.locator("#details")
    details.wait_for()
    assert page.evaluate("document.activeElement.id") == "details-title"
    page.wait_for_selector("#plan table")
    body = details.inner_text()
    assert "Consult A" in body and "Dr. M. Okafor" in body and "Ada Lovelace" in body
    plan = api.get(f"/enrollments/{seeded.enrollments['Ada Lovelace']}")["appointments"]
    rows = page.locator("#plan tbody tr")
    assert rows.count() == len(plan) == 4
    words = {"booked": "booked", "held": "held (tentative)", "checked_in": "checked in"}
    for row, session in zip(rows.all(), sorted(plan, key=lambda a: a["start"]), strict=True):
        cells = row.locator("td").all_inner_texts()
        assert session["key"] in cells[1] and cells[-1] == words[session["status"]]
        assert cells[2].endswith(f"{local(session['start']):%H:%M}")
    assert page.locator("#plan tr[aria-current='true']").count() == 1
    page.screenshot(path=str(artifacts / "details-1280x800.png"))
    page.set_viewport_size({"width": 1024, "height": 768})
    page.screenshot(path=str(artifacts / "details-1024x768.png"))
    # Readable at 1024×768: the panel leaves the calendar room, and nothing is cut off.
    assert page.locator(".grid").bounding_box()["width"] > 450
    assert details.get_by_role("button", name="Check in").bounding_box()["x"] + 80 < 1024
    page.set_viewport_size({"width": 1280, "height": 800})

    details.get_by_role("button", name="Check in").click()
    page.wait_for_selector("#answer .ok")
    assert "Checked in" in page.locator("#answer").inner_text()
    page.wait_for_selector(f".appt[data-id='{consult['id']}'][data-status='checked_in']")
    after = page.locator(f".appt[data-id='{consult['id']}']").evaluate(
        "b => getComputedStyle(b).backgroundColor")
    assert after != before
    assert api.get(f"/appointments/{consult['id']}")["status"] == "checked_in"
    # Escape closes the details and gives the focus back to the block.
    page.keyboard.press("Escape")
    assert details.is_hidden()
    assert page.evaluate("document.activeElement.dataset.id") == str(consult["id"])
    only_this_server(page, live_server)


def test_reschedule_moves_the_block_and_says_what_moved(seeded, admin, client, live_server,
                                                        page_factory):
    api = Api(client, admin)
    page = page_factory()
    login(page, live_server, admin, f"?clinic={seeded.clinic}&date={FRIDAY}")
    consult = next(a for a in day_appointments(api, seeded.clinic, FRIDAY)
                   if a["patient_id"] == seeded.patients["Ada Lovelace"])
    page.locator(f".appt[data-id='{consult['id']}']").click()
    page.wait_for_selector("#plan table")
    page.get_by_label("Earliest new time (clinic time)").fill(f"{FRIDAY}T13:00")
    page.get_by_role("button", name="Reschedule").click()
    page.wait_for_selector("#answer .moved")
    moved = api.get(f"/appointments/{consult['id']}")
    new_start = local(moved["start"])
    assert new_start >= datetime(2027, 3, 12, 13, 0, tzinfo=NEW_YORK)
    answer = page.locator("#answer").inner_text()
    assert f"09:00 → Fri 12 Mar {new_start:%H:%M}" in answer
    # The answer shows first, then the day is fetched again and redrawn: wait for the redraw.
    block = page.locator(f".appt[data-id='{consult['id']}']")
    expect(block.locator(".t")).to_have_text(re.compile(f"^{new_start:%H:%M}"))
    assert abs(block.bounding_box()["y"] - expected_top(page, new_start)) < 1.5
    only_this_server(page, live_server)


def test_a_409_is_explained_in_words(seeded, admin, client, live_server, page_factory):
    api = Api(client, admin)
    page = page_factory()
    login(page, live_server, admin, f"?clinic={seeded.clinic}&date={FRIDAY}")
    consult = next(a for a in day_appointments(api, seeded.clinic, FRIDAY)
                   if a["patient_id"] == seeded.patients["Alan Turing"])
    page.locator(f".appt[data-id='{consult['id']}']").click()
    page.wait_for_selector("#plan table")
    # Another desk cancels it meanwhile; this page still offers the check-in.
    api.post(f"/appointments/{consult['id']}/cancel", expect=200)
    with page.expect_response(lambda r: r.url.endswith("/check-in")) as response:
        page.locator("#details").get_by_role("button", name="Check in").click()
    assert response.value.status == 409
    message = response.value.json()["error"]["message"]
    page.wait_for_selector("#answer .error")
    assert page.locator("#answer").inner_text().startswith(f"Not done: {message}")
    assert "cancelled" in message
    page.wait_for_selector(f".appt[data-id='{consult['id']}']", state="detached")
    only_this_server(page, live_server)


def test_cancel_shows_the_plan_warnings(seeded, admin, client, live_server, page_factory):
    api = Api(client, admin)
    page = page_factory()
    login(page, live_server, admin, f"?clinic={seeded.clinic}&date={DST_DAY}")
    infusion = next(a for a in day_appointments(api, seeded.clinic, DST_DAY)
                    if a["patient_id"] == seeded.patients["Ada Lovelace"])
    page.locator(f".appt[data-id='{infusion['id']}']").click()
    page.wait_for_selector("#plan table")
    page.locator("#details").get_by_role("button", name="Cancel appointment").click()
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as response:
        page.get_by_role("button", name="Yes, cancel it").click()
    warnings = response.value.json()["plan_warnings"]
    assert warnings, "a series missing one infusion breaks its count"
    page.wait_for_selector("#answer .warn")
    answer = page.locator("#answer").inner_text()
    assert all(w["message"] in answer for w in warnings)
    only_this_server(page, live_server)


def test_a_clinic_scoped_key_sees_only_its_clinic(seeded, keys, admin, client, live_server,
                                                  page_factory):
    scoped = keys("front_desk", clinics=[seeded.other_clinic])
    page = page_factory()
    login(page, live_server, scoped, f"?date={FRIDAY}&view=week")
    options = page.locator("#clinic option").all_inner_texts()
    assert options == ["La Jolla (America/Los_Angeles)"]
    theirs = Api(client, admin).get(f"/appointments?clinic_id={seeded.other_clinic}")
    shown = {int(i) for i in page.locator(".appt").evaluate_all("bs => bs.map(b => b.dataset.id)")}
    assert shown and shown <= {a["id"] for a in theirs}
    assert "Edsger Dijkstra" in page.locator(".cal").inner_text()
    # Asking for the other clinic by URL shows the key's own clinic instead.
    page.goto(f"{live_server}/calendar?clinic={seeded.clinic}&date={FRIDAY}")
    wait_drawn(page)
    assert page.locator("#clinic").input_value() == str(seeded.other_clinic)
    assert "Ada Lovelace" not in page.locator("body").inner_text()
    only_this_server(page, live_server)


def test_the_key_lives_in_the_tab_only(seeded, admin, live_server, page_factory):
    page = page_factory()
    login(page, live_server, admin, f"?date={FRIDAY}")
    assert page.context.cookies() == []
    page.reload()
    wait_drawn(page)  # the same tab keeps the key
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server}/calendar")
    other_tab.get_by_label("API key").wait_for()  # a new tab asks again
    page.get_by_role("button", name="Forget key").click()
    assert page.evaluate("sessionStorage.length") == 0
    page.get_by_label("API key").fill("rgk_not-a-key")
    page.get_by_role("button", name="Open calendar").click()
    page.wait_for_selector("#login-error:has-text('not accepted')")


@pytest.mark.parametrize(("zone", "wall", "expected"), [
    ("America/New_York", (2027, 3, 14, 0, 0), "2027-03-14T05:00:00Z"),
    ("America/New_York", (2027, 3, 14, 9, 0), "2027-03-14T13:00:00Z"),
    ("America/New_York", (2027, 3, 14, 2, 30), "2027-03-14T07:30:00Z"),  # never happens
    ("America/New_York", (2027, 11, 7, 1, 30), "2027-11-07T05:30:00Z"),  # twice: the first
    ("Australia/Lord_Howe", (2027, 4, 4, 1, 45), "2027-04-03T14:45:00Z"),  # 30-minute shift
    ("Asia/Kolkata", (2027, 1, 1, 0, 0), "2026-12-31T18:30:00Z"),
])
def test_wall_clock_to_instant_in_the_browser(app, browser, live_server, zone, wall, expected):
    """zone.js against zoneinfo's reading of the same wall-clock times."""
    from zoneinfo import ZoneInfo

    y, m, d, h, mi = wall
    first = datetime(y, m, d, h, mi, tzinfo=ZoneInfo(zone), fold=0).astimezone(ZoneInfo("UTC"))
    assert first.strftime("%Y-%m-%dT%H:%M:%SZ") == expected
    page = browser.new_page()
    try:
        page.goto(f"{live_server}/calendar")
        got = page.evaluate("""async ([zone, wall]) => {
            const z = await import('/calendar/static/zone.js');
            const t = z.instant(...wall, zone);
            return [new Date(t).toISOString().replace('.000', ''), z.isoWithOffset(t, zone)];
        }""", [zone, list(wall)])
    finally:
        page.close()
    assert got[0] == expected
    local_back = datetime.fromisoformat(got[1])
    assert local_back == datetime.fromisoformat(expected.replace("Z", "+00:00"))


def test_clinic_wall_clock_matches_zoneinfo_across_zones_and_years(app, browser, live_server):
    """wall() reads every instant as zoneinfo does, in zones with odd offsets and DST rules."""
    from zoneinfo import ZoneInfo

    zones = ["America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Chatham",
             "America/Santiago", "Europe/London", "America/St_Johns"]
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")).timestamp() * 1000
    instants = [int(start + i * (7 * 3600 + 13 * 60 + 7) * 1000) for i in range(2500)]
    page = browser.new_page()
    try:
        page.goto(f"{live_server}/calendar")
        got = page.evaluate("""async ([zones, instants]) => {
            const z = await import('/calendar/static/zone.js');
            return zones.map((zone) => instants.map((t) => {
                const w = z.wall(t, zone);
                return [w.y, w.m, w.d, w.h, w.mi, w.weekday];
            }));
        }""", [zones, instants])
    finally:
        page.close()
    for zone, walls in zip(zones, got, strict=True):
        for t, w in zip(instants, walls, strict=True):
            local_dt = datetime.fromtimestamp(t / 1000, ZoneInfo(zone))
            expected = [local_dt.year, local_dt.month, local_dt.day, local_dt.hour,
                        local_dt.minute, local_dt.strftime("%a").lower()]
            assert w == expected, (zone, t)
