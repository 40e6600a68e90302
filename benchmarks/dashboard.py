"""2. Dashboard: latency of the figures staff see for the demo province (31 units, ~80 counters):
the overview (every unit, each rolled up over its subtree) and two drill-downs (the province page
with its 30 children and 12-month trend; a commune page with its counters and trend), for this
year and this month; in process (FigureBuilder, what the dashboard views call) and over HTTP
(GET /api/v1/figures with an API key, gunicorn). Idle, then while kiosks submit.
Baseline in the same run: the same year's counts by a GROUP BY over the raw answers."""

import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from benchmarks.databases import Database
from benchmarks.inprocess import app_context, demo_targets, submitting_keys
from benchmarks.kiosks import Kiosks
from benchmarks.report import Row, median, percentile
from benchmarks.servers import gunicorn


def _goal_ms(size: int) -> float | None:
    if size >= 10_000_000:
        return 150
    if size >= 1_000_000:
        return 100
    return None


BUDGET_SECONDS = 30  # per figure: stop repeating after this (at least MIN_REPS), and say so


MIN_REPS = 3
SPREAD_PAUSE_SECONDS = 0.1


def _sample(measure: Callable[[], float], reps: int, spread_seconds: float = 0) -> list[float]:
    """`reps` measurements one after another (stopping after BUDGET_SECONDS once there are
    MIN_REPS); or, with `spread_seconds`, one every SPREAD_PAUSE_SECONDS for that long (and at
    least `reps`): under a steady kiosk load the settlers settle a batch about once a second, and
    a run of 20 back-to-back requests (~0.5 s) may or may not meet one."""
    times: list[float] = []
    began = time.perf_counter()

    def enough() -> bool:
        elapsed = time.perf_counter() - began
        if spread_seconds:
            return len(times) >= reps and elapsed >= spread_seconds
        return len(times) >= reps or (len(times) >= MIN_REPS and elapsed > BUDGET_SECONDS)

    while not enough():
        if spread_seconds and times:
            time.sleep(SPREAD_PAUSE_SECONDS)
        times.append(measure())
    return times


def _time(function: Callable[[], object], reps: int, spread_seconds: float = 0) -> list[float]:
    from survey_app.extensions import db

    def measure() -> float:
        db.session.remove()  # each measurement starts like a request: a fresh session
        began = time.perf_counter()
        function()
        return (time.perf_counter() - began) * 1000

    function()  # warm-up (caches, first connection)
    return _sample(measure, reps, spread_seconds)


def _figures(app):
    """name → function computing that figure set in process."""
    from survey_app.extensions import db
    from survey_app.models import Unit
    from survey_app.services.demo import DEMO_ROOT_CODE
    from survey_app.services.figures import FigureBuilder, Filters, monthly_trend
    from survey_app.services.periods import period_of

    today = datetime.now(ZoneInfo(app.config["LOCAL_TIMEZONE"])).date()

    def filters(kind: str) -> Filters:
        return Filters(
            "sipas-counter",
            period_of(kind, today),
            min_n=app.config["MIN_N"],
            default_target=app.config["DEFAULT_TARGET"],
        )

    def root() -> Unit:
        return db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))

    def overview(kind: str):
        top = root()
        units = list(
            db.session.scalars(
                select(Unit).where(Unit.path.startswith(top.path)).order_by(Unit.path)
            )
        )
        return FigureBuilder(units, filters(kind), live=True).for_units()

    def drill_down(code: str | None, kind: str):
        unit = root() if code is None else db.session.scalar(select(Unit).where(Unit.code == code))
        f = filters(kind)
        builder = FigureBuilder([unit, *unit.children], f, live=True)
        figures = builder.for_unit(unit, details=True)
        children = [builder.for_unit(child) for child in unit.children]
        counters = [builder.for_counter(unit, c, details=False) for c in unit.counters]
        trend = monthly_trend(unit, f)
        return figures, children, counters, trend

    return {
        "overview, year": lambda: overview("year"),
        "overview, month": lambda: overview("month"),
        "drill-down province, year": lambda: drill_down(None, "year"),
        "drill-down commune, month": lambda: drill_down("DEMO-X01", "month"),
    }


def _raw_group_by(app) -> Callable[[], object]:
    """The naive way: this year's answers per unit × question × value, from the raw rows."""
    from survey_app.extensions import db
    from survey_app.models import Answer, Response, Unit
    from survey_app.services.demo import DEMO_ROOT_CODE
    from survey_app.services.periods import period_of
    from survey_app.services.questionnaires import get_current_questionnaire

    today = datetime.now(ZoneInfo(app.config["LOCAL_TIMEZONE"])).date()
    year = period_of("year", today)

    def run():
        questionnaire, _ = get_current_questionnaire("sipas-counter")
        top = db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))
        units = select(Unit.id).where(Unit.path.startswith(top.path))
        return db.session.execute(
            select(Response.unit_id, Answer.question_key, Answer.value, func.count())
            .join(Answer, Answer.response_id == Response.id)
            .where(
                Response.unit_id.in_(units),
                Response.questionnaire_id == questionnaire.id,
                Response.local_day.between(year.start, year.end),
                Response.entered_by == "citizen",
            )
            .group_by(Response.unit_id, Answer.question_key, Answer.value)
        ).all()

    return run


