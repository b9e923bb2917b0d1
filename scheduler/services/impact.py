"""Dry run of a rule change: which booked future appointments a proposed version would break."""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import Enrollment
from ..models.status import LIVE
from ..models.types import utcnow
from ..rules.validation import RuleValidationError, parse_protocol
from . import proof, rule_store
from .access import CONFIGURE, Principal


def protocol_impact(who: Principal, protocol_id: int, body: dict) -> dict:
    """Evaluate every live plan of this protocol under the proposed rules; change nothing.

    Each plan is judged as a whole (spacing rules relate sessions), and a violation is reported
    when it involves at least one appointment still ahead. Plans are judged with the session
    kinds frozen in their own version, so only the rule change itself shows up.
    """
    who.require(CONFIGURE)
    record = rule_store.get_protocol(who, protocol_id)
    body = rule_store.editable_protocol_body(record, body)
    current_kinds = rule_store.known_session_kinds()
    try:
        proposed = parse_protocol(body, current_kinds)
    except RuleValidationError as exc:
        raise rule_store.invalid_rules(exc) from None
    now = utcnow()
    enrollments = db.session.scalars(
        select(Enrollment).where(Enrollment.protocol_id == protocol_id,
                                 Enrollment.status.in_(LIVE))
        .order_by(Enrollment.id))
    affected, checked = [], 0
    for enrollment in enrollments:
        if who.scoped and not who.sees(enrollment.clinic_id):
            continue
        if not any(a.starts_at > now and a.status in LIVE
                   for a in enrollment.appointments):
            continue
        checked += 1
        kinds = {**current_kinds, **rule_store.enrollment_rules(enrollment)[1]}
        violations, live = proof.plan_violations(enrollment, proposed, kinds, complete=False)
        starts = {a.key: a.starts_at for a in live}
        future = [v for v in violations if any(starts.get(k, now) > now for k in v.sessions)]
        if future:
            affected.append({
                "enrollment_id": enrollment.id, "patient_id": enrollment.patient_id,
                "clinic_id": enrollment.clinic_id, "protocol_version": enrollment.protocol_version,
                "violations": proof.violation_report(future, live),
            })
    return {"protocol_id": record.id, "current_version": record.current_version,
            "proposed_valid": True, "checked_enrollments": checked, "affected": affected}
