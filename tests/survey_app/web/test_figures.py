"""Dashboard and figures API: every number checked against analytics computed independently from
the stored responses (raw rows → compose_index / proportion_ci), and nothing outside scope."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select

from analytics import IndexGrouping, compose_index, proportion_ci
from survey_app.extensions import db
from survey_app.models import Answer, AnswerCount, Response, Unit
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.questionnaires import get_current_questionnaire, grouping_of
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import submit_response
from survey_app.timeutil import utcnow

PASSWORD = "correct horse battery"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def today():
    return utcnow().astimezone(ZONE).date()


def submit_counter_forms(
    unit_code,
    counter_code,
    how_many,
    *,
    rng,
    level,
    days_ago=(0, 1),
    channel="web",
    entered_by="citizen",
):
    _, definition = get_current_questionnaire("sipas-counter")
    items = grouping_of(definition).items
    for _ in range(how_many):
        answers = {}
        for item in items:
            if rng.random() < 0.93:
                answers[item] = (
                    rng.choice([4, 5]) if rng.random() < level else rng.choice([1, 2, 3])
                )
        answers["overall"] = 4
        moment = datetime.now(UTC) - timedelta(
            days=rng.choice(days_ago), minutes=rng.randint(1, 60)
        )
        submit_response(
            {
                "id": str(uuid.uuid4()),
                "questionnaire": "sipas-counter",
                "version": 1,
                "unit": unit_code,
                "counter": counter_code,
                "submitted_at": moment.isoformat(),
                "channel": channel,
                "answers": answers,
            },
            channel=channel,
            entered_by=entered_by,
            queued_offline=True,  # months of history: only a queueing channel may backdate
        )
    settle_as_the_background_settler_would()


def submit_quick(unit_code, counter_code, ratings):
    for rating in ratings:
        submit_response(
            {
                "id": str(uuid.uuid4()),
                "questionnaire": "quick-rating",
                "version": 1,
                "unit": unit_code,
                "counter": counter_code,
                "answers": {"rating": rating},
            },
            channel="web",
        )
    settle_as_the_background_settler_would()


def settle_as_the_background_settler_would() -> None:
    """Commit, then settle: a live page settles only a short backlog itself (rollup.
    LIVE_READER_SETTLE_LIMIT), and these tests check figures, not who settles when."""
    db.session.commit()
    settle_pending()
    db.session.commit()


def sign_in(client, username, *, scopes=(), admin=False):
    account = create_account(username, PASSWORD, display_name=username, is_administrator=admin)
    for unit, role in scopes:
        add_scope(account, unit, role)
    db.session.commit()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def independent_index(unit: Unit, start, end, *, entered_by=("citizen",)):
    """compose_index over raw rows of the unit's subtree (a different path from the moments)."""
    questionnaire, definition = get_current_questionnaire("sipas-counter")
    grouping: IndexGrouping = grouping_of(definition)
    items = list(grouping.items)
    subtree = [
        u.id for u in db.session.scalars(select(Unit).where(Unit.path.startswith(unit.path)))
    ]
    ids = list(
        db.session.scalars(
            select(Response.id).where(
                Response.unit_id.in_(subtree),
                Response.local_day.between(start, end),
                Response.questionnaire_id == questionnaire.id,
                Response.entered_by.in_(entered_by),
            )
        )
    )
    matrix = np.full((len(ids), len(items)), np.nan)
    row_of = {rid: i for i, rid in enumerate(ids)}
    for rid, key, value in db.session.execute(
        select(Answer.response_id, Answer.question_key, Answer.value).where(
            Answer.response_id.in_(ids), Answer.question_key.in_(items)
        )
    ):
        matrix[row_of[rid], items.index(key)] = 1.0 if value >= 4 else 0.0
    return compose_index(matrix, items, grouping, target=0.9, min_n=30)


def range_args(days=3):
    return {
        "period": "range",
        "start": (today() - timedelta(days=days - 1)).isoformat(),
        "end": today().isoformat(),
    }


@pytest.fixture
def data(tree):
    rng = random.Random(11)
    submit_counter_forms("P-W1", "Q1", 25, rng=rng, level=0.93)
    submit_counter_forms("P-W1", "Q2", 20, rng=rng, level=0.80)
    submit_counter_forms("P-C1", "Q1", 35, rng=rng, level=0.9)
    submit_counter_forms(
        "P-C1", "Q1", 12, rng=rng, level=0.9, channel="paper_entry", entered_by="staff"
    )
    submit_counter_forms("P-W1", "Q1", 31, rng=rng, level=0.7, days_ago=(4,))  # the previous range
    return tree


