"""Server-side SVG charts for the staff dashboard: pure functions from figures to ``Markup``.

Every chart is one complete ``<svg>`` element that works on a page with no CDN and a strict
Content-Security-Policy: no script, no ``style=`` attribute, no ``<style>`` element, no external
reference and no ``id`` (so any number of charts can share a page). Colours and strokes are SVG
presentation attributes, which a stylesheet overrides through the CSS classes listed below.

Every chart has ``role="img"``, an ``aria-label`` summary and a ``<title>``; all text that comes
from data is cleaned of characters XML cannot carry and escaped. Shares are in [0, 1] and are
shown as percentages with one decimal ("87.3 %"). The root carries a ``viewBox`` and its natural
``width``/``height`` in user units; ``.chart { width: 100%; height: auto; }`` makes it scale.

Fixed words ("no data", "target", …) come from ``DEFAULT_TEXTS``; each function takes a
``texts`` mapping that overrides some of them (pass translated strings from the view).

CSS classes (all charts): ``chart``, ``chart-empty`` (placeholder message), ``chart-grid``
(gridlines), ``chart-tick`` (axis labels), ``chart-target`` (target line),
``chart-target-label``; plus per chart

* ``interval_bar`` – root ``chart-interval-bar``; ``ib-track``, ``ib-band``, ``ib-est``;
* ``trend_chart`` – root ``chart-trend``; ``tc-band``, ``tc-line``, ``tc-dot``, ``tc-gap``
  (the "n<min" text), ``tc-gap-mark``, ``tc-xlabel``;
* ``factor_profile`` – root ``chart-factors``; ``fp-row``, ``fp-label``, ``fp-bar``,
  ``fp-whisker``, ``fp-value``, ``fp-missing``;
* ``distribution_bars`` – root ``chart-distribution``; ``dist-legend``, ``dist-row``,
  ``dist-label``, ``dist-n``, ``dist-empty``, ``dseg`` + ``d<value>`` (segments),
  ``dswatch`` + ``d<value>`` (legend swatches), ``dseg-label`` (percent inside a segment).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "DEFAULT_TEXTS",
    "distribution_bars",
    "factor_profile",
    "interval_bar",
    "trend_chart",
]

SVG_NS = "http://www.w3.org/2000/svg"

DEFAULT_TEXTS: dict[str, str] = {
    "no_data": "no data",
    "no_figure": "no figure",
    "no_answers": "no answers",
    "below_min": "n<min",
    "estimate": "estimate",
    "interval": "95 % interval",
    "target": "target",
    "periods": "periods",
    "latest": "latest",
    "questions": "questions",
    "factors": "factors",
    "trend_title": "Trend",
    "factors_title": "Factors",
    "distribution_title": "Distribution of answers",
    "figure_title": "Satisfaction",
}

# Fallback colours; a stylesheet overrides them through the classes.
_INK = "#333333"
_MUTED = "#767676"
_GRID = "#dddddd"
_TRACK = "#eeeeee"
_BAND = "#9ecae1"
_LINE = "#08519c"
_TARGET = "#b2182b"

# ColorBrewer RdBu with a grey midpoint: red (dissatisfied) → grey → blue (satisfied),
# distinguishable under the common colour-vision deficiencies.
_PALETTES: dict[int, tuple[str, ...]] = {
    1: ("#bababa",),
    2: ("#ca0020", "#0571b0"),
    3: ("#ca0020", "#bababa", "#0571b0"),
    4: ("#ca0020", "#f4a582", "#92c5de", "#0571b0"),
    5: ("#ca0020", "#f4a582", "#bababa", "#92c5de", "#0571b0"),
    6: ("#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"),
    7: ("#b2182b", "#ef8a62", "#fddbc7", "#bababa", "#d1e5f0", "#67a9cf", "#2166ac"),
}

# Characters XML 1.0 cannot carry (C0 controls other than tab/newline/CR, lone surrogates,
# U+FFFE/U+FFFF); dropped from data text so the markup always parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHAR_WIDTH = 0.58  # average glyph advance as a share of the font size (a safe over-estimate)


# --------------------------------------------------------------------------- helpers


def _clean(text: object) -> str:
    return _NOT_XML.sub("", str(text))


def _t(text: object) -> str:
    """Cleaned and escaped text for element content."""
    return str(escape(_clean(text)))


def _n(value: float) -> str:
    """A coordinate in user units: at most two decimals, no trailing zeros, no ``-0``."""
    out = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def _pct(share: float, decimals: int = 1) -> str:
    return f"{share * 100:.{decimals}f} %"


def _attrs(attrs: Mapping[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = _n(value)
        parts.append(f' {key}="{_t(value)}"')
    return "".join(parts)


def _el(tag: str, attrs: Mapping[str, object], *children: str) -> str:
    """An element; ``children`` are already-escaped markup strings."""
    if children:
        return f"<{tag}{_attrs(attrs)}>{''.join(children)}</{tag}>"
    return f"<{tag}{_attrs(attrs)}/>"


def _title(text: str) -> str:
    return _el("title", {}, _t(text))


def _text_width(text: str, size: float) -> float:
    return len(text) * size * _CHAR_WIDTH


def _fit(text: str, max_width: float, size: float) -> str:
    """``text`` shortened with an ellipsis so that it fits in about ``max_width`` units."""
    text = _clean(text)
    if _text_width(text, size) <= max_width:
        return text
    keep = max(int(max_width / (size * _CHAR_WIDTH)) - 1, 0)
    return text[:keep].rstrip() + "…"


def _label(
    x: float,
    y: float,
    text: str,
    cls: str,
    *,
    size: float,
    max_width: float,
    anchor: str,
    central: bool = False,
    fill: str = _INK,
) -> str:
    """A text element shortened to fit, with the full text as its tooltip when shortened."""
    shown = _fit(text, max_width, size)
    tooltip = _title(text) if shown != _clean(text) else ""
    attrs = {"x": x, "y": y, "class": cls, "font-size": size, "text-anchor": anchor, "fill": fill}
    if central:
        attrs["dominant-baseline"] = "central"
    return _el("text", attrs, _t(shown) + tooltip)


def _share(value: object) -> float | None:
    """A share clamped to [0, 1]; ``None`` for missing or non-finite values."""
    if value is None:
        return None
    try:
        share = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(share):
        return None
    return min(max(share, 0.0), 1.0)


def _interval(low: object, high: object) -> tuple[float | None, float | None]:
    lo, hi = _share(low), _share(high)
    if lo is None or hi is None:
        return None, None
    return min(lo, hi), max(lo, hi)


def _texts(overrides: Mapping[str, str] | None) -> dict[str, str]:
    return {**DEFAULT_TEXTS, **(overrides or {})}


def _prefix(label: str) -> str:
    label = _clean(label).strip()
    return f"{label}: " if label else ""


def _svg(
    kind: str, width: float, height: float, summary: str, title: str, body: Iterable[str]
) -> Markup:
    attrs = {
        "xmlns": SVG_NS,
        "class": f"chart chart-{kind}",
        "viewBox": f"0 0 {_n(width)} {_n(height)}",
        "width": width,
        "height": height,
        "preserveAspectRatio": "xMidYMid meet",
        "role": "img",
        "aria-label": summary,
        "font-family": "sans-serif",
    }
    return Markup(_el("svg", attrs, _title(title), *body))


def _placeholder(kind: str, width: float, height: float, message: str, label: str) -> Markup:
    size = min(11.0, max(height * 0.6, 6.0))
    text = _el(
        "text",
        {
            "x": width / 2,
            "y": height / 2,
            "class": "chart-empty",
            "font-size": size,
            "text-anchor": "middle",
            "dominant-baseline": "central",
            "fill": _MUTED,
        },
        _t(message),
    )
    summary = _prefix(label) + message
    return _svg(kind, width, height, summary, summary, [text])


def _axis_floor(values: Iterable[float]) -> float:
    """The lower end of a share axis: a bit below the smallest value, on a 5 % step, ≥ 0."""
    low = min(values)
    return max(0.0, round(math.floor(round((low - 0.02) / 0.05, 9)) * 0.05, 6))


def _ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    span = hi - lo
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if span / s <= most + 1e-9)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, 6) for k in range(first, last + 1)]


def _check_size(name: str, value: float, minimum: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a number ≥ {minimum}, got {value!r}")


def _target_label_attrs(x: float, y: float, left: float, right: float) -> dict[str, object]:
    anchor = "end" if x > (left + right) / 2 else "start"
    return {
        "x": x + (-3 if anchor == "end" else 3),
        "y": y,
        "class": "chart-target-label",
        "font-size": 10,
        "text-anchor": anchor,
        "fill": _TARGET,
    }


# --------------------------------------------------------------------------- interval bar


def interval_bar(
    estimate: float | None,
    low: float | None,
    high: float | None,
    target: float | None,
    *,
    width: float = 160,
    height: float = 18,
    label: str = "",
    texts: Mapping[str, str] | None = None,
) -> Markup:
    """A compact bar for a table cell: interval as a band, estimate as a dot, target as a line.

    The axis runs from a bit below ``min(low, estimate, target)`` (on a 5 % step, floored at 0)
    to 100 %, so the target and the interval are always visible. ``estimate is None`` gives a
    placeholder saying "no figure".
    """
    _check_size("width", width, 20)
    _check_size("height", height, 6)
    words = _texts(texts)
    est = _share(estimate)
    if est is None:
        return _placeholder("interval-bar", width, height, words["no_figure"], label)
    lo, hi = _interval(low, high)
    goal = _share(target)

    pad = max(min(height * 0.25, 5.0), 2.0)
    left, right = pad, width - pad
    axis_lo = _axis_floor(v for v in (est, lo, goal) if v is not None)

    def x(share: float) -> float:
        return left + (share - axis_lo) / (1.0 - axis_lo) * (right - left)

    body = [
        _el(
            "rect",
            {
                "x": left,
                "y": height * 0.3,
                "width": right - left,
                "height": height * 0.4,
                "class": "ib-track",
                "fill": _TRACK,
            },
        )
    ]
    if lo is not None and hi is not None:
        body.append(
            _el(
                "rect",
                {
                    "x": x(lo),
                    "y": height * 0.2,
                    "width": x(hi) - x(lo),
                    "height": height * 0.6,
                    "class": "ib-band",
                    "fill": _BAND,
                },
            )
        )
    if goal is not None:
        body.append(
            _el(
                "line",
                {
                    "x1": x(goal),
                    "y1": 1,
                    "x2": x(goal),
                    "y2": height - 1,
                    "class": "chart-target",
                    "stroke": _TARGET,
                    "stroke-width": 1.5,
                },
            )
        )
    body.append(
        _el(
            "circle",
            {
                "cx": x(est),
                "cy": height / 2,
                "r": max(min(height * 0.22, 4.0), 1.5),
                "class": "ib-est",
                "fill": _LINE,
            },
        )
    )

    summary = _prefix(label) + f"{words['estimate']} {_pct(est)}"
    if lo is not None and hi is not None:
        summary += f"; {words['interval']} {_pct(lo)}–{_pct(hi)}"
    if goal is not None:
        summary += f"; {words['target']} {_pct(goal)}"
    return _svg("interval-bar", width, height, summary, summary, body)


# --------------------------------------------------------------------------- trend chart


@dataclass(frozen=True)
class _Point:
    label: str
    estimate: float | None
    low: float | None
    high: float | None
    n: int


def _int(value: object) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def _point(item: Any) -> _Point:
    """A trend point from ``(label, estimate, low, high, n)``, ``(label, figure)`` or an object
    with ``period_label``/``label``, ``estimate``, ``low``, ``high`` and ``n``."""
    fig = item
    if isinstance(item, Sequence) and not isinstance(item, str):
        if len(item) == 2:
            label, fig = item
            est, low, high, n = (getattr(fig, k, None) for k in ("estimate", "low", "high", "n"))
        else:
            label, est, low, high, *rest = item
            n = rest[0] if rest else 0
    else:
        label = getattr(item, "period_label", None) or getattr(item, "label", "")
        est, low, high, n = (getattr(item, k, None) for k in ("estimate", "low", "high", "n"))
    if getattr(fig, "suppressed", False) is True:
        est = None
    lo, hi = _interval(low, high)
    return _Point(_clean(label if label is not None else ""), _share(est), lo, hi, _int(n))


def _runs(flags: Sequence[bool]) -> list[list[int]]:
    """Maximal runs of consecutive indices whose flag is true."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, flag in enumerate(flags):
        if flag:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def trend_chart(
    points: Sequence[Any],
    target: float | None,
    *,
    width: float = 640,
    height: float = 240,
    label: str = "",
    target_label: str | None = None,
    texts: Mapping[str, str] | None = None,
) -> Markup:
    """Estimates over periods: line with dots, interval band, dashed target line.

    ``points`` are ``(period_label, estimate, low, high, n)`` tuples (or objects with those
    attributes, or ``(period_label, figure)`` pairs). A point without an estimate breaks the
    line and the band and shows a small "n<min" marker. The y axis runs from a bit below the
    smallest low/estimate/target to 100 %; x labels are thinned to about 12.
    """
    _check_size("width", width, 160)
    _check_size("height", height, 80)
    words = _texts(texts)
    pts = [_point(p) for p in points]
    goal = _share(target)
    shown = [p for p in pts if p.estimate is not None]
    if not shown:
        return _placeholder("trend", width, min(height, 40), words["no_data"], label)

    left, right, top, bottom = 44.0, width - 10.0, 16.0, height - 26.0
    values = [v for p in shown for v in (p.estimate, p.low) if v is not None]
    axis_lo = _axis_floor([*values, *([goal] if goal is not None else [])])
    slot = (right - left) / len(pts)

    def x(i: int) -> float:
        return left + (i + 0.5) * slot

    def y(share: float) -> float:
        return bottom - (share - axis_lo) / (1.0 - axis_lo) * (bottom - top)

    body: list[str] = []
    grid: list[str] = []
    for tick in _ticks(axis_lo, 1.0):
        grid.append(
            _el(
                "line",
                {
                    "x1": left,
                    "y1": y(tick),
                    "x2": right,
                    "y2": y(tick),
                    "class": "chart-grid",
                    "stroke": _GRID,
                    "stroke-width": 1,
                },
            )
        )
        grid.append(
            _el(
                "text",
                {
                    "x": left - 4,
                    "y": y(tick),
                    "class": "chart-tick",
                    "font-size": 10,
                    "text-anchor": "end",
                    "dominant-baseline": "central",
                    "fill": _MUTED,
                },
                _t(_pct(tick, 0)),
            )
        )
    body.append(_el("g", {"class": "chart-axis"}, *grid))

    # The band: one polygon per run of consecutive points with an estimate and an interval.
    for run in _runs([p.estimate is not None and p.low is not None for p in pts]):
        if len(run) == 1:
            i = run[0]
            p = pts[i]
            assert p.low is not None and p.high is not None
            half = min(slot * 0.3, 5.0)
            body.append(
                _el(
                    "rect",
                    {
                        "x": x(i) - half,
                        "y": y(p.high),
                        "width": 2 * half,
                        "height": y(p.low) - y(p.high),
                        "class": "tc-band",
                        "fill": _BAND,
                        "opacity": 0.5,
                    },
                )
            )
            continue
        upper = [f"{_n(x(i))},{_n(y(pts[i].high))}" for i in run]
        lower = [f"{_n(x(i))},{_n(y(pts[i].low))}" for i in reversed(run)]
        body.append(
            _el(
                "polygon",
                {
                    "points": " ".join(upper + lower),
                    "class": "tc-band",
                    "fill": _BAND,
                    "opacity": 0.5,
                },
            )
        )

    if goal is not None:
        body.append(
            _el(
                "line",
                {
                    "x1": left,
                    "y1": y(goal),
                    "x2": right,
                    "y2": y(goal),
                    "class": "chart-target",
                    "stroke": _TARGET,
                    "stroke-width": 1.5,
                    "stroke-dasharray": "6 4",
                },
            )
        )
        text = target_label if target_label is not None else f"{words['target']} {_pct(goal)}"
        attrs = _target_label_attrs(right, y(goal) - 4, left, right)
        body.append(_el("text", attrs, _t(_fit(text, right - left, 10))))

    for run in _runs([p.estimate is not None for p in pts]):
        if len(run) > 1:
            coords = " ".join(f"{_n(x(i))},{_n(y(pts[i].estimate))}" for i in run)
            body.append(
                _el(
                    "polyline",
                    {
                        "points": coords,
                        "class": "tc-line",
                        "fill": "none",
                        "stroke": _LINE,
                        "stroke-width": 2,
                    },
                )
            )

    marker_fits = slot >= _text_width(words["below_min"], 9) + 2
    for i, p in enumerate(pts):
        if p.estimate is not None:
            tip = f"{p.label}: {_pct(p.estimate)}"
            if p.low is not None and p.high is not None:
                tip += f" ({_pct(p.low)}–{_pct(p.high)})"
            tip += f", n = {p.n}"
            body.append(
                _el(
                    "circle",
                    {
                        "cx": x(i),
                        "cy": y(p.estimate),
                        "r": 3.5,
                        "class": "tc-dot",
                        "fill": _LINE,
                    },
                    _title(tip),
                )
            )
        else:
            tip = f"{p.label}: {words['below_min']}, n = {p.n}"
            body.append(
                _el(
                    "line",
                    {
                        "x1": x(i),
                        "y1": bottom,
                        "x2": x(i),
                        "y2": bottom - 6,
                        "class": "tc-gap-mark",
                        "stroke": _MUTED,
                        "stroke-width": 1,
                    },
                    _title(tip),
                )
            )
            if marker_fits:
                body.append(
                    _el(
                        "text",
                        {
                            "x": x(i),
                            "y": bottom - 9,
                            "class": "tc-gap",
                            "font-size": 9,
                            "text-anchor": "middle",
                            "fill": _MUTED,
                        },
                        _t(words["below_min"]) + _title(tip),
                    )
                )

    every = max(1, math.ceil(len(pts) / 12))
    for i, p in enumerate(pts):
        if i % every == 0:
            body.append(
                _label(
                    x(i),
                    bottom + 16,
                    p.label,
                    "tc-xlabel",
                    size=10,
                    fill=_INK,
                    max_width=slot * every - 4,
                    anchor="middle",
                )
            )

    latest = shown[-1]
    summary = (
        _prefix(label)
        + f"{len(pts)} {words['periods']}; {words['latest']} {latest.label}: "
        + _pct(latest.estimate)
    )
    if latest.low is not None and latest.high is not None:
        summary += f" ({words['interval']} {_pct(latest.low)}–{_pct(latest.high)})"
    if goal is not None:
        summary += f"; {words['target']} {_pct(goal)}"
    title = _clean(label).strip() or words["trend_title"]
    return _svg("trend", width, height, summary, title, body)


