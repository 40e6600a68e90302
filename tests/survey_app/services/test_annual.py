"""The annual survey's services: links, sample codes, drafts, paper entry, double entry, rates."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import FormDraft, PaperFormEntry, Response, SampleCode
from survey_app.services import annual
from survey_app.services.accounts import create_account
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.timeutil import utcnow

YEAR = 2025


@pytest.fixture
def clerks(app):
    first = create_account("clerk1", "correct horse battery", display_name="Clerk One")
    second = create_account("clerk2", "correct horse battery", display_name="Clerk Two")
    db.session.commit()
    return first, second


def test_a_link_code_is_random_and_a_revoked_link_is_not_found(tree):
    link = annual.create_link(tree.ward, YEAR)
    other = annual.create_link(tree.ward, YEAR)
    assert link.code != other.code and len(link.code) == annual.LINK_CODE_LENGTH
    assert annual.get_active_link(link.code).id == link.id
    annual.revoke_link(link)
    with pytest.raises(NotFound):
        annual.get_active_link(link.code)
    with pytest.raises(ValidationError):
        annual.create_link(tree.ward, 1999)


def test_sample_import_is_strict_names_lines_and_is_all_or_nothing(tree):
    with pytest.raises(ValidationError) as refused:
        annual.import_sample_codes(tree.ward, YEAR, "code,kind\nH1,household\nH1,\nH2,person\n,\n")
    assert set(refused.value.problems) == {"line 3", "line 4", "line 5"}
    assert "already on line 2" in refused.value.problems["line 3"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleCode)) == 0
    assert annual.import_sample_codes(tree.ward, YEAR, "code\nH1\nH2\n").added == 2
    assert annual.import_sample_codes(tree.ward, YEAR, "code\nH1\nH3\n") == annual.SampleImport(
        1, 1
    )
    # Codes are each unit's own: another unit importing H2 learns nothing and gets its own H2.
    assert annual.import_sample_codes(tree.commune, YEAR, "code\nH2\n").added == 1
    link = annual.create_link(tree.commune, YEAR, requires_sample_code=True)
    assert (
        annual.start_draft(link, "H2").context["sample_code_id"]
        != annual.start_draft(
            annual.create_link(tree.ward, YEAR, requires_sample_code=True), "H2"
        ).context["sample_code_id"]
    )


def test_sample_code_is_single_use_and_marks_the_household_returned(tree):
    annual.import_sample_codes(tree.ward, YEAR, "code\nH1\nH2\n")
    link = annual.create_link(tree.ward, YEAR, requires_sample_code=True)
    with pytest.raises(ValidationError) as unknown:
        annual.start_draft(link, "NOPE")
    assert "sample_code" in unknown.value.problems
    draft = annual.start_draft(link, "H1")
    annual.save_draft_answers(draft, ["c1_1", "c2"], {"c1_1": 3, "c2": [1, 7]})
    annual.save_draft_answers(draft, ["c2_other"], {"c2_other": "Loa xã"})
    result = annual.submit_draft(draft, link)
    db.session.commit()
    response = db.session.get(Response, result.response_id)
    assert (response.channel, response.survey_year, response.unit_id) == ("web", YEAR, tree.ward.id)
    assert db.session.get(FormDraft, draft.id) is None
    with pytest.raises(annual.SampleCodeUsed):
        annual.start_draft(link, "H1")
    rate = annual.list_response_rates([tree.ward], YEAR)[0]
    assert (rate.sampled, rate.returned, rate.online, rate.keyed) == (2, 1, 1, 0)


def test_a_code_used_meanwhile_on_another_phone_stores_nothing(tree):
    annual.import_sample_codes(tree.ward, YEAR, "code\nH1\n")
    link = annual.create_link(tree.ward, YEAR, requires_sample_code=True)
    first, second = annual.start_draft(link, "H1"), annual.start_draft(link, "H1")
    annual.save_draft_answers(first, ["c1_1"], {"c1_1": 4})
    annual.save_draft_answers(second, ["c1_1"], {"c1_1": 2})
    annual.submit_draft(first, link)
    db.session.commit()
    with pytest.raises(annual.SampleCodeUsed):
        annual.submit_draft(second, link)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_an_idle_draft_expires_and_prune_removes_old_ones(tree):
    link = annual.create_link(tree.ward, YEAR)
    old = annual.start_draft(link, now=utcnow() - timedelta(hours=2))
    fresh = annual.start_draft(link)
    with pytest.raises(annual.DraftExpired):
        annual.get_draft(old.id, link, idle=timedelta(minutes=60))
    assert annual.get_draft(fresh.id, link, idle=timedelta(minutes=60)).id == fresh.id
    stale = annual.start_draft(link, now=utcnow() - timedelta(hours=3))
    assert annual.prune_drafts(idle=timedelta(minutes=60)) == 1
    assert db.session.get(FormDraft, stale.id) is None


def _keyed(fields):
    _, definition = get_current_questionnaire("sipas-annual")
    return annual.read_keyed_answers(definition, fields)


def test_keyed_digits_become_answers_and_wrong_ones_are_named(app):
    answers, problems = _keyed({"c1_1": "3", "c2": "1, 7", "c2_other": "Loa", "c9_24": "9"})
    assert answers["c1_1"] == 3 and answers["c2"] == [1, 7]
    assert list(problems) == ["c9_24"] and "not on the scale" in problems["c9_24"][0]
    _, problems = _keyed({"c1_1": "x"})
    assert "c1_1" in problems


def test_a_serial_is_keyed_once_a_year_and_the_second_round_lists_differences(tree, clerks):
    first, second = clerks
    entry = annual.enter_paper_form(
        questionnaire_key="sipas-annual",
        unit=tree.ward,
        year=YEAR,
        serial="0001",
        channel="interviewer",
        interviewer_name="Nguyễn Văn A",
        answers={"c1_1": 3, "c9_24": 5},
        account=first,
    )
    db.session.commit()
    response = db.session.get(Response, entry.response_id)
    assert (response.channel, response.entered_by, response.survey_year) == (
        "interviewer",
        "staff",
        YEAR,
    )
    with pytest.raises(annual.DuplicateSerial) as duplicate:
        annual.enter_paper_form(
            questionnaire_key="sipas-annual",
            unit=tree.ward,
            year=YEAR,
            serial="0001",
            channel="paper_entry",
            interviewer_name=None,
            answers={"c1_1": 3},
            account=second,
        )
    assert duplicate.value.username == "clerk1"
    with pytest.raises(ValidationError):
        annual.enter_second_round(
            unit=tree.ward, year=YEAR, serial="0001", answers={}, account=first
        )
    # Round 2 looks the serial up in the unit it is keyed for, never in another.
    with pytest.raises(ValidationError, match="not been entered yet for P-C1"):
        annual.enter_second_round(
            unit=tree.commune, year=YEAR, serial="0001", answers={}, account=second
        )
    annual.enter_second_round(
        unit=tree.ward, year=YEAR, serial="0001", answers={"c1_1": 3, "c9_24": 4}, account=second
    )
    db.session.commit()
    [double] = annual.list_double_entries([tree.ward.id], YEAR)
    assert [(d.question_key, d.round1, d.round2) for d in double.differences] == [("c9_24", 5, 4)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaperFormEntry)) == 2
    # Serials are each unit's own: the commune keys its own form 0001.
    annual.enter_paper_form(
        questionnaire_key="sipas-annual",
        unit=tree.commune,
        year=YEAR,
        serial="0001",
        channel="paper_entry",
        interviewer_name=None,
        answers={"c1_1": 2},
        account=second,
    )
    assert annual.list_double_entries([tree.commune.id], YEAR) == []
    rate = annual.list_response_rates([tree.ward], YEAR)[0]
    assert (rate.keyed, rate.online) == (1, 0)
