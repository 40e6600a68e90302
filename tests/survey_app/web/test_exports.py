"""The report pages and downloads, the raw export, the frame import page, the API and the CLI:
scope, formats, audit."""

import csv
import io
import json
import random
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import AuditEvent, SamplingFrame
from survey_app.services.accounts import add_scope, create_account
from survey_app.services.api_keys import create_api_key
from tests.survey_app.services.test_exports import insert_raw
from tests.survey_app.services.test_reporting import submit_counter_forms

PASSWORD = "correct horse battery"


@pytest.fixture
def data(tree):
    submit_counter_forms(tree.ward, tree.q1, 35, year=2025, level=0.9, rng=random.Random(1))
    return tree


def sign_in(app, client, tree, *, role="manager", unit=None):
    account = create_account(f"user-{role}", PASSWORD, display_name="Cán bộ Thử")
    add_scope(account, unit or tree.ward, role)
    db.session.commit()
    response = client.post("/login", data={"username": account.username, "password": PASSWORD})
    assert response.status_code == 302
    return account


def events(action):
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_reports_page_shows_tables_and_download_links_in_scope_only(app, client, data):
    sign_in(app, client, data, role="viewer")
    page = client.get("/staff/reports?year=2025")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Bảng 1 – Xếp hạng" in html and "Bảng 3 – Tiêu chí" in html
    assert "Không gia quyền (chưa nhập khung mẫu)" in html
    assert f"/staff/reports/{data.ward.id}/2025.xlsx" in html
    assert f"/staff/exports/raw/{data.ward.id}/2025.csv" in html
    assert "Xã Tân Phú" not in html  # P-C1 is outside the viewer's scope
    assert "/staff/reports/frame" not in html  # viewers do not import frames
    assert client.get(f"/staff/reports?unit={data.commune.id}").status_code == 404
    assert 'href="/staff/reports"' in html  # the nav link


def test_xlsx_download_is_audited_and_opens(app, client, data):
    sign_in(app, client, data)
    response = client.get(f"/staff/reports/{data.ward.id}/2025.xlsx")
    assert response.status_code == 200
    assert "spreadsheetml" in response.mimetype
    assert "sipas-P-W1-2025-sipas-counter.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert len(book.sheetnames) == 6
    (event,) = events("export.report")
    assert event.unit_id == data.ward.id
    assert event.details["format"] == "xlsx" and event.details["year"] == 2025
    assert event.details["rows"] > 0 and "answers" not in event.details


def test_csv_zip_one_table_json_and_print(app, client, data):
    sign_in(app, client, data)
    base = f"/staff/reports/{data.ward.id}/2025"
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{base}.csv").data))
    assert len(archive.namelist()) == 6
    one = client.get(f"{base}.csv?table=3")
    assert one.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert one.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(one.data.decode("utf-8-sig"))))
    assert rows[0] == ["Bảng 3 – Tiêu chí"]
    assert client.get(f"{base}.csv?table=9").status_code == 404
    body = json.loads(client.get(f"{base}.json").data)
    assert body["unit"] == "P-W1" and len(body["tables"]) == 6
    printed = client.get(f"{base}.print")
    assert printed.status_code == 200 and b"<svg" in printed.data
    assert client.get(f"{base}.pdf").status_code == 404
    assert client.get(f"/staff/reports/{data.commune.id}/2025.xlsx").status_code == 404
    assert len(events("export.report")) == 4


def test_raw_export_streams_csv_and_xlsx_and_is_audited(app, client, tree):
    insert_raw(tree.ward, tree.q1, 12)
    insert_raw(tree.commune, tree.commune.counters[0], 5)
    sign_in(app, client, tree, role="viewer")
    response = client.get(f"/staff/exports/raw/{tree.ward.id}/2025.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 13 and {r[2] for r in rows[1:]} == {"P-W1"}
    xlsx = client.get(f"/staff/exports/raw/{tree.ward.id}/2025.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.get_data()))["Phieu"]
    assert sheet.max_row == 13
    assert client.get(f"/staff/exports/raw/{tree.commune.id}/2025.csv").status_code == 404
    audited = events("export.raw")
    assert [(e.details["format"], e.details["rows"]) for e in audited] == [
        ("csv", 12),
        ("xlsx", 12),
    ]


def test_frame_import_page_is_for_managers_and_reports_line_errors(app, client, data):
    sign_in(app, client, data)
    assert client.get("/staff/reports/frame?year=2025").status_code == 200
    bad = client.post(
        "/staff/reports/frame",
        data={
            "year": "2025",
            "file": (
                io.BytesIO(b"unit_code,service_area,transactions\nP-C1,x,5\n"),
                "f.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert "line 2" in bad.get_data(as_text=True)
    good = client.post(
        "/staff/reports/frame",
        data={
            "year": "2025",
            "file": (
                io.BytesIO(
                    "unit_code,service_area,transactions\nP-W1,(chưa phân loại),900\n".encode()
                ),
                "f.csv",
            ),
        },
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(SamplingFrame.transactions)) == 900
    (event,) = events("frame.import")
    assert event.details == {"year": 2025, "rows": 1, "units": 1, "transactions": 900}
    page = client.get(f"/staff/reports?year=2025&unit={data.ward.id}").get_data(as_text=True)
    assert "Gia quyền theo khung mẫu năm 2025" in page


def test_api_report_with_a_key_and_scope(app, client, data):
    _key, secret = create_api_key("report", "read_figures", data.ward, created_by=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    response = client.get("/api/v1/reports/annual?year=2025", headers=headers)
    assert response.status_code == 200
    assert response.json["unit"] == "P-W1" and response.json["tables"][0]["rows"]
    assert client.get("/api/v1/reports/annual?unit=P-C1", headers=headers).status_code == 404
    assert client.get("/api/v1/reports/annual").status_code == 401
    assert client.get("/api/v1/reports/annual?year=x", headers=headers).status_code == 400
    (event,) = events("export.report")
    assert event.actor == "api-key" and event.details["format"] == "api-json"


def test_cli_export_and_frame_import(app, runner, data, tmp_path):
    frame = tmp_path / "frame.csv"
    frame.write_text("unit_code,service_area,transactions\nP-W1,(chưa phân loại),500\n", "utf-8")
    result = runner.invoke(args=["sipas", "import-frame", "--year", "2025", str(frame)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "r.xlsx"
    result = runner.invoke(
        args=[
            "sipas",
            "export",
            "--year",
            "2025",
            "--unit",
            "P",
            "--format",
            "xlsx",
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["Bang 1"]
    assert any("Gia quyền theo khung mẫu" in str(c.value) for c in sheet["B"])
    raw = tmp_path / "raw.csv"
    result = runner.invoke(
        args=[
            "sipas",
            "export",
            "--year",
            "2025",
            "--unit",
            "P-W1",
            "--format",
            "csv",
            "--raw",
            "--output",
            str(raw),
        ]
    )
    assert result.exit_code == 0 and "35 responses" in result.output
    assert raw.read_bytes().startswith(b"\xef\xbb\xbf")
    bad = runner.invoke(args=["sipas", "import-frame", "--year", "2025", str(raw)])
    assert bad.exit_code != 0 and "nothing was changed" in bad.output
    assert {e.actor for e in events("export.raw")} == {"cli"}