# --------------------------------------------------------------------------- factor profile


def _factor(item: Any) -> tuple[str, str, float | None, float | None, float | None]:
    if isinstance(item, Sequence) and not isinstance(item, str):
        key, label, est, low, high = item
    else:
        key, label, est, low, high = (
            getattr(item, k, None) for k in ("key", "label", "estimate", "low", "high")
        )
    lo, hi = _interval(low, high)
    return _clean(key or ""), _clean(label or ""), _share(est), lo, hi


def factor_profile(
    factors: Sequence[Any],
    target: float | None,
    *,
    width: float = 640,
    height: float | None = None,
    label: str = "",
    target_label: str | None = None,
    texts: Mapping[str, str] | None = None,
) -> Markup:
    """One horizontal bar per factor ``(key, label, estimate, low, high)`` on a 0–100 % axis,
    the interval as a whisker, the target as a dashed vertical line.

    The height grows with the number of factors unless given.
    """
    _check_size("width", width, 200)
    words = _texts(texts)
    rows = [_factor(f) for f in factors]
    top, axis_h = 20.0, 22.0
    if height is None:
        height = top + max(len(rows), 1) * 26.0 + axis_h
    _check_size("height", height, 40)
    if not rows:
        return _placeholder("factors", width, min(height, 40), words["no_data"], label)
    goal = _share(target)
    row_h = max((height - top - axis_h) / len(rows), 6.0)
    bar_h = min(row_h * 0.55, 16.0)
    label_w = round(width * 0.34)
    left, right = label_w + 8.0, width - 60.0
    bottom = top + row_h * len(rows)

    def x(share: float) -> float:
        return left + share * (right - left)

    body: list[str] = []
    axis: list[str] = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        axis.append(
            _el(
                "line",
                {
                    "x1": x(tick),
                    "y1": top,
                    "x2": x(tick),
                    "y2": bottom,
                    "class": "chart-grid",
                    "stroke": _GRID,
                    "stroke-width": 1,
                },
            )
        )
        axis.append(
            _el(
                "text",
                {
                    "x": x(tick),
                    "y": bottom + 14,
                    "class": "chart-tick",
                    "font-size": 10,
                    "text-anchor": "middle",
                    "fill": _MUTED,
                },
                _t(_pct(tick, 0)),
            )
        )
    body.append(_el("g", {"class": "chart-axis"}, *axis))

    for index, (key, name, est, lo, hi) in enumerate(rows):
        mid = top + (index + 0.5) * row_h
        parts = [
            _label(
                label_w,
                mid,
                name,
                "fp-label",
                size=11,
                max_width=label_w - 4,
                anchor="end",
                central=True,
            )
        ]
        if est is None:
            tip = f"{name}: {words['no_figure']}"
            parts.append(
                _el(
                    "text",
                    {
                        "x": left + 4,
                        "y": mid,
                        "class": "fp-missing",
                        "font-size": 10,
                        "dominant-baseline": "central",
                        "fill": _MUTED,
                    },
                    _t(words["no_figure"]),
                )
            )
            value = "–"
        else:
            tip = f"{name}: {_pct(est)}"
            parts.append(
                _el(
                    "rect",
                    {
                        "x": left,
                        "y": mid - bar_h / 2,
                        "width": x(est) - left,
                        "height": bar_h,
                        "class": "fp-bar",
                        "fill": _BAND,
                    },
                )
            )
            if lo is not None and hi is not None:
                tip += f" ({words['interval']} {_pct(lo)}–{_pct(hi)})"
                cap = bar_h * 0.35
                whisker = {"class": "fp-whisker", "stroke": _INK, "stroke-width": 1.5}
                parts.append(
                    _el("line", {"x1": x(lo), "y1": mid, "x2": x(hi), "y2": mid, **whisker})
                )
                for end in (lo, hi):
                    parts.append(
                        _el(
                            "line",
                            {
                                "x1": x(end),
                                "y1": mid - cap,
                                "x2": x(end),
                                "y2": mid + cap,
                                **whisker,
                            },
                        )
                    )
            value = _pct(est)
        parts.append(
            _el(
                "text",
                {
                    "x": width - 4,
                    "y": mid,
                    "class": "fp-value",
                    "font-size": 11,
                    "text-anchor": "end",
                    "dominant-baseline": "central",
                    "fill": _INK,
                },
                _t(value),
            )
        )
        body.append(_el("g", {"class": "fp-row", "data-key": key}, _title(tip), *parts))

    if goal is not None:
        body.append(
            _el(
                "line",
                {
                    "x1": x(goal),
                    "y1": top - 4,
                    "x2": x(goal),
                    "y2": bottom,
                    "class": "chart-target",
                    "stroke": _TARGET,
                    "stroke-width": 1.5,
                    "stroke-dasharray": "6 4",
                },
            )
        )
        text = target_label if target_label is not None else f"{words['target']} {_pct(goal)}"
        attrs = _target_label_attrs(x(goal), top - 8, 0, width)
        body.append(_el("text", attrs, _t(_fit(text, width / 2, 10))))

    shown = sum(1 for r in rows if r[2] is not None)
    summary = _prefix(label) + f"{len(rows)} {words['factors']}"
    if shown:
        low_row = min((r for r in rows if r[2] is not None), key=lambda r: r[2])
        high_row = max((r for r in rows if r[2] is not None), key=lambda r: r[2])
        summary += f"; {high_row[1]} {_pct(high_row[2])} … {low_row[1]} {_pct(low_row[2])}"
    if goal is not None:
        summary += f"; {words['target']} {_pct(goal)}"
    title = _clean(label).strip() or words["factors_title"]
    return _svg("factors", width, height, summary, title, body)


