"""Automatic audit trail: every flushed change to an audited model writes an ``audit_log`` row.

Hooking the session (rather than each endpoint) means no write path can forget to audit, and the
audit row commits or rolls back with the change it describes. Who is acting comes from a context
variable that the auth layer (or a CLI command) sets.
"""

from __future__ import annotations

import contextlib
import enum
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from .models.audit import AuditEntry
from .models.types import utcnow


@dataclass(frozen=True)
class Actor:
    label: str
    api_key_id: int | None = None


SYSTEM = Actor("system")
current_actor: ContextVar[Actor] = ContextVar("current_actor", default=SYSTEM)


@contextlib.contextmanager
def acting_as(actor: Actor):
    token = current_actor.set(actor)
    try:
        yield
    finally:
        current_actor.reset(token)


def _jsonable(value):
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _snapshot(obj, *, before: bool) -> dict:
    state = inspect(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if before and hist.deleted:
            value = hist.deleted[0]
        elif before and hist.added:
            value = None
        else:
            value = getattr(obj, attr.key)
        out[attr.key] = _jsonable(value)
    return out


def _entity_id(obj) -> str:
    # In after_flush new rows have their primary key values but no identity key yet.
    values = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(v) for v in values)


@event.listens_for(Session, "after_flush")
def _record_audit(session: Session, flush_context) -> None:
    rows = []
    actor = current_actor.get()
    now = utcnow()

    def add(obj, action, before, after):
        rows.append({
            "at": now, "api_key_id": actor.api_key_id, "actor": actor.label,
            "action": action, "entity_type": obj.__tablename__, "entity_id": _entity_id(obj),
            "before": before, "after": after,
        })

    for obj in session.new:
        if getattr(obj, "__audited__", False):
            add(obj, "create", None, _snapshot(obj, before=False))
    for obj in session.dirty:
        audited = getattr(obj, "__audited__", False)
        if audited and session.is_modified(obj, include_collections=False):
            before, after = _snapshot(obj, before=True), _snapshot(obj, before=False)
            if before != after:
                soft_deleted = after.get("deleted_at") and not before.get("deleted_at")
                action = "delete" if soft_deleted else "update"
                add(obj, action, before, after)
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            add(obj, "delete", _snapshot(obj, before=True), None)
    if rows:
        session.connection().execute(AuditEntry.__table__.insert(), rows)
