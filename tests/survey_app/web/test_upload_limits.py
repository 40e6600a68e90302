"""Uploads: the 2 MiB limit the README states applies to every upload view, with CSRF checked as
in production (its check parses the form before the view runs); every other request keeps the
64 KiB limit; a larger body is a 413 naming the limit. A questionnaire nested too deeply, holding
aliases or too many values is a 422 that says so, never a 500."""

import io
import re

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from survey_app import create_app
from survey_app.extensions import db, dispose_engines
from survey_app.services.accounts import create_account
from tests.conftest import FreshContextClient, make_config

PASSWORD = "correct horse battery"
KiB, MiB = 1024, 1024 * 1024


@pytest.fixture
def admin(database_url, app, tree):
    """An administrator signed in to an app that checks CSRF tokens, and a token to send."""
    create_account("quan-tri", PASSWORD, display_name="Quản trị", is_administrator=True)
    db.session.commit()
    protected = create_app(make_config(database_url, WTF_CSRF_ENABLED=True))
    client = FreshContextClient(protected, protected.response_class)

    def token_of(path: str) -> str:
        page = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token"[^>]* value="([^"]+)"', page).group(1)

    signed_in = client.post(
        "/login",
        data={"username": "quan-tri", "password": PASSWORD, "csrf_token": token_of("/login")},
    )
    assert signed_in.status_code == 302
    client.csrf_token = token_of("/staff/admin/units/import")
    yield client
    with protected.app_context():
        db.session.remove()
        dispose_engines()


def uploads(tree) -> dict[str, tuple[str, dict, bytes]]:
    """Each upload view: its URL, its other fields, and the start of a file it reads."""
    annual = f"/staff/annual/units/{tree.ward.id}"
    return {
        "units CSV": (
            "/staff/admin/units/import",
            {"what": "units"},
            b"code,parent_code,name_vi,name_en,kind\nP-T1,P,",
        ),
        "questionnaire YAML": ("/staff/admin/questionnaires", {}, b"key: big\ndescription: "),
        "sampling frame CSV": (
            "/staff/reports/frame",
            {"year": "2026"},
            b"unit_code,service_area,transactions\nP-W1,",
        ),
        "sample codes CSV": (f"{annual}/codes", {"year": "2026"}, b"code,kind\n"),
        "sample marks": (f"{annual}/marks", {"year": "2026", "what": "sent"}, b"code\n"),
    }


def send(client, url: str, fields: dict) -> tuple[int, str]:
    """Status and text of a multipart POST of `fields` (bytes values are files), with the CSRF
    token. The body is encoded in memory: the test client would spool a large one to a temporary
    file and leave it open when the app reads none of it."""
    boundary, body = encode_multipart(
        MultiDict(
            {
                "csrf_token": client.csrf_token,
                **{
                    k: FileStorage(io.BytesIO(v), "upload.csv") if isinstance(v, bytes) else v
                    for k, v in fields.items()
                },
            }
        )
    )
    response = client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "upload",
    ["units CSV", "questionnaire YAML", "sampling frame CSV", "sample codes CSV", "sample marks"],
)
def test_an_upload_of_one_and_a_half_mib_is_read_and_three_mib_is_413(admin, tree, upload):
    url, fields, start = uploads(tree)[upload]
    status, page = send(admin, url, {**fields, "file": start.ljust(3 * MiB // 2, b"x")})
    assert status == 422, page[:500]  # read, and refused for what it holds
    assert "MiB" not in page and "KiB" not in page

    status, page = send(admin, url, {**fields, "file": start.ljust(3 * MiB, b"x")})
    assert status == 413, page[:500]
    assert "2 MiB" in page and "64 KiB" not in page


def test_other_requests_keep_the_64_kib_limit(admin, api_client):
    status, page = send(
        admin, "/staff/admin/units/new", {"code": "P-T1", "name_vi": "x" * 100 * KiB}
    )
    assert status == 413 and "64 KiB" in page
    api = api_client.post(
        "/api/v1/responses",
        data=b'{"a": "' + b"x" * 100 * KiB + b'"}',
        content_type="application/json",
    )
    assert api.status_code == 413
    assert api.json == {"errors": {"request": ["the request is larger than the 64 KiB limit"]}}


# Nine aliases of nine aliases …: a few hundred bytes that would expand to 9**9 strings.
LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("name", "document", "message"),
    [
        ("nested lists", "key: " + "[" * 5_000 + "]" * 5_000, "nested more than 20 levels"),
        ("nested maps", "key: " + "{a: " * 5_000 + "1" + "}" * 5_000, "nested more than 20 levels"),
        (
            "nested blocks",
            "".join("  " * i + "a:\n" for i in range(500)) + "  " * 500 + "b\n",
            "nested more than 20 levels",
        ),
        ("billion laughs", LAUGHS, "aliases (*name) are not allowed"),
        ("a mebibyte of values", "key: [" + "0," * 400_000 + "]", "more than 20,000 values"),
    ],
)
def test_a_hostile_questionnaire_is_422_saying_why(admin, name, document, message):
    status, page = send(admin, "/staff/admin/questionnaires", {"file": document.encode()})
    assert status == 422, page[:500]
    assert message in page, page[:3000]
