"""3–4. Annual figures and the naive pandas baseline, each in a fresh process so that its time and
peak memory are its own.

Measured in the same run (each a median of fresh processes):
  - Bảng 1–3: services/reporting.build_annual_report for the province and this year;
  - raw export: services/exports.iter_raw_csv for the province, this year, consumed and dropped;
  - pandas (the naive baseline): load the year's answers (joined with their responses) into a
    DataFrame and group by unit × question × value;
  - counts table: the same year's unit × question × value sums from answer_counts_monthly, which
    is what the annual tables read for whole months.
"""

import importlib.util
import json
import resource
import subprocess
import sys
import time

from benchmarks.databases import ROOT, Database, app_env
from benchmarks.report import Row, median


def _year(app):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from survey_app.services.periods import period_of

    return period_of("year", datetime.now(ZoneInfo(app.config["LOCAL_TIMEZONE"])).date())


def _pandas(app) -> int:
    import pandas as pd
    from sqlalchemy import select

    from survey_app.extensions import db
    from survey_app.models import Answer, Response

    year = _year(app)
    query = (
        select(Response.unit_id, Response.local_day, Answer.question_key, Answer.value)
        .join(Answer, Answer.response_id == Response.id)
        .where(Response.local_day.between(year.start, year.end))
    )
    frame = pd.read_sql(query, db.session.connection())
    grouped = frame.groupby(["unit_id", "question_key", "value"]).size()
    return len(grouped)


def _counts(app) -> int:
    from sqlalchemy import func, select

    from survey_app.extensions import db
    from survey_app.models import MonthlyAnswerCount as Monthly

    year = _year(app)  # whole months: the monthly sums alone
    return len(
        db.session.execute(
            select(Monthly.unit_id, Monthly.question_key, Monthly.value, func.sum(Monthly.n))
            .where(Monthly.month.between(year.start, year.end))
            .group_by(Monthly.unit_id, Monthly.question_key, Monthly.value)
        ).all()
    )


def _demo_units():
    from sqlalchemy import select

    from survey_app.extensions import db
    from survey_app.models import Unit
    from survey_app.services.demo import DEMO_ROOT_CODE

    root = db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))
    units = list(
        db.session.scalars(select(Unit).where(Unit.path.startswith(root.path)).order_by(Unit.path))
    )
    return root, units


def _report(app) -> int:
    """services/reporting.build_annual_report for the province and the year (it builds Bảng 1–6;
    Bảng 1–3 are read from it)."""
    from survey_app.services.reporting import build_annual_report

    root, units = _demo_units()
    report = build_annual_report(root, units, _year(app).start.year)
    return sum(len(report.table(number).rows) for number in (1, 2, 3))


def _export(app) -> int:
    """services/exports.iter_raw_csv for the province and the year, consumed as a download would
    be (bytes counted, nothing kept). Returns the rows written."""
    from survey_app.services.exports import count_raw_rows, iter_raw_csv, plan_raw_export

    root, _ = _demo_units()
    plan = plan_raw_export(
        root, _year(app).start.year, "sipas-counter", app.config["LOCAL_TIMEZONE"]
    )
    written = 0
    for chunk in iter_raw_csv(plan):
        written += len(chunk)
    return count_raw_rows(plan)


TASKS = {"pandas": _pandas, "counts": _counts, "report": _report, "export": _export}


def worker(task: str, url: str) -> None:
    """In a child process: run `task` once and print its time and memory as JSON."""
    from benchmarks.inprocess import app_context

    with app_context(url) as app:
        import pandas  # noqa: F401  (imported before the base line, so both tasks start alike)

        base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began = time.perf_counter()
        cells = TASKS[task](app)
        seconds = time.perf_counter() - began
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_kb / 1024,
                "extra_mb": (peak_kb - base_kb) / 1024,
                "cells": cells,
            }
        )
    )


# Above these sizes the pandas baseline would not fit in memory (24 GiB here), and the raw export
# (whose goal is set at 1,000,000) would take most of an hour.
PANDAS_MAX_SIZE = 2_000_000
EXPORT_MAX_SIZE = 2_000_000


