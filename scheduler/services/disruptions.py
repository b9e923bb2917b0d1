"""Disruptions (SPEC 8): an absence or closure, proposed with its re-plan, applied all or nothing.

A proposal finds every live future appointment the absence or closure hits, repairs all their
plans in one batch through the placement pipeline (snapshot with the disruption in force →
``engine.repair_plans`` → proof by the evaluator), holds the new slots it would take and stores
what it would do. ``apply`` re-checks that nothing it changes has changed since, then records the
absence or closure and makes every move, reassignment and cancellation in one transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace as dataclass_replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from .. import engine
from ..audit import Actor, acting_as, current_actor
from ..engine.exact_repair import EXACT, GREEDY
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..models import (
    Allocation,
    Appointment,
    Clinic,
    Disruption,
    Enrollment,
    Room,
    StaffMember,
    TimeOff,
)
from ..models.disruption import (
    APPLIED,
    CLINIC_CLOSURE,
    DISCARDED,
    DISRUPTION_STATUSES,
    EXPIRED,
    MOVED,
    PROPOSED,
    REASSIGNED,
    ROOM_CLOSURE,
    STAFF_ABSENCE,
    UNPLACEABLE,
)
from ..models.status import CANCELLED, CHECKED_IN, COMPLETED, LIVE
from ..models.types import utcnow
from . import holds, outbox, placement, proof, rule_store, snapshot
from .access import CONFIGURE, READ, Principal
from .lifecycle import transition
from .pagination import Page

log = logging.getLogger(__name__)

CANCEL_REASON = "disruption"
# Days past a plan's last session whose bookings a repair reads first (cascades rarely go
# further; when one does, the repair runs again over the full lookahead).
REPAIR_REACH_DAYS = 60


# ---------------------------------------------------------------- reading

def get_disruption(who: Principal, disruption_id: int) -> Disruption:
    who.require(READ)
    disruption = db.session.get(Disruption, disruption_id)
    if disruption is None or not who.sees_any(disruption.clinic_ids or [None]):
        raise NotFound(f"disruption {disruption_id} not found")
    return disruption


def list_disruptions(who: Principal, *, page: int, page_size: int, clinic_id: int | None = None,
                     status: str | None = None) -> Page:
    who.require(READ)
    if status is not None and status not in DISRUPTION_STATUSES:
        raise Invalid.field("status", f"must be one of {', '.join(DISRUPTION_STATUSES)}")
    query = select(Disruption).order_by(Disruption.id.desc())
    if status is not None:
        query = query.where(Disruption.status == status)
    # Few rows, clinic lists in JSON: the wall and the clinic filter are applied here.
    rows = [d for d in db.session.scalars(query) if who.sees_any(d.clinic_ids or [None])
            and (clinic_id is None or clinic_id in (d.clinic_ids or []))]
    start = (page - 1) * page_size
    return Page(items=rows[start:start + page_size], total=len(rows), page=page,
                page_size=page_size)


def visible_changes(who: Principal, disruption: Disruption) -> list[dict]:
    """The changes a key may see (a key scoped to one clinic sees that clinic's patients)."""
    return [c for c in disruption.changes or []
            if who.sees(c["before"]["clinic_id"])]


# ---------------------------------------------------------------- proposing

def propose(who: Principal, data: dict) -> Disruption:
    who.require(CONFIGURE)
    return placement.retrying(lambda: _propose(who, data), "disruption proposal")


def _propose(who: Principal, data: dict) -> Disruption:
    db.session.info.pop("resource_names", None)  # names are read afresh for each proposal
    kind = data["kind"]
    start, end = data["start"], data["end"]
    if end <= start:
        raise Invalid.field("end", "must be after start")
    resource_clinics = _resource_clinics(who, kind, data)
    allow = sorted(set(data.get("allow_clinic_ids") or []))
    for clinic_id in allow:
        clinic = db.session.get(Clinic, clinic_id)
        if clinic is None or clinic.is_deleted or not who.sees(clinic_id):
            raise Invalid.field("allow_clinic_ids", f"clinic {clinic_id} does not exist")
    now = placement.lock_calendars(resource_clinics | set(allow))
    disruption = Disruption(
        kind=kind, status=PROPOSED, staff_id=data.get("staff_id"), room_id=data.get("room_id"),
        clinic_id=data.get("clinic_id"), starts_at=start, ends_at=end,
        reason=data.get("reason") or "", allow_clinic_ids=allow,
        hold_expires_at=now + timedelta(minutes=current_app.config["HOLD_MINUTES"]),
        created_by_key_id=who.api_key_id)
    affected = affected_appointments(disruption, now)
    # A shared person's other clinics are involved only where the absence hits a booking.
    involved = {c for c in resource_clinics if who.sees(c)} | {a.clinic_id for a in affected}
    _require_manager_of(who, involved)
    changes, solver = _replan(disruption, affected, now)
    # A session moved to an allowed clinic involves that clinic too.
    involved |= {c["after"]["clinic_id"] for c in changes if c["after"] is not None}
    _require_manager_of(who, involved)
    disruption.clinic_ids = sorted(involved)
    disruption.changes = changes
    disruption.summary = summarise(changes, solver)
    db.session.add(disruption)
    db.session.flush()
    _hold(disruption, changes)
    return disruption


def _resource_clinics(who: Principal, kind: str, data: dict) -> set[int]:
    """The clinics the absent person works at, or the closed room's or clinic's."""
    field = {STAFF_ABSENCE: "staff_id", ROOM_CLOSURE: "room_id", CLINIC_CLOSURE: "clinic_id"}[kind]
    for other in ("staff_id", "room_id", "clinic_id"):
        if other != field and data.get(other) is not None:
            raise Invalid.field(other, f"a {kind} names {field} only")
    resource_id = data.get(field)
    if resource_id is None:
        raise Invalid.field(field, f"required for {kind}")
    if kind == STAFF_ABSENCE:
        member = db.session.get(StaffMember, resource_id)
        clinics = set(member.clinic_ids) if member is not None and not member.is_deleted else set()
        if not clinics or not any(who.sees(c) for c in clinics):
            raise Invalid.field(field, f"staff member {resource_id} does not exist")
        return clinics
    if kind == ROOM_CLOSURE:
        room = db.session.get(Room, resource_id)
        if room is None or room.is_deleted or not who.sees(room.clinic_id):
            raise Invalid.field(field, f"room {resource_id} does not exist")
        return {room.clinic_id}
    clinic = db.session.get(Clinic, resource_id)
    if clinic is None or clinic.is_deleted or not who.sees(resource_id):
        raise Invalid.field(field, f"clinic {resource_id} does not exist")
    return {resource_id}


def _require_manager_of(who: Principal, clinic_ids) -> None:
    who.require(CONFIGURE)
    hidden = [c for c in clinic_ids if not who.sees(c)]
    if hidden:
        # The wall holds: which clinic is not said.
        raise Forbidden("this disruption touches appointments at a clinic this key may not "
                        "manage; an unscoped manager or admin must record it")


def affected_appointments(disruption: Disruption, now: datetime) -> list[Appointment]:
    """SPEC 8: every live appointment starting after now that uses the absent person, the
    closed room or the closed clinic during [start, end), or needs a prescriber on site whom
    the absence leaves without one. In time order, then by id."""
    start, end = disruption.starts_at, disruption.ends_at
    live = and_(Appointment.status.in_(LIVE), Appointment.starts_at > now)
    if disruption.kind in (STAFF_ABSENCE, ROOM_CLOSURE):
        rtype = "staff" if disruption.kind == STAFF_ABSENCE else "room"
        rid = disruption.staff_id if rtype == "staff" else disruption.room_id
        uses = select(Allocation.appointment_id).where(
            Allocation.resource_type == rtype, Allocation.resource_id == rid,
            Allocation.active.is_(True), Allocation.appointment_id.is_not(None),
            Allocation.starts_at < end, Allocation.ends_at > start)
        found = list(db.session.scalars(select(Appointment).where(live,
                                                                  Appointment.id.in_(uses))))
    else:
        found = list(db.session.scalars(select(Appointment).where(
            live, Appointment.clinic_id == disruption.clinic_id,
            Appointment.starts_at < end, Appointment.ends_at > start)))
    if disruption.kind == STAFF_ABSENCE:
        found += _left_without_prescriber(disruption, now, {a.id for a in found})
    return sorted(found, key=lambda a: (a.starts_at, a.id))


def _left_without_prescriber(disruption: Disruption, now: datetime,
                             known: set[int]) -> list[Appointment]:
    member = db.session.get(StaffMember, disruption.staff_id)
    if member is None or "prescriber" not in member.roles:
        return []
    out = []
    for clinic_id in sorted(member.clinic_ids):
        clinic = db.session.get(Clinic, clinic_id)
        candidates = [a for a in db.session.scalars(select(Appointment).where(
            Appointment.status.in_(LIVE), Appointment.starts_at > now,
            Appointment.clinic_id == clinic_id, Appointment.starts_at < disruption.ends_at,
            Appointment.ends_at > disruption.starts_at)) if a.id not in known]
        if not candidates:
            continue
        for appt in candidates:
            kinds = _pinned_kinds(appt)
            practice = snapshot.practice_for(
                clinic, kinds, patient_id=None, window_start=appt.starts_at - timedelta(days=1),
                window_end=appt.ends_at + timedelta(days=1),
                removed=_with_own(disruption, appt.starts_at, appt.ends_at))
            if not engine.prescriber_covered(practice, appt.session_kind, appt.starts_at):
                out.append(appt)
    return out


def _pinned_kinds(appt: Appointment):
    if appt.enrollment is not None:
        return rule_store.enrollment_rules(appt.enrollment)[1]
    return rule_store.known_session_kinds()


def _with_own(disruption: Disruption, window_start: datetime,
              window_end: datetime) -> snapshot.Removed:
    """What open proposals take away, plus this one (not stored yet)."""
    removed = snapshot.removed_by_proposals(window_start, window_end)
    period = engine.BusyInterval(disruption.starts_at, disruption.ends_at)
    if disruption.kind == STAFF_ABSENCE:
        removed.staff.setdefault(disruption.staff_id, []).append(period)
    elif disruption.kind == ROOM_CLOSURE:
        removed.rooms.setdefault(disruption.room_id, []).append(period)
    else:
        removed.clinics.setdefault(disruption.clinic_id, []).append(period)
    return removed


def _replan(disruption: Disruption, affected: list[Appointment], now: datetime) -> list[dict]:
    """One batch per clinic over every affected plan; the changes as SPEC 8 shows them."""
    by_clinic: dict[int, dict[int, list[Appointment]]] = defaultdict(lambda: defaultdict(list))
    orphans = []
    for appt in affected:
        if appt.enrollment is None:
            orphans.append(appt)
        else:
            by_clinic[appt.clinic_id][appt.enrollment_id].append(appt)
    changes = [_unplaceable(a, False, "it belongs to no plan the service can re-place")
               for a in orphans]
    solver = GREEDY
    # The batches run one clinic after the other; each sees the slots the earlier ones took
    # (in its own clinic, in shared staff's other clinics, in the clinics moved to), which
    # the stored calendar does not hold yet.
    taken: list[engine.Allocation] = []
    for clinic_id in sorted(by_clinic):
        found, answered, new = _replan_clinic(disruption, db.session.get(Clinic, clinic_id),
                                              by_clinic[clinic_id], now, tuple(taken))
        changes += found
        taken += new
        if answered == EXACT:
            solver = EXACT
    _assert_disjoint(taken)
    return sorted(changes, key=lambda c: (c["before"]["start"], c["appointment_id"])), solver


def _assert_disjoint(allocations: list[engine.Allocation]) -> None:
    """The proposal's new slots never overlap one another (PostgreSQL's exclusion constraint
    would refuse their holds; SQLite has only this check and the free check): a repair that
    breaks it is our bug, never written."""
    clashes = engine.held_twice((a, "the repair") for a in allocations)
    if clashes:
        raise RuntimeError(f"disruption repair double-booked: {clashes[:3]}")


def _replan_clinic(disruption: Disruption, clinic: Clinic,
                   plans: dict[int, list[Appointment]], now: datetime,
                   taken: tuple[engine.Allocation, ...] = ()):
    """One clinic's batch; its changes, which solver answered, and the new slots it takes."""
    jobs, rows_of, rules_of, orphans = [], {}, {}, []
    # Every plan's appointments and their allocations in two queries, not two per plan.
    db.session.scalars(select(Enrollment).where(Enrollment.id.in_(sorted(plans))).options(
        selectinload(Enrollment.appointments).selectinload(Appointment.allocations))).all()
    for enrollment_id in sorted(plans):
        enrollment = plans[enrollment_id][0].enrollment
        rules = rule_store.enrollment_rules(enrollment)
        movable = [a for a in enrollment.appointments if a.status in LIVE]
        kept = [a for a in enrollment.appointments if a.status in (CHECKED_IN, COMPLETED)]
        rows = placement.without_orphans(sorted(kept + movable, key=lambda a: a.starts_at))
        in_plan = {a.id for a in rows}
        orphans += [a for a in plans[enrollment_id] if a.id not in in_plan]
        affected_keys = frozenset(a.key for a in plans[enrollment_id] if a.id in in_plan)
        if not affected_keys:
            continue
        rows_of[enrollment_id], rules_of[enrollment_id] = rows, rules
        jobs.append((enrollment, rows, rules, affected_keys))
    changes = [_unplaceable(a, False, "it belongs to no plan the service can re-place")
               for a in orphans]
    if not jobs:
        return changes, GREEDY, []
    # Nothing is placed before now, so older bookings cannot matter. Forward, the bookings
    # within reach of the plans come first; a repair that reaches beyond them runs again over
    # the full lookahead, where no booking can hide.
    window_start = snapshot.local_midnight(now.date(), clinic.timezone) - timedelta(days=2)
    reach_end = max(r[-1].ends_at for _, r, _, _ in jobs) + timedelta(days=REPAIR_REACH_DAYS)
    full_end = max(reach_end, snapshot.plan_window(min(e.start_on for e, _, _, _ in jobs),
                                                   clinic.timezone)[1])
    kinds = {code: kind for _, _, (_, k), _ in jobs for code, kind in k.items()}
    for window_end in (reach_end, full_end):
        practice, engine_jobs, results = _repair_window(disruption, clinic, jobs, kinds, now,
                                                        window_start, window_end, taken)
        if all(s.end <= window_end for r in results for s in r.plan.sessions):
            break
    results, solver = _second_opinion(clinic, practice, engine_jobs, results, rules_of,
                                      rows_of, window_end)
    results = _elsewhere(disruption, clinic, practice, results, kinds, rows_of, window_start,
                         window_end, taken)
    for result in results:
        enrollment_id = result.job.plan_id
        protocol, pinned = rules_of[enrollment_id]
        proof.prove(protocol, pinned, result.plan.sessions, clinic, complete=False)
        moved = {key: db.session.get(Clinic, cid) for key, cid in result.clinics.items()
                 if cid != clinic.id}
        if moved:
            proof.prove_elsewhere(protocol, pinned, result.plan.sessions, moved)
        changes += _plan_changes(result, rows_of[enrollment_id], clinic)
    return changes, solver, _new_allocations(results)


def _new_allocations(results) -> list[engine.Allocation]:
    """The slots a repair's changed sessions take (their old ones are the plans' own rows)."""
    return [a for r in results for s in r.changed for a in s.allocations]


def _elsewhere(disruption: Disruption, clinic: Clinic, practice, results, kinds, rows_of,
               window_start: datetime, window_end: datetime,
               taken: tuple[engine.Allocation, ...] = ()):
    """SPEC 8: sessions that cannot stay in their clinic may move to one listed in
    ``allow_clinic_ids`` (the key may see it; the session may use it: certification, rooms,
    staff), which sees the batch's repaired plans as taken."""
    others = [db.session.get(Clinic, c) for c in disruption.allow_clinic_ids or []
              if c != clinic.id]
    if not others or not any(r.unplaceable for r in results):
        return results
    batch = tuple(a for r in results for a in r.plan.allocations()) + taken
    ignore = _own_ids(rows_of.values())
    patients = sorted({r.job.enrollment.patient_id for r in results})
    practices = []
    for other in others:
        there = snapshot.practice_for(
            other, kinds, patient_id=None, window_start=window_start, window_end=window_end,
            ignore_appointment_ids=ignore, removed=_with_own(disruption, window_start, window_end),
            patient_ids=patients)
        practices.append(dataclass_replace(there, bookings=tuple(there.bookings) + batch))
    return engine.place_elsewhere(results, practices, practice)


def _second_opinion(clinic: Clinic, practice, engine_jobs, greedy, rules_of, rows_of,
                    window_end):
    """SPEC 8's exact second opinion: when the greedy repair gave a session up or moved more
    sessions than it reassigned, CP-SAT repairs every plan jointly (bounded in time, hinted
    with the greedy answer); its answer is kept only if it is better and passes the proof by
    the evaluator, the engine's independent free check and a free check against the stored
    calendar. Otherwise the greedy answer stands. Returns the answer and which one it is."""
    seconds = current_app.config["DISRUPTION_EXACT_MS"] / 1000
    if seconds <= 0 or not engine.needs_second_opinion(greedy):
        return greedy, GREEDY
    settings = engine.ExactSettings(time_limit_seconds=seconds,
                                    num_workers=current_app.config["DISRUPTION_EXACT_WORKERS"])
    answer = engine.exact_repair(practice, engine_jobs, greedy, settings)
    log.info("disruption repair at clinic %s: %s answered (exact model %s, %d options, "
             "%.0f ms; greedy %s, exact %s)", clinic.id, answer.solver, answer.status,
             answer.options, answer.seconds * 1000, tuple(answer.greedy_cost),
             tuple(answer.exact_cost) if answer.exact_cost else None)
    if answer.solver != EXACT:
        return greedy, answer.solver
    problems = []
    for result in answer.results:
        protocol, pinned = rules_of[result.job.plan_id]
        problems += [v.message for v in proof.violations_of(
            protocol, pinned, result.plan.sessions, clinic, complete=False)]
        if any(s.end > window_end for s in result.plan.sessions):
            problems.append(f"plan {result.job.plan_id} reaches past the bookings read")
    if not problems:
        try:
            taken = _new_allocations(answer.results)
            ignore = sorted(_own_ids(rows_of.values()))
            for i in range(0, len(taken), 200):  # SQLite bounds an expression's depth
                placement.assert_free(taken[i:i + 200], ignore_appointment_ids=ignore)
        except placement.LostRace as exc:
            problems.append(str(exc))
    if problems:
        log.error("exact disruption repair at clinic %s failed its checks, the greedy answer "
                  "stands: %s", clinic.id, problems[:5])
        return greedy, GREEDY
    return answer.results, answer.solver


def _own_ids(plans_rows) -> frozenset[int]:
    """The ids of the batch's plans' own appointments (each plan's rows): a repair frees them
    as it moves them."""
    return frozenset(a.id for rows in plans_rows for a in rows)


def _repair_window(disruption, clinic, jobs, kinds, now, window_start, window_end, taken=()):
    practice = snapshot.practice_for(
        clinic, kinds, patient_id=None, window_start=window_start, window_end=window_end,
        ignore_appointment_ids=_own_ids(rows for _, rows, _, _ in jobs),
        removed=_with_own(disruption, window_start, window_end),
        patient_ids=sorted({e.patient_id for e, _, _, _ in jobs}))
    if taken:  # what earlier clinics' batches of this proposal took
        practice = dataclass_replace(practice, bookings=(*practice.bookings, *taken))
    engine_jobs = []
    for enrollment, rows, (protocol, pinned), affected_keys in jobs:
        engine_enrollment = placement.engine_enrollment(
            protocol, enrollment.patient_id, enrollment.start_on, enrollment.availability,
            enrollment.preferences, enrollment.horizon_end,
            snapshot.patient_busy(practice.bookings, enrollment.patient_id), not_before=now)
        plan = engine.Plan(tuple(snapshot.appointment_to_placed(a) for a in rows))
        engine_jobs.append(engine.RepairJob(enrollment.id, engine_enrollment, plan,
                                            affected_keys, kinds=pinned))
    return practice, engine_jobs, engine.repair_plans(practice, engine_jobs)


def _plan_changes(result: engine.RepairResult, rows: list[Appointment],
                  clinic: Clinic) -> list[dict]:
    by_key = {a.key: a for a in rows}
    affected = result.job.affected
    out = []
    for session in result.changed:
        appt = by_key[session.key]
        same_time = session.start == appt.starts_at and session.end == appt.ends_at \
            and result.clinics.get(session.key, clinic.id) == appt.clinic_id
        out.append({
            "appointment_id": appt.id, "enrollment_id": appt.enrollment_id,
            "patient_id": appt.patient_id,
            "outcome": REASSIGNED if same_time else MOVED,
            "cascade": session.key not in affected,
            "before": _shown(appt.starts_at, appt.ends_at, appt.clinic_id, appt.allocations),
            "after": _shown(session.start, session.end,
                            result.clinics.get(session.key, clinic.id), session.allocations),
            "explanation": None,
            "_sequence": appt.sequence,
            "_units": [_unit(a) for a in session.allocations],
        })
    gone = set(result.unplaceable)
    for key, explanation in result.unplaceable.items():
        appt = by_key[key]
        words = explanation.to_dict()
        out.append(_unplaceable(appt, key not in affected, words["message"], words))
    # A follow-up goes with its session (as when the desk cancels a dose).
    for appt in rows:
        if appt.parent_key in gone and appt.key not in gone and appt.status in LIVE:
            out.append(_unplaceable(appt, appt.key not in affected,
                                    "the session it follows up cannot be placed"))
    return out


def _unplaceable(appt: Appointment, cascade: bool, message: str,
                 data: dict | None = None) -> dict:
    return {
        "appointment_id": appt.id, "enrollment_id": appt.enrollment_id,
        "patient_id": appt.patient_id, "outcome": UNPLACEABLE, "cascade": cascade,
        "before": _shown(appt.starts_at, appt.ends_at, appt.clinic_id, appt.allocations),
        "after": None,
        "explanation": {**(data or {}), "reason": "no_move_fits",
                        "message": f"appointment {appt.id} cannot be re-placed: {message}"},
        "_sequence": appt.sequence, "_units": [],
    }


def _unit(a) -> dict:
    return {"resource_type": a.resource_type, "resource_id": a.resource_id, "unit": a.unit,
            "start": a.start.astimezone(UTC).isoformat(),
            "end": a.end.astimezone(UTC).isoformat()}


def _shown(start: datetime, end: datetime, clinic_id: int, allocations) -> dict:
    """An appointment's time and resources as the API shows them: one entry per room or person
    and span, with its name."""
    spans: dict[tuple, list] = {}
    for a in allocations:
        rtype = a.resource_type
        if rtype not in ("room", "staff"):
            continue
        s = getattr(a, "starts_at", None) or a.start
        e = getattr(a, "ends_at", None) or a.end
        spans.setdefault((rtype, a.resource_id), []).append((s, e))
    zone = ZoneInfo(db.session.get(Clinic, clinic_id).timezone)
    shown = []
    for (rtype, rid), pieces in sorted(spans.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for s, e in _merged(pieces):
            shown.append({"resource_type": rtype, "resource_id": rid,
                          "name": _name(rtype, rid),
                          "start": s.astimezone(zone).isoformat(),
                          "end": e.astimezone(zone).isoformat()})
    return {"start": start.astimezone(zone).isoformat(), "end": end.astimezone(zone).isoformat(),
            "clinic_id": clinic_id, "allocations": shown}


def _name(resource_type: str, resource_id: int) -> str | None:
    """A room's or person's name, read once per request (proposals name many of them)."""
    names = db.session.info.setdefault("resource_names", {})
    if not names:
        names.update({("room", i): n for i, n in db.session.execute(select(Room.id, Room.name))})
        names.update({("staff", i): n for i, n in
                      db.session.execute(select(StaffMember.id, StaffMember.name))})
    return names.get((resource_type, resource_id))


def _merged(pieces):
    out = []
    for s, e in sorted(pieces):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def summarise(changes: list[dict], solver: str | None = GREEDY) -> dict:
    """Counts by outcome, and which repair answered (``greedy``, or ``exact`` when the CP-SAT
    second opinion was better)."""
    counts = {REASSIGNED: 0, MOVED: 0, UNPLACEABLE: 0}
    for change in changes:
        counts[change["outcome"]] += 1
    return {"affected": sum(1 for c in changes if not c["cascade"]), **counts,
            "solver": solver or GREEDY}


def _hold(disruption: Disruption, changes: list[dict]) -> None:
    """Hold the new slots the proposal would take, except where the appointments it changes
    hold them already (their own old slots stay theirs until apply)."""
    old: dict[tuple, list[tuple[datetime, datetime]]] = defaultdict(list)
    for change in changes:
        appt = db.session.get(Appointment, change["appointment_id"])
        for a in appt.allocations:
            if a.active:
                old[(a.resource_type, a.resource_id, a.unit)].append((a.starts_at, a.ends_at))
    for change in changes:
        for unit in change["_units"]:
            key = (unit["resource_type"], unit["resource_id"], unit["unit"])
            pieces = [(datetime.fromisoformat(unit["start"]), datetime.fromisoformat(unit["end"]))]
            for s0, e0 in sorted(old.get(key, ())):
                pieces = [p for s, e in pieces for p in ((s, min(e, s0)), (max(s, e0), e))
                          if p[0] < p[1]]
            for s, e in pieces:
                db.session.add(Allocation(disruption_id=disruption.id, resource_type=key[0],
                                          resource_id=key[1], unit=key[2], starts_at=s,
                                          ends_at=e, active=True))
    db.session.flush()


# ---------------------------------------------------------------- apply, discard, expiry

def apply(who: Principal, disruption_id: int) -> Disruption:
    who.require(CONFIGURE)
    return placement.retrying(lambda: _apply(who, disruption_id), "disruption apply")


def _apply(who: Principal, disruption_id: int) -> Disruption:
    disruption = _locked_open(who, disruption_id, "applied")
    now = utcnow()
    if disruption.hold_expires_at is not None and disruption.hold_expires_at <= now:
        holds.release_disruption(disruption, EXPIRED, now)
        db.session.commit()
        raise Conflict(f"disruption {disruption_id} expired at "
                       f"{disruption.hold_expires_at.isoformat()}; propose it again",
                       details={"status": EXPIRED})
    rows = {}
    stale = []
    for change in disruption.changes:
        appt = db.session.scalar(select(Appointment).where(
            Appointment.id == change["appointment_id"]).with_for_update()
            .execution_options(populate_existing=True))
        rows[appt.id] = appt
        if appt.status not in LIVE or appt.sequence != change["_sequence"]:
            stale.append(appt.id)
    affected_now = {a.id for a in affected_appointments(disruption, now)}
    unseen = sorted(affected_now - set(rows))
    if stale or unseen:
        raise Conflict(f"disruption {disruption_id} is stale: appointments it would change "
                       "changed since it was proposed; discard it and propose it again",
                       details={"reason": "stale", "changed_appointment_ids": stale,
                                "new_affected_appointment_ids": unseen})
    actor = current_actor.get()
    with acting_as(Actor(f"{actor.label} (disruption {disruption.id})", actor.api_key_id)):
        for hold in list(disruption.holds):
            db.session.delete(hold)
        db.session.flush()
        _record_fact(disruption)
        # The unplaceable go first: the re-plan may give their old slots to others.
        for change in disruption.changes:
            if change["outcome"] == UNPLACEABLE:
                appt = rows[change["appointment_id"]]
                transition(appt, CANCELLED)
                appt.cancel_reason = CANCEL_REASON
        db.session.flush()
        moves = [c for c in disruption.changes if c["outcome"] != UNPLACEABLE]
        for change in moves:  # a session moved to an allowed clinic
            rows[change["appointment_id"]].clinic_id = change["after"]["clinic_id"]
        placement.store_moves([rows[c["appointment_id"]] for c in moves],
                              [_session(c) for c in moves])
        enrollments = {rows[c["appointment_id"]].enrollment for c in disruption.changes}
        for enrollment in sorted((e for e in enrollments if e is not None), key=lambda e: e.id):
            db.session.expire(enrollment, ["appointments"])
            protocol, kinds = rule_store.enrollment_rules(enrollment)
            judged = placement.without_orphans(sorted(
                [a for a in enrollment.appointments if a.status in LIVE + (CHECKED_IN, COMPLETED)],
                key=lambda a: a.starts_at))
            violations = proof.violations_of(
                protocol, kinds, [snapshot.appointment_to_placed(a) for a in judged],
                db.session.get(Clinic, enrollment.clinic_id), complete=False)
            if violations:
                raise Conflict(f"disruption {disruption_id} is stale: enrollment "
                               f"{enrollment.id} would break its rules; propose it again",
                               details={"reason": "stale",
                                        "violations": [v.message for v in violations]})
        disruption.status = APPLIED
        disruption.resolved_at = now
        disruption.hold_expires_at = None
        outbox.appointments_changed([rows[c["appointment_id"]] for c in moves],
                                    outbox.APPOINTMENT_UPDATED)
        outbox.emit(outbox.DISRUPTION_APPLIED, disruption.clinic_ids, _event_data(disruption),
                    ordering_key=f"disruption:{disruption.id}")
    return disruption


def _event_data(disruption: Disruption) -> dict:
    """What an integration needs to follow up: which appointments changed and how."""
    return {"id": disruption.id, "kind": disruption.kind, "status": disruption.status,
            "staff_id": disruption.staff_id, "room_id": disruption.room_id,
            "clinic_id": disruption.clinic_id, "clinic_ids": list(disruption.clinic_ids),
            "start": disruption.starts_at.isoformat(), "end": disruption.ends_at.isoformat(),
            "reason": disruption.reason, "summary": disruption.summary,
            "changes": [{"appointment_id": c["appointment_id"], "outcome": c["outcome"],
                         "cascade": c.get("cascade", False)} for c in disruption.changes]}


def _session(change: dict) -> engine.PlacedSession:
    after = change["after"]
    return engine.PlacedSession(
        key="", phase="", kind="", start=datetime.fromisoformat(after["start"]),
        end=datetime.fromisoformat(after["end"]),
        allocations=tuple(engine.Allocation(u["resource_type"], u["resource_id"], u["unit"],
                                            datetime.fromisoformat(u["start"]),
                                            datetime.fromisoformat(u["end"]))
                          for u in change["_units"]))


def _record_fact(disruption: Disruption) -> None:
    """The absence or closure itself: time off; whole local days as clinic closures, anything
    shorter (and every room closure) as a closed period."""
    period = {"start": disruption.starts_at.astimezone(UTC).isoformat(),
              "end": disruption.ends_at.astimezone(UTC).isoformat(),
              "reason": disruption.reason}
    if disruption.kind == STAFF_ABSENCE:
        db.session.add(TimeOff(staff_id=disruption.staff_id, start=disruption.starts_at,
                               end=disruption.ends_at, reason=disruption.reason))
    elif disruption.kind == ROOM_CLOSURE:
        room = db.session.get(Room, disruption.room_id)
        room.closed_periods = sorted([*(room.closed_periods or []), period],
                                     key=lambda p: p["start"])
    else:
        clinic = db.session.get(Clinic, disruption.clinic_id)
        days, rest = whole_local_days(disruption.starts_at, disruption.ends_at, clinic.timezone)
        clinic.closures = sorted(set(clinic.closures or []) | {d.isoformat() for d in days})
        clinic.closed_periods = sorted(
            [*(clinic.closed_periods or []),
             *({"start": s.astimezone(UTC).isoformat(), "end": e.astimezone(UTC).isoformat(),
                "reason": disruption.reason} for s, e in rest)], key=lambda p: p["start"])


def whole_local_days(start: datetime, end: datetime, tz: str
                     ) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """Split [start, end) into the clinic's whole local days and the pieces left over (a DST
    day is whole from its local midnight to the next, 23 or 25 hours)."""
    zone = ZoneInfo(tz)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    day = start.astimezone(zone).date()
    if midnight(day) < start:
        day += timedelta(days=1)
    days = []
    while midnight(day + timedelta(days=1)) <= end:
        days.append(day)
        day += timedelta(days=1)
    if not days:
        return [], [(start, end)]
    rest = [(s, e) for s, e in ((start, midnight(days[0])),
                                (midnight(days[-1] + timedelta(days=1)), end)) if s < e]
    return days, rest


def discard(who: Principal, disruption_id: int) -> Disruption:
    who.require(CONFIGURE)

    def work() -> Disruption:
        disruption = _locked_open(who, disruption_id, "discarded")
        holds.release_disruption(disruption, DISCARDED, utcnow())
        return disruption

    return placement.retrying(work, "disruption discard")


def _locked_open(who: Principal, disruption_id: int, verb: str) -> Disruption:
    get_disruption(who, disruption_id)
    disruption = db.session.scalar(select(Disruption).where(Disruption.id == disruption_id)
                                   .with_for_update().execution_options(populate_existing=True))
    _require_manager_of(who, disruption.clinic_ids or [])
    placement.lock_calendars(disruption.clinic_ids or [])
    db.session.refresh(disruption)  # freeing expired holds may have just released it
    if disruption.status == EXPIRED:
        db.session.commit()  # what the expiry job would record anyway
    if disruption.status != PROPOSED:
        raise Conflict(f"disruption {disruption_id} is {disruption.status}; only a proposed "
                       f"one can be {verb}", details={"status": disruption.status})
    return disruption
