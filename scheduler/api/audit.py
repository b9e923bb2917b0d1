from __future__ import annotations

from marshmallow import fields

from ..services import audit_log
from ..services.access import ADMIN
from .common import PAGINATION_HEADER_DOC, make_blueprint, page_headers, principal
from .guard import Need
from .schemas.common import PageArgs, StrictSchema

blp = make_blueprint("audit", "Audit trail of every write (admin only)",
                     reads=Need(ADMIN, practice_wide=True))


class AuditQuery(PageArgs):
    entity_type = fields.String()
    entity_id = fields.String()
    api_key_id = fields.Integer()


class AuditOut(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    api_key_id = fields.Integer(allow_none=True)
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


@blp.route("/audit", methods=["GET"])
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditOut(many=True), headers=PAGINATION_HEADER_DOC)
def list_audit(args):
    page = audit_log.list_entries(principal(), args.pop("page"), args.pop("page_size"), **args)
    return page.items, page_headers(page)
