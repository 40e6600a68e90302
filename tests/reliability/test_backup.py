"""`flask backup DEST`: a consistent copy of a live SQLite database taken while writes go on,
restored and checked (row counts, complete responses, `check-counts`); PostgreSQL is refused
with a pointer to pg_dump."""

import re
import shutil
import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select, text

from survey_app import create_app
from survey_app.extensions import db, dispose_engines
from survey_app.models import Answer, Response
from survey_app.services.counts import compare_answer_counts
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import submit_response
from tests.conftest import make_config
from tests.survey_app.payloads import counter_payload, quick_payload

WRITE_SECONDS = 15  # upper bound on the background writer


def payload_number(n: int) -> dict:
    """Alternate questionnaires so the copy holds responses of 1 and of 18 answers."""
    if n % 3 == 0:
        return counter_payload()
    return quick_payload(answers={"rating": 1, "reasons": [1, 3]} if n % 2 else {"rating": 3})


def expected_answers(payload: dict) -> int:
    return sum(len(v) if isinstance(v, list) else 1 for v in payload["answers"].values())


class Writer(threading.Thread):
    """Submits responses through the service, one commit each, until stopped."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app = app
        self.committed: dict[str, int] = {}  # id -> answers expected
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + WRITE_SECONDS
        n = 0
        try:
            with self.app.app_context():
                while not self.stop.is_set() and time.monotonic() < deadline:
                    payload = payload_number(n)
                    submit_response(payload, channel="web")
                    db.session.commit()
                    self.committed[payload["id"]] = expected_answers(payload)
                    n += 1
                db.session.remove()
        except BaseException as error:  # reported by the test
            self.error = error

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WRITE_SECONDS
        while len(self.committed) < count and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.005)


@pytest.fixture
def sqlite_only(backend):
    if backend != "sqlite":
        pytest.skip("the backup command copies SQLite databases; PostgreSQL has pg_dump")


def test_a_backup_taken_during_writes_restores_complete_and_consistent(
    app, tree, runner, sqlite_only, tmp_path
):
    db.session.remove()
    writer = Writer(app)
    writer.start()
    destination = tmp_path / "backups" / "survey-backup.db"
    destination.parent.mkdir()
    try:
        writer.wait_for(30)
        before = len(writer.committed)
        result = runner.invoke(args=["backup", str(destination)])
        during = len(writer.committed)
        writer.wait_for(during + 20)  # writes go on after the copy, unblocked
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, repr(writer.error)
    assert result.exit_code == 0, result.output
    reported = re.search(r"([\d,]+) responses, ([\d,]+) answers", result.output)
    assert reported, result.output
    after = len(writer.committed)
    assert after > during >= before >= 30, (before, during, after)

    # Restore as an operator would: copy the one file into place and point the app at it.
    restored = tmp_path / "restored" / "survey.db"
    restored.parent.mkdir()
    shutil.copy2(destination, restored)
    assert not list(restored.parent.glob("*-wal")), "a backup must be one self-contained file"
    with sqlite3.connect(restored) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)

    restored_app = create_app(make_config(f"sqlite:///{restored}"))
    with restored_app.app_context():
        responses = db.session.scalar(select(func.count()).select_from(Response))
        answers = db.session.scalar(select(func.count()).select_from(Answer))
        assert (f"{responses:,}", f"{answers:,}") == reported.groups()
        assert before <= responses <= during, "the copy is the database as of one moment"
        settle_pending()  # what the copy holds pending becomes answer rows, once
        per_response = dict(
            db.session.execute(
                select(Response.id, func.count(Answer.response_id))
                .outerjoin(Answer, Answer.response_id == Response.id)
                .group_by(Response.id)
            ).all()
        )
        # Writes commit in order, so the copy holds a prefix of them, each one complete.
        assert {str(k) for k in per_response} <= writer.committed.keys()
        assert all(
            n == writer.committed[str(response_id)] for response_id, n in per_response.items()
        )
        cells, differences = compare_answer_counts()
        assert differences == [] and cells > 0
        assert db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        check = restored_app.test_cli_runner().invoke(args=["check-counts"])
        assert check.exit_code == 0 and "agree" in check.output, check.output
        db.session.remove()
        dispose_engines()


def test_a_backup_never_overwrites_a_file(runner, sqlite_only, tmp_path):
    destination = tmp_path / "existing.db"
    destination.write_bytes(b"an older backup")
    result = runner.invoke(args=["backup", str(destination)])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert destination.read_bytes() == b"an older backup"


def test_a_backup_into_a_missing_folder_is_refused_clearly(runner, sqlite_only, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path / "nowhere" / "b.db")])
    assert result.exit_code != 0
    assert "does not exist" in result.output
    assert not (tmp_path / "nowhere").exists()


def test_postgresql_is_refused_with_a_pointer_to_pg_dump(runner, backend, database_url, tmp_path):
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    destination = tmp_path / "b.db"
    result = runner.invoke(args=["backup", str(destination)])
    assert result.exit_code != 0
    assert "pg_dump" in result.output and "pg_restore" in result.output
    assert "no backup was made" in result.output
    assert database_url not in result.output  # never print the URL (it may hold a password)
    assert not destination.exists()
