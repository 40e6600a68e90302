"""Poster codes and dossier tokens: creating, revoking, reissuing; issuing, reading, using once."""

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from survey_app.errors import Conflict, NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import DossierRating, PosterCode
from survey_app.services.qr_codes import (
    POSTER_ALPHABET,
    AlreadyRated,
    PosterRevoked,
    TokenExpired,
    TokenInvalid,
    clean_dossier_code,
    create_poster_code,
    ensure_unit_posters,
    get_active_poster,
    issue_dossier_token,
    mark_dossier_rated,
    qr_png,
    qr_svg,
    read_dossier_token,
    reissue_poster_code,
    revoke_poster_code,
)
from survey_app.services.units import set_channel_questionnaire
from survey_app.timeutil import utcnow

SECRET = "testing-not-secret"


def test_a_poster_code_is_short_random_and_unambiguous(app, tree):
    codes = {create_poster_code(tree.ward).code for _ in range(20)}
    assert len(codes) == 20
    assert all(len(c) == 8 and set(c) <= set(POSTER_ALPHABET) for c in codes)
    assert not set("01OIL") & set(POSTER_ALPHABET)


def test_a_poster_takes_the_units_qr_counter_questionnaire(app, tree):
    assert create_poster_code(tree.ward, tree.q1).questionnaire_key == "sipas-counter"
    set_channel_questionnaire(tree.province, "qr_counter", "quick-rating")
    poster = create_poster_code(tree.ward, tree.q2)
    assert (poster.questionnaire_key, poster.counter_id) == ("quick-rating", tree.q2.id)


def test_a_counter_of_another_unit_is_refused(app, tree):
    with pytest.raises(ValidationError):
        create_poster_code(tree.commune, tree.q1)


def test_codes_are_found_in_any_case_until_revoked(app, tree):
    poster = create_poster_code(tree.ward, tree.q1)
    assert get_active_poster(poster.code.lower()).id == poster.id
    revoke_poster_code(poster)
    with pytest.raises(PosterRevoked):
        get_active_poster(poster.code)
    with pytest.raises(NotFound):
        get_active_poster("ZZZZZZZZ")


def test_an_inactive_counter_stops_its_poster(app, tree):
    poster = create_poster_code(tree.ward, tree.q1)
    tree.q1.active = False
    with pytest.raises(PosterRevoked):
        get_active_poster(poster.code)


def test_reissuing_revokes_and_replaces(app, tree):
    old = create_poster_code(tree.ward, tree.q1, questionnaire_key="quick-rating")
    new = reissue_poster_code(old)
    assert old.revoked_at is not None and new.revoked_at is None
    assert (new.unit_id, new.counter_id, new.questionnaire_key) == (
        tree.ward.id,
        tree.q1.id,
        "quick-rating",
    )
    assert new.code != old.code


def test_ensuring_a_units_posters_creates_only_the_missing_ones(app, tree):
    create_poster_code(tree.ward, tree.q1)
    created = ensure_unit_posters(tree.ward)
    assert sorted((p.counter_id or 0) for p in created) == sorted([0, tree.q2.id])
    assert ensure_unit_posters(tree.ward) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PosterCode)) == 3


def test_the_qr_images_decode_to_the_url(tmp_path: Path):
    url = "http://127.0.0.1:5000/r/ABCD2345"
    png = tmp_path / "qr.png"
    png.write_bytes(qr_png(url))
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    )
    assert decoded.stdout.strip() == url
    svg = qr_svg(url)
    assert svg.startswith("<svg") and "viewBox" in svg and "style=" not in svg


@pytest.mark.parametrize(
    "raw",
    ["000.00.31.H01-240315-0001", " 000.00.31.h01-240315-0001 ", "H01-240315-0001", "HS/2025/123"],
)
def test_dossier_codes_in_the_usual_shapes_are_accepted(raw):
    assert clean_dossier_code(raw) == raw.strip().upper()


@pytest.mark.parametrize("raw", ["", "   ", None, 42, "ABC", "a b 1", "1" * 65, "1..2", "<x>1"])
def test_other_dossier_codes_are_refused(raw):
    with pytest.raises(ValidationError) as error:
        clean_dossier_code(raw)
    assert list(error.value.problems) == ["dossier_code"]


def test_a_token_is_issued_once_per_dossier_and_reads_back(app, tree):
    first = issue_dossier_token("000.00.31.H01-240315-0001", tree.ward, tree.q1, secret_key=SECRET)
    again = issue_dossier_token(" 000.00.31.h01-240315-0001", tree.ward, tree.q1, secret_key=SECRET)
    assert first.created and not again.created
    assert again.token == first.token
    rating = read_dossier_token(first.token, secret_key=SECRET)
    assert (rating.unit_id, rating.counter_id, rating.questionnaire_key) == (
        tree.ward.id,
        tree.q1.id,
        "quick-rating",
    )
    assert "H01" not in first.token  # the token carries no dossier code


def test_a_token_is_used_once(app, tree):
    issued = issue_dossier_token("H01-240315-0002", tree.ward, secret_key=SECRET)
    assert mark_dossier_rated(issued.rating.id)
    assert not mark_dossier_rated(issued.rating.id)
    db.session.expire_all()
    with pytest.raises(AlreadyRated):
        read_dossier_token(issued.token, secret_key=SECRET)
    with pytest.raises(AlreadyRated):
        issue_dossier_token("H01-240315-0002", tree.ward, secret_key=SECRET)


def test_an_expired_token_is_refused_and_renewed_on_request(app, tree):
    past = utcnow() - timedelta(days=31)
    old = issue_dossier_token("H01-240315-0003", tree.ward, secret_key=SECRET, now=past)
    with pytest.raises(TokenExpired):
        read_dossier_token(old.token, secret_key=SECRET)
    renewed = issue_dossier_token("H01-240315-0003", tree.ward, secret_key=SECRET)
    assert renewed.token != old.token
    assert read_dossier_token(renewed.token, secret_key=SECRET).id == old.rating.id
    with pytest.raises(TokenInvalid):  # the old token was replaced
        read_dossier_token(old.token, secret_key=SECRET)


def test_forged_and_altered_tokens_are_refused(app, tree):
    token = issue_dossier_token("H01-240315-0004", tree.ward, secret_key=SECRET).token
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    forged = issue_dossier_token("H01-240315-0005", tree.ward, secret_key="another key").token
    for bad in (altered, forged, token[:10], "", "x" * 300):
        with pytest.raises(TokenInvalid):
            read_dossier_token(bad, secret_key=SECRET)


def test_dossier_codes_are_each_units_own_and_say_nothing_of_another_units(app, tree):
    """Another unit issuing the same code learns nothing of the first (not whether it exists or
    was rated): it gets a rating of its own. Within a unit, another counter is a conflict."""
    ward = issue_dossier_token("H01-240315-0006", tree.ward, tree.q1, secret_key=SECRET)
    assert mark_dossier_rated(ward.rating.id)
    commune = issue_dossier_token("H01-240315-0006", tree.commune, secret_key=SECRET)
    assert commune.created and commune.rating.id != ward.rating.id
    with pytest.raises(Conflict, match="another counter"):
        issue_dossier_token("H01-240315-0007", tree.ward, tree.q1, secret_key=SECRET)
        issue_dossier_token("H01-240315-0007", tree.ward, tree.q2, secret_key=SECRET)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DossierRating)) == 3
