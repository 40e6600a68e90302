"""Index moments rolled up the unit tree (`subtree_moments`): settling keeps each unit's row equal
to the sum of every cell in its subtree, over counters; a change to the tree rebuilds the sums;
`check-counts` finds a sum that drifted."""

import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select, update

import analytics
from survey_app.extensions import db
from survey_app.models import IndexMoment, SubtreeMoment
from survey_app.services.moments import compare_index_moments, rebuild_subtree_moments
from survey_app.services.questionnaires import get_current_questionnaire, grouping_of
from survey_app.services.rollup import settle_pending
from survey_app.services.submissions import submit_response
from survey_app.services.units import create_unit, import_units_csv, merge_unit
from tests.survey_app.payloads import counter_payload

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def submit_spread(n: int, places: list[tuple[str, str | None]], seed: int = 3) -> None:
    """n varied sipas-counter responses over (unit code, counter code or None) places."""
    rng = random.Random(seed)
    for i in range(n):
        unit, counter = places[i % len(places)]
        body = counter_payload(unit=unit, counter=counter)
        if counter is None:
            del body["counter"]
        for key in list(body["answers"]):
            if key.startswith("c9_"):
                body["answers"][key] = rng.randint(1, 5)
        channel = ("web", "qr_counter")[i % 2]
        submit_response(body, channel=channel, now=NOW)
    db.session.commit()
    settle_pending()
    db.session.commit()


def grouping():
    _, definition = get_current_questionnaire("sipas-counter")
    return grouping_of(definition)


def cells_summed_by(key_of) -> dict:
    """index_moments rows summed by key_of(row, path of its unit) → (respondents, moments)."""
    from survey_app.models import Unit

    paths = dict(db.session.execute(select(Unit.id, Unit.path)).all())
    blobs, respondents = defaultdict(list), defaultdict(int)
    for row in db.session.scalars(select(IndexMoment)):
        for key in key_of(row, paths[row.unit_id]):
            blobs[key].append(row.moments)
            respondents[key] += row.respondents
    g = grouping()
    return {
        key: (respondents[key], analytics.IndexMoments.sum_bytes(parts, g.items, g))
        for key, parts in blobs.items()
    }


def stored_subtrees() -> dict:
    g = grouping()
    return {
        (r.unit_id, r.granularity, r.period_start, r.channel): (
            r.respondents,
            analytics.IndexMoments.from_bytes(r.moments, g.items, g),
        )
        for r in db.session.scalars(select(SubtreeMoment))
    }


def expected_subtrees() -> dict:
    """Every cell added to each unit on its path: the definition, computed independently."""

    def ancestors(row, path):
        ids = [int(part) for part in path.strip("/").split("/")]
        return [(unit_id, row.granularity, row.period_start, row.channel) for unit_id in ids]

    return cells_summed_by(ancestors)


def test_settling_adds_each_cell_to_every_subtree_on_its_path(app, tree):
    submit_spread(30, [("P-W1", "Q1"), ("P-W1", "Q2"), ("P-C1", "Q1"), ("P-W1", None), ("P", None)])
    stored, expected = stored_subtrees(), expected_subtrees()
    assert stored.keys() == expected.keys()
    for key, (respondents, moments) in expected.items():
        assert stored[key][0] == respondents
        assert stored[key][1].to_bytes() == moments.to_bytes()
    # The province's year row holds every respondent of both channels; the commune's only its own.
    year = NOW.date().replace(month=1, day=1)
    province = sum(
        stored[(tree.province.id, "year", year, channel)][0] for channel in ("web", "qr_counter")
    )
    assert province == 30
    assert (
        stored[(tree.commune.id, "year", year, "web")][0]
        + stored[(tree.commune.id, "year", year, "qr_counter")][0]
        == 6
    )
    assert compare_index_moments()[1] == []


def test_moving_a_unit_moves_its_history_between_subtrees(app, tree):
    district = create_unit("P-D1", "Huyện Một", kind="district", parent=tree.province)
    db.session.commit()
    submit_spread(12, [("P-W1", "Q1"), ("P-C1", "Q1")])
    year = NOW.date().replace(month=1, day=1)

    def respondents_under(unit_id: int) -> int:
        return sum(
            n
            for (unit, granularity, start, _), (n, _) in stored_subtrees().items()
            if (unit, granularity, start) == (unit_id, "year", year)
        )

    assert respondents_under(district.id) == 0
    # The commune moves under the new district (a CSV import changes its parent).
    import_units_csv("code,parent_code,name_vi,name_en,kind\nP-C1,P-D1,Xã Tân Phú,,commune\n")
    db.session.commit()
    assert respondents_under(district.id) == 6
    assert respondents_under(tree.province.id) == 12
    assert compare_index_moments()[1] == []
    # Merging the ward into the district: its history rolls up into the district's sums too.
    merge_unit(tree.ward, district)
    db.session.commit()
    assert respondents_under(district.id) == 12
    assert respondents_under(tree.province.id) == 12
    stored, expected = stored_subtrees(), expected_subtrees()
    assert {k: (n, m.to_bytes()) for k, (n, m) in stored.items()} == {
        k: (n, m.to_bytes()) for k, (n, m) in expected.items()
    }
    assert compare_index_moments()[1] == []


