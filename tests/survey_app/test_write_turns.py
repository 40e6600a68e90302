"""Writers to one SQLite file queue for a file lock (survey_app/write_turns.py) instead of
polling SQLite's busy handler: a writer that arrives while another holds the lock waits for it,
however long, and readers never wait."""

import fcntl
import logging
import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from survey_app import write_turns

BUSY_TIMEOUT_SECONDS = 0.05  # SQLite gives up this soon; the holder keeps the lock far longer
HOLD_SECONDS = 0.4


def _engine(path, *, queued: bool):
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
    if queued:
        write_turns.install(engine)
    return engine


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "turns.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.exec_driver_sql("CREATE TABLE submissions (id INTEGER PRIMARY KEY, who TEXT)")
    engine.dispose()
    return path


def _hold_the_write_lock(engine, holding: threading.Event, release: threading.Event, log: list):
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO submissions (who) VALUES ('first')"))
        holding.set()
        release.wait(10)
        connection.commit()
        log.append("first committed")


def _second_writer(engine, log: list, attempting: threading.Event | None = None) -> None:
    try:
        with engine.connect() as connection:
            if attempting is not None:
                attempting.set()
            connection.execute(text("INSERT INTO submissions (who) VALUES ('second')"))
            connection.commit()
            log.append("second committed")
    except OperationalError as error:
        log.append(f"second failed: {error.orig}")


def _race(path, *, queued: bool) -> list[str]:
    """Two engines (as two server processes would have): the second writes while the first
    holds SQLite's write lock for longer than the busy timeout."""
    first, second = _engine(path, queued=queued), _engine(path, queued=queued)
    holding, release, log = threading.Event(), threading.Event(), []
    holder = threading.Thread(target=_hold_the_write_lock, args=(first, holding, release, log))
    holder.start()
    assert holding.wait(10)
    attempting = threading.Event()
    writer = threading.Thread(target=_second_writer, args=(second, log, attempting))
    writer.start()
    assert attempting.wait(10)
    time.sleep(HOLD_SECONDS)  # far past the second writer's busy timeout
    log.append("first released")
    release.set()
    holder.join(10)
    writer.join(10)
    first.dispose()
    second.dispose()
    return log


def test_a_queued_writer_waits_for_its_turn_instead_of_failing(database) -> None:
    log = _race(database, queued=True)
    assert log == ["first released", "first committed", "second committed"]
    with _engine(database, queued=False).connect() as connection:
        who = connection.execute(text("SELECT who FROM submissions ORDER BY id")).scalars().all()
    assert who == ["first", "second"]


def test_without_the_queue_sqlite_gives_up_after_its_busy_timeout(database) -> None:
    """The control: the same race without write_turns fails, so the test above can fail."""
    log = _race(database, queued=False)
    assert log[0].startswith("second failed: database is locked")


def test_readers_do_not_queue(database) -> None:
    first, second = _engine(database, queued=True), _engine(database, queued=True)
    holding, release, log = threading.Event(), threading.Event(), []
    holder = threading.Thread(target=_hold_the_write_lock, args=(first, holding, release, log))
    holder.start()
    assert holding.wait(10)
    try:
        with second.connect() as connection:  # answers while the first writer holds its turn
            counted = connection.execute(text("SELECT count(*) FROM submissions")).scalar_one()
        assert counted == 0 and log == []
    finally:
        release.set()
        holder.join(10)
    assert log == ["first committed"]
    first.dispose()
    second.dispose()


def test_a_turn_is_given_back_when_a_rolled_back_connection_returns_to_the_pool(database) -> None:
    engine = _engine(database, queued=True)
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO submissions (who) VALUES ('undone')"))
        connection.rollback()
    log: list[str] = []
    writer = threading.Thread(target=_second_writer, args=(_engine(database, queued=True), log))
    writer.start()
    writer.join(10)  # a turn never given back would keep it waiting for ever
    assert log == ["second committed"]
    engine.dispose()


def _turn_is_free(path) -> bool:
    descriptor = os.open(write_turns.lock_path(str(path)), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # also gives back what this probe took
    return True


def test_a_writer_that_asks_checkpoints_after_giving_back_its_turn(database) -> None:
    """A settling batch's checkpoint runs once its turn is free, not inside its commit (SQLite's
    automatic checkpoint, which the connection has off meanwhile) with everyone waiting."""
    engine = _engine(database, queued=True)
    checkpoints: list[tuple[str, bool]] = []
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO submissions (who) VALUES ('settler')"))
        write_turns.checkpoint_after_turn(connection)
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        sqlite = connection.connection.driver_connection
        sqlite.set_trace_callback(
            lambda statement: (
                checkpoints.append((statement, _turn_is_free(database)))
                if "wal_checkpoint(" in statement
                else None
            )
        )
        assert not _turn_is_free(database)  # held: the transaction has written
        connection.commit()
    assert checkpoints == [("PRAGMA wal_checkpoint(PASSIVE)", True)]
    assert sqlite.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)  # its own again

    with engine.connect() as connection:  # the next writer on that connection did not ask
        connection.execute(text("INSERT INTO submissions (who) VALUES ('kiosk')"))
        connection.commit()
    assert len(checkpoints) == 1
    engine.dispose()


def test_a_failed_checkpoint_is_logged_and_loses_nothing(database, caplog) -> None:
    """The checkpoint comes after the commit: its failure must not turn a stored batch into an
    error for the caller, nor leave the connection without automatic checkpoints."""
    engine = _engine(database, queued=True)
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO submissions (who) VALUES ('settler')"))
        write_turns.checkpoint_after_turn(connection)
        sqlite = connection.connection.driver_connection
        sqlite.set_authorizer(
            lambda action, name, *_: (
                sqlite3.SQLITE_DENY
                if action == sqlite3.SQLITE_PRAGMA and name == "wal_checkpoint"
                else sqlite3.SQLITE_OK
            )
        )
        with caplog.at_level(logging.WARNING, logger="survey_app.write_turns"):
            connection.commit()
            connection.close()
    assert "WAL checkpoint after a write turn failed" in caplog.text
    sqlite.set_authorizer(None)
    assert sqlite.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    with _engine(database, queued=False).connect() as reader:
        stored = reader.execute(text("SELECT who FROM submissions")).scalars().all()
    assert stored == ["settler"]
    engine.dispose()


def test_only_sqlite_files_have_a_lock_file(tmp_path) -> None:
    assert write_turns.lock_path(str(tmp_path / "survey.db")) == tmp_path / "survey.db.write-lock"
    assert write_turns.lock_path(":memory:") is None
    assert write_turns.lock_path("") is None