# --------------------------------------------------------------------------- distribution


def _interpolate(colours: Sequence[str], k: int) -> list[str]:
    """``k`` colours evenly along the piecewise-linear path through ``colours``."""
    rgb = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours]
    out = []
    for j in range(k):
        pos = j / (k - 1) * (len(rgb) - 1) if k > 1 else (len(rgb) - 1) / 2
        i = min(int(pos), len(rgb) - 2)
        f = pos - i
        mixed = (round(a + (b - a) * f) for a, b in zip(rgb[i], rgb[i + 1], strict=True))
        out.append("#" + "".join(f"{c:02x}" for c in mixed))
    return out


def _palette(k: int) -> list[str]:
    if k in _PALETTES:
        return list(_PALETTES[k])
    return _interpolate(("#b2182b", "#bababa", "#2166ac"), k)


def _is_dark(colour: str) -> bool:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45


def _value_class(value: object) -> str:
    return "d" + re.sub(r"[^A-Za-z0-9_-]", "", str(value))


def _row(item: Any) -> tuple[str, Mapping[Any, Any]]:
    if isinstance(item, Sequence) and not isinstance(item, str):
        name, counts = item
    else:
        name = getattr(item, "question_label", None) or getattr(item, "label", "")
        counts = getattr(item, "counts", None)
    return _clean(name or ""), counts or {}


