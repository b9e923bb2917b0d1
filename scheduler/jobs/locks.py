"""PostgreSQL advisory locks, each held on a dedicated connection for as long as it is needed.

Session-level (not transaction-level) locks, on an autocommit connection: the lock lives exactly
as long as the connection, so a process that dies releases it with its socket, and the holder
never sits "idle in transaction". Keys are two 32-bit integers: our namespace and a fixed id
(0 is the scheduler election, jobs use their ``lock_id``). SQLite has no such locks and no
second machine: there every lock is granted (the laptop runs one scheduler).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

NAMESPACE = 0x52474D4E  # "RGMN": keeps our keys apart from other users of the database
ELECTION_LOCK_ID = 0


class AdvisoryLock:
    """One lock key on its own connection: ``acquire()`` never waits; ``release()`` frees it."""

    def __init__(self, engine: Engine, lock_id: int):
        self.engine, self.lock_id = engine, lock_id
        self.enabled = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._held = False

    def _params(self) -> dict:
        return {"ns": NAMESPACE, "id": self.lock_id}

    def acquire(self) -> bool:
        if not self.enabled:
            self._held = True
            return True
        if self._held:
            return True
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"),
                               self._params()).scalar()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn, self._held = conn, True
        return True

    def held(self) -> bool:
        """Ask the server: a dropped connection (restart, network) silently loses the lock."""
        if not self.enabled or not self._held:
            return self._held
        try:
            return bool(self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :ns AND objid = :id AND pid = pg_backend_pid()"),
                self._params()).scalar())
        except Exception:
            log.warning("lost the connection holding advisory lock %s", self.lock_id)
            return False

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), self._params())
        except Exception:
            # The lock died with the connection; make sure the pool does not reuse it.
            conn.invalidate()
        finally:
            conn.close()


@contextlib.contextmanager
def try_lock(engine: Engine, lock_id: int) -> Iterator[bool]:
    """``with try_lock(engine, 3) as got:`` — ``got`` is False when someone else holds it."""
    lock = AdvisoryLock(engine, lock_id)
    got = lock.acquire()
    try:
        yield got
    finally:
        if got:
            lock.release()
