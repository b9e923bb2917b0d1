"""Shapes of session kinds and protocols, for the OpenAPI document and responses.

Requests are validated by ``scheduler.rules.validation`` (the one home of rule validation); these
schemas describe the same fields to API readers.
"""

from __future__ import annotations

from marshmallow import fields, validate

from .common import WEEKDAY_CODES, StrictSchema


class SegmentDoc(StrictSchema):
    name = fields.String(required=True)
    minutes = fields.Integer(required=True)
    dose = fields.Boolean(load_default=False)


class StaffNeedDoc(StrictSchema):
    role = fields.String(required=True)
    load = fields.Dict(keys=fields.String(), values=fields.String(
        validate=validate.OneOf(["exclusive", "shared"])), required=True,
        metadata={"description": "segment name → exclusive | shared"})


class SessionKindDoc(StrictSchema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    route = fields.String(required=True, metadata={
        "description": "iv, im, intranasal, sublingual, oral or none"})
    segments = fields.List(fields.Nested(SegmentDoc), required=True)
    room_features = fields.List(fields.String())
    needs_room = fields.Boolean(load_default=True)
    staff = fields.List(fields.Nested(StaffNeedDoc))
    prescriber_on_site = fields.Boolean(load_default=False)


class SessionKindOut(SessionKindDoc):
    version = fields.Integer()
    updated_at = fields.DateTime()


class GapDaysDoc(StrictSchema):
    min = fields.Integer()
    target = fields.Integer()
    max = fields.Integer()


class AfterDoc(StrictSchema):
    phase = fields.String()
    min_days = fields.Integer()
    max_days = fields.Integer()


class FollowUpDoc(StrictSchema):
    session_kind = fields.String()
    min_hours = fields.Float()
    max_hours = fields.Float()


class PhaseDoc(StrictSchema):
    name = fields.String(required=True)
    session_kind = fields.String(required=True)
    count = fields.Integer()
    until_days = fields.Integer()
    gap_days = fields.Nested(GapDaysDoc)
    within_days = fields.Integer()
    max_per_week = fields.Integer()
    weekdays = fields.List(fields.String(validate=validate.OneOf(WEEKDAY_CODES)))
    after = fields.Nested(AfterDoc)
    follow_up = fields.Nested(FollowUpDoc)


class ProtocolDoc(StrictSchema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    min_hours_between_doses = fields.Float()
    phases = fields.List(fields.Nested(PhaseDoc), required=True)


class ProtocolOut(ProtocolDoc):
    id = fields.Integer()
    version = fields.Integer()
    current_version = fields.Integer()
    versions = fields.List(fields.Integer())
    session_kinds = fields.Dict(metadata={"description": "the session kinds frozen with "
                                                        "this version, by code"})
    created_at = fields.DateTime()


class InstantiateDoc(StrictSchema):
    code = fields.String(metadata={"description": "protocol code (default: the template's)"})
    name = fields.String()
    overrides = fields.Dict(metadata={"description": "fields merged over the template's "
                                                     "protocol before validation"})
