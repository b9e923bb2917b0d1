"""An independent conflict checker: brute force over stored rows, sharing no code with the app.

It reads the tables directly and checks what the product promises: no resource unit used twice
at once, no resource over capacity, no patient in two places, nothing outside opening hours.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

LIVE = ("held", "booked", "checked_in", "completed")


def _aware(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def calendar_problems(connection) -> list[str]:
    rows = connection.execute(sa.text(
        "SELECT a.resource_type, a.resource_id, a.unit, a.starts_at, a.ends_at, p.id, p.status "
        "FROM allocations a JOIN appointments p ON p.id = a.appointment_id "
        "WHERE a.active")).all()
    problems = []
    for row in rows:
        if row[6] not in LIVE:
            problems.append(f"appointment {row[5]} is {row[6]} but still holds {row[0]} {row[1]}")
    by_unit = defaultdict(list)
    for rtype, rid, unit, start, end, appt, _status in rows:
        by_unit[(rtype, rid, unit)].append((_aware(start), _aware(end), appt))
    for key, spans in by_unit.items():
        problems += [f"{key} double-booked by appointments {a} and {b}"
                     for a, b in _overlapping_pairs(spans)]
    capacity = {("room", r): c for r, c in connection.execute(
        sa.text("SELECT id, capacity FROM rooms")).all()}
    capacity.update({("staff", s): c for s, c in connection.execute(
        sa.text("SELECT id, max_concurrent_patients FROM staff")).all()})
    for (rtype, rid, unit) in by_unit:
        limit = capacity.get((rtype, rid), 1)
        if unit >= limit:
            problems.append(f"{rtype} {rid} unit {unit} beyond capacity {limit}")
    appts = connection.execute(sa.text(
        "SELECT p.id, p.patient_id, p.starts_at, p.ends_at, c.timezone, c.hours "
        "FROM appointments p JOIN clinics c ON c.id = p.clinic_id "
        f"WHERE p.status IN {LIVE!r}")).all()
    by_patient = defaultdict(list)
    for appt, patient, start, end, tz, hours in appts:
        start, end = _aware(start), _aware(end)
        by_patient[patient].append((start, end, appt))
        hours = hours if isinstance(hours, dict) else __import__("json").loads(hours)
        local_start, local_end = start.astimezone(ZoneInfo(tz)), end.astimezone(ZoneInfo(tz))
        if not _inside_week(hours, local_start, local_end):
            problems.append(f"appointment {appt} at {local_start:%a %H:%M}-{local_end:%H:%M} "
                            "is outside opening hours")
    for patient, spans in by_patient.items():
        problems += [f"patient {patient} in two places: {a} and {b}"
                     for a, b in _overlapping_pairs(spans)]
    return problems


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = 7 * 1440


def _minutes(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:5])


def _inside_week(hours: dict, local_start, local_end) -> bool:
    """Inside one opening window, on a clock of minutes of the week: a window whose end is
    not after its start runs past midnight into the next day (Sunday's into Monday)."""
    spans = []
    for day, windows in hours.items():
        for open_, close in windows:
            lo = DAYS.index(day) * 1440 + _minutes(open_)
            hi = DAYS.index(day) * 1440 + _minutes(close)
            hi += 1440 if hi <= lo else 0
            spans += [(lo, hi), (lo + WEEK, hi + WEEK)]
    begin = local_start.weekday() * 1440 + local_start.hour * 60 + local_start.minute
    length = (local_end.replace(tzinfo=None) - local_start.replace(tzinfo=None))
    end = begin + length.total_seconds() / 60
    joined: list[list[float]] = []
    for lo, hi in sorted(spans):
        if joined and lo <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], hi)
        else:
            joined.append([lo, hi])
    return any(lo <= begin and end <= hi for lo, hi in joined)


def _overlapping_pairs(spans):
    """Every pair of half-open spans that overlap (sorted sweep against the latest end)."""
    spans = sorted(spans)
    latest_end, latest_id = None, None
    for start, end, ident in spans:
        if latest_end is not None and start < latest_end:
            yield latest_id, ident
        if latest_end is None or end > latest_end:
            latest_end, latest_id = end, ident