def measure(task: str, url: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.annual", task, url],
        cwd=ROOT,
        env=app_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _runs(task: str, url: str, reps: int) -> dict:
    results = [measure(task, url) for _ in range(reps)]
    return {
        "seconds": median([r["seconds"] for r in results]),
        "extra_mb": median([r["extra_mb"] for r in results]),
        "peak_mb": median([r["peak_mb"] for r in results]),
        "cells": results[0]["cells"],
        "n": reps,
    }


def benchmark(database: Database, options) -> list[Row]:
    size, label, backend = database.size, f"{database.size:,}", database.backend
    counts = _runs("counts", database.url, max(options.baseline_reps, 5))
    if size > PANDAS_MAX_SIZE:  # the naive way needs ~3.3 GB per million responses
        naive = None
        rows = [
            _not_run(
                backend,
                label,
                "pandas baseline",
                f"at this size it needs ~{3.3 * size / 1e6:,.0f} GB of memory",
            )
        ]
    else:
        naive = _runs("pandas", database.url, options.baseline_reps)
        rows = [
            Row(
                "annual",
                backend,
                label,
                f"pandas baseline: year's answers → DataFrame → group (n={naive['n']})",
                naive["seconds"],
                "s",
                "",
                None,
                note=f"+{naive['extra_mb']:,.0f} MB over the idle process, peak RSS "
                f"{naive['peak_mb']:,.0f} MB",
            )
        ]
    rows.append(
        Row(
            "annual",
            backend,
            label,
            f"same year's unit × question × value sums from answer_counts_monthly (n={counts['n']})",
            counts["seconds"],
            "s",
            f"pandas {naive['seconds']:.2f} s" if naive else "",
            naive["seconds"] / counts["seconds"] if naive else None,
            note=f"+{counts['extra_mb']:,.0f} MB; {counts['cells']:,} cells",
        )
    )
    small = size < 10_000_000
    if importlib.util.find_spec("survey_app.services.reporting") is None:
        rows.append(
            _not_run(backend, label, "Bảng 1–3 for the year", "services/reporting.py is missing")
        )
    else:
        report = _runs("report", database.url, max(options.baseline_reps, 5))
        limit = 0.5 if small else 1.0
        ratio = naive["seconds"] / report["seconds"] if naive else None
        fast = report["seconds"] <= limit and (ratio is None or ratio >= 100)
        lean = report["extra_mb"] <= 200 if small else True
        rows.append(
            Row(
                "annual",
                backend,
                label,
                f"Bảng 1–3 for the year: build_annual_report (n={report['n']})",
                report["seconds"],
                "s",
                f"pandas {naive['seconds']:.2f} s" if naive else "",
                ratio,
                f"≤ {limit:g} s" + (", ≥ 100× pandas, ≤ 200 MB" if small else ""),
                (fast and lean) if size >= 1_000_000 else None,
                note=f"+{report['extra_mb']:,.0f} MB over the idle process; "
                f"{report['cells']} rows in Bảng 1–3",
            )
        )
    if importlib.util.find_spec("survey_app.services.exports") is None:
        rows.append(
            _not_run(backend, label, "raw export, streamed", "services/exports.py is missing")
        )
    elif size > EXPORT_MAX_SIZE:  # its goal is at 1,000,000; ~3 min per million here
        rows.append(
            _not_run(backend, label, "raw export", "at this size (its goal is set at 1,000,000)")
        )
    else:
        export = _runs("export", database.url, 1)
        rows.append(
            Row(
                "annual",
                backend,
                label,
                "raw export CSV, streamed (iter_raw_csv), the year's sipas-counter responses",
                export["seconds"],
                "s",
                "",
                None,
                "≤ 200 MB peak at 1,000,000",
                export["extra_mb"] <= 200 if size >= 1_000_000 else None,
                note=f"+{export['extra_mb']:,.0f} MB over the idle process (peak RSS "
                f"{export['peak_mb']:,.0f} MB); {export['cells']:,} responses exported",
            )
        )
    return rows


def _not_run(backend: str, label: str, what: str, why: str) -> Row:
    return Row("annual", backend, label, what, None, "", note=f"not measured: {why}")


if __name__ == "__main__":  # the child process: python -m benchmarks.annual TASK URL
    worker(sys.argv[1], sys.argv[2])
