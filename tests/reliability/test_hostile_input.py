"""Hostile input against POST /api/v1/responses, property-based (Hypothesis): wrong types, huge and
deeply nested JSON, invalid UTF-8, unknown keys, out-of-range values, duplicated keys, oversized
comments, HTML/script, NUL and lone surrogates in every text field.

Every invalid body must get a 4xx whose JSON body says what is wrong ({"errors": {field:
[message, …]}}), never a 5xx, and leave every table exactly as it was. The Flask test client
is used (not a server) so that thousands of cases run in seconds; HOSTILE_EXAMPLES (default
150 per property, about 3,500 cases over both backends) sets the number of cases per property.
"""

import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services.rollup import settle_pending
from tests.reliability.known_bugs import KNOWN_BUGS, known_bug, xfail_if_known
from tests.survey_app.conftest import key_client
from tests.survey_app.payloads import counter_payload, quick_payload

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "150"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The app, its database and the unit tree are built once per test; every example leaves
    # them unchanged (that is what is asserted), so sharing them across examples is sound.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
URL = "/api/v1/responses"
# An error message is for a person: long enough to say what is wrong, never an echo of a
# 60 KiB value.
MAX_MESSAGE_CHARS = 500


# What the database holds, in one round trip, for every table the models define.


def snapshot() -> tuple[int, ...]:
    db.session.rollback()  # see what the requests committed
    counts = [select(func.count()).select_from(table).scalar_subquery() for table in tables()]
    return tuple(db.session.execute(select(*counts)).one())


def tables():
    """Every table but the rate limits' counts: a request is counted against its key's limit
    whatever its body holds, and that count is no response data."""
    return [t for t in db.metadata.sorted_tables if t.name != "rate_limit_hits"]


@pytest.fixture
def client(app, tree):
    """A partner app's client: an API key for submit_responses over the whole test province,
    its per-minute limit lifted (these tests send thousands of bodies)."""
    app.config["API_KEY_SUBMISSIONS_PER_MINUTE"] = 10**9
    return key_client(app, tree.province)


@pytest.fixture
def untouched(tree):
    """The database's row counts now; `check()` asserts they did not move."""
    before = snapshot()

    def check(what: object) -> None:
        after = snapshot()
        assert after == before, f"the database changed after {what!r:.300}: " + ", ".join(
            f"{t.name} {b}→{a}" for t, b, a in zip(tables(), before, after, strict=True) if a != b
        )

    return check


def post(client, body: bytes, content_type: str = "application/json"):
    return client.post(URL, data=body, content_type=content_type)


def has_text(value, is_bad) -> bool:
    """Whether `is_bad` holds for a string anywhere in `value` (keys included)."""
    if isinstance(value, str):
        return is_bad(value)
    if isinstance(value, dict):
        return any(has_text(k, is_bad) or has_text(v, is_bad) for k, v in value.items())
    if isinstance(value, list):
        return any(has_text(v, is_bad) for v in value)
    return False


def has_lone_surrogate(value) -> bool:
    return has_text(value, lambda text: any("\ud800" <= c <= "\udfff" for c in text))


def expected_refusal(payload, field: str) -> dict:
    """422 naming the field; but a lone surrogate or a NUL anywhere makes the whole body
    unreadable as text, which is a 400 about the request (survey_app/web/jsonbody.py)."""
    if has_lone_surrogate(payload) or has_text(payload, lambda text: "\x00" in text):
        return {"field": "request", "status": 400}
    return {"field": field, "status": 422}


def assert_refused(response, *, field: str | None = None, status: int | None = None) -> dict:
    """A 4xx with a JSON body {"errors": {field: [message, …]}} a person can act on."""
    text = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, text[:500])
    if status is not None:
        assert response.status_code == status, text[:500]
    assert response.mimetype == "application/json", response.mimetype
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    errors = response.json["errors"]
    assert isinstance(errors, dict) and errors, errors
    for key, messages in errors.items():
        assert isinstance(key, str)
        assert isinstance(messages, list) and messages, (key, messages)
        for message in messages:
            assert isinstance(message, str) and message.strip(), (key, message)
            if "long echo" not in KNOWN_BUGS:
                assert len(message) <= MAX_MESSAGE_CHARS, (key, len(message), message[:200])
    if field is not None:
        assert field in errors, (field, errors)
    return errors


