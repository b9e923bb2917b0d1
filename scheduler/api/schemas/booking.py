"""Enrollments, appointments, availability (SPEC sections 4 and 7)."""

from __future__ import annotations

from datetime import date, datetime

from marshmallow import ValidationError, fields, validate, validates_schema
from webargs.fields import DelimitedList

from ...models.rems import FORM_STATUSES
from ...models.status import APPOINTMENT_STATUSES
from ...services import appointment_view, rems
from .common import (
    HHMM,
    WEEKDAY_CODES,
    AwareDateTime,
    CalendarDate,
    Integer,
    PageArgs,
    StrictSchema,
    TimeWindowChecks,
    check_year,
)


class AvailabilityIn(TimeWindowChecks, StrictSchema):
    weekdays = fields.List(fields.String(validate=validate.OneOf(WEEKDAY_CODES)),
                           validate=validate.Length(min=1))
    earliest = HHMM()
    latest = HHMM()


class PreferencesIn(StrictSchema):
    time = HHMM()
    staff_id = Integer()


class EnrollmentIn(StrictSchema):
    patient_id = Integer(required=True)
    protocol_id = Integer(required=True)
    clinic_id = Integer(required=True)
    start_on = CalendarDate(required=True)
    availability = fields.Nested(AvailabilityIn, load_default=dict)
    preferences = fields.Nested(PreferencesIn, load_default=dict)


class ClinicTime(fields.DateTime):
    """An instant at the clinic's UTC offset at that instant (SPEC 4): ``10:00-05:00`` reads
    as the clinic's 10:00. The serialised object names the clinic by ``clinic_id``."""

    def _serialize(self, value, attr, obj, **kwargs):
        clinic_id = obj["clinic_id"] if isinstance(obj, dict) else obj.clinic_id
        return super()._serialize(appointment_view.clinic_time(value, clinic_id), attr, obj,
                                  **kwargs)


class AllocationOut(StrictSchema):
    resource_type = fields.String(metadata={"description": "room or staff"})
    resource_id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "the room's or person's name"})
    start = fields.DateTime(metadata={"description": "at the clinic's UTC offset"})
    end = fields.DateTime(metadata={"description": "at the clinic's UTC offset"})
    active = fields.Boolean(metadata={"description": "false once cancelled or missed"})


ALLOCATIONS_OUT = AllocationOut(many=True)
"""One instance for every appointment rendered (building a schema per row was half a week's
read)."""


class AppointmentOut(StrictSchema):
    id = fields.Integer()
    enrollment_id = fields.Integer(allow_none=True)
    patient_id = fields.Integer()
    clinic_id = fields.Integer()
    session_kind = fields.String()
    phase = fields.String(allow_none=True)
    key = fields.String(allow_none=True, metadata={
        "description": "position in the plan, e.g. induction#3 or induction#3/follow_up"})
    follow_up_of = fields.Integer(attribute="follow_up_of_id", allow_none=True)
    start = ClinicTime(attribute="starts_at")
    end = ClinicTime(attribute="ends_at")
    status = fields.String()
    sequence = fields.Integer()
    overdue_at = fields.DateTime(allow_none=True, metadata={
        "description": "set when still booked long after its end (no check-in)"})
    cancel_reason = fields.String(allow_none=True, metadata={
        "description": "set when the service cancelled it, e.g. 'disruption'"})
    allocations = fields.Method("_resource_allocations", metadata={
        "description": "rooms and staff held, one entry per resource and span (SPEC: "
                       "room|staff, with the resource's name)"})
    updated_at = fields.DateTime()

    def _resource_allocations(self, appt):
        return ALLOCATIONS_OUT.dump(appointment_view.allocation_entries(appt))


