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
"""

import fcntl
import os
import threading
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

# The statements that make a transaction a writer (SQLite takes its write lock at the first).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
_TURN = "survey_write_turn"  # key of (descriptor, thread) in the DBAPI connection's info

_threads_holding: set[int] = set()


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
    def _give_back(_dbapi_connection, record) -> None:
        _release(record)

    @event.listens_for(engine.pool, "invalidate")
    def _give_back_on_invalidate(_dbapi_connection, record, _exception) -> None:
        _release(record)


def _release(record) -> None:
    held = record.info.pop(_TURN, None) if record is not None else None
    if held is not None:
        descriptor, thread = held
        _threads_holding.discard(thread)
        os.close(descriptor)  # closing the only descriptor releases the flock
