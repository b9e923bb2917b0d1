"""Stored rules: session kinds and versioned protocols, validated by the pure rule library.

Session kinds and protocols are practice-wide (one practice, several clinics): every key may read
them, and only unscoped managers and admins may change them, since a change reaches every clinic.
Each protocol version freezes the session kinds it uses, so an enrollment pinned to a version
keeps its exact rules whatever is edited later.
"""

from __future__ import annotations

from sqlalchemy import select

from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..models import ProtocolRecord, ProtocolVersion, SessionKindRecord
from ..rules import templates
from ..rules.model import Protocol, SessionKind
from ..rules.stored import stored_protocol, stored_session_kind
from ..rules.validation import (
    RuleValidationError,
    parse_protocol,
    parse_session_kind,
    protocol_to_dict,
    session_kind_to_dict,
)
from .access import CONFIGURE, READ, Principal
from .pagination import Page, paginate
from .transaction import atomic


def _require_practice_wide(who: Principal) -> None:
    who.require(CONFIGURE)
    if who.scoped:
        raise Forbidden("rules are practice-wide: a clinic-scoped key may not change them")


def invalid_rules(exc: RuleValidationError, prefix: str = "") -> Invalid:
    fields: dict[str, list[str]] = {}
    for e in exc.errors:
        path = f"{prefix}{e.path}" if e.path else (prefix.rstrip(".") or "body")
        fields.setdefault(path, []).append(e.message)
    message = "; ".join(f"{p}: {' '.join(m)}" for p, m in fields.items())
    return Invalid(f"Invalid rules: {message}", fields=fields,
                   details={"errors": [{**e.to_dict(), "path": f"{prefix}{e.path}"}
                                       for e in exc.errors]})


# ---------------------------------------------------------------- session kinds

def known_session_kinds() -> dict[str, SessionKind]:
    records = db.session.scalars(select(SessionKindRecord))
    return {r.code: parse_session_kind(r.body) for r in records}


def list_session_kinds(who: Principal, page: int, page_size: int) -> Page:
    who.require(READ)
    return paginate(select(SessionKindRecord).order_by(SessionKindRecord.code), page, page_size)


def get_session_kind(who: Principal, code: str) -> SessionKindRecord:
    who.require(READ)
    record = db.session.get(SessionKindRecord, code)
    if record is None:
        raise NotFound(f"session kind {code!r} not found")
    return record


def create_session_kind(who: Principal, body: dict) -> SessionKindRecord:
    _require_practice_wide(who)
    kind = _parse_kind(body)
    with atomic():
        if db.session.get(SessionKindRecord, kind.code) is not None:
            raise Conflict(f"session kind {kind.code!r} exists; PUT /session-kinds/{kind.code} "
                           "replaces it", details={"code": kind.code})
        record = SessionKindRecord(code=kind.code, name=kind.name,
                                   body=session_kind_to_dict(kind))
        db.session.add(record)
    return record


# What GET adds to a session kind; a client may send it back unchanged (read, edit, PUT).
SESSION_KIND_READ_ONLY_FIELDS = ("version", "updated_at")

# What GET adds to a version's rules; a client may send it back unchanged (read, edit, PUT).
PROTOCOL_READ_ONLY_FIELDS = ("id", "version", "current_version", "versions", "session_kinds",
                             "created_at")