def test_a_move_rewrites_only_the_sums_of_the_units_around_it(app, tree):
    """A commune changes district: the two districts' sums are rebuilt; the province (above
    both), the commune (its subtree moves with it) and the rest of the tree are not touched, so
    a drift planted in them beforehand is still there afterwards."""
    first = create_unit("P-D1", "Huyện Một", kind="district", parent=tree.province)
    second = create_unit("P-D2", "Huyện Hai", kind="district", parent=tree.province)
    db.session.commit()
    import_units_csv("code,parent_code,name_vi,name_en,kind\nP-C1,P-D1,Xã Tân Phú,,commune\n")
    db.session.commit()
    submit_spread(12, [("P-W1", "Q1"), ("P-C1", "Q1")])
    untouched = (tree.province.id, tree.ward.id, tree.commune.id)
    db.session.execute(
        update(SubtreeMoment)
        .where(SubtreeMoment.unit_id.in_(untouched))
        .values(respondents=SubtreeMoment.respondents + 1000)
    )
    db.session.commit()

    import_units_csv("code,parent_code,name_vi,name_en,kind\nP-C1,P-D2,Xã Tân Phú,,commune\n")
    db.session.commit()

    stored, expected = stored_subtrees(), expected_subtrees()
    assert stored.keys() == expected.keys()
    for key, (respondents, moments) in expected.items():
        planted = 1000 if key[0] in untouched else 0
        assert stored[key][0] == respondents + planted, key
        assert stored[key][1].to_bytes() == moments.to_bytes()
    assert any(key[0] == second.id for key in stored)
    assert not any(key[0] == first.id for key in stored)  # the first district is empty now
    differences = compare_index_moments()[1]
    drifted = {int(found.split("unit_id=")[1].split(",")[0]) for found in differences}
    assert drifted == set(untouched)


def test_check_counts_finds_a_subtree_sum_that_drifted_and_a_rebuild_mends_it(app, tree):
    submit_spread(10, [("P-W1", "Q1"), ("P-C1", "Q1")])
    db.session.execute(
        update(SubtreeMoment)
        .where(SubtreeMoment.unit_id == tree.province.id, SubtreeMoment.granularity == "month")
        .values(respondents=SubtreeMoment.respondents + 1)
    )
    db.session.commit()
    compared, differences = compare_index_moments()
    assert compared > 0
    assert len(differences) >= 1
    assert all(f"unit_id={tree.province.id}" in d for d in differences)
    assert all("granularity='month'" in d for d in differences)
    rebuild_subtree_moments()
    db.session.commit()
    assert compare_index_moments()[1] == []


def test_rebuilding_the_sums_gives_what_settling_kept(app, tree):
    submit_spread(24, [("P-W1", "Q1"), ("P-W1", "Q2"), ("P-C1", "Q1"), ("P", None)], seed=11)
    before = {
        (r.unit_id, r.granularity, r.period_start, r.channel, r.entered_by): (
            r.respondents,
            r.moments,
        )
        for r in db.session.scalars(select(SubtreeMoment))
    }
    written = rebuild_subtree_moments()
    db.session.commit()
    after = {
        (r.unit_id, r.granularity, r.period_start, r.channel, r.entered_by): (
            r.respondents,
            r.moments,
        )
        for r in db.session.scalars(select(SubtreeMoment))
    }
    assert written == len(before) > 0
    assert after == before


def test_figures_read_the_subtree_sums_without_counting_nested_units_twice(app, tree):
    from survey_app.services.figures import FigureBuilder, Filters
    from survey_app.services.periods import period_of

    submit_spread(40, [("P-W1", "Q1"), ("P-W1", "Q2"), ("P-C1", "Q1"), ("P", None)], seed=5)
    filters = Filters("sipas-counter", period_of("year", NOW.date()), min_n=5)
    nested = FigureBuilder([tree.province, tree.ward, tree.commune], filters)
    # Responses per channel (the annual report's channel table) count each response once.
    assert sum(nested.source.respondents_by_channel.values()) == 40
    assert nested.source.respondents_by_channel == {"web": 20, "qr_counter": 20}
    province = nested.for_unit(tree.province)
    assert province.respondents == 40
    assert [nested.for_unit(u).respondents for u in (tree.ward, tree.commune)] == [20, 10]
    # A counter's figures come from its own cells.
    counter = nested.for_counter(tree.ward, tree.q1, details=False)
    assert counter.respondents == 10
    # One channel of the two: half of everything, cells and subtrees alike.
    web = FigureBuilder([tree.province, tree.ward], replace(filters, channels=("web",)))
    assert web.source.respondents_by_channel == {"web": 20}
    assert web.for_unit(tree.province).respondents == 20
    # Places and channels alternate in step: Q1's responses all came on the web, Q2's by QR.
    assert web.for_counter(tree.ward, tree.q1, details=False).respondents == 10
    assert web.for_counter(tree.ward, tree.q2, details=False).respondents == 0
