"""The administration pages over HTTP: each page for each role, IDOR refusals, audit entries,
forms refused with their messages, CSRF, and the uploads (units CSV, questionnaire YAML)."""

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from survey_app import create_app
from survey_app.extensions import db, dispose_engines
from survey_app.models import (
    ApiKey,
    AuditEvent,
    ChannelQuestionnaire,
    Counter,
    Questionnaire,
    StaffAccount,
    Target,
    Unit,
)
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.api_keys import authenticate_api_key
from survey_app.services.targets import create_target
from survey_app.services.units import questionnaire_key_for
from tests.conftest import FIXTURES, FreshContextClient, make_config

PASSWORD = "correct horse battery"
QUICK_RATING = Path(__file__).resolve().parents[3] / "questionnaires/definitions/quick-rating.yaml"


def make_account(username: str, *, admin: bool = False, scopes=()) -> int:
    account = create_account(
        username, PASSWORD, display_name=username.title(), is_administrator=admin
    )
    for unit, role in scopes:
        add_scope(account, unit, role)
    db.session.commit()
    return account.id


def sign_in(app, username: str) -> FlaskClient:
    client = app.test_client_class(app, app.response_class, use_cookies=True)
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def committed():
    """The test's session, showing what the requests committed."""
    db.session.rollback()
    return db.session


def count(model) -> int:
    return committed().scalar(sa.select(sa.func.count()).select_from(model))


