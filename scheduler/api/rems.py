"""Esketamine REMS worklist: the Patient Monitoring Forms a clinic owes (SPEC 12)."""

from __future__ import annotations

from ..services import rems
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .schemas.booking import RemsFormOut, RemsFormQuery

blp = make_blueprint("rems", "Esketamine REMS: Patient Monitoring Forms owed and sent")


@blp.route("/rems/forms", methods=["GET"])
@blp.arguments(RemsFormQuery, location="query")
@blp.response(200, RemsFormOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_forms(args):
    page = rems.list_forms(principal(), **args)
    return page.items, page_headers(page)
