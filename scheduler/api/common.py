"""Helpers every blueprint uses: the caller, list responses, blueprint construction."""

from __future__ import annotations

import json

from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs import core
from webargs.flaskparser import FlaskParser

from ..services.access import READ
from ..services.pagination import Page
from .auth import principal  # noqa: F401  (re-exported for the blueprints)


class StrictParser(FlaskParser):
    """Unknown query parameters are errors too: ``?clinicid=3`` must not silently list all.
    Bodies are read by ``body.read_json``, the same reader the raw-JSON endpoints use."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}

    def _raw_load_json(self, req):
        from .body import read_json

        data = read_json(req)
        return core.missing if data is None else data


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()


def make_blueprint(name: str, description: str, *, writes=None, reads=READ) -> Blueprint:
    """A blueprint whose endpoints need ``reads`` (GET) or ``writes`` (anything else): a
    permission or a ``guard.Need``, checked before the body is read; ``@guard.needs`` marks
    the exceptions."""
    from . import guard

    blp = Blueprint(name, name, description=description)
    blp.read_permission, blp.write_permission = reads, writes
    blp.before_request(guard.check_request)
    return blp


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

    from ..errors import MalformedJson
    from .body import read_json

    data = read_json(request)
    if data is None:
        raise MalformedJson("Request body is missing; send a JSON document",
                            fields={"body": ["Invalid JSON body."]})
    return data