class EnrollmentOut(StrictSchema):
    id = fields.Integer()
    patient_id = fields.Integer()
    clinic_id = fields.Integer()
    protocol_id = fields.Integer()
    protocol_version = fields.Integer()
    status = fields.String()
    start_on = fields.Date()
    hold_expires_at = fields.DateTime(allow_none=True)
    horizon_end = fields.Date(allow_none=True)
    availability = fields.Dict()
    preferences = fields.Dict()
    appointments = fields.List(fields.Nested(AppointmentOut))
    warnings = fields.Method("_warnings", metadata={
        "description": "what the plan still lacks, e.g. rems_enrollment_missing (SPEC 12): "
                       "[{code, message, first_dose_on}]"})
    created_at = fields.DateTime()

    def _warnings(self, enrollment):
        return rems.enrollment_warnings(enrollment)


class DateOrDateTime(fields.Field):
    """``2026-12-01`` (local midnight at the clinic) or an ISO 8601 instant with offset."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a date or an ISO 8601 date-time")
        try:
            if "T" not in value and len(value) == 10:
                return check_year(date.fromisoformat(value))
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("must be a date or an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            raise ValidationError("a date-time must include a UTC offset")
        return check_year(parsed)


class AppointmentQuery(PageArgs):
    clinic_id = Integer()
    patient_id = Integer()
    room_id = Integer()
    staff_id = Integer()
    status = DelimitedList(fields.String(validate=validate.OneOf(APPOINTMENT_STATUSES)))
    start = DateOrDateTime()
    end = DateOrDateTime()


class RescheduleIn(StrictSchema):
    start = AwareDateTime()
    not_before = AwareDateTime()

    @validates_schema
    def _exactly_one(self, data, **kwargs):
        if ("start" in data) == ("not_before" in data):
            raise ValidationError("give exactly one of start and not_before", field_name="start")


class MovedOut(StrictSchema):
    moved = fields.List(fields.Nested(AppointmentOut))


class PlanWarning(StrictSchema):
    rule = fields.String()
    message = fields.String()
    appointment_ids = fields.List(fields.Integer())


class CancelledOut(AppointmentOut):
    plan_warnings = fields.List(fields.Nested(PlanWarning), metadata={
        "description": "rules the rest of the plan now breaks; move those sessions"})


class AvailabilityQuery(StrictSchema):
    clinic_id = Integer(required=True)
    session_kind = fields.String(required=True)
    start = DateOrDateTime(required=True)
    end = DateOrDateTime(required=True)
    patient_id = Integer()
    limit = Integer(load_default=200, validate=validate.Range(min=1, max=2000))


class SlotOut(StrictSchema):
    start = fields.DateTime()
    end = fields.DateTime()
    room_id = fields.Integer(allow_none=True)
    staff_ids = fields.List(fields.Integer())


class SlotsOut(StrictSchema):
    slots = fields.List(fields.Nested(SlotOut))


class CompleteIn(StrictSchema):
    """Optional: a dose session of a route that requires monitoring records its times."""

    dose_at = AwareDateTime(metadata={"description": "when the dose was given; default: the "
                                                     "planned start of the dose segment"})
    discharged_at = AwareDateTime(metadata={"description": "when the patient left; default: "
                                                           "now"})


class RemsFormIn(StrictSchema):
    submitted_on = CalendarDate(metadata={"description": "default: today at the clinic"})
    reference = fields.String(required=True, validate=validate.Length(min=1, max=100),
                              metadata={"description": "the REMS submission's confirmation"})


class RemsFormQuery(PageArgs):
    clinic_id = fields.Integer()
    status = DelimitedList(fields.String(validate=validate.OneOf(FORM_STATUSES)))


class RemsFormOut(StrictSchema):
    id = fields.Integer()
    appointment_id = fields.Integer()
    patient_id = fields.Integer()
    clinic_id = fields.Integer()
    session_on = fields.Date(metadata={"description": "the session's local date"})
    due_on = fields.Date()
    status = fields.Method("_status", metadata={"description": "due, overdue or submitted"})
    dose_at = ClinicTime()
    discharged_at = ClinicTime()
    submitted_on = fields.Date(allow_none=True)
    reference = fields.String(allow_none=True)
    overdue_flagged_at = fields.DateTime(allow_none=True)

    def _status(self, form):
        return rems.form_status(form)
