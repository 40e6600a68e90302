"""The unit tree: finding units by current or former code, subtrees, paths, creating, importing."""

import pytest
from sqlalchemy import func, select

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import Counter, Unit
from survey_app.services.units import (
    create_counter,
    create_unit,
    find_counter,
    find_unit_by_code,
    get_unit_by_code,
    import_counters_csv,
    import_units_csv,
    list_subtree_unit_ids,
    rebuild_unit_paths,
    units_whose_subtree_changed,
)

HEADER = "code,parent_code,name_vi,name_en,kind"
MERGED = f"""{HEADER},former_codes
P,,Tỉnh Thử Nghiệm,,province,
P-HM,P,Phường Hòa Minh,,ward,P-X01;P-X02
"""


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# find_unit_by_code / get_unit_by_code


def test_find_unit_by_code_finds_a_unit_by_its_current_code(tree):
    assert find_unit_by_code("P-W1") is tree.ward


def test_find_unit_by_code_finds_a_merged_unit_by_each_former_code(app):
    import_units_csv(MERGED)
    merged = find_unit_by_code("P-HM")

    assert find_unit_by_code("P-X01") is merged
    assert find_unit_by_code("P-X02") is merged


def test_find_unit_by_code_returns_none_for_an_unknown_code(tree):
    assert find_unit_by_code("P-X99") is None
    assert find_unit_by_code("p-w1") is None  # codes are exact


def test_get_unit_by_code_raises_not_found_naming_the_code(tree):
    with pytest.raises(NotFound, match="'P-X99'"):
        get_unit_by_code("P-X99")


# list_subtree_unit_ids


def test_list_subtree_unit_ids_is_the_unit_and_everything_below_it(tree):
    hamlet = create_unit("P-W1-T1", "Tổ dân phố 1", kind="other", parent=tree.ward)
    below_hamlet = create_unit("P-W1-T1-A", "Nhóm A", kind="other", parent=hamlet)
    create_unit("P-C1-T1", "Tổ dân phố Tân Phú", kind="other", parent=tree.commune)

    ward_subtree = list_subtree_unit_ids(tree.ward)

    assert sorted(ward_subtree) == sorted([tree.ward.id, hamlet.id, below_hamlet.id])
    assert tree.province.id not in ward_subtree
    assert tree.commune.id not in ward_subtree


def test_list_subtree_unit_ids_of_a_leaf_is_the_leaf_alone(tree):
    assert list_subtree_unit_ids(tree.commune) == [tree.commune.id]


def test_list_subtree_unit_ids_of_the_root_is_the_whole_tree(tree):
    other_root = create_unit("Q", "Tỉnh Khác", kind="province")

    ids = list_subtree_unit_ids(tree.province)

    assert sorted(ids) == sorted([tree.province.id, tree.ward.id, tree.commune.id])
    assert other_root.id not in ids


# rebuild_unit_paths


def test_rebuild_unit_paths_follows_a_moved_unit(tree):
    tree.commune.parent_id = tree.ward.id
    db.session.flush()

    rebuild_unit_paths()

    assert tree.commune.path == f"/{tree.province.id}/{tree.ward.id}/{tree.commune.id}/"
    assert tree.commune.id in list_subtree_unit_ids(tree.ward)


def test_rebuild_unit_paths_refuses_a_cycle_of_parents(tree):
    hamlet = create_unit("P-W1-T1", "Tổ dân phố 1", kind="other", parent=tree.ward)
    tree.ward.parent_id = hamlet.id
    db.session.flush()

    with pytest.raises(ValidationError) as refused:
        rebuild_unit_paths()

    assert refused.value.problems == {"parent_code": ["the units' parents form a cycle"]}


def test_rebuild_unit_paths_refuses_a_unit_that_is_its_own_parent(tree):
    tree.commune.parent_id = tree.commune.id
    db.session.flush()

    with pytest.raises(ValidationError, match="cycle"):
        rebuild_unit_paths()


# create_unit / create_counter


def test_create_unit_places_the_unit_below_its_parent(tree):
    hamlet = create_unit("P-W1-T1", "Tổ dân phố 1", kind="other", parent=tree.ward)

    assert hamlet.path == f"{tree.ward.path}{hamlet.id}/"
    assert hamlet.name_en == "Tổ dân phố 1"
    assert hamlet.active


