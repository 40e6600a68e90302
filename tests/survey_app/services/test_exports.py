"""Report writers (XLSX, CSV, JSON) and the streamed raw export, with its memory bound."""

import csv
import io
import random
import time
import tracemalloc
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from itertools import zip_longest

import pytest
from openpyxl import load_workbook

from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services import exports
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.sql import bulk_insert
from tests.survey_app.services.test_reporting import (
    COUNTER_ITEMS,
    report_for,
    submit_counter_forms,
)


@pytest.fixture
def report(tree):
    tree.ward.name_vi = '=HYPERLINK("http://x") Phường Đông'  # a hostile name: neutralised
    db.session.commit()
    rng = random.Random(2)
    submit_counter_forms(tree.ward, tree.q1, 40, year=2025, level=0.9, rng=rng)
    return report_for(tree)


def test_neutralise_prefixes_formula_starts_only():
    for text in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx"):
        assert exports.neutralise(text) == "'" + text
    assert exports.neutralise("\r=1\x01") == "\n=1"  # a line break, then text: no formula
    assert exports.neutralise("Phường An Lạc") == "Phường An Lạc"
    assert exports.neutralise(-2.5) == -2.5  # numbers stay numbers


def test_xlsx_has_one_sheet_per_table_numeric_percent_cells_and_frozen_headers(report):
    book = load_workbook(io.BytesIO(exports.report_xlsx(report)))
    assert book.sheetnames == [f"Bang {n}" for n in range(1, 7)]
    sheet = book["Bang 1"]
    assert sheet["A1"].value == "Bảng 1 – Xếp hạng"
    labels = [sheet.cell(r, 1).value for r in range(2, 8)]
    assert labels[:5] == ["Đơn vị", "Kỳ báo cáo", "Bảng hỏi", "Gia quyền", "Khoảng tin cậy"]
    assert sheet.cell(5, 2).value == "Không gia quyền (chưa nhập khung mẫu)"
    header_row = next(r for r in range(1, 20) if sheet.cell(r, 1).value == "Xếp hạng")
    headers = [c.value for c in sheet[header_row]]
    assert headers[:7] == [
        "Xếp hạng",
        "Mã đơn vị",
        "Đơn vị",
        "Chỉ số SIPAS (%)",
        "KTC 95 % – cận dưới (%)",
        "KTC 95 % – cận trên (%)",
        "n phiếu hợp lệ",
    ]
    assert sheet.freeze_panes == f"A{header_row + 1}"
    table = report.table(1)
    for i, row in enumerate(table.rows):
        index_cell = sheet.cell(header_row + 1 + i, 4)
        assert index_cell.data_type == "n"  # a number, not text
        assert index_cell.number_format == "0.00%"
        assert index_cell.value == pytest.approx(row[3])
        assert sheet.cell(header_row + 1 + i, 7).value == row[6]
    ward_name = [sheet.cell(header_row + 1 + i, 3).value for i in range(len(table.rows))]
    assert '\'=HYPERLINK("http://x") Phường Đông' in ward_name
    assert sheet.column_dimensions["C"].width >= len("Tỉnh Thử Nghiệm")
    unavailable = book["Bang 4"]
    assert any(
        "Không thuộc bảng hỏi này" in str(c.value or "")
        for row in unavailable.iter_rows()
        for c in row
    )


def test_csv_round_trips_vietnamese_with_a_bom_and_neutralises_formulas(report):
    data = exports.report_table_csv(report, report.table(1)).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["Bảng 1 – Xếp hạng"]
    header = rows.index(next(r for r in rows if r and r[0] == "Xếp hạng"))
    body = rows[header + 1 :]
    names = [r[2] for r in body]
    assert "Tỉnh Thử Nghiệm" in names
    assert '\'=HYPERLINK("http://x") Phường Đông' in names
    first = report.table(1).rows[0]
    assert float(body[0][3]) == pytest.approx(first[3] * 100, abs=0.005)
    archive = zipfile.ZipFile(io.BytesIO(exports.report_csv_zip(report)))
    assert len(archive.namelist()) == 6
    assert all(name.startswith("sipas-P-2025-bang") for name in archive.namelist())


def test_json_keys_rows_by_column(report):
    data = exports.report_json(report)
    assert data["weighted"] is False and data["weighting"].startswith("Không gia quyền")
    ranking = data["tables"][0]
    assert ranking["columns"][3] == {"key": "sipas", "header": "Chỉ số SIPAS (%)", "kind": "share"}
    assert ranking["rows"][0]["sipas"] == report.table(1).rows[0][3]
    assert data["tables"][3]["available"] is False


# --- raw export -----------------------------------------------------------------------------


def insert_raw(unit, counter, how_many, *, year=2025, comment="Cán bộ tận tình"):
    """Bulk-insert `how_many` sipas-counter responses with answers (raw tables only)."""
    questionnaire, _ = get_current_questionnaire("sipas-counter")
    start = datetime(year, 1, 2, 2, tzinfo=UTC)
    rng = random.Random(how_many)
    for chunk in range(0, how_many, 20_000):
        responses, answers = [], []
        for i in range(chunk, min(how_many, chunk + 20_000)):
            rid = uuid.uuid4()
            moment = start + timedelta(seconds=i * 60 % (300 * 86400))
            responses.append(
                {
                    "id": rid,
                    "questionnaire_id": questionnaire.id,
                    "unit_id": unit.id,
                    "counter_id": counter.id,
                    "channel": "web",
                    "entered_by": "citizen",
                    "locale": "vi",
                    "submitted_at": moment,
                    "received_at": moment,
                    "local_day": (moment + timedelta(hours=7)).date(),
                    "weight": 1.0,
                    "content_hash": "test",
                }
            )
            for item in COUNTER_ITEMS:
                answers.append(
                    {
                        "response_id": rid,
                        "question_key": item,
                        "value": rng.randint(1, 5),
                        "text": None,
                    }
                )
            if i % 10 == 0:
                answers.append(
                    {"response_id": rid, "question_key": "comment", "value": None, "text": comment}
                )
        bulk_insert(Response.__table__, responses)
        bulk_insert(Answer.__table__, answers)
    db.session.commit()


