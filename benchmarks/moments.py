"""Index moments of many cells at once: `IndexMoments.from_groups` (what settling and seed-demo
call) against one `from_rows` per cell (what they called before), in the same run, for the
shapes they meet: a settling batch (tens to a thousand responses over ~100 cells) and a seed
(hundreds of thousands of responses over days, months or years). Pure computation, no database.

    .venv/bin/python -m benchmarks.moments
"""

import sys
import time
from collections import defaultdict

import numpy as np

from analytics import IndexMoments
from benchmarks.report import Row, median, table
from questionnaires import load_definitions
from survey_app.services.questionnaires import grouping_of

# (rows, cells): what the rows are spread over.
SHAPES = [
    (50, 45),  # the background settler's batch
    (200, 90),
    (1_000, 90),  # a reader's batch
    (100_000, 30_000),  # seed-demo, day cells
    (550_000, 33_000),  # seed-demo of 1,000,000: its sipas-counter responses, day cells
    (550_000, 1_000),  # … month cells
]


def _answers(rng, rows: int, items: int) -> np.ndarray:
    data = np.where(rng.random((rows, items)) < 0.85, 1.0, 0.0)
    data[rng.random((rows, items)) < 0.05] = np.nan
    return data


def _per_cell(data, labels, items, grouping) -> dict:
    members = defaultdict(list)
    for row, label in enumerate(labels):
        members[label].append(row)
    return {
        label: IndexMoments.from_rows(data[rows], items, grouping)
        for label, rows in members.items()
    }


def _timed(function, runs: int, *args) -> tuple[float, object]:
    seconds, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = function(*args)
        seconds.append(time.perf_counter() - began)
    return median(seconds), result


def benchmark(runs: int = 3) -> list[Row]:
    grouping = grouping_of(load_definitions()["sipas-counter"])
    items = list(grouping.items)
    rng = np.random.default_rng(2025)
    rows = []
    for size, cells in SHAPES:
        data = _answers(rng, size, len(items))
        labels = rng.integers(0, cells, size).tolist()
        arguments = (data, labels, items, grouping)
        before, expected = _timed(_per_cell, runs, *arguments)
        after, got = _timed(IndexMoments.from_groups, runs, *arguments)
        if got != expected:
            raise AssertionError(f"from_groups differs from per-cell from_rows at {size} rows")
        rows.append(
            Row(
                "moments",
                "-",
                f"{size:,}",
                f"from_groups over {cells:,} cells (median of {runs})",
                after * 1000,
                "ms",
                f"one from_rows per cell {before * 1000:,.1f} ms",
                before / after,
            )
        )
    return rows


if __name__ == "__main__":
    print(table(benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
