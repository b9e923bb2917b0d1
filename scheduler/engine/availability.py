"""Free start times for one session kind: what ``GET /availability`` and rescheduling offer.

Only resources, opening hours, closures, certifications and (optionally) the patient's other
appointments are considered here; protocol rules need a plan and are checked when a slot is
booked into one (``reschedule``).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta

from .context import Context
from .inputs import BusyInterval, Practice, ResourceId, SearchOptions
from .localtime import to_datetime, to_seconds
from .resources import Miss


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    room_id: ResourceId | None
    staff_ids: tuple[ResourceId, ...]

    def to_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "room_id": self.room_id, "staff_ids": list(self.staff_ids)}


def find_slots(practice: Practice, kind_code: str, start: datetime, end: datetime, *,
               patient_id: ResourceId | None = None,
               patient_busy: tuple[BusyInterval, ...] = (),
               options: SearchOptions | None = None,
               limit: int | None = None) -> list[Slot]:
    """Every grid start in [start, end) at which a session of ``kind_code`` fits, earliest
    first, each with the room and staff the engine would choose."""
    options = options or SearchOptions(max_evaluations=10**9)
    lo, hi = to_seconds(start), to_seconds(end)
    if hi <= lo:
        return []
    ctx = Context(practice, protocol=None, patient_id=patient_id, start_on=start.date(),
                  horizon=end.date(), patient_busy=patient_busy, options=options)
    kind = ctx.kind(kind_code)
    route = ctx.route(kind)
    if route is not None and route.required_certification \
            and route.required_certification not in practice.clinic.certifications:
        return []
    spec = ctx.spec(kind)
    slots: list[Slot] = []
    day = ctx.clock.local_date(lo)
    last = ctx.clock.local_date(hi - 1)
    while day <= last:
        info = ctx.day(day)
        starts = ctx.day_starts(info, spec.duration).starts
        index = bisect_left(starts, lo)
        while index < len(starts) and starts[index] < hi:
            t = starts[index]
            ctx.budget.evaluate()
            hint = t
            if patient_id is not None or patient_busy:
                hint = ctx.occupancy.next_free(ctx.patient_key, t, spec.duration)
            found = ctx.finder.find(spec, t, info) if hint == t else None
            if found is not None and not isinstance(found, Miss):
                slots.append(Slot(to_datetime(t), to_datetime(t + spec.duration),
                                  found.room_id, found.staff_ids))
                if limit is not None and len(slots) >= limit:
                    return slots
                index += 1
                continue
            if isinstance(found, Miss):
                hint = max(hint, found.hint)
            index = bisect_left(starts, max(hint, t + 1), index + 1)
        day += timedelta(days=1)
    return slots