def encode(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=True).encode()


# Building blocks


VALID_PAYLOADS = st.builds(quick_payload) | st.builds(counter_payload)
HTML = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "<svg/onload=alert(1)>",
        "javascript:alert(1)",
        "</textarea><script>fetch('//evil')</script>",
        "{{ 7*7 }}{% debug %}",
        "' OR 1=1 --",
        "Robert'); DROP TABLE responses;--",
    ]
)
# Text the JSON layer lets through but a database or a hash may not: NUL, lone surrogates
# (sent as \ud800 escapes, valid JSON and valid UTF-8 on the wire), controls, RTL marks.
AWKWARD = st.sampled_from(["\x00", "\ud800", "\udfff", "a\udc80b", "\x1b[31m", "\u202e", "\ufeff"])
TEXT = st.one_of(
    st.text(max_size=40),
    HTML,
    AWKWARD,
    st.tuples(st.text(max_size=10), AWKWARD | HTML, st.text(max_size=10)).map("".join),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# What a field must be, to build values it must not be.
STRING_FIELDS = ["id", "questionnaire", "unit", "locale", "channel", "submitted_at"]


def not_a_string(nullable: bool):
    values = JSON_VALUES.filter(lambda v: not isinstance(v, str))
    return values.filter(lambda v: v is not None) if nullable else values


# Properties


@HOSTILE
@given(data=st.data())
def test_a_field_of_the_wrong_type_is_422_naming_that_field(client, untouched, backend, data):
    payload = data.draw(VALID_PAYLOADS)
    field = data.draw(st.sampled_from([*STRING_FIELDS, "counter", "version", "answers"]))
    if field == "version":
        value = data.draw(
            JSON_VALUES.filter(lambda v: not isinstance(v, int) or isinstance(v, bool) or v < 1)
        )
    elif field == "answers":
        value = data.draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
    else:
        # An absent (null) counter or submitted_at is allowed: it means "none" and "now".
        value = data.draw(not_a_string(nullable=field in ("counter", "submitted_at")))
    payload[field] = value
    assume(known_bug(payload, backend) is None)
    assert_refused(post(client, encode(payload)), **expected_refusal(payload, field))
    untouched(payload)


@HOSTILE
@given(payload=VALID_PAYLOADS, data=st.data())
def test_a_wrong_answer_value_is_422_naming_that_question(
    client, untouched, backend, payload, data
):
    key = data.draw(st.sampled_from(sorted(payload["answers"])))
    if key in ("comment", "reason_text"):
        # (null and [] are a skipped question, which is allowed)
        value = data.draw(
            JSON_VALUES.filter(lambda v: v not in (None, []) and not isinstance(v, str))
        )
    else:
        out_of_range = st.integers().filter(lambda v: not 1 <= v <= 5)
        value = data.draw(
            out_of_range
            | st.integers(min_value=2**63 - 2, max_value=2**80)
            | st.booleans()
            | st.floats(allow_nan=False, allow_infinity=False)
            | TEXT.filter(lambda v: v.strip())
            | st.lists(st.integers(), min_size=1, max_size=3)
            | st.dictionaries(st.text(max_size=3), SCALARS, min_size=1, max_size=2)
        )
    payload["answers"][key] = value
    assume(known_bug(payload, backend) is None)
    assert_refused(post(client, encode(payload)), **expected_refusal(payload, f"answers.{key}"))
    untouched(payload)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    version=st.integers(min_value=2, max_value=2**80) | st.integers(max_value=0),
    reasons=st.lists(st.integers(min_value=-(2**64), max_value=2**64), min_size=1, max_size=60),
)
def test_out_of_range_numbers_are_422(client, untouched, backend, payload, version, reasons):
    bad_version = dict(payload, version=version)
    assume(known_bug(bad_version, backend) is None)
    assert_refused(post(client, encode(bad_version)), field="version", status=422)
    untouched(bad_version)
    if set(reasons) <= set(range(1, 7)) and len(set(reasons)) == len(reasons):
        reasons = [*reasons, 0]  # make sure the list breaks a rule
    bad_reasons = quick_payload(answers={"rating": 1, "reasons": reasons})
    assert_refused(post(client, encode(bad_reasons)), field="answers.reasons", status=422)
    untouched(bad_reasons)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    key=TEXT.filter(
        lambda k: (
            k
            not in {"id", "questionnaire", "version", "unit", "counter", "channel", "locale"}
            | {"submitted_at", "answers"}
        )
    ),
    value=JSON_VALUES,
    where=st.sampled_from(["top", "answers"]),
)
def test_an_unknown_key_is_422_naming_it(client, untouched, backend, payload, key, value, where):
    if where == "top":
        payload[key] = value
        field = key
    else:
        if key in payload["answers"] or key in ("reasons", "reason_text", "overall", "rating"):
            key += "_x"
        if key.startswith("c9_"):
            key = "x" + key
        payload["answers"][key] = value
        field = f"answers.{key}"
    assume(known_bug(payload, backend) is None)
    expected = expected_refusal(payload, field)
    errors = assert_refused(post(client, encode(payload)), status=expected["status"])
    assert expected["field"] in errors, (field, errors)
    untouched(payload)


