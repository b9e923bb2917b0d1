from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .mixins import Timestamped
from .types import JSONDoc, UTCDateTime, utcnow


class SessionKindRecord(Timestamped, db.Model):
    """A session kind as a manager wrote it (SPEC shape in ``body``); ``PUT`` bumps ``version``."""

    __tablename__ = "session_kinds"
    __audited__ = True

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    body: Mapped[dict] = mapped_column(JSONDoc)


class ProtocolRecord(Timestamped, db.Model):
    __tablename__ = "protocols"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(default=1)

    versions = relationship(
        "ProtocolVersion", back_populates="protocol", order_by="ProtocolVersion.version",
        lazy="raise_on_sql",
    )


class ProtocolVersion(db.Model):
    """An immutable version of a protocol, with the session kinds it used frozen beside it.

    Enrollments pin a version, so editing a protocol or a session kind later never changes the
    rules an existing plan was placed under.
    """

    __tablename__ = "protocol_versions"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("protocol_id", "version", name="uq_protocol_versions_protocol_version"),
        CheckConstraint("version >= 1", name="ck_protocol_versions_version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_id: Mapped[int] = mapped_column(ForeignKey("protocols.id"), index=True)
    version: Mapped[int] = mapped_column()
    body: Mapped[dict] = mapped_column(JSONDoc)
    session_kinds: Mapped[dict] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))

    protocol = relationship("ProtocolRecord", back_populates="versions")
