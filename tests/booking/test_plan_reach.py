"""The placement read is bounded by the plan's reach, and the bound really holds."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduler.rules import templates
from scheduler.rules.model import After, GapDays, Phase, Protocol
from scheduler.services.snapshot import plan_reach_days

TEMPLATES = ("iv-depression", "esketamine-label", "iv-chronic-pain", "im-series", "kap")


def test_reach_of_a_counted_series():
    protocol = Protocol(code="p", name="p", phases=(
        Phase(name="consult", session_kind="c", count=1),
        Phase(name="series", session_kind="s", count=6, gap_days=GapDays(1, 2, 4),
              after=After("consult", 1, 30)),
    ))
    # 14 days to start, 30 to the series, 5 gaps of at most 4 days; never below the horizon.
    assert plan_reach_days(protocol, horizon_days=10, start_within_days=14) == 14 + 30 + 20 + 1
    assert plan_reach_days(protocol, horizon_days=90, start_within_days=14) == 91


@pytest.mark.parametrize("phase", [
    Phase(name="later", session_kind="s", count=2, gap_days=GapDays(1, 1, 2)),  # no after
    Phase(name="later", session_kind="s", count=2, gap_days=GapDays(1, 1, 2),
          after=After("first", 1, None)),  # after without max
    Phase(name="later", session_kind="s", count=3, after=After("first", 1, 5)),  # no gap
])
def test_unbounded_phases_mean_load_everything(phase):
    protocol = Protocol(code="p", name="p", phases=(
        Phase(name="first", session_kind="c", count=1), phase))
    assert plan_reach_days(protocol, horizon_days=90, start_within_days=14) is None


@pytest.mark.parametrize("code", TEMPLATES)
def test_every_template_plan_stays_inside_its_reach(api, practice, enroll, code):
    """Placed for real: no session of a template's plan lies beyond the computed reach."""
    if code not in practice.protocols:
        practice.protocols[code] = api.post(f"/protocol-templates/{code}/instantiate", {})["id"]
    protocol, _kinds, _meta = templates.load_template(code)
    reach = plan_reach_days(protocol, horizon_days=90, start_within_days=14)
    assert reach is not None
    patient = api.post("/patients", {"name": "R", "clinic_id": practice.clinic})
    plan = enroll(patient["id"], protocol=code, start_on="2027-02-01",
                  availability={"weekdays": ["mon", "tue", "wed", "thu", "fri"]})
    tz = ZoneInfo("America/New_York")
    last = max(datetime.fromisoformat(a["end"]).astimezone(tz).date()
               for a in plan["appointments"])
    assert (last - date(2027, 2, 1)).days <= reach
