"""Judging plans by their rules: the proof after every placement, and stored plans' state.

The engine's sessions and stored appointments are judged by the same evaluator, so a rule bug in
the engine can never reach a patient, and confirm, cancel warnings and ``/impact`` all read a
stored plan the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from ..errors import InternalFault
from ..extensions import db
from ..models import Clinic, Enrollment
from ..models.status import OCCUPYING
from ..rules import codes
from ..rules.evaluator import Violation, evaluate
from ..rules.model import Protocol, SessionKind
from ..rules.session import PlacedSession
from . import rule_store, snapshot

log = logging.getLogger(__name__)


def prove(protocol: Protocol, kinds: dict[str, SessionKind], sessions: Sequence[PlacedSession],
          clinic: Clinic, *, complete: bool, horizon_end: date | None = None) -> None:
    """The evaluator re-checks what the engine placed; a violation is our bug, not a conflict."""
    violations = violations_of(protocol, kinds, sessions, clinic, complete=complete,
                               horizon_end=horizon_end)
    if violations:
        log.error("engine produced a plan that breaks its rules (protocol %s, clinic %s): %s; "
                  "sessions: %s", protocol.code, clinic.id, violations,
                  [(s.key, s.start.isoformat(), s.end.isoformat()) for s in sessions])
        raise InternalFault(f"the engine placed a plan that breaks {len(violations)} rule(s) "
                            f"of protocol {protocol.code!r}")


def prove_elsewhere(protocol: Protocol, kinds: dict[str, SessionKind],
                    sessions: Sequence[PlacedSession], moved: dict[str, Clinic]) -> None:
    """Sessions a repair moved to another clinic (``moved``: key → that clinic) are judged by
    the certifications of the clinic they land in, not only the plan's own (``prove`` judges
    the plan in its home clinic)."""
    for clinic in {c.id: c for c in moved.values()}.values():
        keys = {k for k, c in moved.items() if c.id == clinic.id}
        wrong = [v for v in violations_of(protocol, kinds, sessions, clinic, complete=False)
                 if v.rule == codes.ROUTE_REQUIRED_CERTIFICATION and keys & set(v.sessions)]
        if wrong:
            log.error("a repair moved sessions to clinic %s, which may not give them: %s",
                      clinic.id, wrong)
            raise InternalFault(f"the engine moved {len(wrong)} session(s) to clinic "
                                f"{clinic.id}, which lacks the certification their route needs")


def violations_of(protocol: Protocol, kinds: dict[str, SessionKind],
                  sessions: Sequence[PlacedSession], clinic: Clinic, *, complete: bool,
                  horizon_end: date | None = None) -> list[Violation]:
    return evaluate(protocol, kinds, sessions, tz=ZoneInfo(clinic.timezone),
                    clinic_certifications=frozenset(clinic.certifications or []),
                    complete=complete, horizon_end=horizon_end)


def plan_violations(enrollment: Enrollment, protocol: Protocol | None = None,
                    kinds: dict[str, SessionKind] | None = None, *, complete: bool = True):
    """Judge a stored plan (its live and completed sessions) by its own rules, or by proposed
    ones. Returns the violations and the appointments they were judged on."""
    if protocol is None:
        protocol, kinds = rule_store.enrollment_rules(enrollment)
    clinic = db.session.get(Clinic, enrollment.clinic_id)
    judged = [a for a in enrollment.appointments if a.status in OCCUPYING]
    violations = evaluate(protocol, kinds, [snapshot.appointment_to_placed(a) for a in judged],
                          tz=ZoneInfo(clinic.timezone),
                          clinic_certifications=frozenset(clinic.certifications or []),
                          complete=complete,
                          horizon_end=enrollment.horizon_end if complete else None)
    return violations, judged


def violation_report(violations: Sequence[Violation], appointments) -> list[dict]:
    ids = {a.key: a.id for a in appointments}
    return [{"rule": v.rule, "message": v.message,
             "appointment_ids": [ids[k] for k in v.sessions if k in ids]} for v in violations]
