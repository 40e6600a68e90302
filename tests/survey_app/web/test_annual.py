"""The annual survey over HTTP: the online multi-page form, paper entry, sample tracking, and the
keyed forms in the figures API only when staff-entered forms are included."""

import re
from datetime import timedelta

import sqlalchemy as sa

from survey_app.extensions import db
from survey_app.models import (
    AnnualLink,
    AuditEvent,
    FormDraft,
    PaperFormEntry,
    Response,
    SampleCode,
)
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.annual import create_link, import_sample_codes
from survey_app.services.rollup import settle_pending
from survey_app.timeutil import utcnow

PASSWORD = "correct horse battery"
YEAR = 2025


def committed():
    """The session, seeing what the requests committed, their answers settled."""
    db.session.rollback()
    settle_pending()
    return db.session


def count(model) -> int:
    return committed().scalar(sa.select(sa.func.count()).select_from(model))


def manager(app, tree, username="clerk1", unit=None):
    account = create_account(username, PASSWORD, display_name=username)
    add_scope(account, unit or tree.ward, "manager")
    db.session.commit()
    client = app.test_client()
    assert (
        client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    )
    return client


def new_link(tree, **kwargs) -> str:
    link = create_link(tree.ward, YEAR, **kwargs)
    db.session.commit()
    return link.code


def test_a_household_answers_every_page_goes_back_and_submits(client, tree):
    code = new_link(tree)
    assert client.get(f"/a/{code}").status_code == 200
    assert count(FormDraft) == 0  # looking at the link stores nothing
    started = client.post(f"/a/{code}")
    assert started.headers["Location"].endswith(f"/a/{code}/page/1")
    first = client.get(f"/a/{code}/page/1")
    assert "Trang 1/15" in first.get_data(as_text=True) or "1/15" in first.get_data(as_text=True)
    assert first.headers["Cache-Control"] == "no-store"
    client.post(f"/a/{code}/page/1", data={"q_c1_1": "3", "nav": "next"})
    client.post(f"/a/{code}/page/2", data={"q_c2": ["1", "7"], "q_c2_other": "Loa", "nav": "back"})
    back = client.get(f"/a/{code}/page/1").get_data(as_text=True)
    assert 'value="3" checked' in back
    again = client.get(f"/a/{code}/page/2").get_data(as_text=True)
    assert 'value="7" checked' in again and "Loa" in again
    too_long = client.post(f"/a/{code}/page/14", data={"q_comment": "x" * 1001, "nav": "next"})
    assert too_long.status_code == 422
    client.post(f"/a/{code}/page/14", data={"q_comment": "Tốt", "nav": "next"})
    done = client.post(f"/a/{code}/page/15", data={"q_gender": "1", "nav": "next"})
    assert done.headers["Location"].endswith(f"/a/{code}/thanks")
    response = committed().scalar(sa.select(Response))
    assert (response.channel, response.entered_by, response.survey_year) == ("web", "citizen", YEAR)
    keys = {a.question_key for a in response.answers}
    assert keys == {"c1_1", "c2", "c2_other", "comment", "gender"}
    assert count(FormDraft) == 0
    # A second click on submit neither stores again nor errs: it shows the thanks page.
    replay = client.post(f"/a/{code}/page/15", data={"q_gender": "1"})
    assert replay.headers["Location"].endswith("/thanks") and count(Response) == 1


def test_going_back_from_a_page_with_a_problem_keeps_what_was_typed(client, tree):
    """A 1,099-character comment (the limit is 1,000) refused, then "Quay lại": the text is kept,
    and the page shown again names its problem, with the summary linking to it."""
    code = new_link(tree)
    client.post(f"/a/{code}")
    comment = ("Ý kiến rất dài. " * 69)[:1098] + "."
    assert len(comment) == 1099
    refused = client.post(f"/a/{code}/page/14", data={"q_comment": comment, "nav": "next"})
    assert refused.status_code == 422
    back = client.post(f"/a/{code}/page/14", data={"q_comment": comment, "nav": "back"})
    assert back.headers["Location"].endswith(f"/a/{code}/page/13")
    again = client.get(f"/a/{code}/page/14")
    html = again.get_data(as_text=True)
    assert again.status_code == 200
    assert f">{comment}</textarea>" in html
    assert 'id="q-comment-errors"' in html and "1000" in html
    assert 'href="#q-comment-input"' in html and "<title>Lỗi: " in html
    fixed = client.post(f"/a/{code}/page/14", data={"q_comment": comment[:1000], "nav": "next"})
    assert fixed.headers["Location"].endswith(f"/a/{code}/page/15")
    assert "Lỗi:" not in client.get(f"/a/{code}/page/14").get_data(as_text=True)


