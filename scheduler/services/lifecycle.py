"""The appointment state machine: which status may follow which, and what each change frees.

    held ──confirm──▶ booked ──check-in──▶ checked_in ──complete──▶ completed
      │                 │ └──no-show──▶ no_show
      └──cancel──▶ cancelled ◀──cancel──┘
"""

from __future__ import annotations

from ..errors import Conflict
from ..models import Appointment
from ..models.types import utcnow
from . import outbox

TRANSITIONS: dict[str, frozenset[str]] = {
    "held": frozenset({"booked", "cancelled"}),
    "booked": frozenset({"checked_in", "no_show", "cancelled"}),
    "checked_in": frozenset({"completed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
}
# Statuses whose appointment still lies ahead of the patient.
LIVE = ("held", "booked", "checked_in")
# Leaving the calendar frees the appointment's resources.
RELEASING = frozenset({"cancelled", "no_show"})


def transition(appt: Appointment, new_status: str) -> None:
    if new_status not in TRANSITIONS[appt.status]:
        allowed = ", ".join(sorted(TRANSITIONS[appt.status])) or "nothing"
        raise Conflict(
            f"appointment {appt.id} is {appt.status}; it cannot become {new_status} "
            f"(from {appt.status} it may become: {allowed})",
            details={"status": appt.status, "requested": new_status})
    old_status, appt.status = appt.status, new_status
    # Subscribers see status changes (check-in is internal, but cancellation is not).
    appt.sequence += 1
    appt.updated_at = utcnow()
    if new_status in RELEASING:
        for allocation in appt.allocations:
            allocation.active = False
    outbox.appointment_status_changed(appt, old_status, new_status)
