"""Request and response shapes for clinics, rooms, staff and patients (SPEC section 7)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from .common import (
    HHMM,
    WEEKDAY_CODES,
    AwareDateTime,
    CalendarDate,
    EmailAddress,
    Integer,
    LocalTime,
    PageArgs,
    StrictSchema,
    TimeWindowChecks,
    TimeZoneName,
    WeeklyHours,
    name_field,
    string_set,
)


class ClosedPeriodSchema(StrictSchema):
    """A stretch a clinic or room is closed, e.g. a broken pump or a half-day closure."""

    start = AwareDateTime(required=True)
    end = AwareDateTime(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=200))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("must be after start", field_name="end")


def closed_periods_field(**kwargs):
    return fields.List(fields.Nested(ClosedPeriodSchema), validate=validate.Length(max=500),
                       **kwargs)


class ClinicIn(StrictSchema):
    name = name_field(required=True)
    timezone = TimeZoneName(required=True)
    hours = WeeklyHours(load_default=dict)
    closures = fields.List(CalendarDate(), load_default=list)
    certifications = string_set(load_default=list)
    closed_periods = closed_periods_field(load_default=list)
    slot_minutes = fields.Integer(load_default=15, strict=True,
                                  validate=validate.Range(min=5, max=60))


class ClinicPatch(StrictSchema):
    name = name_field()
    timezone = TimeZoneName()
    hours = WeeklyHours()
    closures = fields.List(CalendarDate())
    certifications = string_set()
    closed_periods = closed_periods_field()
    slot_minutes = fields.Integer(strict=True, validate=validate.Range(min=5, max=60))


class ClinicOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    timezone = fields.String()
    hours = fields.Dict()
    closures = fields.List(fields.String())
    certifications = fields.List(fields.String())
    closed_periods = fields.List(fields.Dict())
    slot_minutes = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class RoomIn(StrictSchema):
    name = name_field(required=True)
    features = string_set(load_default=list)
    capacity = Integer(load_default=1, validate=validate.Range(min=1, max=100))
    turnover_minutes = Integer(load_default=0, validate=validate.Range(min=0, max=240))
    closed_periods = closed_periods_field(load_default=list)


class RoomPatch(StrictSchema):
    name = name_field()
    features = string_set()
    capacity = Integer(validate=validate.Range(min=1, max=100))
    turnover_minutes = Integer(validate=validate.Range(min=0, max=240))
    closed_periods = closed_periods_field()


class RoomOut(StrictSchema):
    id = fields.Integer()
    clinic_id = fields.Integer()
    name = fields.String()
    features = fields.List(fields.String())
    capacity = fields.Integer()
    turnover_minutes = fields.Integer()
    closed_periods = fields.List(fields.Dict())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ShiftSchema(StrictSchema):
    clinic_id = Integer(required=True)
    weekday = fields.String(required=True, validate=validate.OneOf(WEEKDAY_CODES))
    start = LocalTime(required=True)
    end = LocalTime(required=True)


class TimeOffIn(StrictSchema):
    start = AwareDateTime(required=True)
    end = AwareDateTime(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=200))


class TimeOffOut(StrictSchema):
    id = fields.Integer()
    start = fields.DateTime()
    end = fields.DateTime()
    reason = fields.String()


class StaffIn(StrictSchema):
    name = name_field(required=True)
    roles = string_set(required=True, validate=validate.Length(min=1))
    max_concurrent_patients = Integer(load_default=1, validate=validate.Range(min=1, max=20))
    shifts = fields.List(fields.Nested(ShiftSchema), load_default=list)
    time_off = fields.List(fields.Nested(TimeOffIn), load_default=list)


class StaffPatch(StrictSchema):
    name = name_field()
    roles = string_set(validate=validate.Length(min=1))
    max_concurrent_patients = Integer(validate=validate.Range(min=1, max=20))
    shifts = fields.List(fields.Nested(ShiftSchema))


class StaffOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    roles = fields.List(fields.String())
    max_concurrent_patients = fields.Integer()
    shifts = fields.List(fields.Nested(ShiftSchema))
    time_off = fields.List(fields.Nested(TimeOffOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class StaffQuery(PageArgs):
    clinic_id = Integer()
    role = fields.String()


class PatientPreferences(TimeWindowChecks, StrictSchema):
    weekdays = fields.List(fields.String(validate=validate.OneOf(WEEKDAY_CODES)))
    earliest = HHMM()
    latest = HHMM()
    time = HHMM()
    clinic_id = Integer()
    staff_id = Integer()


class PatientIn(StrictSchema):
    name = name_field(required=True)
    clinic_id = Integer(metadata={
        "description": "home clinic; a key scoped to exactly one clinic may leave it out"})
    external_id = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    email = EmailAddress(allow_none=True)
    phone = fields.String(validate=validate.Length(max=40), allow_none=True)
    preferences = fields.Nested(PatientPreferences, load_default=dict)
    rems_enrolled_on = CalendarDate(allow_none=True, metadata={
        "description": "esketamine REMS patient enrollment date (SPEC 12)"})


class PatientPatch(StrictSchema):
    name = name_field()
    clinic_id = Integer()
    external_id = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    email = EmailAddress(allow_none=True)
    phone = fields.String(validate=validate.Length(max=40), allow_none=True)
    preferences = fields.Nested(PatientPreferences)
    rems_enrolled_on = CalendarDate(allow_none=True)


class PatientOut(StrictSchema):
    id = fields.Integer()
    clinic_id = fields.Integer()
    name = fields.String()
    external_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferences = fields.Dict()
    rems_enrolled_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PatientQuery(PageArgs):
    clinic_id = Integer()
    external_id = fields.String()
