"""Disruptions (SPEC 8): a proposal, its summary and its changes."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...models.disruption import DISRUPTION_KINDS, DISRUPTION_STATUSES, OUTCOMES
from .common import AwareDateTime, PageArgs, StrictSchema


class DisruptionIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(DISRUPTION_KINDS))
    staff_id = fields.Integer(strict=True)
    room_id = fields.Integer(strict=True)
    clinic_id = fields.Integer(strict=True)
    start = AwareDateTime(required=True)
    end = AwareDateTime(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=200))
    allow_clinic_ids = fields.List(fields.Integer(strict=True), load_default=list,
                                   validate=validate.Length(max=50))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("must be after start", field_name="end")


class DisruptionQuery(PageArgs):
    clinic_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(DISRUPTION_STATUSES))


class ShownAllocation(StrictSchema):
    resource_type = fields.String()
    resource_id = fields.Integer()
    name = fields.String(allow_none=True)
    start = fields.String()
    end = fields.String()


class ShownSlot(StrictSchema):
    start = fields.String()
    end = fields.String()
    clinic_id = fields.Integer()
    allocations = fields.List(fields.Nested(ShownAllocation))


class ChangeOut(StrictSchema):
    appointment_id = fields.Integer()
    enrollment_id = fields.Integer(allow_none=True)
    patient_id = fields.Integer()
    outcome = fields.String(metadata={"enum": list(OUTCOMES)})
    cascade = fields.Boolean(metadata={
        "description": "not hit itself: moved because its plan's rules need it"})
    before = fields.Nested(ShownSlot)
    after = fields.Nested(ShownSlot, allow_none=True)
    explanation = fields.Dict(allow_none=True, metadata={
        "description": "why it cannot be re-placed, in words and data (as a 409 explains)"})


class SummaryOut(StrictSchema):
    affected = fields.Integer()
    reassigned = fields.Integer()
    moved = fields.Integer()
    unplaceable = fields.Integer()
    solver = fields.String(metadata={
        "enum": ["greedy", "exact"],
        "description": "which repair answered: the greedy batch, or the exact CP-SAT second "
                       "opinion when it was better"})


class DisruptionOut(StrictSchema):
    id = fields.Integer()
    status = fields.String()
    kind = fields.String()
    staff_id = fields.Integer(allow_none=True)
    room_id = fields.Integer(allow_none=True)
    clinic_id = fields.Integer(allow_none=True)
    start = fields.DateTime(attribute="starts_at")
    end = fields.DateTime(attribute="ends_at")
    reason = fields.String()
    allow_clinic_ids = fields.List(fields.Integer())
    clinic_ids = fields.List(fields.Integer(), metadata={"description": "clinics involved"})
    hold_expires_at = fields.DateTime(allow_none=True)
    summary = fields.Nested(SummaryOut)
    changes = fields.List(fields.Nested(ChangeOut))
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
