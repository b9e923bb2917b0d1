"""Session kinds, protocols and templates over REST: versioning and every kind of 422."""

from __future__ import annotations

import copy

import pytest

from tests.support.factories import Api

IV_INFUSION = {
    "code": "iv_infusion", "name": "IV ketamine infusion", "route": "iv",
    "segments": [{"name": "setup", "minutes": 15}, {"name": "dosing", "minutes": 40, "dose": True},
                 {"name": "recovery", "minutes": 30}],
    "room_features": ["iv_pump", "vitals_monitor"],
    "staff": [{"role": "nurse", "load": {"setup": "exclusive", "dosing": "shared",
                                         "recovery": "shared"}}],
    "prescriber_on_site": True,
}
CONSULT = {"code": "consult", "name": "Consult", "route": "none",
           "segments": [{"name": "talk", "minutes": 45}], "room_features": ["consult"],
           "staff": [{"role": "prescriber", "load": {"talk": "exclusive"}}]}
INTEGRATION = {"code": "integration", "name": "Integration therapy", "route": "none",
               "segments": [{"name": "session", "minutes": 50}], "needs_room": False,
               "staff": [{"role": "therapist", "load": {"session": "exclusive"}}]}
PROTOCOL = {
    "code": "iv-dep", "name": "IV ketamine for depression", "min_hours_between_doses": 20,
    "phases": [
        {"name": "consult", "session_kind": "consult", "count": 1},
        {"name": "induction", "session_kind": "iv_infusion", "count": 6,
         "after": {"phase": "consult", "min_days": 1, "max_days": 30},
         "gap_days": {"min": 1, "target": 2, "max": 4}, "within_days": 21, "max_per_week": 3,
         "follow_up": {"session_kind": "integration", "min_hours": 24, "max_hours": 72}},
        {"name": "maintenance", "session_kind": "iv_infusion", "count": 4,
         "after": {"phase": "induction", "min_days": 14, "max_days": 42},
         "gap_days": {"min": 21, "target": 28, "max": 42}},
    ],
}


@pytest.fixture
def api(client, admin):
    return Api(client, admin)


@pytest.fixture
def kinds(api):
    for body in (IV_INFUSION, CONSULT, INTEGRATION):
        api.post("/session-kinds", body)


def error_fields(response_json) -> dict:
    return response_json["error"]["fields"]


def test_session_kind_create_read_replace(api):
    created = api.post("/session-kinds", IV_INFUSION)
    assert created["version"] == 1 and created["route"] == "iv"
    assert api.get("/session-kinds/iv_infusion")["segments"][1]["dose"] is True
    assert [k["code"] for k in api.get("/session-kinds")] == ["iv_infusion"]
    longer = copy.deepcopy(IV_INFUSION)
    longer["segments"][2]["minutes"] = 45
    replaced = api.put("/session-kinds/iv_infusion", longer)
    assert replaced["version"] == 2 and replaced["segments"][2]["minutes"] == 45
    api.call("POST", "/session-kinds", IV_INFUSION, expect=409)
    api.call("GET", "/session-kinds/nope", expect=404)


def test_protocol_versions_are_kept(api, kinds):
    v1 = api.post("/protocols", PROTOCOL)
    assert (v1["version"], v1["current_version"]) == (1, 1)
    assert set(v1["session_kinds"]) == {"consult", "iv_infusion", "integration"}
    changed = copy.deepcopy(PROTOCOL)
    changed["phases"][1]["count"] = 8
    changed["phases"][1]["within_days"] = 28
    v2 = api.put(f"/protocols/{v1['id']}", changed)
    assert (v2["version"], v2["versions"]) == (2, [1, 2])
    assert api.get(f"/protocols/{v1['id']}")["phases"][1]["count"] == 8
    old = api.get(f"/protocols/{v1['id']}/versions/1")
    assert old["phases"][1]["count"] == 6 and old["version"] == 1
    api.call("GET", f"/protocols/{v1['id']}/versions/3", expect=404)
    assert [p["code"] for p in api.get("/protocols")] == ["iv-dep"]