def test_other_text_without_ticking_other_is_sent_back_not_dropped(client, tree):
    """Câu 2's "other" box typed in without ticking "Qua hình thức khác": the page says so next
    to the box and keeps the text (ticking "khác" for the household would invent an answer it did
    not give); going back keeps it too, and a submit reaching the end still names it."""
    code = new_link(tree)
    client.post(f"/a/{code}")
    page = client.post(
        f"/a/{code}/page/2", data={"q_c2": "1", "q_c2_other": "Tổ dân phố", "nav": "next"}
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    errors = html[html.index('id="q-c2_other-errors"') :]
    assert errors.index(
        "Ông/Bà chưa chọn “Qua hình thức khác (xin ghi cụ thể)” ở trên"
    ) < errors.index("</ul>")
    assert ">Tổ dân phố</textarea>" in html
    client.post(f"/a/{code}/page/2", data={"q_c2": "1", "q_c2_other": "Tổ dân phố", "nav": "back"})
    done = client.post(f"/a/{code}/page/15", data={"q_gender": "1", "nav": "next"})
    assert done.headers["Location"].endswith(f"/a/{code}/page/2")  # sent back to the problem
    html = client.get(f"/a/{code}/page/2").get_data(as_text=True)
    assert ">Tổ dân phố</textarea>" in html and 'id="q-c2_other-errors"' in html
    assert count(Response) == 0
    ticked = client.post(
        f"/a/{code}/page/2",
        data={"q_c2": ["1", "7"], "q_c2_other": "Tổ dân phố", "nav": "next"},
    )
    assert ticked.headers["Location"].endswith(f"/a/{code}/page/3")


def test_a_wrong_sample_code_is_summarised_with_a_link_to_its_box(client, tree):
    import_sample_codes(tree.ward, YEAR, "code\nH1\n")
    code = new_link(tree, requires_sample_code=True)
    html = client.post(f"/a/{code}", data={"sample_code": "nope"}).get_data(as_text=True)
    assert "<title>Lỗi: " in html
    assert 'href="#sample_code"' in html and 'id="sample_code"' in html
    assert 'id="sample_code-errors"' in html


def test_the_start_page_says_how_long_the_form_takes(client, tree):
    code = new_link(tree)
    html = client.get(f"/a/{code}").get_data(as_text=True)
    assert "trang ngắn" not in html
    assert re.search(r"Phiếu gồm 15 trang, trả lời mất khoảng (15|20) phút", html)


def test_the_pages_show_the_verbatim_stems(client, tree):
    code = new_link(tree)
    client.post(f"/a/{code}")
    first = client.get(f"/a/{code}/page/1").get_data(as_text=True)
    assert (
        "Câu 1. Xin Ông/Bà cho biết mức độ quan tâm theo dõi của Ông/Bà đối với các chính sách "
        "công trong bảng dưới đây (theo dõi thông qua cả hình thức đọc báo, nghe đài, xem trên ti "
        "vi, trên mạng internet)?</h1>"
    ) in first
    assert "“Chính sách” ở đây nói đến các quy định" in first
    second = client.get(f"/a/{code}/page/2").get_data(as_text=True)
    assert "Trong thời gian qua, Ông/Bà đã sử dụng kênh thông tin nào" in second
    assert "…" not in first + second


def test_a_used_sample_code_is_thanked_and_stores_nothing(client, tree):
    import_sample_codes(tree.ward, YEAR, "code\nH1\n")
    code = new_link(tree, requires_sample_code=True)
    assert client.post(f"/a/{code}", data={"sample_code": "nope"}).status_code == 422
    client.post(f"/a/{code}", data={"sample_code": "H1"})
    client.post(f"/a/{code}/page/15", data={"q_gender": "2"})
    assert committed().scalar(sa.select(SampleCode.used_at)) is not None
    # A second phone of the same household.
    phone = client.application.test_client()
    page = phone.post(f"/a/{code}?lang=en", data={"sample_code": "H1"})
    assert page.status_code == 200 and "Already answered" in page.get_data(as_text=True)
    assert count(Response) == 1 and count(FormDraft) == 0


def test_an_idle_draft_shows_a_page_to_start_again(client, tree):
    code = new_link(tree)
    client.post(f"/a/{code}")
    draft = committed().scalar(sa.select(FormDraft))
    draft.updated_at = utcnow() - timedelta(minutes=61)
    db.session.commit()
    expired = client.get(f"/a/{code}/page/2?lang=en")
    assert expired.status_code == 410 and "Start again" in expired.get_data(as_text=True)
    assert count(FormDraft) == 0


def test_a_revoked_link_is_not_found(client, tree):
    code = new_link(tree)
    link = committed().scalar(sa.select(AnnualLink))
    link.revoked_at = utcnow()
    db.session.commit()
    assert client.get(f"/a/{code}").status_code == 404


def keyed_form(tree, serial="0001", **answers):
    return {
        "questionnaire": "sipas-annual",
        "channel": "paper_entry",
        "round": "1",
        "unit_id": str(tree.ward.id),
        "year": str(YEAR),
        "serial": serial,
        "c1_1": "3",
        "c2": "1 7",
        "c2_other": "Loa",
        **{f"c9_{n}": "4" for n in range(24, 40)},
        **answers,
    }


def test_a_clerk_keys_a_paper_form_audited_without_answers(app, tree):
    client = manager(app, tree)
    assert client.get("/staff/entry").status_code == 200
    saved = client.post("/staff/entry", data=keyed_form(tree))
    assert saved.status_code == 302
    response = committed().scalar(sa.select(Response))
    assert (response.channel, response.entered_by, response.survey_year) == (
        "paper_entry",
        "staff",
        YEAR,
    )
    event = committed().scalar(sa.select(AuditEvent).where(AuditEvent.action == "paper.enter"))
    assert event.actor == "clerk1" and event.details["serial"] == "0001"
    assert event.details["year"] == YEAR and "c1_1" not in str(event.details)


def test_a_duplicate_serial_is_refused_naming_who_and_when(app, tree):
    client = manager(app, tree)
    client.post("/staff/entry", data=keyed_form(tree))
    second = manager(app, tree, "clerk2")
    refused = second.post("/staff/entry?lang=en", data=keyed_form(tree, c1_1="1"))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Form no. 0001 of 2025 was already entered by clerk1 at" in body
    assert count(Response) == 1


def test_double_entry_stays_in_the_units_one_manages_in_both_rounds(app, tree):
    """The commune's manager cannot key round 2 of the ward's form (and so block the ward's real
    second clerk), nor learn from the answer that the ward has such a form."""
    client = manager(app, tree)
    client.post("/staff/entry", data=keyed_form(tree))
    outsider = manager(app, tree, "commune-clerk", unit=tree.commune)
    round2 = keyed_form(tree, round="2", c9_24="5")
    assert outsider.post("/staff/entry", data=round2).status_code == 404
    own_unit = outsider.post("/staff/entry?lang=en", data={**round2, "unit_id": tree.commune.id})
    assert own_unit.status_code == 422
    body = own_unit.get_data(as_text=True)
    assert "has not been entered yet for P-C1" in body and "clerk1" not in body
    assert count(PaperFormEntry) == 1
    second = manager(app, tree, "clerk2")
    assert second.post("/staff/entry", data=round2).status_code == 302
    assert count(PaperFormEntry) == 2


def test_wrong_digits_are_refused_next_to_the_field(app, tree):
    client = manager(app, tree)
    refused = client.post("/staff/entry", data=keyed_form(tree, c9_24="7"))
    assert refused.status_code == 422 and 'id="c9_24-errors"' in refused.get_data(as_text=True)
    assert count(Response) == 0


def test_a_keyed_annual_form_counts_only_when_staff_entries_are_included(app, tree):
    client = manager(app, tree)
    client.post("/staff/entry", data=keyed_form(tree))
    args = {"unit": "P-W1", "questionnaire": "sipas-annual", "period": "year"}
    without = client.get("/api/v1/figures", query_string=args).json
    included = client.get("/api/v1/figures", query_string={**args, "staff": "1"}).json
    assert included["staff_entered_included"] and not without["staff_entered_included"]
    assert without["units"][0]["respondents"] == 0
    assert included["units"][0]["respondents"] == 1


def test_sample_import_and_marks_are_audited_and_rates_shown(app, tree):
    client = manager(app, tree)
    url = f"/staff/annual/units/{tree.ward.id}"
    assert client.get(url).status_code == 200
    bad = client.post(f"{url}/codes", data={"year": str(YEAR), "text": "code\nH1\nH1\n"})
    assert bad.status_code == 422 and "line 3" in bad.get_data(as_text=True)
    assert count(SampleCode) == 0
    client.post(f"{url}/codes", data={"year": str(YEAR), "text": "code\nH1\nH2\nH3\nH4\n"})
    client.post(f"{url}/marks", data={"year": str(YEAR), "what": "sent", "text": "H1\nH2\nH3\nH4"})
    client.post(f"{url}/marks", data={"year": str(YEAR), "what": "returned", "text": "H1"})
    actions = committed().scalars(sa.select(AuditEvent.action)).all()
    assert {"annual.sample_import", "annual.sample_mark"} <= set(actions)
    overview = client.get(f"/staff/annual?year={YEAR}").get_data(as_text=True)
    assert "25.0 %" in overview
    assert client.get(f"/staff/annual/units/{tree.commune.id}").status_code == 404


def test_a_link_is_created_with_its_qr_code_and_revoked(app, tree):
    client = manager(app, tree)
    url = f"/staff/annual/units/{tree.ward.id}"
    client.post(f"{url}/links", data={"year": str(YEAR), "requires_sample_code": "1"})
    link = committed().scalar(sa.select(AnnualLink))
    assert link.requires_sample_code and link.year == YEAR
    page = client.get(url).get_data(as_text=True)
    assert f"/a/{link.code}" in page and "<svg" in page
    client.post(f"{url}/links/revoke", data={"link_id": str(link.id)})
    assert committed().get(AnnualLink, link.id).revoked_at is not None


def test_prune_drafts_command(app, tree, runner):
    code = new_link(tree)
    link = committed().scalar(sa.select(AnnualLink).where(AnnualLink.code == code))
    db.session.add(
        FormDraft(
            id="old",
            questionnaire_key="sipas-annual",
            version=1,
            context={"link": link.code},
            answers={},
            updated_at=utcnow() - timedelta(hours=5),
        )
    )
    db.session.commit()
    result = runner.invoke(args=["annual", "prune-drafts"])
    assert "drafts removed: 1" in result.output and count(FormDraft) == 0
