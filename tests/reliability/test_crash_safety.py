"""Crash safety: the real server (gunicorn, 2 sync workers, production config) is SIGKILLed in the
middle of a load of kiosk submissions several times and restarted; at the end every acknowledged
response is stored exactly once and no partial response exists. On SQLite and on PostgreSQL.

Size: `make test` runs 8 kiosks, 300 responses and 3 kills per backend (a few seconds each).
`RELIABILITY_SCALE=N` multiplies it: min(8·N, 32) kiosks, 300·N responses, 3·N kills, e.g.
`RELIABILITY_SCALE=10 .venv/bin/python -m pytest tests/reliability/test_crash_safety.py -s`.
The figures (sent, acknowledged, stored, duplicates, lost, kills) are printed with -s and in the
terminal summary under "reliability figures".
"""

import math
import threading
import time

from survey_app.extensions import db
from tests.reliability.kiosks import Ledger, audit, run_kiosk, submitting_key
from tests.reliability.server import SCALE, Gunicorn

KIOSKS = min(8 * SCALE, 32)
RESPONSES = 300 * SCALE
KILLS = 3 * SCALE
# Hard bounds, so that a hung server fails the test instead of hanging the suite.
LOAD_SECONDS = 60 + 30 * SCALE
KILL_WAIT_SECONDS = 20


def test_acknowledged_responses_survive_sigkill_exactly_once(
    app, tree, database_url, tmp_path, figures
):
    key = submitting_key(tree.province)
    db.session.remove()  # the server processes write from here on; we only read at the end
    server = Gunicorn(database_url, tmp_path / "gunicorn.log")
    ledger = Ledger()
    stop = threading.Event()
    per_kiosk = math.ceil(RESPONSES / KIOSKS)
    stop_at = time.monotonic() + LOAD_SECONDS
    kiosks = [
        threading.Thread(
            target=run_kiosk,
            args=(server.base_url, ledger),
            kwargs={
                "key": key,
                "seed": 1000 + number,
                "responses": per_kiosk,
                "stop_at": stop_at,
                "stop": stop,
            },
            name=f"kiosk-{number}",
            daemon=True,
        )
        for number in range(KIOSKS)
    ]
    kills_mid_load = 0
    started = time.monotonic()
    try:
        server.start()
        for kiosk in kiosks:
            kiosk.start()
        for kill in range(1, KILLS + 1):
            # Kill at evenly spread points of progress, so every kill lands mid-load.
            threshold = per_kiosk * KIOSKS * kill / (KILLS + 1)
            wait_until = min(stop_at, time.monotonic() + KILL_WAIT_SECONDS)
            while len(ledger.acknowledged) < threshold and time.monotonic() < wait_until:
                time.sleep(0.01)
            if not any(kiosk.is_alive() for kiosk in kiosks):
                break
            server.kill()
            kills_mid_load += 1
            server.start()
        for kiosk in kiosks:
            kiosk.join(timeout=max(0.1, stop_at - time.monotonic()))
    finally:
        stop.set()
        for kiosk in kiosks:
            kiosk.join(timeout=20)
        server.stop()
    elapsed = time.monotonic() - started

    result = audit(ledger)
    figures(
        f"{KIOSKS} kiosks, {result.sent} sent ({ledger.attempts} requests), "
        f"{result.acknowledged} acknowledged, {result.stored} stored, "
        f"{result.duplicates} duplicates, {result.lost} lost, {result.partial} partial, "
        f"{result.stored_unacknowledged} stored unacknowledged, "
        f"{result.left_pending} left pending by the killed server (settled at the audit), "
        f"{ledger.statuses[200]} committed at a kill and acknowledged on retry (200), "
        f"{kills_mid_load} kills survived, {elapsed:.1f} s; statuses {dict(ledger.statuses)}"
    )
    assert not any(kiosk.is_alive() for kiosk in kiosks), "a kiosk thread did not finish"
    assert kills_mid_load == KILLS, "every kill must land while kiosks are still submitting"
    assert ledger.refusals == [], ledger.refusals[:5]
    assert ledger.server_errors == 0, server.log()
    assert result.sent == per_kiosk * KIOSKS, "the load did not finish within its time bound"
    assert result.acknowledged == result.sent, "kiosks retry until acknowledged"
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.partial == 0
    assert result.unknown == 0
    assert result.stored == result.acknowledged + result.stored_unacknowledged
    assert result.count_differences == [], result.count_differences
