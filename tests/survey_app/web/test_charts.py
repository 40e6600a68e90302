"""Server-side SVG charts: well-formed, accessible, escaped, CSP-safe, and drawn to scale."""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from itertools import pairwise
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from survey_app.web.charts import (
    distribution_bars,
    factor_profile,
    interval_bar,
    trend_chart,
)

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script> & "quotes"'
LIKERT = {
    1: "Rất không hài lòng",
    2: "Không hài lòng",
    3: "Bình thường",
    4: "Hài lòng",
    5: "Rất hài lòng",
}
FORBIDDEN_TAGS = {"script", "style", "foreignObject", "a", "image", "use", "iframe", "object"}


# --------------------------------------------------------------------------- helpers


def parse(markup: Markup) -> ET.Element:
    """The chart as XML, after checking the common contract of every chart."""
    assert isinstance(markup, Markup)
    assert str(escape(markup)) == str(markup)  # Jinja will not escape it again
    root = ET.fromstring(str(markup))
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label", "").strip()
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox", ""))
    first = root[0]
    assert first.tag == f"{NS}title" and (first.text or "").strip()
    assert_safe(markup, root)
    return root


def assert_safe(markup: Markup, root: ET.Element) -> None:
    """No script, no style, no event handler, no id, nothing fetched from elsewhere."""
    assert "<script" not in markup.lower()
    for element in root.iter():
        assert element.tag.startswith(NS), element.tag
        assert element.tag.removeprefix(NS) not in FORBIDDEN_TAGS
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1]
            assert local != "style"
            assert local != "id"
            assert not local.startswith("on"), name
            assert local != "href", name
            assert "url(" not in value, value


def by_class(root: ET.Element, cls: str, tag: str | None = None) -> list[ET.Element]:
    return [
        e
        for e in root.iter()
        if cls in (e.get("class") or "").split() and (tag is None or e.tag == f"{NS}{tag}")
    ]


def text_of(element: ET.Element) -> str:
    """The text of an element without its tooltip."""
    return element.text or ""


def all_text(root: ET.Element) -> str:
    return " ".join(t for e in root.iter() for t in (e.text, e.get("aria-label")) if t)


def f(element: ET.Element, attr: str) -> float:
    return float(element.attrib[attr])


def y_scale(root: ET.Element):
    """The y scale of a trend chart, read back from its gridline labels ("85 %" at y=…)."""
    ticks = [(float(t.text.split()[0]) / 100, f(t, "y")) for t in by_class(root, "chart-tick")]
    (s0, y0), (s1, y1) = ticks[0], ticks[-1]
    return lambda share: y0 + (share - s0) * (y1 - y0) / (s1 - s0)


def polygon(element: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in element.get("points").split()]


# --------------------------------------------------------------------------- interval bar


def test_interval_bar_structure_and_summary():
    root = parse(interval_bar(0.873, 0.841, 0.902, 0.9, label="Quầy 1"))
    assert root.get("class").split() == ["chart", "chart-interval-bar"]
    assert root.get("viewBox") == "0 0 160 18"
    summary = root.get("aria-label")
    assert summary.startswith("Quầy 1: ")
    for figure in ("87.3 %", "84.1 %", "90.2 %", "90.0 %"):
        assert figure in summary
    assert len(by_class(root, "ib-track", "rect")) == 1
    assert len(by_class(root, "ib-band", "rect")) == 1
    assert len(by_class(root, "ib-est", "circle")) == 1
    assert len(by_class(root, "chart-target", "line")) == 1


