"""Request bodies and API helpers shared by the API tests."""

from __future__ import annotations

import itertools

_seq = itertools.count(1)

WEEK = ("mon", "tue", "wed", "thu", "fri")


def clinic_body(**overrides) -> dict:
    body = {
        "name": f"Clinic {next(_seq)}", "timezone": "America/New_York",
        "hours": {d: [["08:00", "18:00"]] for d in WEEK},
        "closures": ["2026-12-25"], "certifications": ["esketamine_rems"],
    }
    body.update(overrides)
    return body


def room_body(**overrides) -> dict:
    body = {"name": f"Infusion {next(_seq)}", "features": ["iv_pump", "vitals_monitor"],
            "capacity": 1, "turnover_minutes": 15}
    body.update(overrides)
    return body


def staff_body(clinic_id: int, **overrides) -> dict:
    body = {"name": f"Nurse {next(_seq)}", "roles": ["nurse"], "max_concurrent_patients": 3,
            "shifts": [{"clinic_id": clinic_id, "weekday": d, "start": "08:00", "end": "16:00"}
                       for d in WEEK]}
    body.update(overrides)
    return body


def patient_body(clinic_id: int, **overrides) -> dict:
    body = {"name": f"Patient {next(_seq)}", "clinic_id": clinic_id,
            "external_id": f"MRN-{next(_seq)}", "email": "p@example.org"}
    body.update(overrides)
    return body


class Api:
    """Thin wrapper: ``api.post('/clinics', body)`` with auth headers, asserting the status."""

    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def call(self, method, path, body=None, expect=None, **kwargs):
        response = self.client.open(f"/api/v1{path}", method=method, json=body,
                                    headers=self.headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.get_json())
        return response

    def get(self, path, expect=200, **kw):
        return self.call("GET", path, expect=expect, **kw).get_json()

    def post(self, path, body=None, expect=201, **kw):
        return self.call("POST", path, body, expect=expect, **kw).get_json()

    def patch(self, path, body, expect=200, **kw):
        return self.call("PATCH", path, body, expect=expect, **kw).get_json()

    def put(self, path, body, expect=200, **kw):
        return self.call("PUT", path, body, expect=expect, **kw).get_json()

    def delete(self, path, expect=204, **kw):
        return self.call("DELETE", path, expect=expect, **kw)