def test_api_figures_match_compose_index_on_raw_rows(client, data):
    sign_in(client, "tinh", scopes=[(data.province, "viewer")])
    response = client.get(
        "/api/v1/figures",
        query_string={"unit": "P", "questionnaire": "sipas-counter", **range_args()},
    )
    assert response.status_code == 200, response.json
    body = response.json
    by_code = {u["unit"]: u for u in body["units"]}
    assert set(by_code) == {"P", "P-W1", "P-C1"}
    start, end = today() - timedelta(days=2), today()
    for code in ("P", "P-W1", "P-C1"):
        unit = db.session.scalar(select(Unit).where(Unit.code == code))
        expected = independent_index(unit, start, end).index
        got = by_code[code]["headline"]
        assert got["n"] == expected.n
        assert got["estimate"] == pytest.approx(expected.estimate, abs=1e-9)
        assert got["low"] == pytest.approx(expected.low, abs=1e-9)
        assert got["high"] == pytest.approx(expected.high, abs=1e-9)
        assert got["verdict"] == expected.verdict.value


def test_staff_keyed_forms_are_excluded_by_default_and_included_on_request(client, data):
    sign_in(client, "tinh", scopes=[(data.province, "viewer")])
    args = {"unit": "P-C1", **range_args()}
    without = client.get("/api/v1/figures", query_string=args).json["units"][0]
    with_staff = client.get("/api/v1/figures", query_string={**args, "staff": "1"}).json["units"][0]
    assert (without["respondents"], with_staff["respondents"]) == (35, 47)
    unit = data.commune
    expected = independent_index(
        unit, today() - timedelta(days=2), today(), entered_by=("citizen", "staff")
    ).index
    assert with_staff["headline"]["estimate"] == pytest.approx(expected.estimate, abs=1e-9)


def test_the_change_from_the_previous_period_uses_both_periods(client, data):
    sign_in(client, "tinh", scopes=[(data.province, "viewer")])
    row = client.get("/api/v1/figures", query_string={"unit": "P-W1", **range_args()}).json[
        "units"
    ][0]
    current = independent_index(data.ward, today() - timedelta(days=2), today()).index
    previous = independent_index(
        data.ward, today() - timedelta(days=5), today() - timedelta(days=3)
    ).index
    assert row["previous"]["estimate"] == pytest.approx(previous.estimate, abs=1e-9)
    assert row["change"]["estimate"] == pytest.approx(
        current.estimate - previous.estimate, abs=1e-9
    )
    half = 1.959963984540054 * (current.se**2 + previous.se**2) ** 0.5
    assert row["change"]["low"] == pytest.approx(
        current.estimate - previous.estimate - half, abs=1e-9
    )


def test_quick_rating_share_is_wilson_on_the_counts(client, tree):
    submit_quick("P-W1", "Q1", [3] * 20 + [2] * 12 + [1] * 4)
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])
    row = client.get(
        "/api/v1/figures", query_string={"questionnaire": "quick-rating", "period": "today"}
    ).json["units"][0]
    expected = proportion_ci(32, 36, method="wilson")
    assert (row["unit"], row["headline"]["n"]) == ("P-W1", 36)
    assert row["headline"]["low"] == pytest.approx(expected.low, abs=1e-12)
    assert row["headline"]["high"] == pytest.approx(expected.high, abs=1e-12)


def test_below_the_minimum_n_the_count_shows_but_no_percentage(client, tree):
    submit_quick("P-W1", "Q1", [3] * 5)
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])
    row = client.get(
        "/api/v1/figures", query_string={"questionnaire": "quick-rating", "period": "today"}
    ).json["units"][0]
    assert row["headline"] == {
        "n": 5,
        "estimate": None,
        "low": None,
        "high": None,
        "method": None,
        "verdict": None,
        "more_responses": None,
        "suppressed": True,
    }
    page = client.get(
        f"/staff/units/{tree.ward.id}",
        query_string={"questionnaire": "quick-rating", "period": "today"},
    )
    assert "n = 5 &lt; 30" in page.get_data(as_text=True)


def test_the_page_shows_the_same_figure_as_the_raw_rows(client, data):
    sign_in(client, "xa", scopes=[(data.ward, "manager")])
    page = client.get(f"/staff/units/{data.ward.id}", query_string=range_args()).get_data(
        as_text=True
    )
    expected = independent_index(data.ward, today() - timedelta(days=2), today()).index
    assert f"{expected.estimate * 100:.1f} %" in page
    assert f"{expected.low * 100:.1f} % – {expected.high * 100:.1f} %" in page


def test_no_figure_from_outside_the_scope_appears_anywhere(client, data):
    sign_in(client, "xa", scopes=[(data.ward, "manager")])
    body = client.get("/api/v1/figures", query_string=range_args()).json
    assert [u["unit"] for u in body["units"]] == ["P-W1"]
    assert body["units"][0]["respondents"] == 45  # the ward's own, not the province's total
    assert (
        client.get("/api/v1/figures", query_string={"unit": "P", **range_args()}).status_code == 404
    )
    assert client.get("/api/v1/figures", query_string={"unit": "P-C1"}).status_code == 404
    assert client.get(f"/staff/units/{data.commune.id}").status_code == 404
    assert client.get(f"/staff/units/{data.province.id}").status_code == 404
    overview = client.get("/staff/", query_string=range_args()).get_data(as_text=True)
    assert "Xã Tân Phú" not in overview and "Tỉnh Thử Nghiệm" not in overview
    assert client.get("/staff/", query_string={"unit": data.commune.id}).status_code == 404


