"""Fixtures for the application's tests: a small unit tree built through the real services."""

from dataclasses import dataclass

import pytest

from survey_app.extensions import db
from survey_app.models import Counter, Unit
from survey_app.services.api_keys import create_api_key
from survey_app.services.units import create_counter, create_unit
from tests.conftest import FreshContextClient


@dataclass
class Tree:
    province: Unit
    ward: Unit  # with counters q1, q2
    commune: Unit  # with counter q1
    q1: Counter
    q2: Counter


@pytest.fixture
def tree(app) -> Tree:
    province = create_unit("P", "Tỉnh Thử Nghiệm", name_en="Test Province", kind="province")
    ward = create_unit(
        "P-W1",
        "Phường An Lạc",
        kind="ward",
        parent=province,
        place_name_vi="Bộ phận Một cửa UBND phường An Lạc",
    )
    commune = create_unit("P-C1", "Xã Tân Phú", kind="commune", parent=province)
    q1 = create_counter(ward, "Q1", "Quầy 1 – Hộ tịch", "Counter 1 – Civil status")
    q2 = create_counter(ward, "Q2", "Quầy 2 – Đất đai", "Counter 2 – Land")
    create_counter(commune, "Q1", "Quầy 1", "Counter 1")
    db.session.commit()
    return Tree(province, ward, commune, q1, q2)


class KeyClient(FreshContextClient):
    """A machine client: every request carries `Authorization: Bearer <key>`, no cookies."""

    def __init__(self, *args, secret: str, **kwargs):
        super().__init__(*args, use_cookies=False, **kwargs)
        self.secret = secret

    def open(self, *args, **kwargs):
        kwargs.setdefault("headers", {}).setdefault("Authorization", f"Bearer {self.secret}")
        return super().open(*args, **kwargs)


def key_client(app, unit: Unit, purpose: str = "submit_responses") -> KeyClient:
    """A client holding a new API key for `purpose` over `unit`'s subtree."""
    _key, secret = create_api_key(f"Test {purpose}", purpose, unit, created_by=None)
    db.session.commit()
    return KeyClient(app, app.response_class, secret=secret)


@pytest.fixture
def api_client(app, tree) -> KeyClient:
    """A partner app's client: an API key that submits responses for the whole test province."""
    return key_client(app, tree.province)


@pytest.fixture
def one_minute(monkeypatch):
    """The clock stopped inside one minute for the rate limits and submissions: a limit counted
    per minute cannot see its window turn in the middle of a test."""
    from datetime import timedelta

    from survey_app.services import ratelimit, submissions
    from survey_app.timeutil import utcnow

    stopped = utcnow().replace(second=0, microsecond=0) + timedelta(seconds=30)
    for module in (ratelimit, submissions):
        monkeypatch.setattr(module, "utcnow", lambda: stopped)
    return stopped
