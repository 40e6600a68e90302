"""1. Submissions: wrk posts valid sipas-counter responses to the real app under gunicorn, and the
same payloads to a bare Flask endpoint that parses them and stores nothing (the baseline), served
the same way; runs alternate between the two so that both see the same machine load. Afterwards
every acknowledged (201) id must be stored exactly once, with all its answers, and
`check-counts` must agree with the raw answers."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from benchmarks import databases
from benchmarks.inprocess import app_context, demo_targets, submitting_keys
from benchmarks.report import Row, median
from benchmarks.servers import gunicorn

LUA = Path(__file__).with_name("submit.lua")
ANSWERS_PER_RESPONSE = 18  # 16 items, overall, comment (what submit.lua sends)


def run_wrk(
    base, *, seconds, connections, threads, version, targets, authorizations, ids_dir=None
) -> dict:
    env = dict(os.environ)
    env["BENCH_AUTHORIZATIONS"] = ",".join(authorizations)
    env["BENCH_TARGETS"] = ",".join(f"{u}:{c}" for u, c in targets)
    env["BENCH_VERSION"] = str(version)
    if ids_dir is not None:
        env["BENCH_IDS_DIR"] = str(ids_dir)
    else:
        env.pop("BENCH_IDS_DIR", None)
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            base,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line.removeprefix("BENCH_JSON "))
            result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = (
                result["non201"]
                + result["connect"]
                + result["read"]
                + result["write"]
                + result["timeout"]
            )
            return result
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def read_ids(ids_dir: Path) -> list[str]:
    ids = []
    for path in ids_dir.glob("ids_*.txt"):
        ids += [line for line in path.read_text().split() if line]
    return ids


def verify(url: str, acknowledged: list[str], before: int) -> dict:
    """Every acknowledged id stored exactly once, with all its answers."""
    from sqlalchemy import func, select

    from survey_app.extensions import db
    from survey_app.models import Answer, Response

    unique = set(acknowledged)
    with app_context(url):
        total = db.session.scalar(select(func.count()).select_from(Response))
        stored, short = 0, 0
        ids = [uuid.UUID(i) for i in unique if i != "?"]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            stored += db.session.scalar(
                select(func.count()).select_from(Response).where(Response.id.in_(chunk))
            )
            per_response = db.session.execute(
                select(Answer.response_id, func.count())
                .where(Answer.response_id.in_(chunk))
                .group_by(Answer.response_id)
            ).all()
            short += sum(1 for _, n in per_response if n != ANSWERS_PER_RESPONSE)
    return {
        "acknowledged": len(acknowledged),
        "acknowledged_twice": len(acknowledged) - len(unique),
        "unreadable": acknowledged.count("?"),
        "lost": len(unique) - stored - (1 if "?" in unique else 0),
        "wrong_answer_count": short,
        "stored_not_acknowledged": (total - before) - stored,
    }


@contextlib.contextmanager
def settler_process(url: str, where: str, log: Path) -> Iterator[None]:
    """`flask settle --follow` beside the web workers, when `where` is "process"."""
    if where != "process":
        yield
        return
    with log.open("w") as out:
        process = subprocess.Popen(
            [os.sys.executable, "-m", "flask", "--app", "wsgi", "settle", "--follow"],
            cwd=databases.ROOT,
            env=databases.app_env(url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def count_pending(url: str) -> int:
    """Responses stored but not yet settled into answer rows, counts and moments."""
    from survey_app.services.rollup import pending_count

    with app_context(url):
        return pending_count()


def wait_until_settled(url: str, limit: float = 120.0) -> float | None:
    """Seconds until the servers' background settlers have cleared the backlog (None: not within
    `limit`). One connection polls, so that the watching costs the settlers little."""
    from survey_app.extensions import db
    from survey_app.services.rollup import pending_count

    started = time.monotonic()
    with app_context(url):
        while time.monotonic() - started < limit:
            if pending_count() == 0:
                return time.monotonic() - started
            db.session.rollback()  # a fresh snapshot next time
            time.sleep(0.2)
    return None


def count_responses(url: str) -> int:
    from sqlalchemy import func, select

    from survey_app.extensions import db
    from survey_app.models import Response

    with app_context(url):
        return db.session.scalar(select(func.count()).select_from(Response))


def benchmark(backend: str, options, log_dir: Path) -> list[Row]:
    """Fresh database bench_submit (a small demo province), then alternating runs."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    seed_seconds = databases.create(backend, "bench_submit", options.submit_seed)
    del seed_seconds
    url = databases.url_for(backend, "bench_submit")
    with app_context(url):
        version, targets = demo_targets()
        authorizations = submitting_keys(options.clients)
    before = count_responses(url)
    runs = {"bare": [], "app": []}
    backlogs: list[int] = []
    drains: list[float | None] = []
    ids_dir = Path(tempfile.mkdtemp(prefix="bench_ids_"))
    acknowledged: list[str] = []
    common = dict(
        seconds=options.seconds,
        connections=options.clients,
        threads=2,
        version=version,
        targets=targets,
        authorizations=authorizations,
    )
    with (
        gunicorn(
            "benchmarks.bare_app:app",
            url,
            workers=options.workers,
            threads=options.threads,
            log=log_dir / f"gunicorn-bare-{backend}.log",
        ) as bare,
        gunicorn(
            "wsgi:app",
            url,
            workers=options.workers,
            threads=options.threads,
            log=log_dir / f"gunicorn-app-{backend}.log",
            env={"SETTLE_INTERVAL_SECONDS": "0"} if options.settler == "process" else None,
        ) as real,
        settler_process(url, options.settler, log_dir / f"settler-{backend}.log"),
    ):
        run_wrk(bare, **{**common, "seconds": 2})  # warm-up, both
        run_wrk(real, **{**common, "seconds": 2}, ids_dir=ids_dir)
        acknowledged += read_ids(ids_dir)
        wait_until_settled(url)  # the warm-up's backlog, before the first bare run
        for n in range(options.runs):
            runs["bare"].append(run_wrk(bare, **common))
            run_dir = ids_dir / f"run{n}"
            run_dir.mkdir()
            runs["app"].append(run_wrk(real, **common, ids_dir=run_dir))
            backlogs.append(count_pending(url))
            acknowledged += read_ids(run_dir)
            # The settlers work in the quiet after a burst: wait for them (timed), so that the
            # next bare run has the machine to itself.
            drains.append(wait_until_settled(url))
    check = verify(url, acknowledged, before)
    counts = subprocess.run(
        [os.sys.executable, "-m", "flask", "--app", "wsgi", "check-counts"],
        cwd=databases.ROOT,
        env=databases.app_env(url),
        capture_output=True,
        text=True,
    )
    shutil.rmtree(ids_dir, ignore_errors=True)

    bare_rate = median([r["rate"] for r in runs["bare"]])
    app_rate = median([r["rate"] for r in runs["app"]])
    p50 = median([r["p50_us"] / 1000 for r in runs["app"]])
    p99 = median([r["p99_us"] / 1000 for r in runs["app"]])
    bare_p50 = median([r["p50_us"] / 1000 for r in runs["bare"]])
    bare_p99 = median([r["p99_us"] / 1000 for r in runs["bare"]])
    errors = sum(r["errors"] for r in runs["app"])
    sustained = (
        median(
            [
                r["rate"] * options.seconds / (options.seconds + drain)
                for r, drain in zip(runs["app"], drains, strict=True)
            ]
        )
        if None not in drains
        else None
    )
    size = f"{before:,}"
    label = (
        f"{options.clients} clients, {options.workers} workers"
        + (f" × {options.threads} threads" if options.threads > 1 else "")
        + (", settler process" if options.settler == "process" else "")
        + f", {options.runs}×{options.seconds}s"
    )
    lost_or_dup = check["lost"] + check["acknowledged_twice"] + check["wrong_answer_count"]
    rows = [
        Row(
            "submissions",
            backend,
            size,
            f"throughput ({label})",
            app_rate,
            "req/s",
            f"bare Flask {bare_rate:,.0f} req/s",
            app_rate / bare_rate,
            "≥ 0.30× bare",
            app_rate / bare_rate >= 0.30,
        ),
        Row(
            "submissions",
            backend,
            size,
            "latency p50",
            p50,
            "ms",
            f"bare {bare_p50:.1f} ms",
            p50 / bare_p50 if bare_p50 else None,
        ),
        Row(
            "submissions",
            backend,
            size,
            "latency p99",
            p99,
            "ms",
            f"bare {bare_p99:.1f} ms",
            p99 / bare_p99 if bare_p99 else None,
            "≤ 50 ms",
            p99 <= 50,
        ),
        Row(
            "submissions",
            backend,
            size,
            "pending at the end of a run (settled in the background)",
            median(backlogs),
            "responses",
            f"{app_rate * options.seconds:,.0f} submitted per run",
            None,
            note=(
                f"cleared by the servers' settlers {median(drains):.1f} s after a run (median)"
                if None not in drains
                else "not cleared within 120 s after a run"
            ),
        ),
        Row(
            "submissions",
            backend,
            size,
            "sustained: stored and settled per second of run + settling after it",
            sustained,
            "req/s",
            f"bare Flask {bare_rate:,.0f} req/s",
            sustained / bare_rate if sustained else None,
            note="what a load that never pauses would get",
        ),
        Row(
            "submissions",
            backend,
            size,
            "errors (all runs)",
            errors,
            "errors",
            "",
            None,
            "0",
            errors == 0,
        ),
        Row(
            "submissions",
            backend,
            size,
            "acknowledged lost / duplicated / incomplete",
            lost_or_dup,
            "responses",
            f"{check['acknowledged']:,} acknowledged",
            None,
            "0",
            lost_or_dup == 0,
            note=f"lost {check['lost']}, acked twice {check['acknowledged_twice']}, "
            f"wrong answer count {check['wrong_answer_count']}, stored but not acked "
            f"{check['stored_not_acknowledged']}",
        ),
        Row(
            "submissions",
            backend,
            size,
            "check-counts after the runs",
            None,
            "",
            "",
            None,
            "agree",
            counts.returncode == 0,
            note=(counts.stdout or counts.stderr).strip().splitlines()[-1][:90]
            if (counts.stdout or counts.stderr).strip()
            else "",
        ),
    ]
    return rows