def _http(
    base: str, key: str, reps: int, workers: int, spread_seconds: float = 0
) -> tuple[list[float], list[float]]:
    """(the warm-up: one request per worker at once, so that every worker serves one; then the
    requests `_sample` makes). A worker's first request fills its own report cache, so
    the warm-up times are what the first staff member after a restart waits."""
    request = urllib.request.Request(
        base + "/api/v1/figures?unit=DEMO&period=year", headers={"Authorization": f"Bearer {key}"}
    )

    def timed(_=None) -> float:
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=300) as answer:
            answer.read()
        return (time.perf_counter() - began) * 1000

    with ThreadPoolExecutor(workers) as pool:
        warm_up = list(pool.map(timed, range(workers)))
    return warm_up, _sample(timed, reps, spread_seconds)


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    return f"{(datetime.now(UTC) - moment).total_seconds():.0f} s"


def benchmark(database: Database, options, log_dir) -> list[Row]:
    from survey_app.extensions import db
    from survey_app.models import Response, Unit
    from survey_app.services.api_keys import create_api_key
    from survey_app.services.demo import DEMO_ROOT_CODE
    from survey_app.services.rollup import pending_backlog

    rows: list[Row] = []
    size = database.size
    goal = _goal_ms(size)
    with app_context(database.url) as app:
        stored = db.session.scalar(select(func.count()).select_from(Response))
        version, targets = demo_targets()
        root = db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))
        _, key = create_api_key("benchmark", "read_figures", root, created_by=None)
        db.session.commit()
        authorizations = submitting_keys(8)
        figures = _figures(app)
        raw = _raw_group_by(app)
        baseline_ms = median(_time(raw, options.baseline_reps))
        label = f"{size:,}"

        def add(name: str, times: list[float], *, loaded: str = "") -> None:
            p50, p95 = median(times), percentile(times, 95)
            rows.append(
                Row(
                    "dashboard",
                    database.backend,
                    label,
                    f"{name}{loaded}: p95 (p50 {p50:.1f} ms, n={len(times)})",
                    p95,
                    "ms",
                    f"raw GROUP BY {baseline_ms:,.0f} ms" if "year" in name else "",
                    baseline_ms / p50 if "overview, year" in name else None,
                    f"≤ {goal:.0f} ms" if goal else "",
                    p95 <= goal if goal else None,
                )
            )

        for name, function in figures.items():
            add(name, _time(function, options.reps))
        with gunicorn(
            "wsgi:app",
            database.url,
            workers=options.workers,
            log=log_dir / f"gunicorn-dashboard-{database.backend}-{size}.log",
        ) as base:
            first, times = _http(base, key, options.reps, options.workers)
            rows.append(
                Row(
                    "dashboard",
                    database.backend,
                    label,
                    f"HTTP /api/v1/figures overview, year: each fresh worker's first request "
                    f"(its cache empty; {options.workers} at once), the slowest",
                    max(first),
                    "ms",
                    note=", ".join(f"{ms:.0f} ms" for ms in first),
                )
            )
            add("HTTP /api/v1/figures overview, year", times)
            with Kiosks(
                base, version, targets, authorizations=authorizations, rate=options.kiosk_rate
            ) as kiosks:
                # Long enough for the steady state: the oldest pending response has waited
                # SETTLE_MAX_DELAY_SECONDS, so the settlers work beside the kiosks and readers.
                time.sleep(options.kiosk_warmup)
                spread = options.loaded_seconds
                loaded = f" [kiosks submitting; sampled every {SPREAD_PAUSE_SECONDS:g} s for {spread:g} s]"
                for name in ("overview, year", "drill-down commune, month"):
                    add(name, _time(figures[name], options.reps, spread), loaded=loaded)
                add(
                    "HTTP /api/v1/figures overview, year",
                    _http(base, key, options.reps, options.workers, spread)[1],
                    loaded=loaded,
                )
                backlog = pending_backlog()
                db.session.rollback()
            rows.append(
                Row(
                    "dashboard",
                    database.backend,
                    label,
                    "kiosk load during the above",
                    kiosks.achieved_rate,
                    "req/s",
                    f"asked {options.kiosk_rate:g}/s from {kiosks.clients} clients",
                    None,
                    "0 errors",
                    kiosks.errors == 0,
                    note=f"{kiosks.ok:,} stored, {kiosks.errors} errors; measured after "
                    f"{options.kiosk_warmup:g} s of it; pending at the end {backlog.count:,}, the "
                    f"oldest {_age(backlog.oldest)} old",
                )
            )
        rows.append(
            Row(
                "dashboard",
                database.backend,
                label,
                "raw GROUP BY over answers (year, baseline)",
                baseline_ms,
                "ms",
                note=f"{stored:,} responses stored, median of {options.baseline_reps}",
            )
        )
    return rows
