"""Connection behaviour that makes the database, not the code, the last line of defence.

SQLite's driver by default starts transactions lazily (deferred), so two "check then insert"
transactions can both pass their check. We take the write lock at BEGIN (``BEGIN IMMEDIATE``),
which serialises writers, and use WAL plus a busy timeout so readers are not blocked and writers
queue instead of failing. PostgreSQL needs nothing here: exclusion constraints and row locks do
the work there.
"""

from __future__ import annotations

import sqlite3
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

SQLITE_BUSY_TIMEOUT_MS = 30_000

# Set for requests that only read (GET, HEAD): their transactions begin DEFERRED, so readers do
# not queue behind writers for the write lock they will never take (WAL gives them a snapshot).
read_only_request: ContextVar[bool] = ContextVar("read_only_request", default=False)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy (below) issue BEGIN itself instead of the driver's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN" if read_only_request.get() else "BEGIN IMMEDIATE")


def mark_request_read_only(method: str):
    """Called at the start of each request; returns the token to reset it at the end."""
    return read_only_request.set(method in ("GET", "HEAD", "OPTIONS"))
