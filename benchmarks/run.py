"""Run the benchmark suite and print its table: `python -m benchmarks [options]`.

Every figure is compared with a baseline measured in the same run (ratios; medians of several
runs), on SQLite and PostgreSQL. The default is a small quick run; see benchmarks/README.md for the
large sizes.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

from benchmarks import databases
from benchmarks.report import Row, table

RESULTS_DIR = databases.ROOT / "benchmarks" / "results"
BENCHMARKS = ("submissions", "dashboard", "annual", "seed")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="20000", help="stored responses, comma-separated")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=",".join(BENCHMARKS))
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per server (median)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--settler",
        choices=("thread", "process"),
        default="thread",
        help="where submissions are settled: a thread in each web worker (the default), or a "
        "process of its own (`flask settle --follow`; web workers with SETTLE_INTERVAL_SECONDS=0)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per gunicorn worker (above 1: gthread workers, for app and bare alike)",
    )
    parser.add_argument("--submit-seed", type=int, default=2000, help="responses in bench_submit")
    parser.add_argument("--reps", type=int, default=20, help="repetitions per dashboard figure")
    parser.add_argument(
        "--baseline-reps", type=int, default=3, help="repetitions of slow baselines"
    )
    parser.add_argument(
        "--kiosk-rate", type=float, default=50, help="responses/s submitted during 'under load'"
    )
    parser.add_argument(
        "--kiosk-warmup",
        type=float,
        default=35,
        help="seconds of kiosk load before 'under load' is measured (past SETTLE_MAX_DELAY_SECONDS, "
        "so that the settlers are at work too)",
    )
    parser.add_argument(
        "--loaded-seconds",
        type=float,
        default=20,
        help="under kiosk load, sample each figure every 0.1 s for this long (at least --reps): "
        "settling happens about once a second then, and 20 requests in a row may miss it",
    )
    parser.add_argument("--fresh", action="store_true", help="re-seed the cached databases")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem_kb = int(line.split()[1])
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return (
        f"{nproc} cores ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main(argv=None) -> int:
    options = parse_args(argv)
    wanted = [b for b in options.only.split(",") if b]
    unknown = set(wanted) - set(BENCHMARKS)
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(sorted(unknown))}; use {', '.join(BENCHMARKS)}")
    sizes = [int(s.replace("_", "")) for s in options.sizes.split(",") if s]
    backends = [b for b in options.backends.split(",") if b]
    started = datetime.now().astimezone()
    stamp = started.strftime("%Y-%m-%dT%H%M%S")
    log_dir = options.out / f"{stamp}-logs"
    rows: list[Row] = []
    problems: list[str] = []

    def attempt(name, backend, function, *args):
        print(f"… {name} on {backend}", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            new = function(*args)
        except Exception as error:  # report and carry on with the other benchmarks
            traceback.print_exc()
            problems.append(f"{name} on {backend} {args}: {error}")
            return
        rows.extend(new)
        print(table(new), file=sys.stderr)
        print(f"  ({time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)

    for backend in backends:
        if backend == "postgresql" and not databases.postgres_available():
            problems.append(f"PostgreSQL unreachable at {databases.POSTGRES_SERVER}: skipped")
            continue
        if "submissions" in wanted:
            from benchmarks import submissions

            attempt("submissions", backend, submissions.benchmark, backend, options, log_dir)
        for size in sizes:
            database = None
            if {"dashboard", "annual", "seed"} & set(wanted):
                print(f"… preparing {backend} {size:,}", file=sys.stderr, flush=True)
                database = databases.prepare(backend, size, fresh=options.fresh)
            if "seed" in wanted:
                from benchmarks import seeding

                attempt("seed-demo", backend, seeding.rows, database)
            if "dashboard" in wanted:
                from benchmarks import dashboard

                attempt("dashboard", backend, dashboard.benchmark, database, options, log_dir)
            if "annual" in wanted:
                from benchmarks import annual

                attempt("annual", backend, annual.benchmark, database, options)

    print()
    print(f"Benchmarks, {started:%Y-%m-%d %H:%M %Z}; {machine()}")
    print(table(rows))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / f"{stamp}.json").write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "machine": machine(),
                "argv": sys.argv[1:] if argv is None else argv,
                "rows": [r.as_dict() for r in rows],
                "problems": problems,
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    (options.out / f"{stamp}.md").write_text(
        f"Benchmarks, {started:%Y-%m-%d %H:%M %Z}; {machine()}\n\n{table(rows)}\n"
        + "".join(f"\nPROBLEM: {p}" for p in problems)
    )
    print(f"\nwritten: {options.out / stamp}.md and .json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
