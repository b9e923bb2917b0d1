"""Dry run of a rule change: which booked future appointments a proposed version would break."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..extensions import db
from ..models import Clinic, Enrollment
from ..models.types import utcnow
from ..rules.evaluator import SessionInstance, evaluate
from ..rules.validation import RuleValidationError, parse_protocol
from . import rule_store
from .access import CONFIGURE, Principal
from .lifecycle import LIVE


def protocol_impact(who: Principal, protocol_id: int, body: dict) -> dict:
    """Evaluate every live plan of this protocol under the proposed rules; change nothing.

    Each plan is judged as a whole (spacing rules relate sessions), and a violation is reported
    when it involves at least one appointment still ahead. Plans are judged with the session
    kinds frozen in their own version, so only the rule change itself shows up.
    """
    who.require(CONFIGURE)
    record = rule_store.get_protocol(who, protocol_id)
    if isinstance(body, dict):
        body = {**body, "code": body.get("code", record.code)}
    try:
        proposed = parse_protocol(body, rule_store.known_session_kinds())
    except RuleValidationError as exc:
        raise rule_store._invalid(exc) from None
    now = utcnow()
    enrollments = db.session.scalars(
        select(Enrollment).where(Enrollment.protocol_id == protocol_id,
                                 Enrollment.status.in_(("held", "booked")))
        .order_by(Enrollment.id))
    affected, checked = [], 0
    for enrollment in enrollments:
        if who.scoped and not who.sees(enrollment.clinic_id):
            continue
        live = [a for a in enrollment.appointments if a.status in LIVE + ("completed",)]
        if not any(a.starts_at > now and a.status in ("held", "booked") for a in live):
            continue
        checked += 1
        version = db.session.get(rule_store.ProtocolVersion, enrollment.protocol_version_id)
        _, kinds = rule_store.load_version(version)
        kinds = {**rule_store.known_session_kinds(), **kinds}
        clinic = db.session.get(Clinic, enrollment.clinic_id)
        sessions = [SessionInstance(
            key=a.key, phase=a.phase, kind=a.session_kind, start=a.starts_at, end=a.ends_at,
            follow_up_of=a.key.split("/")[0] if "/" in (a.key or "") else None) for a in live]
        violations = evaluate(proposed, kinds, sessions, tz=ZoneInfo(clinic.timezone),
                              clinic_certifications=frozenset(clinic.certifications or []),
                              complete=False)
        ids = {a.key: a for a in live}
        future = [v for v in violations
                  if any(ids[k].starts_at > now for k in v.sessions if k in ids)]
        if future:
            affected.append({
                "enrollment_id": enrollment.id, "patient_id": enrollment.patient_id,
                "clinic_id": enrollment.clinic_id, "protocol_version": enrollment.protocol_version,
                "violations": [{"rule": v.rule, "message": v.message,
                                "appointment_ids": [ids[k].id for k in v.sessions if k in ids]}
                               for v in future],
            })
    return {"protocol_id": record.id, "current_version": record.current_version,
            "proposed_valid": True, "checked_enrollments": checked, "affected": affected}
