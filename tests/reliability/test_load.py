"""Load: sustained concurrent submitters and readers (/healthz, a questionnaire, the OpenAPI
description) against the real server (gunicorn, 2 sync workers) for a bounded time: zero 5xx,
zero lost responses, counts that agree with the answers. On SQLite and on PostgreSQL.

Size: `make test` runs 6 submitters and 3 readers for 5 s per backend; `RELIABILITY_SCALE=N`
runs min(6·N, 24) submitters, min(3·N, 12) readers for 5·N seconds. Figures are printed with -s
and in the terminal summary under "reliability figures".
"""

import threading
import time
from collections import Counter

from survey_app.extensions import db
from tests.reliability.kiosks import Ledger, audit, run_kiosk, submitting_key
from tests.reliability.server import SCALE, request, running_gunicorn

SUBMITTERS = min(6 * SCALE, 24)
READERS = min(3 * SCALE, 12)
SECONDS = 5 * SCALE
# What readers fetch, and a key each good body has.
READS = {
    "/healthz": "status",
    "/api/v1/questionnaires/sipas-counter": "definition",
    "/api/v1/openapi.json": "paths",
}
READ_PATHS = list(READS)


def read_repeatedly(base_url: str, statuses: Counter, lock: threading.Lock, stop_at: float):
    number = 0
    while time.monotonic() < stop_at:
        path = READ_PATHS[number % len(READ_PATHS)]
        reply = request(base_url, "GET", path, timeout=15)
        outcome: int | str = reply.status
        if reply.status == 200:
            try:
                reply.json()[READS[path]]
            except (ValueError, KeyError, TypeError):
                outcome = "200 with an unexpected body"
        with lock:
            statuses[(path, outcome)] += 1
        number += 1


def test_sustained_submissions_and_reads_lose_nothing_and_never_fail(
    app, tree, database_url, tmp_path, figures
):
    key = submitting_key(tree.province)
    db.session.remove()
    ledger = Ledger()
    reads: Counter = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    with running_gunicorn(database_url, tmp_path / "gunicorn.log") as server:
        stop_at = time.monotonic() + SECONDS
        threads = [
            threading.Thread(
                target=run_kiosk,
                args=(server.base_url, ledger),
                kwargs={
                    "key": key,
                    "seed": 5000 + number,
                    "responses": 1_000_000,  # until the time is up
                    "stop_at": stop_at,
                    "stop": stop,
                },
                daemon=True,
            )
            for number in range(SUBMITTERS)
        ] + [
            threading.Thread(
                target=read_repeatedly,
                args=(server.base_url, reads, lock, stop_at),
                daemon=True,
            )
            for _ in range(READERS)
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=SECONDS + 30)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=20)
        log = server.log()

    result = audit(ledger)
    read_total = sum(reads.values())
    read_failures = {key: n for key, n in reads.items() if key[1] != 200}
    figures(
        f"{SUBMITTERS} submitters + {READERS} readers for {SECONDS} s: "
        f"{result.sent} sent, {result.acknowledged} acknowledged ({result.acknowledged / SECONDS:.0f}/s), "
        f"{result.stored} stored, {result.duplicates} duplicates, {result.lost} lost, "
        f"{ledger.server_errors} 5xx; {read_total} reads, {len(read_failures)} kinds of failed read"
    )
    assert not any(thread.is_alive() for thread in threads)
    assert ledger.server_errors == 0, log
    assert ledger.statuses.get(0, 0) == 0, "no request may go unanswered by a running server"
    assert ledger.refusals == [], ledger.refusals[:5]
    assert read_failures == {}, (read_failures, log)
    assert read_total > 0 and result.acknowledged > 0
    # A submitter stopped by the clock may leave its last response unacknowledged: one each.
    assert result.sent - result.acknowledged <= SUBMITTERS
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.partial == 0
    assert result.unknown == 0
    assert result.count_differences == [], result.count_differences