def test_versions_freeze_session_kinds(api, kinds):
    """A kind edited later reaches protocols as a new version; old versions keep the old kind."""
    v1 = api.post("/protocols", PROTOCOL)
    longer = copy.deepcopy(IV_INFUSION)
    longer["segments"][2]["minutes"] = 60
    api.put("/session-kinds/iv_infusion", longer)
    current = api.get(f"/protocols/{v1['id']}")
    assert current["version"] == 2
    assert current["session_kinds"]["iv_infusion"]["segments"][2]["minutes"] == 60
    frozen = api.get(f"/protocols/{v1['id']}/versions/1")
    assert frozen["session_kinds"]["iv_infusion"]["segments"][2]["minutes"] == 30


def test_kind_change_that_breaks_a_protocol_is_refused(api, kinds):
    api.post("/protocols", PROTOCOL)
    # As an intranasal kind (valid on its own), induction's 3-a-week would break the route's
    # at-most-2-doses-in-7-days policy.
    broken = copy.deepcopy(IV_INFUSION)
    broken["route"] = "intranasal"
    broken["segments"][2]["minutes"] = 120
    response = api.call("PUT", "/session-kinds/iv_infusion", broken, expect=422).get_json()
    assert response["error"]["fields"]
    assert api.get("/session-kinds/iv_infusion")["route"] == "iv"  # unchanged


def test_put_cannot_change_protocol_code(api, kinds):
    v1 = api.post("/protocols", PROTOCOL)
    response = api.put(f"/protocols/{v1['id']}", {**PROTOCOL, "code": "other"}, expect=422)
    assert "code" in error_fields(response)


def _kind(**changes):
    body = copy.deepcopy(IV_INFUSION)
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return body


_DELETE = object()


@pytest.mark.parametrize("body, path", [
    (_kind(segments__0__minutes=0), "segments[0].minutes"),
    (_kind(segments__0__minutes=-5), "segments[0].minutes"),
    (_kind(route="teleport"), "route"),
    (_kind(staff__0__load={"injecting": "shared"}), "staff[0].load.injecting"),
    (_kind(staff__0__load={"setup": "hogging"}), "staff[0].load.setup"),
    (_kind(segments__2__minutes=10), "segments"),  # iv needs >= 30 min recovery after dosing
    (_kind(code="IV Infusion!"), "code"),
    (_kind(colour="blue"), "colour"),
    (_kind(segments=[]), "segments"),
])
def test_session_kind_422_names_the_field(api, body, path):
    response = api.post("/session-kinds", body, expect=422)
    fields = error_fields(response)
    assert any(key == path or key.startswith(path) for key in fields), fields
    assert response["error"]["details"]["errors"][0]["rule"]
    assert api.get("/session-kinds") == []


def test_intranasal_policy_is_enforced(api):
    spray = {"code": "esketamine_dose", "name": "Esketamine", "route": "intranasal",
             "segments": [{"name": "dose", "minutes": 15, "dose": True},
                          {"name": "monitoring", "minutes": 60}],
             "room_features": ["recliner"],
             "staff": [{"role": "nurse", "load": {"dose": "shared", "monitoring": "shared"}}]}
    response = api.post("/session-kinds", spray, expect=422)
    rules = {e["rule"] for e in response["error"]["details"]["errors"]}
    assert any("monitoring" in r for r in rules), rules
    assert any("prescriber" in r for r in rules), rules


def _protocol(mutate):
    body = copy.deepcopy(PROTOCOL)
    mutate(body)
    return body


