"""A small but real practice built through the API, for booking tests."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.factories import Api

WEEK = ("mon", "tue", "wed", "thu", "fri")


@dataclass
class PracticeIds:
    clinic: int
    rooms: list[int]
    nurses: list[int]
    prescriber: int
    therapist: int
    protocols: dict[str, int]


def build_practice(api: Api, *, timezone: str = "America/New_York", infusion_rooms: int = 2,
                   nurses: int = 2, templates=("iv-depression",),
                   hours=("08:00", "18:00")) -> PracticeIds:
    clinic = api.post("/clinics", {
        "name": "Test clinic", "timezone": timezone,
        "hours": {d: [list(hours)] for d in WEEK}, "closures": [],
        "certifications": ["esketamine_rems"]})
    cid = clinic["id"]
    rooms = [api.post(f"/clinics/{cid}/rooms", {
        "name": f"Infusion {i}", "features": ["iv_pump", "vitals_monitor", "recliner"],
        "capacity": 1, "turnover_minutes": 15})["id"] for i in range(infusion_rooms)]
    rooms.append(api.post(f"/clinics/{cid}/rooms", {
        "name": "Consult", "features": ["consult", "therapy"], "capacity": 1})["id"])
    shifts = [{"clinic_id": cid, "weekday": d, "start": hours[0], "end": hours[1]} for d in WEEK]
    nurse_ids = [api.post("/staff", {"name": f"Nurse {i}", "roles": ["nurse"],
                                     "max_concurrent_patients": 2, "shifts": shifts})["id"]
                 for i in range(nurses)]
    prescriber = api.post("/staff", {"name": "Dr P", "roles": ["prescriber"],
                                     "shifts": shifts})["id"]
    therapist = api.post("/staff", {"name": "T", "roles": ["therapist"], "shifts": shifts})["id"]
    protocols = {code: api.post(f"/protocol-templates/{code}/instantiate", {})["id"]
                 for code in templates}
    return PracticeIds(cid, rooms, nurse_ids, prescriber, therapist, protocols)
