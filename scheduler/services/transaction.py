"""Unit of work: one service call, one transaction, all or nothing."""

from __future__ import annotations

import contextlib

from ..extensions import db


@contextlib.contextmanager
def atomic():
    """Commit when the block succeeds; roll back everything it wrote when it raises."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
