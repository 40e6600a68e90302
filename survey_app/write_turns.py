"""Writers to one SQLite file take turns in a queue: a blocking file lock (`flock`) beside the
database, taken before a connection's first write in a transaction and given back when the
connection returns to the pool (after its commit or rollback).

Why: SQLite's own write lock has no queue. A writer that finds it taken sleeps in its busy
handler (1, 2, 5, … 100 ms) and tries again, so under a burst of kiosks a submission can wait
hundreds of milliseconds while the lock sits free between its sleeps (p99 580 ms at 32 clients,
benchmarks/README.md). The kernel wakes the next `flock` waiter the moment the lock is released.
Every process and thread opens its own descriptor, so they all queue alike. SQLite's lock still
guards the data; this only decides who asks for it next. PostgreSQL needs none of this.

A thread that already holds a turn through one connection does not queue again for another (it
would wait for itself); that second connection meets SQLite's busy handler, as before.

A transaction that writes much (a settling batch) checkpoints the WAL after its turn is given
back, not in its commit: SQLite's automatic checkpoint runs inside the commit of the transaction
that takes the WAL past 1,000 pages, while that writer still holds its turn and everyone else
waits. At 1,000,000 responses that was ~25 ms of a ~95 ms settling batch (benchmarks/README.md).
"""

import fcntl
import logging
import os
import sqlite3
import threading
import weakref
from pathlib import Path

from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine

# The statements that make a transaction a writer (SQLite takes its write lock at the first).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
_TURN = "survey_write_turn"  # key of (descriptor, thread) in the DBAPI connection's info
# Key of the connection's own wal_autocheckpoint, while a checkpoint waits for its turn's end.
_CHECKPOINT_AFTER = "survey_checkpoint_after_turn"

log = logging.getLogger(__name__)

_threads_holding: set[int] = set()
_queued_engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def lock_path(database: str | None) -> Path | None:
    """The lock file of a SQLite database file (None for an in-memory database)."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(f"{database}.write-lock")


def install(engine: Engine) -> None:
    """Queue `engine`'s writers (a SQLite file; other engines are left alone)."""
    if engine.dialect.name != "sqlite":
        return
    path = lock_path(engine.url.database)
    if path is None:
        return

    @event.listens_for(engine, "before_cursor_execute")
    def _take_turn(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
        thread = threading.get_ident()
        if _TURN in connection.info or thread in _threads_holding:
            return
        if not statement.lstrip()[:15].upper().startswith(_WRITES):
            return
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except BaseException:
            os.close(descriptor)
            raise
        connection.info[_TURN] = (descriptor, thread)
        _threads_holding.add(thread)

    @event.listens_for(engine.pool, "checkin")
    def _give_back(dbapi_connection, record) -> None:
        _release(record)
        _checkpoint_if_asked(dbapi_connection, record)

    @event.listens_for(engine.pool, "invalidate")
    def _give_back_on_invalidate(_dbapi_connection, record, _exception) -> None:
        _release(record)
        if record is not None:
            record.info.pop(_CHECKPOINT_AFTER, None)  # the connection is being discarded

    _queued_engines.add(engine)


def checkpoint_after_turn(connection: Connection) -> None:
    """Checkpoint the WAL when `connection`'s turn is given back (at its return to the pool)
    instead of in its commit. For transactions that write much; a no-op where writers do not
    queue (PostgreSQL, in-memory SQLite)."""
    if connection.engine not in _queued_engines or _CHECKPOINT_AFTER in connection.info:
        return
    sqlite = connection.connection.driver_connection
    (own_setting,) = sqlite.execute("PRAGMA wal_autocheckpoint").fetchone()
    sqlite.execute("PRAGMA wal_autocheckpoint=0")
    connection.info[_CHECKPOINT_AFTER] = own_setting


def _checkpoint_if_asked(dbapi_connection, record) -> None:
    own_setting = record.info.pop(_CHECKPOINT_AFTER, None) if record is not None else None
    if own_setting is None:
        return
    # After the commit: a failure here loses nothing (the WAL keeps every frame, and the next
    # checkpoint copies them), so it is logged, not raised into the caller's commit. PASSIVE:
    # copies what it can without waiting for readers or writers; then the connection's own
    # automatic checkpoints again, whatever became of this one.
    for statement in (
        "PRAGMA wal_checkpoint(PASSIVE)",
        f"PRAGMA wal_autocheckpoint={int(own_setting)}",
    ):
        try:
            dbapi_connection.execute(statement).fetchall()
        except sqlite3.Error:
            log.warning(
                "WAL checkpoint after a write turn failed at %r; SQLite will retry",
                statement,
                exc_info=True,
            )


def _release(record) -> None:
    held = record.info.pop(_TURN, None) if record is not None else None
    if held is not None:
        descriptor, thread = held
        _threads_holding.discard(thread)
        os.close(descriptor)  # closing the only descriptor releases the flock