@pytest.mark.parametrize(
    ("estimate", "low", "high", "target"),
    [
        (0.873, 0.841, 0.902, 0.9),
        (0.6, 0.5, 0.7, 0.9),
        (0.97, 0.95, 0.99, 0.8),
        (0.1, 0.0, 0.3, 0.9),
    ],
)
def test_interval_bar_draws_to_one_scale(estimate, low, high, target):
    root = parse(interval_bar(estimate, low, high, target))
    (track,) = by_class(root, "ib-track")
    (band,) = by_class(root, "ib-band")
    (dot,) = by_class(root, "ib-est")
    (goal,) = by_class(root, "chart-target")
    x_low, x_high = f(band, "x"), f(band, "x") + f(band, "width")
    units = (x_high - x_low) / (high - low)  # user units per share
    assert f(dot, "cx") == pytest.approx(x_low + (estimate - low) * units, abs=0.02)
    assert f(goal, "x1") == pytest.approx(x_low + (target - low) * units, abs=0.02)
    # the axis ends at 100 % and starts at or below both the interval and the target
    track_right = f(track, "x") + f(track, "width")
    assert track_right == pytest.approx(x_low + (1 - low) * units, abs=0.02)
    assert f(track, "x") <= min(x_low, f(goal, "x1")) + 1e-9
    assert f(track, "x") >= 0 and track_right <= 160


def test_interval_bar_without_estimate_is_a_placeholder():
    root = parse(interval_bar(None, None, None, 0.9, label="Quầy 2"))
    (message,) = by_class(root, "chart-empty", "text")
    assert message.text == "no figure"
    assert "no figure" in root.get("aria-label")
    assert not by_class(root, "ib-est")


def test_interval_bar_without_interval_or_target_draws_the_dot_only():
    root = parse(interval_bar(0.8, None, None, None))
    assert by_class(root, "ib-est") and not by_class(root, "ib-band")
    assert not by_class(root, "chart-target")


def test_interval_bar_custom_size_and_texts():
    root = parse(interval_bar(None, None, None, 0.9, width=90, height=12, texts={"no_figure": "–"}))
    assert root.get("viewBox") == "0 0 90 12"
    assert by_class(root, "chart-empty")[0].text == "–"


@pytest.mark.parametrize(("width", "height"), [(0, 18), (160, 0), (-5, 18), (float("nan"), 18)])
def test_interval_bar_refuses_nonsense_sizes(width, height):
    with pytest.raises(ValueError):
        interval_bar(0.5, 0.4, 0.6, 0.9, width=width, height=height)


def test_percentages_have_at_most_one_decimal():
    root = parse(interval_bar(0.876543, 0.81234, 0.91999, 0.9))
    summary = root.get("aria-label")
    assert "87.7 %" in summary and "81.2 %" in summary and "92.0 %" in summary
    assert not re.search(r"\d\.\d\d", summary)


# --------------------------------------------------------------------------- trend chart

SIMPLE = [("2024", 0.80, 0.75, 0.85, 120), ("2025", 0.86, 0.82, 0.90, 150)]


def test_trend_structure_axis_and_target_line():
    root = parse(trend_chart(SIMPLE, 0.9, label="Phường An Lạc"))
    assert root.get("viewBox") == "0 0 640 240"
    assert root.get("width") == "640" and root.get("height") == "240"
    ticks = [t.text for t in by_class(root, "chart-tick")]
    assert ticks[-1] == "100 %"
    assert float(ticks[0].split()[0]) <= 75  # a bit below the lowest low
    assert len(by_class(root, "chart-grid", "line")) == len(ticks)
    y = y_scale(root)
    (goal,) = by_class(root, "chart-target", "line")
    assert f(goal, "y1") == f(goal, "y2") == pytest.approx(y(0.9), abs=0.02)
    assert goal.get("stroke-dasharray")
    (goal_text,) = by_class(root, "chart-target-label")
    assert goal_text.text == "target 90.0 %"
    summary = root.get("aria-label")
    assert summary.startswith("Phường An Lạc: ")
    assert "86.0 %" in summary and "90.0 %" in summary


def test_trend_target_label_from_the_caller():
    root = parse(trend_chart(SIMPLE, 0.9, target_label="Mục tiêu 90 %"))
    assert by_class(root, "chart-target-label")[0].text == "Mục tiêu 90 %"