def test_create_unit_refuses_a_code_in_use(tree):
    with pytest.raises(ValidationError) as refused:
        create_unit("P-W1", "Phường khác", kind="ward", parent=tree.province)

    assert refused.value.problems == {"code": ["a unit with code 'P-W1' exists already"]}
    assert count(Unit) == 3


def test_create_unit_refuses_a_former_code_of_another_unit(app):
    import_units_csv(MERGED)

    with pytest.raises(ValidationError, match="'P-X01' exists already"):
        create_unit("P-X01", "Phường mới", kind="ward")


def test_create_unit_refuses_an_unknown_kind(app):
    with pytest.raises(ValidationError) as refused:
        create_unit("P", "Tỉnh", kind="tinh")

    assert list(refused.value.problems) == ["kind"]
    assert count(Unit) == 0


def test_create_counter_refuses_a_code_the_unit_already_has(tree):
    with pytest.raises(ValidationError) as refused:
        create_counter(tree.ward, "Q1", "Quầy 1 mới")

    assert refused.value.problems == {"code": ["unit 'P-W1' already has a counter 'Q1'"]}
    assert find_counter(tree.ward, "Q1").name_vi == "Quầy 1 – Hộ tịch"


def test_create_counter_allows_the_same_code_in_another_unit(tree):
    counter = create_counter(tree.province, "Q1", "Quầy 1 tỉnh")

    assert find_counter(tree.province, "Q1") is counter
    assert counter.name_en == "Quầy 1 tỉnh"
    assert count(Counter) == 4


# import_units_csv / import_counters_csv


def test_import_units_csv_refuses_a_cycle_and_creates_nothing(app):
    with pytest.raises(ValidationError, match="cycle"):
        import_units_csv(f"{HEADER}\nA,B,Phường A,,ward\nB,A,Phường B,,ward\n")
    db.session.rollback()

    assert count(Unit) == 0


def test_import_units_csv_moves_an_existing_unit_to_a_new_parent(tree):
    summary = import_units_csv(f"{HEADER}\nP-C1,P-W1,Xã Tân Phú,Tan Phu Commune,commune\n")

    assert (summary.created, summary.updated) == (0, 1)
    assert tree.commune.parent_id == tree.ward.id
    assert sorted(list_subtree_unit_ids(tree.ward)) == sorted([tree.ward.id, tree.commune.id])


def test_import_units_csv_reports_physical_line_numbers_after_a_blank_line(app):
    # Line 1 header, line 2 blank (common in hand-edited files), line 3 the bad row.
    with pytest.raises(ValidationError) as refused:
        import_units_csv(f"{HEADER}\n\nA,,Tỉnh A,,tinh\n")

    assert list(refused.value.problems) == ["line 3"]


def test_import_units_csv_refuses_a_row_with_more_fields_than_the_header(app):
    with pytest.raises(ValidationError) as refused:
        import_units_csv(f"{HEADER}\nA,,Tỉnh A,,province,thừa\n")

    assert "line 2" in str(refused.value)
    assert count(Unit) == 0


def test_import_units_csv_refuses_a_code_longer_than_the_column(app):
    # units.code is VARCHAR(32): PostgreSQL would refuse it at flush, SQLite would keep it.
    with pytest.raises(ValidationError) as refused:
        import_units_csv(f"{HEADER}\n{'P-' + 'X' * 40},,Tỉnh A,,province\n")

    assert "line 2" in refused.value.problems


def test_import_counters_csv_refuses_a_unit_code_unknown_here(tree):
    with pytest.raises(ValidationError) as refused:
        import_counters_csv("unit_code,code,name_vi,name_en\nP-W9,Q1,Quầy 1,\n")

    assert refused.value.problems == {"line 2": ["unit_code 'P-W9' is not a known unit"]}


def test_the_units_whose_subtree_changed_are_above_a_move_on_one_side_only():
    # Commune 7 moves from district 3 to district 4 of province 2 (under the country, 1); its
    # hamlet 9 moves with it; at once district 4 moves from province 2 to province 5.
    moves = {
        7: ("/1/2/3/7/", "/1/5/4/7/"),
        9: ("/1/2/3/7/9/", "/1/5/4/7/9/"),
        4: ("/1/2/4/", "/1/5/4/"),
    }
    # District 3 lost the commune, district 4 gained it, province 2 lost district 4 and province 5
    # gained it; the country holds the same units as before, and so do the commune and the hamlet.
    assert units_whose_subtree_changed(moves) == {2, 3, 4, 5}
    assert units_whose_subtree_changed({}) == set()
