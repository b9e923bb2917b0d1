"""Reading the audit trail (writing it is automatic, see ``scheduler.audit``)."""

from __future__ import annotations

from sqlalchemy import select

from ..errors import Forbidden
from ..models import AuditEntry
from .access import ADMIN, Principal
from .pagination import Page, paginate


def list_entries(who: Principal, page: int, page_size: int, entity_type: str | None = None,
                 entity_id: str | None = None, api_key_id: int | None = None) -> Page:
    who.require(ADMIN)
    if who.scoped:
        # Rows of every clinic (patient names included) are in it: not a tenant's to read.
        raise Forbidden("the audit log spans every clinic; only an unscoped admin key reads it")
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if entity_type:
        query = query.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if api_key_id:
        query = query.where(AuditEntry.api_key_id == api_key_id)
    return paginate(query, page, page_size)