@pytest.mark.parametrize("mutate, path", [
    (lambda b: b["phases"][0].update(session_kind="acupuncture"), "phases[0].session_kind"),
    (lambda b: b["phases"][1]["after"].update(phase="nowhere"), "phases[1].after.phase"),
    (lambda b: b["phases"][1]["gap_days"].update(min=5), "phases[1].gap_days"),
    (lambda b: b["phases"][1].update(within_days=3), "phases[1].within_days"),
    (lambda b: b["phases"][1].update(max_per_week=1), "phases[1].max_per_week"),
    (lambda b: b["phases"][1]["follow_up"].update(session_kind="nap"),
     "phases[1].follow_up.session_kind"),
    (lambda b: b["phases"][1]["follow_up"].update(min_hours=80), "phases[1].follow_up"),
    (lambda b: b["phases"][2].update(count=0), "phases[2].count"),
    (lambda b: b["phases"][2].update(until_days=365), "phases[2]"),
    (lambda b: b["phases"][0].update(after={"phase": "maintenance", "min_days": 1}),
     "phases[0].after"),
    (lambda b: b["phases"][2].update(name="induction"), "phases[2].name"),
    (lambda b: b.update(min_hours_between_doses=-1), "min_hours_between_doses"),
])
def test_protocol_422_names_the_field(api, kinds, mutate, path):
    response = api.post("/protocols", _protocol(mutate), expect=422)
    fields = error_fields(response)
    assert any(key.startswith(path) for key in fields), fields
    assert api.get("/protocols") == []


def test_malformed_rules_json_is_400(client, admin):
    response = client.post("/api/v1/protocols", data="{", headers={
        **admin, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_rules_are_practice_wide(client, keys, api, kinds):
    clinic = api.post("/clinics", {"name": "A", "timezone": "UTC"})
    scoped = Api(client, keys("manager", clinics=[clinic["id"]]))
    scoped.call("POST", "/protocols", PROTOCOL, expect=403)
    scoped.call("PUT", "/session-kinds/consult", CONSULT, expect=403)
    assert [k["code"] for k in scoped.get("/session-kinds")] == [
        "consult", "integration", "iv_infusion"]
    Api(client, keys("front_desk")).call("POST", "/session-kinds", CONSULT, expect=403)


# ---------------------------------------------------------------- templates

TEMPLATES = ("esketamine-label", "im-series", "iv-chronic-pain", "iv-depression", "kap")


def test_templates_are_listed_with_sources(api):
    listed = api.get("/protocol-templates")
    assert [t["code"] for t in listed] == list(TEMPLATES)
    for template in listed:
        assert template["source"], template["code"]
        assert template["phases"] and template["session_kinds"]


def test_every_template_instantiates(api):
    for code in TEMPLATES:
        version = api.post(f"/protocol-templates/{code}/instantiate", {})
        assert version["code"] == code and version["version"] == 1
        for kind in version["session_kinds"]:
            api.get(f"/session-kinds/{kind}")
    assert len(api.get("/protocols")) == len(TEMPLATES)


def test_template_with_overrides_and_new_code(api):
    version = api.post("/protocol-templates/iv-depression/instantiate", {
        "code": "iv-depression-8", "name": "IV ×8",
        "overrides": {"phases": {"induction": {"count": 8, "within_days": 28}}}})
    induction = next(p for p in version["phases"] if p["name"] == "induction")
    assert (version["code"], induction["count"]) == ("iv-depression-8", 8)
    api.post("/protocol-templates/iv-depression/instantiate", {})  # the original code is free
    api.post("/protocol-templates/iv-depression/instantiate", {}, expect=409)


def test_template_overrides_are_validated(api):
    response = api.post("/protocol-templates/iv-depression/instantiate", {
        "overrides": {"phases": {"induction": {"count": -1}}}}, expect=422)
    assert any("count" in key for key in error_fields(response))
    assert api.get("/protocols") == [] and api.get("/session-kinds") == []


def test_template_refuses_to_redefine_an_existing_kind(api):
    template = next(t for t in api.get("/protocol-templates") if t["code"] == "iv-depression")
    kind = copy.deepcopy(next(k for k in template["session_kinds"]
                              if k["code"] == template["phases"][0]["session_kind"]))
    kind["name"] = "Something else"
    api.post("/session-kinds", kind)
    response = api.post("/protocol-templates/iv-depression/instantiate", {}, expect=409)
    assert response["error"]["details"]["session_kind"] == kind["code"]


def test_unknown_template_is_404(api):
    api.post("/protocol-templates/nope/instantiate", {}, expect=404)
