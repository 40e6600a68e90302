"""Every link and QR code the service shows or prints points at PUBLIC_BASE_URL, whatever Host
header the request carried: posters (page, print, PNG, SVG), dossier codes (API and their
images), annual-form links and their QR codes, kiosk enrolment links and their QR codes. QR
codes are decoded with zbarimg (an SVG is redrawn as a bitmap first)."""

import base64
import re
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from survey_app import create_app
from survey_app.extensions import db, dispose_engines
from survey_app.models import AnnualLink, PosterCode
from survey_app.services.accounts import create_account
from survey_app.services.api_keys import create_api_key
from tests.conftest import FreshContextClient, make_config

BASE = "https://khaosat.example.gov.vn"
FOREIGN_HOST = "evil.example"
PASSWORD = "correct horse battery"


class ForeignHostClient(FreshContextClient):
    """Every request arrives with `Host: evil.example`, as a forged or misrouted one would."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", f"http://{FOREIGN_HOST}")
        return super().open(*args, **kwargs)


@pytest.fixture
def public_app(database_url, app):
    """The app on the test database, its public address configured."""
    configured = create_app(make_config(database_url, PUBLIC_BASE_URL=BASE))
    yield configured
    with configured.app_context():
        db.session.remove()
        dispose_engines()


@pytest.fixture
def admin(public_app, tree) -> FreshContextClient:
    create_account("links-admin", PASSWORD, display_name="Links", is_administrator=True)
    db.session.commit()
    client = ForeignHostClient(public_app, public_app.response_class, use_cookies=True)
    signed_in = client.post("/login", data={"username": "links-admin", "password": PASSWORD})
    assert signed_in.status_code == 302
    return client


def zbar(image: bytes, suffix: str, tmp_path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(image)
    out = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def svg_as_bitmap(svg: str, pixels: int = 4) -> bytes:
    """segno's SVG (the dark modules are one stroked path of horizontal runs: M/m moves, h/H
    lines, one module high) as a plain PBM image that zbarimg reads; ImageMagick here has no
    SVG reader."""
    modules = next(p for p in re.findall(r"<path[^>]*>", svg) if "stroke=" in p)  # not the light
    d = re.search(r'\sd="([^"]+)"', modules).group(1)
    dark, x, y = set(), 0.0, 0.0
    for op, a, b in re.findall(r"([MmHh])\s*(-?[\d.]+)(?:[\s,]+(-?[\d.]+))?", d):
        if op in "Mm":
            x, y = (float(a), float(b)) if op == "M" else (x + float(a), y + float(b))
            continue
        end = x + float(a) if op == "h" else float(a)
        dark.update((column, int(y)) for column in range(round(x), round(end)))
        x = end
    size = max(max(c for c, _ in dark), max(r for _, r in dark)) + 5  # the quiet zone too
    rows = []
    for row in range(size):
        line = "".join(("1" if (column, row) in dark else "0") * pixels for column in range(size))
        rows += [line] * pixels
    return f"P1\n{size * pixels} {size * pixels}\n".encode() + "\n".join(rows).encode()


def decode_svg(svg: str, tmp_path) -> str:
    return zbar(svg_as_bitmap(svg), ".pbm", tmp_path)


def assert_only_the_base(text: str, path: str) -> None:
    assert f"{BASE}{path}" in text, text[:400]
    assert FOREIGN_HOST not in text


def test_svg_redrawing_reads_what_segno_wrote(tmp_path):
    """Guards the decoder used below: each of the app's SVG forms decodes to its URL."""
    import segno

    from survey_app.services.qr_codes import qr_svg

    url = f"{BASE}/a/abc123"
    assert decode_svg(qr_svg(url), tmp_path) == url
    assert decode_svg(qr_svg(url, inline=False), tmp_path) == url
    for light in (None, "#fff"):  # kiosk enrolment pages paint the light modules too
        inline = segno.make(url, error="m").svg_inline(scale=6, border=2, light=light)
        assert decode_svg(inline, tmp_path) == url


def test_posters_point_at_the_configured_address(admin, tree, tmp_path):
    made = admin.post(
        f"/staff/posters/units/{tree.ward.id}/create", data={"counter_id": tree.q1.id}
    )
    assert made.status_code == 302
    poster = db.session.scalar(sa.select(PosterCode))
    path = f"/r/{poster.code}"
    listing = admin.get(f"/staff/posters/units/{tree.ward.id}").get_data(as_text=True)
    assert_only_the_base(listing, path)
    printed = admin.get(f"/staff/posters/{poster.id}/print").get_data(as_text=True)
    assert_only_the_base(printed, path)
    png = admin.get(f"/staff/posters/{poster.id}/qr.png").get_data()
    assert zbar(png, ".png", tmp_path) == BASE + path
    svg = admin.get(f"/staff/posters/{poster.id}/qr.svg").get_data(as_text=True)
    assert decode_svg(svg, tmp_path) == BASE + path


def test_dossier_codes_point_at_the_configured_address(public_app, tree, tmp_path):
    _, secret = create_api_key("Một cửa điện tử", "dossier_codes", tree.ward, created_by=None)
    db.session.commit()
    client = ForeignHostClient(public_app, public_app.response_class)
    issued = client.post(
        "/api/v1/dossier-codes",
        json={"dossier_code": "000.00.31.H01-240315-0001", "unit": "P-W1"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert issued.status_code == 201
    body, path = issued.json, f"/d/{issued.json['token']}"
    assert body["url"] == BASE + path
    assert body["qr_png_url"] == f"{BASE}{path}/qr.png"
    assert body["qr_svg_url"] == f"{BASE}{path}/qr.svg"
    assert decode_svg(body["qr_svg"], tmp_path) == BASE + path
    png = client.get(f"{path}/qr.png").get_data()
    assert zbar(png, ".png", tmp_path) == BASE + path
    svg = client.get(f"{path}/qr.svg").get_data(as_text=True)
    assert decode_svg(svg, tmp_path) == BASE + path


def test_annual_links_and_their_qr_codes_point_at_the_configured_address(admin, tree, tmp_path):
    page_url = f"/staff/annual/units/{tree.ward.id}"
    assert admin.post(f"{page_url}/links", data={"year": "2025"}).status_code in (200, 302)
    link = db.session.scalar(sa.select(AnnualLink))
    page = admin.get(page_url).get_data(as_text=True)
    assert_only_the_base(page, f"/a/{link.code}")
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert decode_svg(svg, tmp_path) == f"{BASE}/a/{link.code}"


def test_kiosk_enrolment_links_and_their_qr_codes_point_at_the_configured_address(
    admin, tree, tmp_path
):
    created = admin.post(
        "/staff/kiosks/",
        data={"counter": str(tree.q1.id), "questionnaire": "quick-rating", "name": "Tablet 1"},
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200
    url = re.search(r'id="enrolment-url" href="([^"]+)"', html).group(1)
    assert url.startswith(f"{BASE}/kiosk/enrol/")
    assert FOREIGN_HOST not in html
    encoded = re.search(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html).group(1)
    assert decode_svg(base64.b64decode(encoded).decode(), tmp_path) == url