def test_trend_band_lies_around_the_line_and_inside_the_axis():
    root = parse(trend_chart(SIMPLE, 0.9))
    y = y_scale(root)
    (band,) = by_class(root, "tc-band", "polygon")
    (line,) = by_class(root, "tc-line", "polyline")
    corners = polygon(band)
    line_points = polygon(line)
    assert len(corners) == 4 and len(line_points) == 2
    # the highs left to right, then the lows right to left
    (xa, high_a), (xb, high_b), (xb2, low_b), (xa2, low_a) = corners
    assert (xa, xb) == (xa2, xb2) == (line_points[0][0], line_points[1][0])
    assert xa < xb
    assert high_a == pytest.approx(y(0.85), abs=0.02)
    assert high_b == pytest.approx(y(0.90), abs=0.02)
    assert low_a == pytest.approx(y(0.75), abs=0.02)
    assert low_b == pytest.approx(y(0.82), abs=0.02)
    for (_, y_line), (upper, lower) in zip(
        line_points, [(high_a, low_a), (high_b, low_b)], strict=True
    ):
        assert upper <= y_line <= lower  # SVG y grows downwards
    top, bottom = y(1.0), y(float(by_class(root, "chart-tick")[0].text.split()[0]) / 100)
    for _, y_corner in corners:
        assert top <= y_corner <= bottom
    dots = by_class(root, "tc-dot", "circle")
    assert [(f(d, "cx"), f(d, "cy")) for d in dots] == line_points


def test_trend_breaks_line_and_band_at_points_without_estimate():
    points = [
        ("Q1", 0.80, 0.75, 0.85, 120),
        ("Q2", 0.82, 0.77, 0.87, 130),
        ("Q3", None, None, None, 12),
        ("Q4", 0.88, 0.84, 0.92, 140),
        ("Q5", 0.90, 0.86, 0.94, 150),
    ]
    root = parse(trend_chart(points, 0.9))
    lines = by_class(root, "tc-line", "polyline")
    bands = by_class(root, "tc-band", "polygon")
    assert len(lines) == 2 and len(bands) == 2
    (gap_mark,) = by_class(root, "tc-gap-mark")
    gap_x = f(gap_mark, "x1")
    for shape in lines + bands:
        xs = [x for x, _ in polygon(shape)]
        assert not min(xs) <= gap_x <= max(xs)
    (marker,) = by_class(root, "tc-gap", "text")
    assert text_of(marker) == "n<min"
    assert f(marker, "x") == gap_x
    assert "n = 12" in marker.find(f"{NS}title").text
    assert len(by_class(root, "tc-dot")) == 4
    assert [t.text for t in by_class(root, "tc-xlabel")] == ["Q1", "Q2", "Q3", "Q4", "Q5"]


def test_trend_single_points_between_gaps_get_a_small_band():
    points = [("A", 0.8, 0.7, 0.9, 50), ("B", None, None, None, 3), ("C", 0.85, 0.8, 0.9, 60)]
    root = parse(trend_chart(points, 0.9, texts={"below_min": "n<30"}))
    assert not by_class(root, "tc-line")
    rects = by_class(root, "tc-band", "rect")
    assert len(rects) == 2
    y = y_scale(root)
    assert f(rects[0], "y") == pytest.approx(y(0.9), abs=0.02)
    assert f(rects[0], "y") + f(rects[0], "height") == pytest.approx(y(0.7), abs=0.02)
    assert text_of(by_class(root, "tc-gap")[0]) == "n<30"


def test_trend_axis_reaches_down_to_a_low_target():
    root = parse(trend_chart([("2025", 0.95, 0.93, 0.97, 500)], 0.5))
    y = y_scale(root)
    lowest = float(by_class(root, "chart-tick")[0].text.split()[0]) / 100
    assert lowest <= 0.5
    (goal,) = by_class(root, "chart-target", "line")
    assert y(1.0) <= f(goal, "y1") <= y(lowest)


def test_trend_thins_out_many_x_labels():
    points = [(f"T{i:02d}", 0.8 + i / 1000, 0.75, 0.85 + i / 1000, 100) for i in range(36)]
    root = parse(trend_chart(points, 0.9))
    labels = [t.text for t in by_class(root, "tc-xlabel")]
    assert 6 <= len(labels) <= 12
    assert labels[0] == "T00"
    assert len(by_class(root, "tc-dot")) == 36


