from __future__ import annotations

from ..services import booking
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

blp = make_blueprint("appointments", "The calendar: query, reschedule, lifecycle, availability")


@blp.route("/appointments", methods=["GET"])
@blp.arguments(AppointmentQuery, location="query")
@blp.response(200, AppointmentOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_appointments(args):
    page = booking.list_appointments(principal(), **args)
    return page.items, page_headers(page)


@blp.route("/appointments/<int:appointment_id>", methods=["GET"])
@blp.response(200, AppointmentOut)
def get_appointment(appointment_id):
    return booking.get_appointment(principal(), appointment_id)


@blp.route("/appointments/<int:appointment_id>/reschedule", methods=["POST"])
@blp.arguments(RescheduleIn)
@blp.response(200, MovedOut)
def reschedule(data, appointment_id):
    return {"moved": booking.reschedule(principal(), appointment_id, **data)}


def _action(status: str, appointment_id: int):
    appt, warnings = booking.change_status(principal(), appointment_id, status)
    appt.plan_warnings = warnings  # transient, for the response only
    return appt


@blp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@blp.response(200, CancelledOut)
def cancel(appointment_id):
    return _action("cancelled", appointment_id)


@blp.route("/appointments/<int:appointment_id>/check-in", methods=["POST"])
@blp.response(200, CancelledOut)
def check_in(appointment_id):
    return _action("checked_in", appointment_id)


@blp.route("/appointments/<int:appointment_id>/complete", methods=["POST"])
@blp.response(200, CancelledOut)
def complete(appointment_id):
    return _action("completed", appointment_id)


@blp.route("/appointments/<int:appointment_id>/no-show", methods=["POST"])
@blp.response(200, CancelledOut)
def no_show(appointment_id):
    return _action("no_show", appointment_id)


@blp.route("/availability", methods=["GET"])
@blp.arguments(AvailabilityQuery, location="query")
@blp.response(200, SlotsOut)
def availability(args):
    slots = booking.availability(principal(), **args)
    return {"slots": [{"start": s.start, "end": s.end, "room_id": s.room_id,
                       "staff_ids": list(s.staff_ids)} for s in slots]}
