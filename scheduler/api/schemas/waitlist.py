"""Waitlist entries and offers (SPEC 9)."""

from __future__ import annotations

from marshmallow import fields, validate
from webargs.fields import DelimitedList

from ...models.status import OFFER_STATUSES
from .booking import AppointmentOut
from .common import PageArgs, StrictSchema


class WaitlistJoinIn(StrictSchema):
    min_gain_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=365),
                                   metadata={"description": "offers start at least this many "
                                                            "days earlier (default 1)"})


class WaitlistEntryOut(StrictSchema):
    enrollment_id = fields.Integer()
    patient_id = fields.Integer()
    clinic_id = fields.Integer()
    joined_at = fields.DateTime()
    min_gain_days = fields.Integer()
    position = fields.Integer(metadata={"description": "1: served first"})


class WaitlistQuery(StrictSchema):
    clinic_id = fields.Integer(required=True)


class OfferQuery(PageArgs):
    clinic_id = fields.Integer()
    status = DelimitedList(fields.String(validate=validate.OneOf(OFFER_STATUSES)))


class OfferOut(StrictSchema):
    id = fields.Integer()
    enrollment_id = fields.Integer()
    patient_id = fields.Integer()
    clinic_id = fields.Integer()
    status = fields.String(metadata={"description": ", ".join(OFFER_STATUSES)})
    expires_at = fields.DateTime()
    gain_days = fields.Integer(metadata={
        "description": "local days between the first replaced and the first offered session"})
    appointments = fields.Method("_appointments", metadata={
        "description": "the offered sessions (held while open)"})
    replaces = fields.Method("_replaces", metadata={
        "description": "ids of the appointments the offer replaces"})
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)

    def _appointments(self, offer):
        return AppointmentOut(many=True).dump([link.appointment for link in offer.sessions])

    def _replaces(self, offer):
        return offer.replaced_ids