@pytest.mark.parametrize(
    "points",
    [[], [("Q1", None, None, None, 0)], [("Q1", None, None, None, 5), ("Q2", None, None, None, 9)]],
)
def test_trend_without_data_is_a_small_placeholder(points):
    root = parse(trend_chart(points, 0.9))
    assert by_class(root, "chart-empty")[0].text == "no data"
    assert float(root.get("height")) <= 40


def test_trend_accepts_objects_and_figure_pairs():
    @dataclass
    class Point:
        period_label: str
        estimate: float | None
        low: float | None
        high: float | None
        n: int

    figure = SimpleNamespace(estimate=0.7, low=0.6, high=0.8, n=40, suppressed=False)
    suppressed = SimpleNamespace(estimate=None, low=None, high=None, n=7, suppressed=True)
    points = [Point("2023", 0.8, 0.75, 0.85, 100), ("2024", figure), ("2025", suppressed)]
    root = parse(trend_chart(points, None))
    assert len(by_class(root, "tc-dot")) == 2
    assert len(by_class(root, "tc-gap-mark")) == 1
    assert not by_class(root, "chart-target")
    assert [t.text for t in by_class(root, "tc-xlabel")] == ["2023", "2024", "2025"]


# --------------------------------------------------------------------------- factor profile

FACTORS = [
    ("access", "Tiếp cận dịch vụ", 1.0, 0.95, 1.0),
    ("procedure", "Thủ tục hành chính", 0.5, 0.4, 0.6),
    ("staff", "Công chức", None, None, None),
]


def test_factor_profile_draws_to_scale():
    root = parse(factor_profile(FACTORS, 0.9))
    rows = by_class(root, "fp-row", "g")
    assert [r.get("data-key") for r in rows] == ["access", "procedure", "staff"]
    bars = by_class(root, "fp-bar", "rect")
    assert len(bars) == 2
    full, half = bars
    assert f(full, "x") == f(half, "x")
    left, plot = f(full, "x"), f(full, "width")  # the 100 % bar spans the whole axis
    assert f(half, "width") == pytest.approx(plot / 2, abs=0.02)
    (goal,) = by_class(root, "chart-target", "line")
    assert f(goal, "x1") == pytest.approx(left + 0.9 * plot, abs=0.02)
    whiskers = [w for w in by_class(root, "fp-whisker") if w.get("y1") == w.get("y2")]
    ends = [x for w in whiskers for x in (f(w, "x1"), f(w, "x2"))]
    expected = [left + 0.95 * plot, left + plot, left + 0.4 * plot, left + 0.6 * plot]
    assert ends == pytest.approx(expected, abs=0.02)
    values = [v.text for v in by_class(root, "fp-value")]
    assert values == ["100.0 %", "50.0 %", "–"]
    assert [m.text for m in by_class(root, "fp-missing")] == ["no figure"]
    assert [t.text for t in by_class(root, "chart-tick")] == [
        "0 %",
        "25 %",
        "50 %",
        "75 %",
        "100 %",
    ]
    assert by_class(root, "chart-target-label")[0].text == "target 90.0 %"


def test_factor_profile_height_grows_with_the_factors():
    three = parse(factor_profile(FACTORS, 0.9))
    six = parse(factor_profile(FACTORS * 2, 0.9))
    assert float(six.get("height")) > float(three.get("height"))
    fixed = parse(factor_profile(FACTORS, 0.9, height=300))
    assert fixed.get("viewBox") == "0 0 640 300"


def test_factor_profile_accepts_objects():
    factor = SimpleNamespace(key="k", label="Kết quả", estimate=0.92, low=0.9, high=0.94)
    root = parse(factor_profile([factor], None))
    assert by_class(root, "fp-value")[0].text == "92.0 %"
    assert not by_class(root, "chart-target")


def test_factor_profile_without_factors_is_a_placeholder():
    root = parse(factor_profile([], 0.9))
    assert by_class(root, "chart-empty")[0].text == "no data"


