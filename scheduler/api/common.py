"""Helpers every blueprint uses: the caller, list responses, blueprint construction."""

from __future__ import annotations

import json

from flask_smorest import Blueprint

from ..services.pagination import Page
from .auth import principal  # noqa: F401  (re-exported for the blueprints)


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
