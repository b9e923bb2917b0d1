"""Read, edit, write back: what GET returns is a valid PUT (and impact) body."""

from __future__ import annotations

import pytest

from tests.api.test_rules_api import CONSULT, INTEGRATION, IV_INFUSION, PROTOCOL
from tests.support.factories import Api


@pytest.fixture
def api(client, admin):
    api = Api(client, admin)
    for body in (IV_INFUSION, CONSULT, INTEGRATION):
        api.post("/session-kinds", body)
    return api


def test_protocol_as_read_is_accepted_by_put(api):
    created = api.post("/protocols", PROTOCOL)
    edited = api.get(f"/protocols/{created['id']}")
    edited["phases"][1]["gap_days"]["max"] = 3
    v2 = api.put(f"/protocols/{created['id']}", edited)
    assert v2["version"] == 2
    assert v2["phases"][1]["gap_days"]["max"] == 3
    assert api.get(f"/protocols/{created['id']}/versions/1")["phases"][1]["gap_days"]["max"] == 4


def test_protocol_edit_from_an_old_version_is_refused(api):
    created = api.post("/protocols", PROTOCOL)
    stale = api.get(f"/protocols/{created['id']}")
    api.put(f"/protocols/{created['id']}", {**PROTOCOL, "name": "someone else's edit"})
    response = api.call("PUT", f"/protocols/{created['id']}", {**stale, "name": "mine"},
                        expect=409)
    assert response.get_json()["error"]["details"]["current_version"] == 2
    assert api.get(f"/protocols/{created['id']}")["name"] == "someone else's edit"


def test_impact_accepts_a_protocol_as_read(api):
    created = api.post("/protocols", PROTOCOL)
    proposal = api.get(f"/protocols/{created['id']}")
    result = api.call("POST", f"/protocols/{created['id']}/impact", proposal, expect=200)
    assert result.get_json()["proposed_valid"] is True


def test_read_only_fields_do_not_hide_real_unknown_fields(api):
    created = api.post("/protocols", PROTOCOL)
    body = {**api.get(f"/protocols/{created['id']}"), "colour": "blue"}
    response = api.call("PUT", f"/protocols/{created['id']}", body, expect=422)
    assert "colour" in response.get_json()["error"]["fields"]


def test_session_kind_as_read_is_accepted_by_put(api):
    kind = api.get("/session-kinds/consult")
    kind["segments"][0]["minutes"] = 50
    replaced = api.put("/session-kinds/consult", kind)
    assert replaced["version"] == 2 and replaced["segments"][0]["minutes"] == 50
    stale = {**kind, "name": "late edit"}
    response = api.call("PUT", "/session-kinds/consult", stale, expect=409)
    assert response.get_json()["error"]["details"]["version"] == 2
