"""Who settles when: the background settler lets a burst of submissions through and settles in
the quiet after it (or once the oldest pending response has waited too long); live pages settle
only a short backlog and say what is still being added; annual figures settle everything."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Answer
from survey_app.services import rollup
from survey_app.services.figures import FigureBuilder, Filters
from survey_app.services.periods import period_of
from survey_app.services.rollup import pending_backlog, pending_count
from survey_app.services.submissions import submit_response
from survey_app.settler import Settler, settle_batch_size, time_to_settle
from survey_app.timeutil import utcnow
from tests.survey_app.payloads import quick_payload
from tests.survey_app.web.test_figures import sign_in

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
QUIET = timedelta(seconds=1)
MAX_DELAY = timedelta(seconds=30)


@pytest.mark.parametrize(
    ("oldest", "newest", "now", "settle"),
    [
        (None, None, T0, False),  # nothing pending
        (T0, T0, T0 + timedelta(seconds=0.5), False),  # a response just arrived: wait
        (T0, T0 + timedelta(seconds=9), T0 + timedelta(seconds=9.9), False),  # a burst goes on
        (T0, T0 + timedelta(seconds=9), T0 + timedelta(seconds=10), True),  # quiet for 1 s
        (T0, T0 + timedelta(seconds=29.5), T0 + timedelta(seconds=29.9), False),
        (T0, T0 + timedelta(seconds=29.9), T0 + timedelta(seconds=30), True),  # waited 30 s
    ],
)
def test_time_to_settle(oldest, newest, now, settle):
    assert time_to_settle(oldest, newest, now, quiet=QUIET, max_delay=MAX_DELAY) is settle


def test_settling_batches_are_short_on_sqlite_and_longer_on_postgresql(app, backend):
    """SQLite's one write lock is held for a batch; PostgreSQL's settlers block no submission."""
    assert settle_batch_size(app) == {"sqlite": 50, "postgresql": 500}[backend]
    app.config["SETTLE_BATCH_SIZE"] = 7  # one number applies to every database
    assert settle_batch_size(app) == 7


def submit_quick(n: int, unit="P-W1", rating=3) -> list[uuid.UUID]:
    ids = [
        submit_response(
            quick_payload(unit=unit, answers={"rating": rating}), channel="web"
        ).response_id
        for _ in range(n)
    ]
    db.session.commit()
    return ids


def test_the_backlog_says_how_many_and_since_when(app, tree):
    assert pending_backlog() == rollup.Backlog(0, None, None)
    before = utcnow()
    submit_quick(3)
    after = utcnow()

    backlog = pending_backlog()

    assert backlog.count == 3
    assert before <= backlog.oldest <= backlog.newest <= after


def test_the_settler_waits_while_responses_keep_arriving(app, tree):
    submit_quick(4)
    settler = Settler(app, interval=1)
    settler.quiet, settler.max_delay = timedelta(seconds=60), timedelta(seconds=120)

    assert settler.settle_one_batch() == 0
    assert pending_count() == 4

    settler.quiet = timedelta(0)  # the burst is over
    assert settler.settle_one_batch() == 4
    assert pending_count() == 0
    assert db.session.scalar(select(func.count(func.distinct(Answer.response_id)))) == 4


def test_the_settler_settles_a_backlog_that_waited_too_long_even_under_load(app, tree):
    submit_quick(2)
    settler = Settler(app, interval=1)
    settler.quiet, settler.max_delay = timedelta(seconds=60), timedelta(0)

    assert settler.settle_one_batch() == 2
    assert pending_count() == 0


def test_a_live_page_settles_a_short_backlog_itself(client, tree):
    submit_quick(5)
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])

    body = client.get(
        "/api/v1/figures", query_string={"questionnaire": "quick-rating", "period": "today"}
    ).json

    assert body["pending"] == {"responses": 0, "received_since": None}
    assert body["units"][0]["headline"]["n"] == 5
    assert pending_count() == 0


def test_a_live_page_leaves_a_long_backlog_to_the_settlers_and_says_so(client, tree, monkeypatch):
    submit_quick(5)
    monkeypatch.setattr(rollup, "LIVE_READER_SETTLE_LIMIT", 3)
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])
    oldest = pending_backlog().oldest
    query = {"questionnaire": "quick-rating", "period": "today"}

    body = client.get("/api/v1/figures", query_string=query).json
    page = client.get(f"/staff/units/{tree.ward.id}", query_string=query).get_data(as_text=True)
    english = client.get(
        f"/staff/units/{tree.ward.id}", query_string={**query, "lang": "en"}
    ).get_data(as_text=True)

    assert pending_count() == 5  # nothing settled by the readers
    assert body["pending"]["responses"] == 5
    assert datetime.fromisoformat(body["pending"]["received_since"]) == oldest
    assert body["units"][0]["headline"]["n"] == 0  # not in the figures yet, and said so
    assert 'data-pending="5"' in page
    assert "Đang cập nhật: 5 phiếu nhận từ" in page
    assert "5 responses received since" in english


def test_annual_figures_settle_every_response_first(app, tree, monkeypatch):
    submit_quick(5, rating=3)
    monkeypatch.setattr(rollup, "LIVE_READER_SETTLE_LIMIT", 3)
    filters = Filters("quick-rating", period_of("year", utcnow().date()), min_n=1)

    live = FigureBuilder([tree.ward], filters, live=True)
    assert live.unsettled.count == 5
    assert live.for_unit(tree.ward).headline.n == 0

    complete = FigureBuilder([tree.ward], filters)
    assert complete.unsettled.count == 0
    assert complete.for_unit(tree.ward).headline.n == 5
    assert pending_count() == 0
