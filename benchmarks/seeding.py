"""`seed-demo` wall time, measured when the cached database was made (goal: 1,000,000 ≤ 5 min)."""

from benchmarks.databases import Database
from benchmarks.report import Row

GOAL_SECONDS_PER_MILLION = 300


def rows(database: Database) -> list[Row]:
    if database.seed_seconds is None:
        return []
    per_million = database.seed_seconds * 1_000_000 / database.size
    return [
        Row(
            "seed-demo",
            database.backend,
            f"{database.size:,}",
            "seed-demo wall time (when cached)",
            database.seed_seconds,
            "s",
            "",
            None,
            "1,000,000 ≤ 300 s" if database.size >= 1_000_000 else "",
            database.seed_seconds <= GOAL_SECONDS_PER_MILLION
            if database.size == 1_000_000
            else None,
            note=f"{per_million:.0f} s per million"
            + (f"; {database.seed_phases}" if database.seed_phases else ""),
        )
    ]
