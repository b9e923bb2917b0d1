"""Capacity releases: the per-clinic marker that tells the waitlist matcher time was freed.

Whatever frees capacity (a cancellation, an expired hold or offer, a declined offer, a new room
or shift; a discarded or applied disruption) calls ``capacity_released`` inside its own
transaction. The marker commits with the release or not at all, so the matching job
(``match_waitlist``, every few seconds) never misses a release and never acts on one that rolled
back, and the releasing request stays as fast as it was: the matching runs off its path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..models import CapacityRelease
from ..models.types import utcnow


def capacity_released(clinic_id: int, now: datetime | None = None) -> None:
    """Record that capacity at ``clinic_id`` was freed: matching is due there.

    The one function every releasing path calls (disruption discard/apply included).
    """
    now = now or utcnow()
    table = CapacityRelease.__table__
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(clinic_id=clinic_id, generation=1, matched_generation=0,
                                     released_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.clinic_id],
        set_={"generation": table.c.generation + 1, "released_at": now})
    db.session.execute(statement)


def generation(clinic_id: int) -> int:
    """The clinic's release count so far (0: never released), as this transaction sees it."""
    return db.session.scalar(select(CapacityRelease.generation)
                             .where(CapacityRelease.clinic_id == clinic_id)) or 0


def pending() -> list[tuple[int, int]]:
    """(clinic_id, generation) of every clinic released since its last matching."""
    return list(db.session.execute(
        select(CapacityRelease.clinic_id, CapacityRelease.generation)
        .where(CapacityRelease.generation > CapacityRelease.matched_generation)
        .order_by(CapacityRelease.released_at)).tuples())


def matched(clinic_id: int, up_to: int) -> None:
    """Matching has seen every release up to generation ``up_to`` (later ones stay pending)."""
    db.session.execute(update(CapacityRelease)
                       .where(CapacityRelease.clinic_id == clinic_id,
                              CapacityRelease.matched_generation < up_to)
                       .values(matched_generation=up_to))