@HOSTILE
@given(payload=VALID_PAYLOADS, data=st.data())
def test_a_duplicated_key_is_400(client, untouched, payload, data):
    nested = data.draw(st.booleans())
    target = payload["answers"] if nested else payload
    key = data.draw(st.sampled_from(sorted(target)))
    second = data.draw(st.just(target[key]) | JSON_VALUES)

    def members(obj: dict, duplicate: bool) -> str:
        pairs = [f"{json.dumps(k)}: {body(v)}" for k, v in obj.items()]
        if duplicate:
            pairs.insert(
                data.draw(st.integers(0, len(pairs))), f"{json.dumps(key)}: {body(second)}"
            )
        return "{" + ", ".join(pairs) + "}"

    def body(value) -> str:
        return json.dumps(value)

    if nested:
        text = members({**payload, "answers": "@@"}, False).replace(
            '"@@"', members(payload["answers"], True)
        )
    else:
        text = members(payload, True)
    errors = assert_refused(post(client, text.encode()), field="request", status=400)
    assert "appears twice" in errors["request"][0]
    untouched(text)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    position=st.floats(min_value=0, max_value=1),
    garbage=st.sampled_from(
        [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]
    ),
)
def test_invalid_utf8_anywhere_is_400(client, untouched, payload, position, garbage):
    raw = json.dumps(payload, ensure_ascii=False).encode()
    at = int(position * len(raw))
    body = raw[:at] + garbage + raw[at:]
    errors = assert_refused(post(client, body), field="request", status=400)
    assert "UTF-8" in errors["request"][0]
    untouched(body)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    depth=st.integers(min_value=1, max_value=200_000),
    kind=st.sampled_from(["[", '{"a":']),
    field=st.sampled_from(["answers", "unit", "comment", "extra"]),
)
def test_deeply_nested_json_is_a_clear_4xx(client, untouched, payload, depth, kind, field):
    close = "]" if kind == "[" else "}"
    nested = kind * depth + "1" + close * depth
    marker = '"@@nested@@"'
    if field == "comment":
        payload["answers"]["comment"] = "@@nested@@"
    else:
        payload[field] = "@@nested@@"
    body = json.dumps(payload).replace(marker, nested).encode()
    assert_refused(post(client, body))
    untouched(depth)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    size=st.integers(min_value=1_001, max_value=200_000),  # a comment may have 1,000 characters
    shape=st.sampled_from(["string", "list", "object", "keys", "comment"]),
)
def test_huge_bodies_are_a_clear_4xx(client, untouched, payload, size, shape):
    if shape == "string":
        payload["unit"] = "U" * size
    elif shape == "list":
        payload["answers"]["rating"] = [1] * (size // 3)
    elif shape == "object":
        payload["answers"] = {f"q{n}": n for n in range(size // 12)}
    elif shape == "keys":
        payload.update({f"k{n}": None for n in range(size // 12)})
    else:
        payload["answers"]["comment"] = "ý" * size
        payload["questionnaire"] = "sipas-counter"
    body = encode(payload)
    response = post(client, body)
    assert_refused(response)
    if len(body) > client.application.config["MAX_CONTENT_LENGTH"]:
        assert response.status_code == 413
    untouched(len(body))


@HOSTILE
@given(
    length=st.integers(min_value=1_001, max_value=20_000),
    letters=st.sampled_from(["a", "ý", "<script>", "😀", " x"]),
)
def test_an_oversized_comment_is_422_with_the_limit(client, untouched, length, letters):
    comment = (letters * length)[: max(length, 1_001)]
    payload = counter_payload()
    payload["answers"]["comment"] = "x" + comment
    response = post(client, encode(payload))
    if response.status_code == 413:
        assert_refused(response, field="request")
    else:
        errors = assert_refused(response, field="answers.comment", status=422)
        assert "1,000" in errors["answers.comment"][0]
    untouched(length)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    field=st.sampled_from([*STRING_FIELDS, "counter", "answer key", "answer value"]),
    text=st.tuples(st.text(max_size=5), HTML | AWKWARD, st.text(max_size=5)).map("".join),
)
def test_html_nul_and_surrogates_in_any_text_field_are_refused_cleanly(
    client, untouched, backend, payload, field, text
):
    if field == "answer key":
        payload["answers"][text] = 1
        expected = f"answers.{text}"
    elif field == "answer value":
        key = next(k for k in payload["answers"] if k not in ("comment", "reasons"))
        payload["answers"][key] = text
        expected = f"answers.{key}"
    else:
        payload[field] = text
        expected = field
    assume(known_bug(payload, backend) is None)
    refusal = expected_refusal(payload, expected)
    errors = assert_refused(post(client, encode(payload)), status=refusal["status"])
    assert refusal["field"] in errors, (refusal["field"], errors)
    untouched(payload)


@HOSTILE
@given(
    payload=VALID_PAYLOADS,
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
    | st.datetimes(timezones=st.none()),
    form=st.sampled_from(["iso", "space", "date only", "edge"]),
    edge=st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-23:59",
            "9999-12-31T23:59:59.999999-01:00",
            "2026-02-30T10:00:00Z",
            "2026-11-22T25:00:00+07:00",
            "2026-11-22T10:00:00+24:00",
            "NaN",
            "",
        ]
    ),
)
def test_a_submission_time_out_of_range_or_malformed_is_422(
    client, untouched, backend, payload, moment, form, edge
):
    now = datetime.now(UTC)
    if moment.tzinfo is not None and moment.astimezone(UTC) < now + timedelta(minutes=6):
        # A machine client's past time is not an error (the time of arrival is stored): keep
        # every case invalid by moving it into the future (2400: a leap year).
        moment = moment.replace(year=2400)
    text = {
        "iso": moment.isoformat(),
        "space": moment.isoformat(sep=" "),
        "date only": moment.date().isoformat(),
        "edge": edge,
    }[form]
    payload["submitted_at"] = text
    assume(known_bug(payload, backend) is None)
    assert_refused(post(client, encode(payload)), **expected_refusal(payload, "submitted_at"))
    untouched(text)


# Not property-based: the envelope around the body.


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"{}", 415),
        ("application/x-www-form-urlencoded", b"id=1", 415),
        ("multipart/form-data; boundary=x", b"--x--", 415),
        ("application/json", b"", 400),
        ("application/json", b"null", 400),
        ("application/json", b'"a string"', 400),
        ("application/json", b"\xef\xbb\xbf{}", 400),  # a byte-order mark is not JSON
        ("application/json", b'{"version": Infinity}', 400),
        ("application/json", b'{"version": 1e999999}', 422),  # parses as inf: not a version
        ("application/json", b'{"version": ' + b"9" * 5000 + b"}", 400),
    ],
)
def test_the_envelope_is_checked_before_the_content(client, untouched, content_type, body, status):
    assert_refused(post(client, body, content_type), status=status)
    untouched(body)