def replace_session_kind(who: Principal, code: str, body: dict) -> SessionKindRecord:
    """Replace a kind and re-version every protocol that uses it, or change nothing.

    Protocols pick the new definition up as a new version (booked plans keep theirs); if the new
    definition would make any protocol invalid, the whole change is refused.
    """
    _require_practice_wide(who)
    if isinstance(body, dict) and body.get("code", code) != code:
        raise Invalid.field("code", f"must equal the code in the path ({code!r})")
    with atomic():
        record = get_session_kind(who, code)
        if isinstance(body, dict):
            seen = body.get("version")
            if seen is not None and seen != record.version:
                raise Conflict(
                    f"session kind {code!r} is at version {record.version}, and this edit was "
                    f"made from version {seen}: read it again and reapply the change",
                    details={"reason": "session_kind_changed", "version": record.version})
            body = {k: v for k, v in body.items() if k not in SESSION_KIND_READ_ONLY_FIELDS}
        kind = _parse_kind({**body, "code": code} if isinstance(body, dict) else body)
        record.name, record.body = kind.name, session_kind_to_dict(kind)
        record.version += 1
        kinds = known_session_kinds() | {code: kind}
        for protocol in db.session.scalars(select(ProtocolRecord).order_by(ProtocolRecord.id)):
            current = _version(protocol.id, protocol.current_version)
            if code not in current.session_kinds:
                continue
            try:
                parsed = parse_protocol(current.body, kinds)
            except RuleValidationError as exc:
                raise invalid_rules(exc, prefix=f"(protocol {protocol.code}) ") from None
            _add_version(protocol, parsed, kinds, who)
    return record


def _parse_kind(body) -> SessionKind:
    try:
        return parse_session_kind(body)
    except RuleValidationError as exc:
        raise invalid_rules(exc) from None


# ---------------------------------------------------------------- protocols

def list_protocols(who: Principal, page: int, page_size: int) -> Page:
    who.require(READ)
    return paginate(select(ProtocolRecord).order_by(ProtocolRecord.id), page, page_size)


def get_protocol(who: Principal, protocol_id: int) -> ProtocolRecord:
    who.require(READ)
    record = db.session.get(ProtocolRecord, protocol_id)
    if record is None:
        raise NotFound(f"protocol {protocol_id} not found")
    return record


def get_version(who: Principal, protocol_id: int, version: int | None = None) -> ProtocolVersion:
    record = get_protocol(who, protocol_id)
    return _version(record.id, record.current_version if version is None else version)


def _version(protocol_id: int, version: int) -> ProtocolVersion:
    found = db.session.scalar(select(ProtocolVersion).where(
        ProtocolVersion.protocol_id == protocol_id, ProtocolVersion.version == version))
    if found is None:
        raise NotFound(f"protocol {protocol_id} has no version {version}")
    return found


def enrollment_rules(enrollment) -> tuple[Protocol, dict[str, SessionKind]]:
    """The rules an enrollment was placed under (its pinned version)."""
    return load_version(db.session.get(ProtocolVersion, enrollment.protocol_version_id))


def load_version(version: ProtocolVersion) -> tuple[Protocol, dict[str, SessionKind]]:
    """The exact rules of one stored version, as the engine and evaluator take them (read back
    as written: a version validated when it was made is not judged again by today's checks)."""
    kinds = {code: stored_session_kind(body) for code, body in version.session_kinds.items()}
    return stored_protocol(version.body), kinds


def create_protocol(who: Principal, body: dict) -> ProtocolVersion:
    _require_practice_wide(who)
    with atomic():
        kinds = known_session_kinds()
        version = _new_protocol(_parse_protocol(body, kinds), kinds, who)
    return version


def _new_protocol(protocol: Protocol, kinds: dict[str, SessionKind],
                  who: Principal) -> ProtocolVersion:
    if db.session.scalar(select(ProtocolRecord).where(ProtocolRecord.code == protocol.code)):
        raise Conflict(f"protocol code {protocol.code!r} is taken; PUT to make a new version "
                       "or choose another code", details={"code": protocol.code})
    record = ProtocolRecord(code=protocol.code, name=protocol.name, current_version=0)
    db.session.add(record)
    db.session.flush()
    return _add_version(record, protocol, kinds, who)


