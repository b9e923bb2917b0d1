"""Waitlist and offers (SPEC 9): join, leave, serving order; read, accept, decline offers."""

from __future__ import annotations

from flask import request

from ..errors import Invalid
from ..services import offers, waitlist
from ..services.access import BOOK
from .common import PAGINATION_HEADER_DOC, json_body, make_blueprint, page_headers, principal
from .schemas.waitlist import OfferOut, OfferQuery, WaitlistEntryOut, WaitlistJoinIn, WaitlistQuery

blp = make_blueprint("waitlist", "Waitlist and offers: freed time goes to who waits for it",
                     writes=BOOK)


def _join_body() -> dict:
    """The body is optional: empty, or ``{"min_gain_days": n}``."""
    if not request.get_data():
        return {}
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid.field("body", "must be a JSON object")
    from marshmallow import ValidationError

    try:
        return WaitlistJoinIn().load(body)
    except ValidationError as exc:
        raise Invalid("Invalid request", fields=exc.normalized_messages()) from None


@blp.route("/enrollments/<int:enrollment_id>/waitlist", methods=["POST"])
@blp.doc(requestBody={"required": False, "content": {"application/json": {
    "schema": WaitlistJoinIn}}})
@blp.response(201, WaitlistEntryOut)
@blp.alt_response(200, schema=WaitlistEntryOut, description="already waiting (place kept)")
@blp.alt_response(409, description="the enrollment is not booked")
def join_waitlist(enrollment_id):
    data = _join_body()
    entry, created = waitlist.join(principal(), enrollment_id, data.get("min_gain_days"))
    return entry, 201 if created else 200


@blp.route("/enrollments/<int:enrollment_id>/waitlist", methods=["DELETE"])
@blp.response(204)
def leave_waitlist(enrollment_id):
    waitlist.leave(principal(), enrollment_id)


@blp.route("/waitlist", methods=["GET"])
@blp.arguments(WaitlistQuery, location="query")
@blp.response(200, WaitlistEntryOut(many=True))
def list_waitlist(args):
    return waitlist.list_waitlist(principal(), args["clinic_id"])


@blp.route("/offers", methods=["GET"])
@blp.arguments(OfferQuery, location="query")
@blp.response(200, OfferOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_offers(args):
    page = offers.list_offers(principal(), **args)
    return page.items, page_headers(page)


@blp.route("/offers/<int:offer_id>", methods=["GET"])
@blp.response(200, OfferOut)
def get_offer(offer_id):
    return offers.get_offer(principal(), offer_id)


@blp.route("/offers/<int:offer_id>/accept", methods=["POST"])
@blp.response(200, OfferOut)
@blp.alt_response(409, description="not open, expired, or withdrawn (the plan changed)")
def accept_offer(offer_id):
    return offers.accept(principal(), offer_id)


@blp.route("/offers/<int:offer_id>/decline", methods=["POST"])
@blp.response(200, OfferOut)
def decline_offer(offer_id):
    return offers.decline(principal(), offer_id)
