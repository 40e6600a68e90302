"""CSV exports opened in a real spreadsheet: LibreOffice Calc (headless) reads the raw and report
CSV files splitting on a comma, a semicolon or a tab, as a person in a locale whose decimal
separator is the comma would, and no cell becomes a formula however the comments and names
were written.

LibreOffice is Debian's `libreoffice-calc-nogui` (`make test` installs it). Each conversion
writes a flat ODF spreadsheet (.fods), where a formula cell carries `table:formula`.
"""

import csv
import io
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from survey_app.extensions import db
from survey_app.models import Unit
from survey_app.services.accounts import create_account
from survey_app.services.exports import neutralise_csv
from survey_app.services.submissions import submit_response
from survey_app.timeutil import local_day, utcnow
from tests.survey_app.payloads import counter_payload

PASSWORD = "correct horse battery"
# What a citizen may type: a formula after every separator a spreadsheet may split on, after a
# line break, after a quote, after spaces, with each formula character.
COMMENTS = [
    ";=1+1",
    "Tốt;=2+2",
    "Tốt,=3+3",
    "Tốt\t=4+4",
    "Tốt\n=5+5",
    'Tốt "x;=6+6"',
    "Tốt; =7+7",
    "Tốt;-8+8",
    "Tốt;+9+9",
    "Tốt;@SUM(10)",
    "=cmd|' /C calc'!A0",
    "Tốt;\t=11+11",
    'Tốt;=HYPERLINK("http://x";"bấm")',
    "\t=12+12",
    ";;=13+13",
    'Tốt,"=14+14"',
    "Tốt;\r\n=15+15",
]
UNIT_NAME = 'Phường;=16+16,=17+17\t=18+18 "An;=19+19" Lạc'
SEPARATORS = {"comma": 44, "semicolon": 59, "tab": 9}


def soffice() -> str:
    found = shutil.which("soffice")
    if found is None:
        pytest.fail(
            "LibreOffice (soffice) not found. Run `make test` (it installs Debian's "
            "libreoffice-calc-nogui), or `apt-get install -y --no-install-recommends "
            "libreoffice-calc-nogui`.",
            pytrace=False,
        )
    return found


def open_in_calc(files: list[Path], separator: int, out: Path) -> list[Path]:
    """Convert the CSV files to .fods as Calc reads them with `separator` (UTF-8, `"` quotes)."""
    out.mkdir()
    profile = out.parent / f"profile-{out.name}"  # a profile of its own: runs never share a lock
    subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            f"--infilter=CSV:{separator},34,76,1",
            "--convert-to",
            "fods",
            "--outdir",
            str(out),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    converted = [out / f"{f.stem}.fods" for f in files]
    assert all(f.is_file() for f in converted), list(out.iterdir())
    return converted


@pytest.fixture
def exported(app, tree, tmp_path) -> list[Path]:
    """The raw CSV and the report's first table of the province, downloaded by an
    administrator, with the comments above and a ward named like a formula."""
    db.session.execute(sa.update(Unit).where(Unit.id == tree.ward.id).values(name_vi=UNIT_NAME))
    for comment in COMMENTS:
        payload = counter_payload(id=str(uuid.uuid4()))
        payload["answers"]["comment"] = comment
        submit_response(payload, channel="web")
    create_account("quan-tri", PASSWORD, display_name="Quản trị", is_administrator=True)
    db.session.commit()
    client = app.test_client_class(app, app.response_class, use_cookies=True)
    assert (
        client.post("/login", data={"username": "quan-tri", "password": PASSWORD}).status_code
        == 302
    )
    year = local_day(utcnow(), app.config["LOCAL_TIMEZONE"]).year
    files = []
    for name, url in {
        "raw": f"/staff/exports/raw/{tree.province.id}/{year}.csv",
        "report": f"/staff/reports/{tree.province.id}/{year}.csv?table=1",
    }.items():
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        path = tmp_path / f"{name}.csv"
        path.write_bytes(response.get_data())
        files.append(path)
    rows = list(csv.reader(io.StringIO(files[0].read_text(encoding="utf-8-sig"), newline="")))
    assert len(rows) == 1 + len(COMMENTS)
    return files


def test_an_apostrophe_goes_wherever_a_spreadsheet_could_start_a_cell():
    assert neutralise_csv("Tốt;=1+1") == "Tốt;'=1+1"
    assert neutralise_csv("a, -2\n@b\t+c") == "a, '-2\n'@b\t'+c"
    assert neutralise_csv('x "=1"') == 'x "\'=1"'
    assert neutralise_csv("\tx") == "'\tx"
    assert neutralise_csv("1-2, a-b; c@d 2025-01-01") == "1-2, a-b; c@d 2025-01-01"
    assert neutralise_csv("a;\x01=1\u202e") == "a;'=1"  # cleaned first
    assert neutralise_csv(-2.5) == -2.5


@pytest.mark.libreoffice
@pytest.mark.parametrize("separator", SEPARATORS)
def test_no_cell_becomes_a_formula_whatever_the_separator(tmp_path, exported, separator):
    converted = open_in_calc(exported, SEPARATORS[separator], tmp_path / separator)
    for path in converted:
        sheet = path.read_text(encoding="utf-8")
        assert "Tốt" in sheet or "Phường" in sheet, f"{path.name}: Calc read nothing"
        formulas = [part.split('"', 2)[1] for part in sheet.split("table:formula=")[1:]]
        assert not formulas, f"{path.name} read with {separator}: {formulas}"