def editable_protocol_body(record: ProtocolRecord, body):
    """The rules of a PUT or impact body, accepting a version as GET returned it.

    ``current_version`` in the body says which version the client edited: if another version
    was made since, the edit would silently undo it, so it is refused (409).
    """
    if not isinstance(body, dict):
        return body
    if body.get("code", record.code) != record.code:
        raise Invalid.field("code", f"a protocol keeps its code ({record.code!r})")
    seen = body.get("current_version")
    if seen is not None and seen != record.current_version:
        raise Conflict(
            f"protocol {record.id} is at version {record.current_version}, and this edit was "
            f"made from version {seen}: read it again and reapply the change",
            details={"reason": "protocol_changed", "current_version": record.current_version})
    rules = {k: v for k, v in body.items() if k not in PROTOCOL_READ_ONLY_FIELDS}
    return {**rules, "code": record.code}


def replace_protocol(who: Principal, protocol_id: int, body: dict) -> ProtocolVersion:
    _require_practice_wide(who)
    with atomic():
        record = get_protocol(who, protocol_id)
        # Row lock (PostgreSQL): two concurrent PUTs must not both become version n+1.
        db.session.refresh(record, with_for_update=True)
        body = editable_protocol_body(record, body)
        kinds = known_session_kinds()
        protocol = _parse_protocol(body, kinds)
        version = _add_version(record, protocol, kinds, who)
    return version


def _parse_protocol(body, kinds) -> Protocol:
    try:
        return parse_protocol(body, kinds)
    except RuleValidationError as exc:
        raise invalid_rules(exc) from None


def _add_version(record: ProtocolRecord, protocol: Protocol, kinds: dict[str, SessionKind],
                 who: Principal) -> ProtocolVersion:
    used = _kinds_used(protocol)
    record.current_version += 1
    record.name = protocol.name
    version = ProtocolVersion(
        protocol_id=record.id, version=record.current_version, body=protocol_to_dict(protocol),
        session_kinds={code: session_kind_to_dict(kinds[code]) for code in sorted(used)},
        created_by_key_id=who.api_key_id,
    )
    db.session.add(version)
    db.session.flush()
    return version


def _kinds_used(protocol: Protocol) -> set[str]:
    used = set()
    for phase in protocol.phases:
        used.add(phase.session_kind)
        if phase.follow_up:
            used.add(phase.follow_up.session_kind)
    return used


# ---------------------------------------------------------------- templates

def list_templates(who: Principal) -> list[dict]:
    who.require(READ)
    return [templates.template_document(code) for code in templates.template_codes()]


def get_template(who: Principal, template_code: str) -> dict:
    who.require(READ)
    if template_code not in templates.template_codes():
        raise NotFound(f"protocol template {template_code!r} not found")
    return templates.template_document(template_code)


def instantiate_template(who: Principal, template_code: str, request: dict) -> ProtocolVersion:
    """Create a protocol from a built-in template, adding the session kinds it needs.

    ``overrides`` is a JSON merge patch over the template (phases may be patched by name); an
    existing session kind with the same code but another definition is refused rather than
    silently changed for every protocol that uses it.
    """
    _require_practice_wide(who)
    get_template(who, template_code)
    overrides = dict(request.get("overrides") or {})
    overrides.update({key: request[key] for key in ("code", "name") if request.get(key)})
    try:
        protocol, template_kinds, _meta = templates.load_template(template_code, overrides)
    except RuleValidationError as exc:
        raise invalid_rules(exc, prefix="overrides.") from None
    with atomic():
        kinds = known_session_kinds()
        for code, kind in sorted(template_kinds.items()):
            existing = kinds.get(code)
            if existing is None:
                db.session.add(SessionKindRecord(code=code, name=kind.name,
                                                 body=session_kind_to_dict(kind)))
                kinds[code] = kind
            elif existing != kind:
                raise Conflict(
                    f"session kind {code!r} exists with a different definition; the template "
                    "would change it for every protocol that uses it. PUT the kind or override "
                    "the template's session_kinds first.", details={"session_kind": code})
        version = _new_protocol(protocol, kinds, who)
    return version