def distribution_bars(
    rows: Sequence[Any],
    *,
    labels: Mapping[Any, str],
    width: float = 640,
    label: str = "",
    texts: Mapping[str, str] | None = None,
) -> Markup:
    """Stacked 100 % bars (Bảng 3 style), one per ``(question_label, counts)`` row.

    ``labels`` maps answer values to their labels in display order (e.g. 1 "Rất không hài lòng"
    … 5 "Rất hài lòng"); values found in counts but not in ``labels`` follow, sorted. Segments
    carry the classes ``dseg d<value>`` and a diverging red → grey → blue fill fallback; empty
    segments are omitted, a question with no answers says so.
    """
    _check_size("width", width, 200)
    words = _texts(texts)
    parsed = [_row(r) for r in rows]
    if not parsed:
        return _placeholder("distribution", width, 40, words["no_data"], label)

    values: list[Any] = list(labels)
    extra = {v for _, counts in parsed for v in counts if v not in labels}
    values += sorted(extra, key=lambda v: (str(type(v)), v))
    names = {v: _clean(labels.get(v, str(v))) for v in values}
    colours = dict(zip(values, _palette(len(values)), strict=True))

    # Legend, wrapped onto as many lines as it needs.
    legend: list[str] = []
    lx, ly, line_h = 0.0, 12.0, 16.0
    for v in values:
        item_w = 14 + _text_width(names[v], 11) + 14
        if lx > 0 and lx + item_w > width:
            lx, ly = 0.0, ly + line_h
        legend.append(
            _el(
                "rect",
                {
                    "x": lx,
                    "y": ly - 9,
                    "width": 10,
                    "height": 10,
                    "class": f"dswatch {_value_class(v)}",
                    "fill": colours[v],
                },
            )
        )
        legend.append(
            _label(
                lx + 14,
                ly,
                names[v],
                "dist-legend-label",
                size=11,
                max_width=width - lx - 14,
                anchor="start",
            )
        )
        lx += item_w
    top = ly + 10
    row_h, bar_h = 24.0, 16.0
    height = top + row_h * len(parsed) + 4
    label_w = round(width * 0.34)
    left, right = label_w + 8.0, width - 64.0

    body = [_el("g", {"class": "dist-legend"}, *legend)]
    for index, (name, counts) in enumerate(parsed):
        mid = top + (index + 0.5) * row_h
        clean = {v: max(_int(counts.get(v, 0)), 0) for v in values}
        total = sum(clean.values())
        parts = [
            _label(
                label_w,
                mid,
                name,
                "dist-label",
                size=11,
                max_width=label_w - 4,
                anchor="end",
                central=True,
            )
        ]
        if total == 0:
            tip = f"{name}: {words['no_answers']}"
            parts.append(
                _el(
                    "text",
                    {
                        "x": left + 4,
                        "y": mid,
                        "class": "dist-empty",
                        "font-size": 10,
                        "dominant-baseline": "central",
                        "fill": _MUTED,
                    },
                    _t(words["no_answers"]),
                )
            )
        else:
            pieces = []
            done = 0
            for v in values:
                count = clean[v]
                if count == 0:
                    continue
                x0 = left + (right - left) * done / total
                done += count
                x1 = left + (right - left) * done / total
                share = count / total
                piece = f"{names[v]}: {count} ({_pct(share)})"
                pieces.append(piece)
                segment = [
                    _el(
                        "rect",
                        {
                            "x": x0,
                            "y": mid - bar_h / 2,
                            "width": x1 - x0,
                            "height": bar_h,
                            "class": f"dseg {_value_class(v)}",
                            "fill": colours[v],
                        },
                        _title(f"{name} – {piece}"),
                    )
                ]
                if x1 - x0 >= _text_width(_pct(share), 9) + 4:
                    segment.append(
                        _el(
                            "text",
                            {
                                "x": (x0 + x1) / 2,
                                "y": mid,
                                "class": "dseg-label",
                                "font-size": 9,
                                "text-anchor": "middle",
                                "dominant-baseline": "central",
                                "fill": "#ffffff" if _is_dark(colours[v]) else "#222222",
                            },
                            _t(_pct(share)),
                        )
                    )
                parts.extend(segment)
            tip = f"{name}: " + "; ".join(pieces)
        parts.append(
            _el(
                "text",
                {
                    "x": width - 4,
                    "y": mid,
                    "class": "dist-n",
                    "font-size": 10,
                    "text-anchor": "end",
                    "dominant-baseline": "central",
                    "fill": _MUTED,
                },
                _t(f"n = {total}"),
            )
        )
        body.append(_el("g", {"class": "dist-row"}, _title(tip), *parts))

    scale = "; ".join(f"{names[v]}" for v in values)
    summary = _prefix(label) + f"{len(parsed)} {words['questions']}; {scale}"
    title = _clean(label).strip() or words["distribution_title"]
    return _svg("distribution", width, height, summary, title, body)
