"""Figures, goals and the printed table."""

import statistics
from dataclasses import asdict, dataclass


@dataclass
class Row:
    benchmark: str
    backend: str
    size: str  # stored responses, or "-"
    figure: str
    value: float | None
    unit: str
    baseline: str = ""  # what the figure is compared with, and its value
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None  # None: no goal, or not measurable here
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0–100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit in ("req/s", "responses", "errors", "MB") or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    """A Markdown table (readable in a terminal too)."""
    header = ["benchmark", "backend", "size", "figure", "value", "baseline", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        met = {True: "met", False: "**not met**", None: ""}[r.met]
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        value = f"{_fmt(r.value, r.unit)} {r.unit}".strip()
        if r.note:
            value += f" ({r.note})"
        lines.append(
            "| "
            + " | ".join(
                [r.benchmark, r.backend, r.size, r.figure, value, r.baseline, ratio, r.goal, met]
            )
            + " |"
        )
    return "\n".join(lines)
