from __future__ import annotations

from flask import Response, current_app

from ..models.status import CANCELLED, CHECKED_IN, NO_SHOW
from ..services import appointments, lifecycle, rems
from ..services import availability as free_slots
from ..services import reschedule as moves
from ..services.access import BOOK
from ..services.appointment_view import clinic_time
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.booking import (
    AppointmentOut,
    AppointmentQuery,
    AvailabilityQuery,
    CancelledOut,
    CompleteIn,
    MovedOut,
    RemsFormIn,
    RemsFormOut,
    RescheduleIn,
    SlotsOut,
)

blp = make_blueprint("appointments", "The calendar: query, reschedule, lifecycle, availability",
                     writes=BOOK)


@blp.route("/appointments", methods=["GET"])
@blp.arguments(AppointmentQuery, location="query")
@blp.response(200, AppointmentOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_appointments(args):
    # Rendered by the service from plain columns exactly as AppointmentOut would (tested),
    # and kept per worker as the serialised body (appointments.kept_list).
    def serialise(page):
        return current_app.json.response(page.items).get_data(), page_headers(page)

    body, headers = appointments.kept_list(principal(), args, serialise)
    return Response(body, mimetype=current_app.json.mimetype), 200, headers


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
# ``complete`` takes a body (monitoring times) and is registered on its own below.
LIFECYCLE_ACTIONS = {"cancel": CANCELLED, "check-in": CHECKED_IN, "no-show": NO_SHOW}


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


@blp.route("/appointments/<int:appointment_id>/complete", methods=["POST"])
@blp.arguments(CompleteIn)
@blp.response(200, CancelledOut)
def complete(data, appointment_id):
    """Make the appointment completed; 409 if its status does not allow it, or if a dose
    session's patient was discharged before the route's monitoring time (nothing changes)."""
    appt, warnings = lifecycle.change_status(principal(), appointment_id, "completed", **data)
    appt.plan_warnings = warnings
    return appt


@blp.route("/appointments/<int:appointment_id>/rems-form", methods=["POST"])
@blp.arguments(RemsFormIn)
@blp.response(200, RemsFormOut)
def submit_rems_form(data, appointment_id):
    """Record the Patient Monitoring Form a completed dose session owes (SPEC 12)."""
    return rems.submit_form(principal(), appointment_id, **data)


@blp.route("/availability", methods=["GET"])
@blp.arguments(AvailabilityQuery, location="query")
@blp.response(200, SlotsOut)
def availability(args):
    slots = free_slots.availability(principal(), **args)
    clinic_id = args["clinic_id"]
    return {"slots": [{"start": clinic_time(s.start, clinic_id),
                       "end": clinic_time(s.end, clinic_id), "room_id": s.room_id,
                       "staff_ids": list(s.staff_ids)} for s in slots]}