def test_figures_api_needs_a_session_or_a_key(client, data):
    assert client.get("/api/v1/figures").status_code == 401
    assert (
        client.get("/api/v1/figures", headers={"Authorization": "Bearer sk_nope_nope"}).status_code
        == 401
    )


def test_an_api_key_reads_figures_of_its_unit_only(client, data):
    from survey_app.services.api_keys import create_api_key

    _, secret = create_api_key("Cổng dữ liệu", "read_figures", data.ward, created_by=None)
    _, dossier_secret = create_api_key("Một cửa", "dossier_codes", data.ward, created_by=None)
    db.session.commit()
    ok = client.get(
        "/api/v1/figures", query_string=range_args(), headers={"Authorization": f"Bearer {secret}"}
    )
    assert ok.status_code == 200 and [u["unit"] for u in ok.json["units"]] == ["P-W1"]
    assert (
        client.get(
            "/api/v1/figures",
            query_string={"unit": "P-C1"},
            headers={"Authorization": f"Bearer {secret}"},
        ).status_code
        == 404
    )
    wrong_purpose = client.get(
        "/api/v1/figures", headers={"Authorization": f"Bearer {dossier_secret}"}
    )
    assert wrong_purpose.status_code == 401


def test_comments_are_escaped_newest_first_and_can_be_hidden(client, tree):
    for text in ("<script>alert(1)</script> tệ", "Cảm ơn cán bộ"):
        submit_response(
            {
                "id": str(uuid.uuid4()),
                "questionnaire": "sipas-counter",
                "version": 1,
                "unit": "P-W1",
                "answers": {"c9_24": 5, "comment": text},
            },
            channel="web",
        )
        db.session.commit()
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])
    page = client.get(f"/staff/units/{tree.ward.id}", query_string={"period": "today"}).get_data(
        as_text=True
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt; tệ" in page and "<script>alert(1)" not in page
    assert page.index("Cảm ơn cán bộ") < page.index("&lt;script&gt;")
    answer_id = db.session.scalar(select(Answer.id).where(Answer.text.like("<script>%")))
    assert client.post(f"/staff/comments/{answer_id}/hide").status_code == 302
    page = client.get(f"/staff/units/{tree.ward.id}", query_string={"period": "today"}).get_data(
        as_text=True
    )
    assert "alert(1)" not in page and "Cảm ơn cán bộ" in page
    filtered = client.get(
        f"/staff/units/{tree.ward.id}", query_string={"period": "today", "q": "cảm"}
    ).get_data(as_text=True)
    assert "Cảm ơn cán bộ" in filtered


def test_a_viewer_cannot_hide_comments_and_a_manager_only_in_scope(client, tree):
    submit_response(
        {
            "id": str(uuid.uuid4()),
            "questionnaire": "sipas-counter",
            "version": 1,
            "unit": "P-C1",
            "answers": {"c9_24": 5, "comment": "xấu"},
        },
        channel="web",
    )
    db.session.commit()
    answer_id = db.session.scalar(select(Answer.id).where(Answer.text == "xấu"))
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])
    assert client.post(f"/staff/comments/{answer_id}/hide").status_code == 404


def test_responses_left_unfinished_count_in_the_item_shares_and_are_shown(client, tree):
    """A kiosk sends what a citizen answered before leaving a long form, marked incomplete:
    its answers count in their items' shares, and the page and the API say how many such
    responses the figures hold."""
    given = [({f"c9_{n}": 5 for n in range(24, 40)}, True), ({"c9_24": 1, "c9_25": 2}, False)]
    for answers, complete in given:
        submit_response(
            {
                "id": str(uuid.uuid4()),
                "questionnaire": "sipas-counter",
                "version": 1,
                "unit": "P-W1",
                "counter": "Q1",
                "complete": complete,
                "answers": answers,
            },
            channel="kiosk",
            queued_offline=True,
        )
    settle_as_the_background_settler_would()
    sign_in(client, "xa", scopes=[(tree.ward, "manager")])
    body = client.get("/api/v1/figures", query_string={"unit": "P-W1", "period": "today"}).json
    [ward] = [u for u in body["units"] if u["unit"] == "P-W1"]
    assert (ward["respondents"], ward["incomplete"]) == (2, 1)
    page = client.get(
        f"/staff/units/{tree.ward.id}", query_string={"period": "today", "lang": "en"}
    ).get_data(as_text=True)
    assert 'data-incomplete="1"' in page and "left unfinished" in page
    c9_24 = db.session.scalars(
        select(AnswerCount.n).where(AnswerCount.question_key == "c9_24")
    ).all()
    assert sum(c9_24) == 2  # the unfinished response's answer counts