def test_other_methods_on_the_collection_are_405_json(client, untouched):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.open(URL, method=method)
        assert_refused(response, status=405)
    untouched("methods")


def test_html_in_a_comment_is_stored_verbatim_and_never_echoed(client, tree):
    payload = counter_payload()
    payload["answers"]["comment"] = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
    response = post(client, encode(payload))
    assert response.status_code == 201, response.json
    assert "<script" not in response.get_data(as_text=True)
    db.session.rollback()
    settle_pending()
    stored = db.session.scalar(
        select(Answer.text).where(
            Answer.response_id == uuid.UUID(payload["id"]), Answer.question_key == "comment"
        )
    )
    assert stored == payload["answers"]["comment"]
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1


# The bugs these properties found, one plain case each (strict xfail while listed in
# tests/reliability/known_bugs.py; see that module for how to lift them).

BUG_CASES = [
    ("surrogates", "unit", lambda: quick_payload(unit="\ud800")),
    ("surrogates", "questionnaire", lambda: quick_payload(questionnaire="quick\udfff")),
    ("surrogates", "counter", lambda: quick_payload(counter="Q\ud800")),
    (
        "surrogates",
        "answers.reason_text",
        lambda: quick_payload(answers={"rating": 1, "reason_text": "chờ lâu \ud800"}),
    ),
    ("nul in codes", "unit", lambda: quick_payload(unit="P-W1\x00")),
    ("nul in codes", "questionnaire", lambda: quick_payload(questionnaire="quick-rating\x00")),
    ("nul in codes", "counter", lambda: quick_payload(counter="Q1\x00")),
    ("huge version", "version", lambda: quick_payload(version=2**31)),  # PostgreSQL's limit
    ("huge version", "version", lambda: quick_payload(version=2**63)),  # SQLite's too
    ("date overflow", "submitted_at", lambda: quick_payload(submitted_at="0001-01-01T00:00+14:00")),
    (
        "date overflow",
        "submitted_at",
        lambda: quick_payload(submitted_at="9999-12-31T23:59:59.999999-01:00"),
    ),
]


