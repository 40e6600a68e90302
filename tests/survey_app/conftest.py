"""Fixtures for the application's tests: a small unit tree built through the real services."""

from dataclasses import dataclass

import pytest

from survey_app.extensions import db
from survey_app.models import Counter, Unit
from survey_app.services.units import create_counter, create_unit


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
