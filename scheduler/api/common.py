"""Helpers every blueprint uses: the caller, list responses, blueprint construction."""

from __future__ import annotations

import json

from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser

from ..services.pagination import Page
from .auth import principal  # noqa: F401  (re-exported for the blueprints)


class StrictParser(FlaskParser):
    """Unknown query parameters are errors too: ``?clinicid=3`` must not silently list all."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()


def make_blueprint(name: str, description: str) -> Blueprint:
    return Blueprint(name, name, description=description)


def page_headers(page: Page) -> dict:
    """Pagination travels in a header so list bodies stay plain JSON arrays."""
    return {"X-Pagination": json.dumps({
        "total": page.total, "total_pages": page.pages, "page": page.page,
        "page_size": page.page_size,
    })}


PAGINATION_HEADER_DOC = {
    "X-Pagination": {"description": "JSON: total, total_pages, page, page_size",
                     "schema": {"type": "string"}},
}


def json_body() -> dict | list:
    """The raw JSON body, for documents the rule library validates itself (one home for rules)."""
    from flask import request
    from werkzeug.exceptions import BadRequest

    from ..errors import MalformedJson

    try:
        return request.get_json(force=True)
    except BadRequest:
        raise MalformedJson("Request body is not valid JSON",
                            fields={"body": ["Invalid JSON body."]}) from None
