"""iCal subscriptions under /api/v1: create, list, revoke, rotate. The feed itself is in ical."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from marshmallow import fields, validate

from ..models import FEED_PRIVACY, FEED_SCOPES
from ..services import feeds
from ..services.access import BOOK
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.common import PageArgs, StrictSchema

blp = make_blueprint("feeds", "iCal subscriptions for a clinic, room, staff member or patient",
                     writes=BOOK)


@blp.record_once
def _check_public_base_url(state) -> None:
    """Feed URLs name the service's public address. Built from the ``Host`` header they would
    name whatever a client (or a proxy) put there, and a URL handed out is pasted into
    calendar apps for months. So production does not start without
    ``REGIMEN_PUBLIC_BASE_URL`` (one fixed address, no header trusted) rather than trusting a
    host list, which still lets any request pick which listed name the URL carries."""
    base = state.app.config.get("PUBLIC_BASE_URL")
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
                or parts.fragment:
            raise RuntimeError("REGIMEN_PUBLIC_BASE_URL must be an absolute http(s) URL "
                               f"without query or fragment, not {base!r}")
    elif state.app.config.get("REQUIRE_PUBLIC_BASE_URL"):
        raise RuntimeError("REGIMEN_PUBLIC_BASE_URL is not set: in production feed URLs are "
                           "built from it, never from the request's Host header "
                           "(e.g. REGIMEN_PUBLIC_BASE_URL=https://regimen.example.org)")


class FeedIn(StrictSchema):
    scope = fields.String(required=True, validate=validate.OneOf(FEED_SCOPES))
    scope_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    privacy = fields.String(load_default="busy", validate=validate.OneOf(FEED_PRIVACY),
                            metadata={"description": "busy: times and a neutral title only; "
                                                     "details: patient name and session kind"})
    clinic_id = fields.Integer(strict=True, metadata={
        "description": "Staff/patient feeds: show this clinic's appointments only (a key "
                       "scoped to several clinics must say which for a staff member)"})


class FeedOut(StrictSchema):
    id = fields.Integer()
    url = fields.String(metadata={"description": "Only in the answer to create and rotate: "
                                                 "the token is stored as a hash"})
    scope = fields.String()
    scope_id = fields.Integer()
    clinic_id = fields.Integer(allow_none=True)
    privacy = fields.String()
    created_by_key_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    rotated_at = fields.DateTime(allow_none=True)


class FeedQuery(PageArgs):
    scope = fields.String(validate=validate.OneOf(FEED_SCOPES))
    scope_id = fields.Integer()


def _with_url(feed, token: str) -> dict:
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return {**{k: getattr(feed, k) for k in FeedOut().fields if k != "url"},
            "url": f"{base.rstrip('/')}/ical/{token}.ics"}


@blp.route("/feeds", methods=["POST"])
@blp.arguments(FeedIn)
@blp.response(201, FeedOut)
def create_feed(data):
    return _with_url(*feeds.create_feed(principal(), data))


@blp.route("/feeds", methods=["GET"])
@blp.arguments(FeedQuery, location="query")
@blp.response(200, FeedOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_feeds(args):
    page = feeds.list_feeds(principal(), args.pop("page"), args.pop("page_size"), **args)
    return page.items, page_headers(page)


@blp.route("/feeds/<int:feed_id>", methods=["GET"])
@blp.response(200, FeedOut)
def get_feed(feed_id):
    return feeds.get_feed(principal(), feed_id)


@blp.route("/feeds/<int:feed_id>", methods=["DELETE"])
@blp.response(204)
def delete_feed(feed_id):
    feeds.delete_feed(principal(), feed_id)


@blp.route("/feeds/<int:feed_id>/rotate", methods=["POST"])
@blp.response(200, FeedOut)
def rotate_feed(feed_id):
    return _with_url(*feeds.rotate_feed(principal(), feed_id))