def test_long_labels_are_shortened_with_the_full_text_as_tooltip():
    long = "Mức độ hài lòng về " + "thủ tục hành chính " * 6
    root = parse(factor_profile([("k", long, 0.8, 0.7, 0.9)], 0.9))
    (label,) = by_class(root, "fp-label")
    assert label.text.endswith("…") and len(label.text) < len(long)
    assert label.find(f"{NS}title").text == long


# --------------------------------------------------------------------------- distribution


def test_distribution_segments_are_proportional_and_classed():
    rows = [("Câu 1", {1: 10, 2: 0, 3: 30, 4: 40, 5: 20}), ("Câu 2", {})]
    root = parse(distribution_bars(rows, labels=LIKERT))
    first, second = by_class(root, "dist-row", "g")
    segments = by_class(first, "dseg", "rect")
    assert [s.get("class") for s in segments] == ["dseg d1", "dseg d3", "dseg d4", "dseg d5"]
    fills = [s.get("fill") for s in segments]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in fills) and len(set(fills)) == 4
    widths = [f(s, "width") for s in segments]
    total = sum(widths)
    assert [w / total for w in widths] == pytest.approx([0.1, 0.3, 0.4, 0.2], abs=1e-3)
    for a, b in pairwise(segments):  # contiguous
        assert f(a, "x") + f(a, "width") == pytest.approx(f(b, "x"), abs=0.02)
    assert "Hài lòng: 40 (40.0 %)" in segments[2].find(f"{NS}title").text
    # a percentage is written inside a segment only where it fits (10 % of 340 units does not)
    inside = [t.text for t in by_class(first, "dseg-label")]
    assert inside == ["30.0 %", "40.0 %", "20.0 %"]
    assert by_class(first, "dist-n")[0].text == "n = 100"
    assert not by_class(second, "dseg")
    assert by_class(second, "dist-empty")[0].text == "no answers"
    assert by_class(second, "dist-n")[0].text == "n = 0"
    # the legend names every value in order, with the same classes and colours
    swatches = by_class(root, "dswatch", "rect")
    assert [s.get("class") for s in swatches] == [f"dswatch d{v}" for v in LIKERT]
    legend_labels = [t.text for t in by_class(root, "dist-legend-label")]
    assert legend_labels == list(LIKERT.values())
    swatch_fill = {s.get("class").split()[1]: s.get("fill") for s in swatches}
    for s in segments:
        assert s.get("fill") == swatch_fill[s.get("class").split()[1]]


def test_distribution_palette_diverges_red_to_grey_to_blue():
    root = parse(distribution_bars([("Q", dict.fromkeys(LIKERT, 1))], labels=LIKERT))
    fills = [s.get("fill") for s in by_class(root, "dswatch")]
    red, _, grey, _, blue = (tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in fills)
    assert red[0] > red[2] and blue[2] > blue[0] and grey[0] == grey[1] == grey[2]


def test_distribution_values_outside_the_labels_follow_and_wider_scales_work():
    labels = {v: f"mức {v}" for v in range(1, 10)}
    root = parse(
        distribution_bars([("Q", {**dict.fromkeys(range(1, 10), 3), 99: 1})], labels=labels)
    )
    classes = [s.get("class").split()[1] for s in by_class(root, "dseg")]
    assert classes == [f"d{v}" for v in range(1, 10)] + ["d99"]
    assert len({s.get("fill") for s in by_class(root, "dswatch")}) == 10


def test_distribution_without_rows_is_a_placeholder():
    root = parse(distribution_bars([], labels=LIKERT))
    assert by_class(root, "chart-empty")[0].text == "no data"


def test_distribution_accepts_objects():
    row = SimpleNamespace(question_label="Câu 7", counts={4: 3, 5: 1})
    root = parse(distribution_bars([row], labels=LIKERT))
    assert by_class(root, "dist-label")[0].text == "Câu 7"
    assert len(by_class(root, "dseg")) == 2


# --------------------------------------------------------------------------- escaping


