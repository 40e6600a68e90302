"""Seeded benchmark databases, cached by backend and size so that re-runs do not re-seed.

SQLite: benchmarks/.data/sqlite_<size>.db. PostgreSQL: database bench_<size> on the server named
by BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432), created through its
`test` database. Each is migrated with `flask db upgrade`, given the questionnaires, and filled
with `flask seed-demo --responses <size>` (whose wall time is itself a benchmark figure).
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", ROOT / "benchmarks" / ".data"))
POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Database:
    backend: str
    size: int
    url: str
    seed_seconds: float | None  # wall time of `seed-demo` when this database was made
    seed_phases: str = ""  # what seed-demo printed about where its time went


def app_env(url: str) -> dict[str, str]:
    """The environment the app runs with in every benchmark (production settings)."""
    env = dict(os.environ)
    env.update(
        {
            "SURVEY_ENV": "production",
            "SECRET_KEY": "bench-not-secret",
            "DATABASE_URL": url,
            "PYTHONPATH": str(ROOT),
            # Every load comes from one API key: the benchmarks measure the storing path, so
            # its per-minute limit (one counted upsert per submission all the same) is lifted.
            "API_KEY_SUBMISSIONS_PER_MINUTE": "1000000000",
        }
    )
    return env


def flask(url: str, *args: str) -> str:
    """Run `flask --app wsgi <args>` against `url`; returns its output, raises on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=app_env(url),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def url_for(backend: str, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{DATA_DIR / (name + '.db')}"
    return f"{POSTGRES_SERVER}/{name}"


def _pg_admin(statement: str) -> None:
    import psycopg

    plain = POSTGRES_SERVER.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/test", autocommit=True) as connection:
        connection.execute(statement)


def postgres_available() -> bool:
    try:
        _pg_admin("SELECT 1")
    except Exception:
        return False
    return True


def drop(backend: str, name: str) -> None:
    if backend == "sqlite":
        for suffix in (".db", ".db-wal", ".db-shm"):
            (DATA_DIR / (name + suffix)).unlink(missing_ok=True)
    else:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create(backend: str, name: str, responses: int) -> tuple[float, str]:
    """A fresh database `name` with the demo province and `responses` responses. Returns the
    seed-demo wall time in seconds, and its phases as it printed them."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    drop(backend, name)
    if backend == "postgresql":
        _pg_admin(f'CREATE DATABASE "{name}"')
    url = url_for(backend, name)
    flask(url, "db", "upgrade")
    flask(url, "load-questionnaires")
    started = time.perf_counter()
    printed = flask(url, "seed-demo", "--responses", str(responses))
    seconds = time.perf_counter() - started
    phases = printed.strip().splitlines()[-1].partition(" s (")[2].rstrip(")")
    return seconds, phases


def prepare(backend: str, size: int, *, fresh: bool = False) -> Database:
    """The cached database for (backend, size), seeding it first when missing or `fresh`."""
    name = f"bench_{size}"
    marker = DATA_DIR / f"{backend}_{size}.json"
    url = url_for(backend, name)
    if not fresh and marker.exists():
        info = json.loads(marker.read_text())
        flask(url, "db", "upgrade")  # a database cached by older code gets the newer schema
        return Database(backend, size, url, info.get("seed_seconds"), info.get("phases", ""))
    marker.unlink(missing_ok=True)
    seconds, phases = create(backend, name, size)
    marker.write_text(
        json.dumps({"seed_seconds": seconds, "phases": phases, "seeded_at": time.time()})
    )
    return Database(backend, size, url, seconds, phases)


if __name__ == "__main__":  # python -m benchmarks.databases sqlite 1000000 [--fresh]
    backend, size = sys.argv[1], int(sys.argv[2])
    database = prepare(backend, size, fresh="--fresh" in sys.argv)
    print(f"{database.backend} {database.size:,}: {database.url} (seed {database.seed_seconds} s)")