def events(action: str) -> list[AuditEvent]:
    return list(
        committed().scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def people(app, tree):
    """An administrator, the manager of P-W1, and a viewer of the whole province."""
    make_account("admin", admin=True)
    make_account("ward-manager", scopes=[(tree.ward, "manager")])
    make_account("viewer", scopes=[(tree.province, "viewer")])
    return tree


@pytest.fixture
def admin(app, people) -> FlaskClient:
    return sign_in(app, "admin")


@pytest.fixture
def manager(app, people) -> FlaskClient:
    return sign_in(app, "ward-manager")


@pytest.fixture
def viewer(app, people) -> FlaskClient:
    return sign_in(app, "viewer")


def admin_pages(tree) -> dict[str, str]:
    return {
        "units": "/staff/admin/units",
        "unit_detail": f"/staff/admin/units/{tree.ward.id}",
        "unit_new": "/staff/admin/units/new",
        "counter_edit": f"/staff/admin/counters/{tree.q1.id}",
        "targets": "/staff/admin/targets",
        "target_new": "/staff/admin/targets/new",
        "questionnaires": "/staff/admin/questionnaires",
        "units_import": "/staff/admin/units/import",
        "accounts": "/staff/admin/accounts",
        "account_new": "/staff/admin/accounts/new",
        "api_keys": "/staff/admin/api-keys",
        "audit_log": "/staff/admin/audit",
    }


MANAGER_PAGES = {
    "units",
    "unit_detail",
    "unit_new",
    "counter_edit",
    "targets",
    "target_new",
    "questionnaires",
}


# --- who sees which page ------------------------------------------------------------------------


def test_an_administrator_gets_every_page(admin, people):
    for name, url in admin_pages(people).items():
        response = admin.get(url)
        assert response.status_code == 200, name
        assert "<script" not in text(response)


def test_a_manager_gets_the_unit_pages_and_404_on_the_administrators_pages(manager, people):
    for name, url in admin_pages(people).items():
        expected = 200 if name in MANAGER_PAGES else 404
        assert manager.get(url).status_code == expected, name


def test_a_viewer_gets_404_on_every_admin_page(viewer, people):
    for name, url in admin_pages(people).items():
        assert viewer.get(url).status_code == 404, name


def test_anonymous_requests_are_sent_to_the_login_page(app, people):
    client = app.test_client_class(app, app.response_class)
    for url in admin_pages(people).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    response = client.post(
        f"/staff/admin/units/{people.ward.id}/counters",
        data={"counter-code": "X", "counter-name_vi": "X"},
    )
    assert response.status_code == 302 and count(Counter) == 3


def test_the_pages_are_in_vietnamese_by_default_and_in_english_on_request(admin, people):
    assert "Đơn vị" in text(admin.get("/staff/admin/units"))
    assert "Units and counters" in text(admin.get("/staff/admin/units?lang=en"))


# --- units --------------------------------------------------------------------------------------


def test_the_unit_tree_is_limited_to_the_managed_subtree(admin, manager, people):
    mine = text(manager.get("/staff/admin/units"))
    assert "Phường An Lạc" in mine and "Xã Tân Phú" not in mine
    assert "Tỉnh Thử Nghiệm" not in mine
    everything = text(admin.get("/staff/admin/units"))
    assert all(name in everything for name in ("Phường An Lạc", "Xã Tân Phú", "Tỉnh Thử Nghiệm"))


def test_a_manager_renames_a_unit_and_its_place_name(manager, people):
    response = manager.post(
        f"/staff/admin/units/{people.ward.id}",
        data={
            "name_vi": "Phường An Lạc Mới",
            "name_en": "New An Lac Ward",
            "place_name_vi": "Bộ phận Một cửa phường An Lạc Mới",
            "place_name_en": "",
        },
    )
    assert response.status_code == 302
    ward = committed().get(Unit, people.ward.id)
    assert (ward.name_vi, ward.place_name_vi) == (
        "Phường An Lạc Mới",
        "Bộ phận Một cửa phường An Lạc Mới",
    )
    [event] = events("unit.update")
    assert event.actor == "ward-manager" and event.unit_id == ward.id


def test_optional_fields_left_out_of_a_post_read_as_empty(manager, admin, people):
    """A crafted POST without an optional field (a browser always sends it) was a 500: the
    services took WTForms' None for text."""
    renamed = manager.post(f"/staff/admin/units/{people.ward.id}", data={"name_vi": "Phường Mới"})
    assert renamed.status_code == 302
    assert committed().get(Unit, people.ward.id).name_vi == "Phường Mới"
    created = admin.post(
        "/staff/admin/accounts/new",
        data={
            "username": "khong-chuc-danh",
            "display_name": "Không chức danh",
            "password": "a long enough password",
        },
    )
    assert created.status_code == 302
    account = committed().scalar(
        sa.select(StaffAccount).where(StaffAccount.username == "khong-chuc-danh")
    )
    assert account.title == ""
    edited = admin.post(f"/staff/admin/accounts/{account.id}", data={"display_name": "Đổi tên"})
    assert edited.status_code == 302
    assert committed().get(StaffAccount, account.id).display_name == "Đổi tên"


def test_an_empty_name_is_refused_next_to_the_field(manager, people):
    response = manager.post(f"/staff/admin/units/{people.ward.id}", data={"name_vi": " "})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in text(response)
    assert committed().get(Unit, people.ward.id).name_vi == "Phường An Lạc"


def test_a_manager_creates_a_unit_below_their_own(manager, people):
    response = manager.post(
        "/staff/admin/units/new",
        data={
            "parent": str(people.ward.id),
            "code": "P-W1-T1",
            "name_vi": "Tổ 1",
            "kind": "other",
        },
    )
    assert response.status_code == 302
    unit = committed().scalar(sa.select(Unit).where(Unit.code == "P-W1-T1"))
    assert unit.parent_id == people.ward.id and unit.path.startswith(people.ward.path)
    [event] = events("unit.create")
    assert event.details["parent"] == "P-W1"


def test_only_administrators_create_top_level_units(admin, manager, people):
    data = {"parent": "", "code": "ROOT2", "name_vi": "Tỉnh Hai", "kind": "province"}
    assert manager.post("/staff/admin/units/new", data=data).status_code == 422
    assert count(Unit) == 3
    assert admin.post("/staff/admin/units/new", data=data).status_code == 302
    assert committed().scalar(sa.select(Unit.parent_id).where(Unit.code == "ROOT2")) is None


def test_a_duplicate_unit_code_is_refused_with_the_message(admin, people):
    response = admin.post(
        "/staff/admin/units/new",
        data={"parent": str(people.province.id), "code": "P-W1", "name_vi": "X", "kind": "ward"},
    )
    assert response.status_code == 422
    assert "exists already" in text(response)


def test_counters_are_created_renamed_and_deactivated(manager, people):
    unit_url = f"/staff/admin/units/{people.ward.id}"
    response = manager.post(
        f"{unit_url}/counters",
        data={"counter-code": "Q3", "counter-name_vi": "Quầy 3", "counter-name_en": ""},
    )
    assert response.status_code == 302
    counter = committed().scalar(
        sa.select(Counter).where(Counter.unit_id == people.ward.id, Counter.code == "Q3")
    )
    assert counter.name_en == "Quầy 3"
    assert "Quầy 3" in text(manager.get(unit_url))

    again = manager.post(
        f"{unit_url}/counters", data={"counter-code": "Q3", "counter-name_vi": "Lặp"}
    )
    assert again.status_code == 422 and "already has a counter" in text(again)

    response = manager.post(
        f"/staff/admin/counters/{counter.id}", data={"name_vi": "Quầy 3 – Đất đai", "name_en": ""}
    )
    assert response.status_code == 302
    counter = committed().get(Counter, counter.id)
    assert counter.name_vi == "Quầy 3 – Đất đai" and not counter.active
    assert [e.details["code"] for e in events("counter.create")] == ["Q3"]
    assert events("counter.update")[0].details["active"] is False


def test_channel_questionnaires_are_chosen_and_inherited_again(manager, people):
    url = f"/staff/admin/units/{people.ward.id}/channels"
    data = {"kiosk": "sipas-counter", "qr_counter": "", "qr_dossier": "", "web": ""}
    assert manager.post(url, data=data).status_code == 302
    assert questionnaire_key_for(committed().get(Unit, people.ward.id), "kiosk") == "sipas-counter"
    [event] = events("channel_questionnaire.set")
    assert event.details == {
        "channel": "kiosk",
        "questionnaire": "sipas-counter",
        "previous": None,
    }
    page = text(manager.get(f"/staff/admin/units/{people.ward.id}"))
    assert '<option selected value="sipas-counter">' in page

    assert manager.post(url, data=dict(data, kiosk="")).status_code == 302
    assert count(ChannelQuestionnaire) == 0
    assert questionnaire_key_for(committed().get(Unit, people.ward.id), "kiosk") == "quick-rating"

    unknown = manager.post(url, data=dict(data, kiosk="no-such-questionnaire"))
    assert unknown.status_code == 422 and count(ChannelQuestionnaire) == 0


def test_a_unit_is_deactivated_and_reactivated(manager, people):
    url = f"/staff/admin/units/{people.ward.id}"
    assert manager.post(f"{url}/deactivate").status_code == 302
    assert committed().get(Unit, people.ward.id).active is False
    assert manager.post(f"{url}/activate").status_code == 302
    assert committed().get(Unit, people.ward.id).active is True
    assert [len(events("unit.deactivate")), len(events("unit.activate"))] == [1, 1]


def test_a_merge_is_confirmed_first_then_keeps_the_history_below_the_target(admin, people):
    url = f"/staff/admin/units/{people.commune.id}/merge"
    confirm = admin.post(url, data={"into": str(people.ward.id)})
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in text(confirm)
    assert committed().get(Unit, people.commune.id).merged_into_id is None

    done = admin.post(url, data={"into": str(people.ward.id), "confirm": "yes"})
    assert done.status_code == 302
    commune = committed().get(Unit, people.commune.id)
    assert commune.merged_into_id == people.ward.id and not commune.active
    assert commune.path.startswith(people.ward.path)
    [event] = events("unit.merge")
    assert event.details == {"source": "P-C1", "target": "P-W1"}


def test_a_unit_cannot_be_merged_into_a_unit_below_it(admin, people):
    response = admin.post(
        f"/staff/admin/units/{people.province.id}/merge",
        data={"into": str(people.ward.id), "confirm": "yes"},
    )
    assert response.status_code == 422 and "lies inside" in text(response)
    assert committed().get(Unit, people.ward.id).merged_into_id is None


def test_units_and_counters_are_imported_from_csv(admin, people):
    upload = (FIXTURES / "units_tree.csv").read_bytes()
    response = admin.post(
        "/staff/admin/units/import",
        data={"what": "units", "file": (io.BytesIO(upload), "units.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert committed().scalar(sa.select(Unit.parent_id).where(Unit.code == "HN-AL")) is not None
    counters = (FIXTURES / "counters.csv").read_bytes()
    response = admin.post(
        "/staff/admin/units/import",
        data={"what": "counters", "file": (io.BytesIO(counters), "counters.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert [e.details["created"] for e in events("units.import")] == [4, 3]


def test_a_bad_units_csv_shows_each_problem_with_its_line_and_imports_nothing(admin, people):
    bad = (FIXTURES / "units_bad.csv").read_bytes()
    response = admin.post(
        "/staff/admin/units/import",
        data={"what": "units", "file": (io.BytesIO(bad), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = text(response)
    assert "line 3" in page and "line 4" in page and "line 5" in page
    assert count(Unit) == 3 and events("units.import") == []


# --- IDOR: the manager of P-W1 against P-C1 ------------------------------------------------------


def test_the_manager_of_a_ward_gets_404_for_another_units_pages_and_changes(manager, people):
    commune, province = people.commune, people.province
    commune_counter = committed().scalar(sa.select(Counter).where(Counter.unit_id == commune.id))
    before = (count(Unit), count(Counter), count(ChannelQuestionnaire), count(Target))
    refused = [
        manager.get(f"/staff/admin/units/{commune.id}"),
        manager.post(f"/staff/admin/units/{commune.id}", data={"name_vi": "Bị đổi"}),
        manager.get(f"/staff/admin/counters/{commune_counter.id}"),
        manager.post(f"/staff/admin/counters/{commune_counter.id}", data={"name_vi": "Bị đổi"}),
        manager.post(
            f"/staff/admin/units/{commune.id}/counters",
            data={"counter-code": "X", "counter-name_vi": "X"},
        ),
        manager.post(
            f"/staff/admin/units/{commune.id}/channels",
            data={"kiosk": "sipas-counter", "qr_counter": "", "qr_dossier": "", "web": ""},
        ),
        manager.post(f"/staff/admin/units/{commune.id}/deactivate"),
        # merge: P-C1 as the source, and as the target of the manager's own unit
        manager.post(
            f"/staff/admin/units/{commune.id}/merge",
            data={"into": str(people.ward.id), "confirm": "yes"},
        ),
        manager.post(
            f"/staff/admin/units/{people.ward.id}/merge",
            data={"into": str(commune.id), "confirm": "yes"},
        ),
        # the parent of a new unit, and the unit of a new target, posted in the form
        manager.post(
            "/staff/admin/units/new",
            data={"parent": str(commune.id), "code": "X1", "name_vi": "X", "kind": "other"},
        ),
        manager.post(
            "/staff/admin/targets/new",
            data={
                "metric": "headline",
                "threshold": "90",
                "comparison": ">=",
                "unit": str(commune.id),
                "questionnaire": "",
                "period_kind": "year",
                "source_document": "KH 226/KH-UBND",
            },
        ),
        manager.get(f"/staff/admin/units/{province.id}"),
    ]
    assert [r.status_code for r in refused] == [404] * len(refused)
    for response in refused:
        assert "Xã Tân Phú" not in text(response)
    assert (count(Unit), count(Counter), count(ChannelQuestionnaire), count(Target)) == before
    commune = committed().get(Unit, commune.id)
    assert commune.active and commune.merged_into_id is None and commune.name_vi == "Xã Tân Phú"
    assert committed().get(Unit, people.ward.id).merged_into_id is None


def test_the_manager_of_a_ward_sees_no_other_unit_in_lists_and_choices(manager, people):
    create_target(
        metric="headline",
        threshold=0.8,
        comparison=">=",
        unit=people.commune,
        questionnaire_key=None,
        period_kind="year",
        start_year=None,
        end_year=None,
        source_document="KH P-C1",
    )
    create_target(
        metric="headline",
        threshold=0.9,
        comparison=">=",
        unit=None,
        questionnaire_key=None,
        period_kind="year",
        start_year=None,
        end_year=None,
        source_document="KH toàn tỉnh",
    )
    db.session.commit()
    for url in (
        "/staff/admin/units",
        f"/staff/admin/units/{people.ward.id}",
        "/staff/admin/units/new",
        "/staff/admin/targets",
        "/staff/admin/targets/new",
    ):
        page = text(manager.get(url))
        assert "Xã Tân Phú" not in page and "P-C1" not in page, url
        assert "KH toàn tỉnh" not in page, url
    commune_target = committed().scalar(sa.select(Target.id).where(Target.unit_id.is_not(None)))
    assert manager.post(f"/staff/admin/targets/{commune_target}/delete").status_code == 404
    assert count(Target) == 2


# --- targets ------------------------------------------------------------------------------------


TARGET_FORM = {
    "metric": "headline",
    "threshold": "90",
    "comparison": ">=",
    "questionnaire": "",
    "period_kind": "year",
    "start_year": "2025",
    "end_year": "2030",
    "source_document": "KH 226/KH-UBND",
}


def test_a_manager_adds_and_deletes_a_target_on_their_unit(manager, people):
    response = manager.post("/staff/admin/targets/new", data=dict(TARGET_FORM, unit=people.ward.id))
    assert response.status_code == 302
    target = committed().scalar(sa.select(Target))
    assert (target.unit_id, target.threshold, target.source_document) == (
        people.ward.id,
        0.9,
        "KH 226/KH-UBND",
    )
    page = text(manager.get("/staff/admin/targets"))
    assert "KH 226/KH-UBND" in page and "≥ 90 %" in page
    assert manager.post(f"/staff/admin/targets/{target.id}/delete").status_code == 302
    assert count(Target) == 0
    assert events("target.create")[0].details["source_document"] == "KH 226/KH-UBND"
    assert events("target.delete")[0].unit_id == people.ward.id


def test_target_forms_are_refused_with_messages(admin, manager, people):
    bad = manager.post(
        "/staff/admin/targets/new",
        data=dict(TARGET_FORM, unit=people.ward.id, threshold="150", metric="popularity"),
    )
    assert bad.status_code == 422 and "từ 0 đến 100" in text(bad)
    years = manager.post(
        "/staff/admin/targets/new",
        data=dict(TARGET_FORM, unit=people.ward.id, start_year="2030", end_year="2025"),
    )
    assert years.status_code == 422 and "before the start year" in text(years)
    metric = manager.post(
        "/staff/admin/targets/new", data=dict(TARGET_FORM, unit=people.ward.id, metric="foo")
    )
    assert metric.status_code == 422 and "must be &#39;headline&#39;" in text(metric)
    # Everywhere (no unit) is for administrators only.
    assert (
        manager.post("/staff/admin/targets/new", data=dict(TARGET_FORM, unit="")).status_code == 422
    )
    assert count(Target) == 0
    response = admin.post(
        "/staff/admin/targets/new", data=dict(TARGET_FORM, unit="", metric="factor:C")
    )
    assert response.status_code == 302
    assert committed().scalar(sa.select(Target.unit_id)) is None


# --- questionnaires -----------------------------------------------------------------------------


def upload_yaml(client, content: str, name: str = "q.yaml"):
    return client.post(
        "/staff/admin/questionnaires",
        data={"file": (io.BytesIO(content.encode()), name)},
        content_type="multipart/form-data",
    )


def test_questionnaires_are_listed_and_an_administrator_loads_a_new_version(admin, manager, people):
    listing = text(manager.get("/staff/admin/questionnaires"))
    assert "sipas-annual" in listing and 'type="file"' not in listing
    new_version = QUICK_RATING.read_text().replace("version: 1", "version: 2", 1)
    response = upload_yaml(admin, new_version)
    assert response.status_code == 302
    assert committed().scalar(
        sa.select(Questionnaire).where(
            Questionnaire.key == "quick-rating", Questionnaire.version == 2
        )
    )
    [event] = events("questionnaire.load")
    assert event.details["version"] == 2 and event.details["status"] == "added"
    assert upload_yaml(manager, new_version).status_code == 404


def test_a_refused_definition_shows_every_problem(admin, people):
    broken = QUICK_RATING.read_text().replace("headline: rating", "headline: nothing")
    response = upload_yaml(admin, broken, "quick-rating.yaml")
    assert response.status_code == 422
    assert "headline" in text(response) and "nothing" in text(response)
    not_yaml = upload_yaml(admin, "key: [unclosed")
    assert not_yaml.status_code == 422
    assert count(Questionnaire) == 3 and events("questionnaire.load") == []


def test_a_version_with_responses_cannot_change(admin, people, api_client):
    from tests.survey_app.payloads import quick_payload

    assert api_client.post("/api/v1/responses", json=quick_payload()).status_code == 201
    changed = QUICK_RATING.read_text().replace("Thời gian chờ lâu", "Chờ lâu")
    response = upload_yaml(admin, changed)
    assert response.status_code == 422
    assert "version 2" in text(response)


# --- accounts and scopes ------------------------------------------------------------------------


def test_an_administrator_creates_an_account_and_gives_it_scopes(app, admin, people):
    response = admin.post(
        "/staff/admin/accounts/new",
        data={
            "username": "can-bo.tuphap",
            "display_name": "Nguyễn Văn A",
            "title": "Công chức Tư pháp – Hộ tịch",
            "password": "a long enough password",
        },
    )
    assert response.status_code == 302
    account = committed().scalar(
        sa.select(StaffAccount).where(StaffAccount.username == "can-bo.tuphap")
    )
    assert not account.is_administrator
    url = f"/staff/admin/accounts/{account.id}"
    assert (
        admin.post(f"{url}/scopes", data={"unit": people.ward.id, "role": "manager"}).status_code
        == 302
    )
    scope_id = committed().get(StaffAccount, account.id).scopes[0].id
    assert "Phường An Lạc" in text(admin.get(url))

    new_manager = app.test_client_class(app, app.response_class)
    login = new_manager.post(
        "/login", data={"username": "can-bo.tuphap", "password": "a long enough password"}
    )
    assert login.status_code == 302
    assert new_manager.get(f"/staff/admin/units/{people.ward.id}").status_code == 200

    assert admin.post(f"{url}/scopes/{scope_id}/remove").status_code == 302
    assert committed().get(StaffAccount, account.id).scopes == []
    assert [e.details["role"] for e in events("scope.add") + events("scope.remove")] == [
        "manager",
        "manager",
    ]
    assert events("account.create")[0].details["account"] == "can-bo.tuphap"


def test_account_problems_are_shown_next_to_the_fields(admin, people):
    response = admin.post(
        "/staff/admin/accounts/new",
        data={"username": "Bad Name!", "display_name": "X", "password": "short"},
    )
    assert response.status_code == 422
    page = text(response)
    assert "lower-case letters" in page and "at least 10 characters" in page
    assert count(StaffAccount) == 3


def test_the_password_is_set_and_never_written_to_the_audit_log(app, admin, people):
    viewer_id = committed().scalar(
        sa.select(StaffAccount.id).where(StaffAccount.username == "viewer")
    )
    viewer = sign_in(app, "viewer")
    url = f"/staff/admin/accounts/{viewer_id}/password"
    differ = admin.post(url, data={"password": "new password 123", "password_again": "other one"})
    assert differ.status_code == 422
    done = admin.post(
        url, data={"password": "new password 123", "password_again": "new password 123"}
    )
    assert done.status_code == 302
    # The viewer's session ended with the password change.
    assert viewer.get("/staff/").status_code == 302
    assert sign_in_with(app, "viewer", "new password 123") == 302
    [event] = events("account.password")
    assert event.details == {"account": "viewer", "account_id": viewer_id}
    everything = " ".join(str(e.details) for e in committed().scalars(sa.select(AuditEvent)))
    assert "new password 123" not in everything and PASSWORD not in everything


def sign_in_with(app, username: str, password: str) -> int:
    client = app.test_client_class(app, app.response_class)
    return client.post("/login", data={"username": username, "password": password}).status_code


def test_an_administrator_changes_their_own_password_and_stays_signed_in(admin, people):
    admin_id = committed().scalar(
        sa.select(StaffAccount.id).where(StaffAccount.username == "admin")
    )
    response = admin.post(
        f"/staff/admin/accounts/{admin_id}/password",
        data={"password": "another password", "password_again": "another password"},
    )
    assert response.status_code == 302
    assert admin.get("/staff/admin/accounts").status_code == 200


def test_the_profile_is_edited(admin, people):
    viewer_id = committed().scalar(
        sa.select(StaffAccount.id).where(StaffAccount.username == "viewer")
    )
    response = admin.post(
        f"/staff/admin/accounts/{viewer_id}",
        data={"display_name": "Trần Thị B", "title": "Chuyên viên"},
    )
    assert response.status_code == 302
    assert committed().get(StaffAccount, viewer_id).title == "Chuyên viên"
    assert len(events("account.update")) == 1


def test_the_last_active_administrator_cannot_be_deactivated(app, admin, people):
    admin_id = committed().scalar(
        sa.select(StaffAccount.id).where(StaffAccount.username == "admin")
    )
    response = admin.post(f"/staff/admin/accounts/{admin_id}/deactivate")
    assert response.status_code == 422
    assert committed().get(StaffAccount, admin_id).active
    assert events("account.deactivate") == []

    second = make_account("admin2", admin=True)
    assert admin.post(f"/staff/admin/accounts/{second}/deactivate").status_code == 302
    assert not committed().get(StaffAccount, second).active
    assert sign_in_with(app, "admin2", PASSWORD) == 401
    assert admin.post(f"/staff/admin/accounts/{second}/activate").status_code == 302
    assert sign_in_with(app, "admin2", PASSWORD) == 302
    assert len(events("account.deactivate")) == len(events("account.activate")) == 1


def test_unknown_accounts_and_scopes_are_404(admin, people):
    assert admin.get("/staff/admin/accounts/999999").status_code == 404
    viewer_id = committed().scalar(
        sa.select(StaffAccount.id).where(StaffAccount.username == "viewer")
    )
    manager_scope = (
        committed()
        .scalar(sa.select(StaffAccount).where(StaffAccount.username == "ward-manager"))
        .scopes[0]
    )
    # Another account's scope through this account's URL.
    response = admin.post(f"/staff/admin/accounts/{viewer_id}/scopes/{manager_scope.id}/remove")
    assert response.status_code == 404
    assert count(type(manager_scope)) == 2


# --- API keys -----------------------------------------------------------------------------------


def test_an_api_key_secret_is_shown_once_and_authenticates_until_revoked(admin, people):
    response = admin.post(
        "/staff/admin/api-keys",
        data={
            "name": "Hệ thống một cửa điện tử",
            "purpose": "dossier_codes",
            "unit": people.ward.id,
        },
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    [secret] = re.findall(r"sk_[0-9a-f]+_[A-Za-z0-9_-]+", text(response))
    db.session.rollback()
    key = authenticate_api_key(secret, "dossier_codes")
    assert key is not None and key.unit_id == people.ward.id
    db.session.commit()
    listing = text(admin.get("/staff/admin/api-keys"))
    assert secret not in listing and key.prefix in listing
    [event] = events("api_key.create")
    assert secret.split("_", 2)[2] not in str(event.details)  # the secret may hold "_" too

    assert admin.post(f"/staff/admin/api-keys/{key.id}/revoke").status_code == 302
    db.session.rollback()
    assert authenticate_api_key(secret, "dossier_codes") is None
    assert events("api_key.revoke")[0].details["prefix"] == key.prefix


def test_an_api_key_without_a_name_is_refused(admin, people):
    response = admin.post(
        "/staff/admin/api-keys",
        data={"name": "", "purpose": "read_figures", "unit": people.ward.id},
    )
    assert response.status_code == 422 and count(ApiKey) == 0


# --- audit log ----------------------------------------------------------------------------------


def test_the_audit_log_filters_and_pages_back(admin, people):
    admin.post(f"/staff/admin/units/{people.ward.id}/deactivate")
    admin.post(f"/staff/admin/units/{people.ward.id}/activate")
    page = text(admin.get("/staff/admin/audit"))
    assert page.index("unit.activate") < page.index("unit.deactivate") < page.index(">login<")
    filtered = text(admin.get("/staff/admin/audit?action=unit.&actor=admin"))
    assert "unit.activate" in filtered and ">login<" not in filtered
    newest = events("unit.activate")[0].id
    older = text(admin.get(f"/staff/admin/audit?before={newest}"))
    assert "unit.activate" not in older and "unit.deactivate" in older
    assert "<table" not in text(admin.get("/staff/admin/audit?actor=nobody"))


# --- CSRF ---------------------------------------------------------------------------------------


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(database_url, app, people):
    protected = create_app(make_config(database_url, WTF_CSRF_ENABLED=True))
    client = FreshContextClient(protected, protected.response_class)
    try:
        login_page = text(client.get("/login"))
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
        signed_in = client.post(
            "/login", data={"username": "ward-manager", "password": PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 302
        page = text(client.get(f"/staff/admin/units/{people.ward.id}"))
        assert 'name="csrf_token"' in page
        forged = client.post(
            f"/staff/admin/units/{people.ward.id}/counters",
            data={"counter-code": "Q9", "counter-name_vi": "Q9"},
        )
        assert forged.status_code == 400
    finally:
        with protected.app_context():
            dispose_engines()
    assert count(Counter) == 3 and events("counter.create") == []
