"""A seeded practice for the calendar page, built through the API at a fixed moment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tests.support.factories import Api

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NEW_YORK = ZoneInfo("America/New_York")
# Friday 2027-03-12, 07:30 in New York. Sunday 2027-03-14 is 23 hours long there (02:00 EST
# jumps to 03:00 EDT), so a plan started now crosses a DST change within its first days.
NOW = datetime(2027, 3, 12, 7, 30, tzinfo=NEW_YORK)
FRIDAY = date(2027, 3, 12)
DST_DAY = date(2027, 3, 14)

SHORT_SERIES = {
    "code": "desk-series", "name": "Consult and three infusions", "min_hours_between_doses": 22,
    "phases": [
        {"name": "consult", "session_kind": "consult", "count": 1},
        {"name": "induction", "session_kind": "iv_infusion", "count": 3,
         "after": {"phase": "consult", "min_days": 1, "max_days": 7},
         "gap_days": {"min": 1, "target": 1, "max": 3}},
    ],
}


@dataclass
class Seeded:
    clinic: int
    other_clinic: int
    rooms: dict[str, int]
    staff: dict[str, int]
    patients: dict[str, int] = field(default_factory=dict)
    enrollments: dict[str, int] = field(default_factory=dict)


def _clinic(api: Api, name: str, zone: str) -> int:
    return api.post("/clinics", {
        "name": name, "timezone": zone, "closures": [], "certifications": [],
        "hours": {d: [["08:00", "18:00"]] for d in EVERY_DAY}})["id"]


def _staff(api: Api, clinic: int, name: str, roles: list[str], capacity: int = 1) -> int:
    shifts = [{"clinic_id": clinic, "weekday": d, "start": "08:00", "end": "18:00"}
              for d in EVERY_DAY]
    return api.post("/staff", {"name": name, "roles": roles, "max_concurrent_patients": capacity,
                               "shifts": shifts})["id"]


def _room(api: Api, clinic: int, name: str, features: list[str]) -> int:
    return api.post(f"/clinics/{clinic}/rooms", {"name": name, "features": features,
                                                  "capacity": 1, "turnover_minutes": 15})["id"]


INFUSION = ["iv_pump", "vitals_monitor", "recliner"]


def seed_practice(api: Api) -> Seeded:
    """Back Bay (New York): two infusion rooms, a consult room, a nurse and a prescriber, open
    every day; three patients on a short series. La Jolla (Los Angeles): one patient."""
    api.post("/protocol-templates/iv-depression/instantiate", {})  # the session kinds
    protocol = api.post("/protocols", SHORT_SERIES)["id"]
    clinic = _clinic(api, "Back Bay", "America/New_York")
    rooms = {"Infusion 1": _room(api, clinic, "Infusion 1", INFUSION),
             "Infusion 2": _room(api, clinic, "Infusion 2", INFUSION),
             "Consult A": _room(api, clinic, "Consult A", ["consult"])}
    staff = {"R. Alvarez, RN": _staff(api, clinic, "R. Alvarez, RN", ["nurse"], 2),
             "Dr. M. Okafor": _staff(api, clinic, "Dr. M. Okafor", ["prescriber"])}
    other = _clinic(api, "La Jolla", "America/Los_Angeles")
    _room(api, other, "Pacific Infusion", INFUSION)
    _room(api, other, "Pacific Consult", ["consult"])
    _staff(api, other, "L. Chen, RN", ["nurse"], 2)
    _staff(api, other, "Dr. West", ["prescriber"])
    seeded = Seeded(clinic, other, rooms, staff)
    for name, clinic_id, start_on, time in [
            ("Ada Lovelace", clinic, FRIDAY, "09:00"),
            ("Alan Turing", clinic, FRIDAY, "11:00"),
            ("Grace Hopper", clinic, DST_DAY, "10:00"),
            ("Edsger Dijkstra", other, FRIDAY, "09:00")]:
        patient = api.post("/patients", {"name": name, "clinic_id": clinic_id})["id"]
        enrollment = api.post("/enrollments", {
            "patient_id": patient, "protocol_id": protocol, "clinic_id": clinic_id,
            "start_on": start_on.isoformat(), "preferences": {"time": time},
            "availability": {"earliest": "08:00", "latest": "17:00"}})
        api.post(f"/enrollments/{enrollment['id']}/confirm", expect=200)
        seeded.patients[name] = patient
        seeded.enrollments[name] = enrollment["id"]
    return seeded
