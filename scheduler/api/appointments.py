from __future__ import annotations

from ..models.status import CANCELLED, CHECKED_IN, COMPLETED, NO_SHOW
from ..services import appointments, lifecycle
from ..services import availability as free_slots
from ..services import reschedule as moves
from ..services.access import BOOK
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.booking import (
    AppointmentOut,
    AppointmentQuery,
    AvailabilityQuery,
    CancelledOut,
    MovedOut,
    RescheduleIn,
    SlotsOut,
)

blp = make_blueprint("appointments", "The calendar: query, reschedule, lifecycle, availability",
                     writes=BOOK)


@blp.route("/appointments", methods=["GET"])
@blp.arguments(AppointmentQuery, location="query")
@blp.response(200, AppointmentOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_appointments(args):
    page = appointments.list_appointments(principal(), **args)
    return page.items, page_headers(page)


@blp.route("/appointments/<int:appointment_id>", methods=["GET"])
@blp.response(200, AppointmentOut)
def get_appointment(appointment_id):
    return appointments.get_appointment(principal(), appointment_id)


@blp.route("/appointments/<int:appointment_id>/reschedule", methods=["POST"])
@blp.arguments(RescheduleIn)
@blp.response(200, MovedOut)
def reschedule(data, appointment_id):
    return {"moved": moves.reschedule(principal(), appointment_id, **data)}


# Lifecycle actions: path → the status it leads to (the state machine lives in the service).
LIFECYCLE_ACTIONS = {"cancel": CANCELLED, "check-in": CHECKED_IN, "complete": COMPLETED,
                     "no-show": NO_SHOW}


def _register_action(path: str, status: str) -> None:
    def action(appointment_id):
        appt, warnings = lifecycle.change_status(principal(), appointment_id, status)
        appt.plan_warnings = warnings  # transient, for the response only
        return appt

    action.__name__ = path.replace("-", "_")
    action.__doc__ = f"Make the appointment {status}; 409 if its status does not allow it."
    blp.route(f"/appointments/<int:appointment_id>/{path}", methods=["POST"])(
        blp.response(200, CancelledOut)(action))


for _path, _status in LIFECYCLE_ACTIONS.items():
    _register_action(_path, _status)


@blp.route("/availability", methods=["GET"])
@blp.arguments(AvailabilityQuery, location="query")
@blp.response(200, SlotsOut)
def availability(args):
    slots = free_slots.availability(principal(), **args)
    return {"slots": [{"start": s.start, "end": s.end, "room_id": s.room_id,
                       "staff_ids": list(s.staff_ids)} for s in slots]}
