"""Bookkeeping for background jobs: one row per job, overwritten by each run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

JOB_OUTCOMES = ("running", "ok", "error")


class JobRun(db.Model):
    """What ``GET /jobs`` shows: the last run of each job and when the next one is due.

    One row per job rather than a history: the audit question "did the hold expiry run?" needs
    only the latest run, and the table never grows.
    """

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(
            f"outcome IS NULL OR outcome IN ({', '.join(repr(o) for o in JOB_OUTCOMES)})",
            name="ck_job_runs_outcome"),
    )

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(10))
    message: Mapped[str | None] = mapped_column(Text)
    # How many rows the last successful run changed (0 on a run that found nothing to do).
    last_result: Mapped[int | None] = mapped_column()
    runner: Mapped[str | None] = mapped_column(String(200))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
