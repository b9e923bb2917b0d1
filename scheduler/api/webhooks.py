"""Webhook subscriptions (SPEC 10): subscribe, list, read, delete, rotate the secret, and the
delivery log. Delivery itself runs in the job process."""

from __future__ import annotations

from marshmallow import fields, validate

from ..models import WEBHOOK_PRIVACY
from ..services import outbox, webhooks
from ..services.access import CONFIGURE
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.booking import AppointmentOut, EnrollmentOut
from .schemas.common import PageArgs, StrictSchema

blp = make_blueprint("webhooks", "Webhooks: signed change notifications and reminders",
                     writes=CONFIGURE)

# Payloads are the API's own serialisation: an event shows an appointment as GET does.
outbox.register_renderers(
    appointment=AppointmentOut().dump,
    enrollment_without_appointments=EnrollmentOut(exclude=("appointments",)).dump)


class WebhookIn(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={
        "description": "http(s); loopback, private and link-local hosts are refused unless "
                       "REGIMEN_WEBHOOK_ALLOW_PRIVATE=1"})
    events = fields.List(fields.String(validate=validate.OneOf(outbox.EVENT_TYPES)),
                         required=True, validate=validate.Length(min=1))
    privacy = fields.String(load_default="busy", validate=validate.OneOf(WEBHOOK_PRIVACY),
                            metadata={"description": "busy: no patient name, external_id or "
                                                     "contact; details: with the patient"})
    reminder_hours = fields.List(fields.Float(allow_nan=False), load_default=list,
                                 validate=validate.Length(max=10), metadata={
                                     "description": "reminder.due this many hours before each "
                                                    "booked appointment (fractions allowed)"})
    clinic_ids = fields.List(fields.Integer(strict=True), validate=validate.Length(min=1),
                             metadata={"description": "hear only these clinics (a scoped key: "
                                                      "its own clinics by default)"})


class WebhookOut(StrictSchema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    privacy = fields.String()
    reminder_hours = fields.List(fields.Float())
    clinic_ids = fields.List(fields.Integer(), allow_none=True)
    status = fields.String(metadata={"description": "active, or disabled (see disabled_reason)"})
    failing_since = fields.DateTime(allow_none=True)
    disabled_at = fields.DateTime(allow_none=True)
    disabled_reason = fields.String(allow_none=True)
    created_by_key_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    secret_rotated_at = fields.DateTime(allow_none=True)


class WebhookWithSecretOut(WebhookOut):
    secret = fields.String(metadata={"description": "whsec_…: shown only now; sign checks "
                                                    "with it (Standard Webhooks)"})


class AttemptOut(StrictSchema):
    event_id = fields.Function(lambda a: a.delivery.event.public_id)
    type = fields.Function(lambda a: a.delivery.event.type)
    attempt = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    at = fields.DateTime()
    next_retry_at = fields.DateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    delivery_status = fields.Function(lambda a: a.delivery.status, metadata={
        "description": "pending, delivered or failed (given up after 24 hours)"})


class AttemptQuery(PageArgs):
    event_id = fields.String()


def _with_secret(hook, secret: str):
    hook.secret = secret  # transient, for this response only
    return hook


@blp.route("/webhooks", methods=["POST"])
@blp.arguments(WebhookIn)
@blp.response(201, WebhookWithSecretOut)
def create_webhook(data):
    return _with_secret(*webhooks.create_webhook(principal(), data))


@blp.route("/webhooks", methods=["GET"])
@blp.response(200, WebhookOut(many=True))
def list_webhooks():
    return webhooks.list_webhooks(principal())


@blp.route("/webhooks/<int:webhook_id>", methods=["GET"])
@blp.response(200, WebhookOut)
def get_webhook(webhook_id):
    return webhooks.get_webhook(principal(), webhook_id)


@blp.route("/webhooks/<int:webhook_id>", methods=["DELETE"])
@blp.response(204)
def delete_webhook(webhook_id):
    webhooks.delete_webhook(principal(), webhook_id)


@blp.route("/webhooks/<int:webhook_id>/rotate-secret", methods=["POST"])
@blp.response(200, WebhookWithSecretOut)
def rotate_secret(webhook_id):
    return _with_secret(*webhooks.rotate_secret(principal(), webhook_id))


@blp.route("/webhooks/<int:webhook_id>/deliveries", methods=["GET"])
@blp.arguments(AttemptQuery, location="query")
@blp.response(200, AttemptOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_deliveries(args, webhook_id):
    page = webhooks.list_attempts(principal(), webhook_id, args.pop("page"),
                                  args.pop("page_size"), **args)
    return page.items, page_headers(page)
