"""Consistent copies of a live SQLite database, taken with SQLite's online backup API.

PostgreSQL is backed up with its own tools (pg_dump, or a base backup with WAL archiving): this
module refuses it and says so, rather than copying files that are not a consistent snapshot.
"""

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from survey_app.errors import DomainError
from survey_app.extensions import db

log = logging.getLogger(__name__)


class BackupRefused(DomainError):
    """This database cannot (or should not) be backed up by this command; the message says how."""


PG_DUMP_ADVICE = (
    "this is a PostgreSQL database: back it up with PostgreSQL's own tools, e.g. "
    '`pg_dump --format=custom --file=survey-$(date +%F).dump "$PGURL"` (a libpq URL: '
    "DATABASE_URL without the '+psycopg' driver part), and restore it with `pg_restore`. "
    "See the README, section Backups."
)


@dataclass(frozen=True)
class BackupSummary:
    destination: Path
    size_bytes: int
    responses: int
    answers: int


def backup_sqlite_database(destination: Path) -> BackupSummary:
    """Copy the app's SQLite database to `destination` while it stays in use.

    One read transaction copies every page (`sqlite3.Connection.backup` with pages=-1), so the
    copy is the database as of one commit: writers go on meanwhile (WAL mode), and their later
    commits are simply not in the copy. The copy is written next to `destination` under a
    temporary name, checked with `PRAGMA integrity_check`, switched to a self-contained rollback
    journal (no -wal file to carry along), fsynced, then renamed into place, so `destination`
    is either absent or a complete backup. Returns what the copy holds.

    Raises BackupRefused for a database that is not SQLite (use pg_dump) or when `destination`
    already exists (a backup never overwrites another one).
    """
    engine = db.engine
    if engine.dialect.name != "sqlite":
        raise BackupRefused(PG_DUMP_ADVICE)
    destination = Path(destination)
    if destination.exists():
        raise BackupRefused(f"{destination} already exists; choose a new file name")
    if not destination.parent.is_dir():
        raise BackupRefused(f"the folder {destination.parent} does not exist")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)

    raw = engine.raw_connection()  # a pooled connection: WAL mode and the busy timeout are set
    try:
        target = sqlite3.connect(partial)
        try:
            raw.driver_connection.backup(target, pages=-1)
            checked = target.execute("PRAGMA integrity_check").fetchall()
            if checked != [("ok",)]:
                raise BackupRefused(f"the copy failed its integrity check: {checked[:5]}")
            target.execute("PRAGMA journal_mode=DELETE")
            responses = target.execute("SELECT count(*) FROM responses").fetchone()[0]
            answers = target.execute("SELECT count(*) FROM answers").fetchone()[0]
        finally:
            target.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        raw.close()

    with partial.open("rb") as copy:
        os.fsync(copy.fileno())
    os.replace(partial, destination)
    _fsync_folder(destination.parent)
    size = destination.stat().st_size
    log.info("database backed up responses=%s size=%s", responses, size)
    return BackupSummary(destination, size, responses, answers)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