def every_chart(label: str) -> list[Markup]:
    return [
        interval_bar(0.8, 0.7, 0.9, 0.9, label=label),
        interval_bar(None, None, None, 0.9, label=label),
        trend_chart(
            [(label, 0.8, 0.7, 0.9, 100), (label, None, None, None, 3)],
            0.9,
            label=label,
            target_label=label,
        ),
        trend_chart([], 0.9, label=label),
        factor_profile([(label, label, 0.8, 0.7, 0.9)], 0.9, label=label, target_label=label),
        distribution_bars([(label, {1: 1, label: 2})], labels={1: label}, label=label),
        distribution_bars([], labels={}, label=label),
    ]


@pytest.mark.parametrize("index", range(7))
def test_data_text_is_escaped_everywhere(index):
    markup = every_chart(HOSTILE)[index]
    assert "<script>" not in markup and '"quotes"' not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in markup
    root = parse(markup)
    assert HOSTILE in all_text(root)  # and it reads back as the original text


def test_characters_xml_cannot_carry_are_dropped():
    markup = trend_chart([("Q\x00\x01\x1b1", 0.8, 0.7, 0.9, 10)], 0.9, label="a\x0bb\ufffe")
    root = parse(markup)
    assert root.get("aria-label").startswith("ab: ")
    assert by_class(root, "tc-xlabel")[0].text == "Q1"


# --------------------------------------------------------------------------- properties

VIETNAMESE = ["Mục tiêu 90 %", "Rất hài lòng", "Phường Đồng Xoài", "Quầy 1 – Hộ tịch", "ủy ban"]
labels = st.one_of(
    st.text(max_size=30),
    st.sampled_from([*VIETNAMESE, HOSTILE, "]]>", "<!--", "&amp;", "' onload='x", "style=x"]),
)


@st.composite
def shares(draw):
    """(estimate, low, high) with low ≤ estimate ≤ high in [0, 1]."""
    low, estimate, high = sorted(draw(st.floats(0, 1)) for _ in range(3))
    return estimate, low, high


@st.composite
def trend_points(draw):
    label = draw(labels)
    if draw(st.booleans()):
        estimate, low, high = draw(shares())
    else:
        estimate = low = high = None
    return (label, estimate, low, high, draw(st.integers(0, 5000)))


targets = st.one_of(st.none(), st.floats(0, 1))
common = settings(max_examples=60, deadline=None)


@common
@given(shares(), targets, labels)
def test_interval_bar_is_safe_for_any_input(figure, target, label):
    root = parse(interval_bar(*figure, target, label=label))
    for dot in by_class(root, "ib-est"):
        (track,) = by_class(root, "ib-track")
        assert f(track, "x") - 1e-6 <= f(dot, "cx") <= f(track, "x") + f(track, "width") + 1e-6


@common
@given(st.lists(trend_points(), max_size=30), targets, labels, labels)
def test_trend_chart_is_safe_for_any_input(points, target, label, target_label):
    root = parse(trend_chart(points, target, label=label, target_label=target_label))
    if any(p[1] is not None for p in points):
        y = y_scale(root)
        for band in by_class(root, "tc-band", "polygon"):
            corners = polygon(band)
            half = len(corners) // 2
            for (x_up, y_up), (x_down, y_down) in zip(
                corners[:half], reversed(corners[half:]), strict=True
            ):
                assert x_up == x_down
                assert y(1.0) - 0.01 <= y_up <= y_down + 0.01


@common
@given(st.lists(st.tuples(labels, labels, shares()), max_size=12), targets)
def test_factor_profile_is_safe_for_any_input(rows, target):
    factors = [(key, name, *figure) for key, name, figure in rows]
    parse(factor_profile(factors, target))


@common
@given(
    st.lists(
        st.tuples(labels, st.dictionaries(st.integers(1, 5), st.integers(0, 10_000))), max_size=8
    ),
    st.dictionaries(st.integers(1, 5), labels, max_size=5),
)
def test_distribution_bars_are_safe_for_any_input(rows, value_labels):
    root = parse(distribution_bars(rows, labels=value_labels))
    for row, (_, counts) in zip(by_class(root, "dist-row", "g"), rows, strict=True):
        assert len(by_class(row, "dseg")) == sum(1 for c in counts.values() if c > 0)
