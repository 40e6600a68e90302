"""The background settler: a thread in each server process that settles pending responses
(services/rollup.py), looking every SETTLE_INTERVAL_SECONDS.

It lets a burst through first: while responses keep arriving it waits, and settles once none
has arrived for SETTLE_QUIET_SECONDS, or once the oldest pending response has waited
SETTLE_MAX_DELAY_SECONDS (so live figures are never further behind than that, even under
sustained load). Why: settling a response costs about as much as storing it, and on two cores
doing both at once halves what a burst of kiosks gets; the quiet after the burst costs nothing.

Started on a process's first request, not in `create_app`: gunicorn may fork after building the
app (threads do not survive a fork), and CLI commands build the app without serving anything.
Several processes may run one each: settling claims responses under a lock, never twice.
"""

import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from flask import Flask

from survey_app.extensions import db
from survey_app.timeutil import utcnow

log = logging.getLogger(__name__)

BREATH_SECONDS = 0.01
# How often each settler also forgets expired rate-limit windows and sessions (housekeeping).
PRUNE_SECONDS = 3600.0


def time_to_settle(
    oldest: datetime | None,
    newest: datetime | None,
    now: datetime,
    *,
    quiet: timedelta,
    max_delay: timedelta,
) -> bool:
    """Whether a backlog received between `oldest` and `newest` should be settled `now`: nothing
    has arrived for `quiet`, or the oldest has waited `max_delay`. Nothing pending: no."""
    if oldest is None or newest is None:
        return False
    return now - newest >= quiet or now - oldest >= max_delay


def settle_batch_size(app: Flask) -> int:
    """SETTLE_BATCH_SIZE for `app`'s database (a mapping by dialect, or one number for all).
    Needs an app context."""
    setting = app.config["SETTLE_BATCH_SIZE"]
    if isinstance(setting, Mapping):
        return int(setting[db.engine.dialect.name])
    return int(setting)


class Settler(threading.Thread):
    def __init__(self, app: Flask, interval: float | None = None):
        super().__init__(name="survey-settler", daemon=True)
        self.app = app
        self.interval = float(
            interval if interval is not None else app.config["SETTLE_INTERVAL_SECONDS"]
        )
        with app.app_context():
            self.batch_size = settle_batch_size(app)
        self.quiet = timedelta(seconds=float(app.config["SETTLE_QUIET_SECONDS"]))
        self.max_delay = timedelta(seconds=float(app.config["SETTLE_MAX_DELAY_SECONDS"]))
        self.stopped = threading.Event()
        self.next_prune = time.monotonic()

    def run(self) -> None:
        while True:  # at once (a restarted server settles what its predecessor left), then
            try:  # one batch at a time
                with self.app.app_context():
                    try:
                        settled = self.settle_one_batch()
                    finally:
                        db.session.remove()  # rolls back whatever an error left open
            except Exception:  # a bad moment (a restarting database) must not end settling
                log.exception("settling pending responses failed; retrying")
                settled = 0
            if settled < self.batch_size and time.monotonic() >= self.next_prune:
                self.prune()
            # A full batch means more may be waiting: go on after a breath that lets the
            # submissions queued behind the write lock through; otherwise wait the interval.
            pause = BREATH_SECONDS if settled >= self.batch_size else self.interval
            if self.stopped.wait(pause):
                return

    def settle_one_batch(self) -> int:
        """One batch, if `time_to_settle` says so; how many responses were settled."""
        from survey_app.services.rollup import pending_backlog, settle_pending

        backlog = pending_backlog()
        if not time_to_settle(
            backlog.oldest, backlog.newest, utcnow(), quiet=self.quiet, max_delay=self.max_delay
        ):
            return 0  # run() removes the session: no snapshot is held while waiting
        return settle_pending(self.batch_size, max_batches=1, wait=False)

    def prune(self) -> None:
        """Housekeeping in a quiet moment (no full batch waiting), about once an hour."""
        from survey_app.services.housekeeping import prune

        self.next_prune = time.monotonic() + PRUNE_SECONDS
        try:
            with self.app.app_context():
                try:
                    pruned = prune(self.app.config)
                    db.session.commit()
                finally:
                    db.session.remove()
            log.info(
                "pruned %s rate-limit windows, %s staff sessions",
                pruned.rate_limit_windows,
                pruned.staff_sessions,
            )
        except Exception:  # housekeeping may wait for the next hour; settling may not stop
            log.exception("pruning rate limits and sessions failed")

    def stop(self) -> None:
        self.stopped.set()


def stop_settler(app: Flask, timeout: float = 10.0) -> None:
    """Stop this process's settler of `app`, if it started one (tests; a clean shutdown)."""
    settler = app.extensions.get("survey_settler")
    if settler is not None:
        settler.stop()
        settler.join(timeout)


def init_settler(app: Flask) -> None:
    """Start one settler per process on the first request, when SETTLE_INTERVAL_SECONDS > 0."""
    if float(app.config["SETTLE_INTERVAL_SECONDS"]) <= 0:
        return
    lock = threading.Lock()
    started: dict[int, Settler] = {}

    @app.before_request
    def _start_settler() -> None:
        pid = os.getpid()
        if pid in started:
            return
        with lock:
            if pid not in started:
                started[pid] = Settler(app)
                started[pid].start()
                app.extensions["survey_settler"] = started[pid]