@pytest.mark.parametrize(
    ("bug", "field", "make"),
    BUG_CASES,
    ids=[f"{bug}-{field}-{n}" for n, (bug, field, _) in enumerate(BUG_CASES)],
)
def test_known_bug_inputs_are_422_not_500(request, client, untouched, backend, bug, field, make):
    payload = make()
    if known_bug(payload, backend) == bug:  # e.g. version 2**31 is a 422 on SQLite already
        xfail_if_known(request, bug, backend)
    assert_refused(post(client, encode(payload)), **expected_refusal(payload, field))
    untouched(payload)


def test_known_bug_nul_in_a_questionnaire_key_is_400_not_500(request, client, backend):
    xfail_if_known(request, "nul in codes", backend)
    response = client.get("/api/v1/questionnaires/quick-rating%00")
    assert_refused(response, field="key", status=400)


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("unit", lambda: quick_payload(unit="U" * 60_000)),
        ("channel", lambda: quick_payload(channel="x" * 60_000)),
        ("answers.rating", lambda: quick_payload(answers={"rating": [0] * 20_000})),
    ],
)
def test_known_bug_messages_do_not_echo_a_huge_value(
    request, client, untouched, backend, field, make
):
    xfail_if_known(request, "long echo", backend)
    errors = assert_refused(post(client, encode(make())), field=field, status=422)
    assert all(len(message) <= MAX_MESSAGE_CHARS for message in errors[field]), errors[field][0][
        :80
    ]
    untouched(field)
