"""Unit of work: one service call, one transaction, all or nothing."""

from __future__ import annotations

import contextlib

from sqlalchemy import select

from ..extensions import db
from ..models import Clinic


@contextlib.contextmanager
def atomic():
    """Commit when the block succeeds; roll back everything it wrote when it raises."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def lock_clinic_calendar(clinic_id: int) -> None:
    """Serialise everything that places into or reshapes one clinic's calendar.

    PostgreSQL row lock on the clinic (SQLite already runs one writer at a time). Two
    placements reading the same calendar would pick the same free slots and one would lose at
    the exclusion constraint after waiting for the other; a configuration edit could strand a
    plan being placed. The constraint still guards what this lock cannot see (a nurse shared
    with another clinic), and such a loss is retried.
    """
    db.session.execute(select(Clinic.id).where(Clinic.id == clinic_id).with_for_update())
