"""Request and response shapes for clinics, rooms, staff and patients (SPEC section 7)."""

from __future__ import annotations

from marshmallow import fields, validate

from .common import (
    HHMM,
    WEEKDAY_CODES,
    AwareDateTime,
    CalendarDate,
    LocalTime,
    PageArgs,
    StrictSchema,
    TimeZoneName,
    WeeklyHours,
    name_field,
    string_set,
)


class ClinicIn(StrictSchema):
    name = name_field(required=True)
    timezone = TimeZoneName(required=True)
    hours = WeeklyHours(load_default=dict)
    closures = fields.List(CalendarDate(), load_default=list)
    certifications = string_set(load_default=list)


class ClinicPatch(StrictSchema):
    name = name_field()
    timezone = TimeZoneName()
    hours = WeeklyHours()
    closures = fields.List(CalendarDate())
    certifications = string_set()


class ClinicOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    timezone = fields.String()
    hours = fields.Dict()
    closures = fields.List(fields.String())
    certifications = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class RoomIn(StrictSchema):
    name = name_field(required=True)
    features = string_set(load_default=list)
    capacity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100))
    turnover_minutes = fields.Integer(load_default=0, validate=validate.Range(min=0, max=240))


class RoomPatch(StrictSchema):
    name = name_field()
    features = string_set()
    capacity = fields.Integer(validate=validate.Range(min=1, max=100))
    turnover_minutes = fields.Integer(validate=validate.Range(min=0, max=240))


class RoomOut(StrictSchema):
    id = fields.Integer()
    clinic_id = fields.Integer()
    name = fields.String()
    features = fields.List(fields.String())
    capacity = fields.Integer()
    turnover_minutes = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ShiftSchema(StrictSchema):
    clinic_id = fields.Integer(required=True, strict=True)
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
    max_concurrent_patients = fields.Integer(load_default=1,
                                             validate=validate.Range(min=1, max=20))
    shifts = fields.List(fields.Nested(ShiftSchema), load_default=list)
    time_off = fields.List(fields.Nested(TimeOffIn), load_default=list)


class StaffPatch(StrictSchema):
    name = name_field()
    roles = string_set(validate=validate.Length(min=1))
    max_concurrent_patients = fields.Integer(validate=validate.Range(min=1, max=20))
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
    clinic_id = fields.Integer()
    role = fields.String()


class PatientPreferences(StrictSchema):
    weekdays = fields.List(fields.String(validate=validate.OneOf(WEEKDAY_CODES)))
    earliest = HHMM()
    latest = HHMM()
    time = HHMM()
    clinic_id = fields.Integer(strict=True)
    staff_id = fields.Integer(strict=True)


class PatientIn(StrictSchema):
    name = name_field(required=True)
    clinic_id = fields.Integer(strict=True, metadata={
        "description": "home clinic; a key scoped to exactly one clinic may leave it out"})
    external_id = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    email = fields.Email(allow_none=True)
    phone = fields.String(validate=validate.Length(max=40), allow_none=True)
    preferences = fields.Nested(PatientPreferences, load_default=dict)
    rems_enrolled_on = CalendarDate(allow_none=True, metadata={
        "description": "esketamine REMS patient enrollment date (SPEC 12)"})


class PatientPatch(StrictSchema):
    name = name_field()
    clinic_id = fields.Integer(strict=True)
    external_id = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    email = fields.Email(allow_none=True)
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
    clinic_id = fields.Integer()
    external_id = fields.String()