def plan(tree, year=2025, key="sipas-counter"):
    return exports.plan_raw_export(tree.province, year, key, "Asia/Ho_Chi_Minh")


def test_raw_csv_has_one_row_per_response_and_a_column_per_question_key(tree):
    insert_raw(tree.ward, tree.q1, 25, comment="=cmd|' /C calc'!A0 — ý kiến")
    insert_raw(tree.ward, tree.q1, 3, year=2024)
    text = "".join(exports.iter_raw_csv(plan(tree), page_size=10))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert header[:9] == list(exports.RAW_FIXED_COLUMNS)
    assert header[9:] == [*COUNTER_ITEMS, "overall", "comment"]
    assert len(body) == 25  # 2024 left out
    assert len({r[0] for r in body}) == 25  # pages neither skip nor repeat
    assert [r[1] for r in body] == sorted(r[1] for r in body)
    assert body[0][2:6] == ["P-W1", "Phường An Lạc", "Q1", "web"]
    assert body[0][1].startswith("2025-01-02 09:00")  # local time (UTC+7)
    assert all(r[9] in {"1", "2", "3", "4", "5"} for r in body)
    assert body[0][-1] == "'=cmd|' /C calc'!A0 — ý kiến"


def test_raw_multi_choice_is_joined_and_xlsx_matches(tree, tmp_path):
    from survey_app.services.submissions import submit_response

    moment = datetime(2025, 3, 1, 3, tzinfo=UTC)
    submit_response(
        {
            "id": str(uuid.uuid4()),
            "questionnaire": "sipas-annual",
            "version": 2,
            "unit": "P-W1",
            "submitted_at": moment.isoformat(),
            "answers": {"c2": [1, 3], "c9_01": 5, "comment": "+ tốt"},
        },
        channel="interviewer",
        entered_by="staff",
        now=moment,
        survey_year=2025,
    )
    db.session.commit()
    the_plan = plan(tree, key="sipas-annual")
    rows = list(exports.iter_raw_rows(the_plan))
    assert len(rows) == 1
    cells = dict(zip(the_plan.columns, rows[0], strict=True))
    assert cells["c2"] == "1;3" and cells["c9_01"] == 5 and cells["entered_by"] == "staff"
    path = tmp_path / "raw.xlsx"
    assert exports.write_raw_xlsx(the_plan, str(path)) == 1
    sheet = load_workbook(path, read_only=True)["Phieu"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(the_plan.columns)
    row = dict(zip_longest(values[0], values[1]))  # read-only mode drops trailing blanks
    assert row["c2"] == "1;3" and row["c9_01"] == 5 and row["comment"] == "'+ tốt"


def measure_raw_csv(the_plan, page_size):
    """(rows, bytes, peak traced memory, seconds) of consuming the CSV stream. A first small
    run warms SQLAlchemy's statement cache, which is not the export's memory."""
    for _ in zip(range(3), exports.iter_raw_csv(the_plan, page_size=2), strict=False):
        pass
    tracemalloc.start()
    started = time.perf_counter()
    rows = size = 0
    for chunk in exports.iter_raw_csv(the_plan, page_size=page_size):
        rows += chunk.count("\r\n")
        size += len(chunk)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return rows - 1, size, peak, elapsed


def test_raw_csv_memory_follows_the_page_not_the_row_count(tree):
    insert_raw(tree.ward, tree.q1, 600, year=2024)
    insert_raw(tree.ward, tree.q1, 3_000, year=2025)
    small = measure_raw_csv(plan(tree, year=2024), page_size=200)
    large = measure_raw_csv(plan(tree, year=2025), page_size=200)
    assert (small[0], large[0]) == (600, 3_000)
    print(f"\npeak {small[2] / 1e6:.2f} MB (600 rows), {large[2] / 1e6:.2f} MB (3,000 rows)")
    # Five times the rows, about the same peak: it follows the page (200 responses), not the
    # row count; and it stays a few MB (SQLAlchemy's own bookkeeping included).
    assert large[2] < small[2] * 1.5
    assert large[2] < 4 * 1024 * 1024


@pytest.mark.slow
def test_raw_csv_of_200000_responses_in_bounded_memory(tree, backend):
    """Run with `pytest -m slow`. Prints the measured peak memory and time."""
    insert_raw(tree.ward, tree.q1, 200_000)
    rows, size, peak, elapsed = measure_raw_csv(plan(tree), page_size=exports.RAW_PAGE_SIZE)
    print(
        f"\n[{backend}] raw CSV: {rows:,} rows, {size / 1e6:.1f} MB in {elapsed:.1f} s, "
        f"tracemalloc peak {peak / 1e6:.2f} MB"
    )
    assert rows == 200_000
    # Measured: 8.6 MB on SQLite with pages of 1,000 (2 MB with pages of 200 for 3,000 rows).
    assert peak < 16 * 1024 * 1024
