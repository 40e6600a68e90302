"""Simulated submitters that retry until acknowledged, as kiosks replay their queue (they submit
with an API key for submit_responses, so that one client may rate several places), a ledger of
what they were told, and the audit that compares the ledger with the database: exactly once,
nothing lost, nothing partial."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services.counts import compare_answer_counts
from survey_app.services.rollup import settle_pending
from tests.reliability.server import request

VIETNAM = timezone(timedelta(hours=7))
# (unit, counter) places a kiosk can stand at, from the `tree` fixture.
PLACES = [("P-W1", "Q1"), ("P-W1", "Q2"), ("P-C1", "Q1"), ("P", None)]


def make_payload(rng: random.Random) -> dict:
    """A valid response of either questionnaire, with a client-made id (the idempotency key)."""
    unit, counter = rng.choice(PLACES)
    if rng.random() < 0.7:
        rating = rng.choice([1, 2, 3])
        answers: dict = {"rating": rating}
        if rating == 1:
            answers["reasons"] = sorted(rng.sample(range(1, 7), rng.randint(1, 3)))
            if rng.random() < 0.5:
                answers["reason_text"] = "Chờ lâu quá <b>40 phút</b>"
        questionnaire = "quick-rating"
    else:
        answers = {f"c9_{n}": rng.randint(1, 5) for n in range(24, 40)}
        answers["overall"] = rng.randint(1, 5)
        if rng.random() < 0.5:
            answers["comment"] = "Cán bộ nhiệt tình, hướng dẫn rõ ràng"
        questionnaire = "sipas-counter"
    payload = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "questionnaire": questionnaire,
        "version": 1,
        "unit": unit,
        "answers": answers,
        "locale": rng.choice(["vi", "en"]),
    }
    if counter is not None:
        payload["counter"] = counter
    if rng.random() < 0.5:  # the client's clock, as far off as the skew allowed
        answered = datetime.now(UTC) - timedelta(seconds=rng.randint(0, 120))
        payload["submitted_at"] = answered.astimezone(VIETNAM).isoformat(timespec="seconds")
    return payload


def submitting_key(unit) -> str:
    """A new API key for submit_responses over `unit`'s subtree (committed), for the clients.
    The servers the reliability tests start lift its per-minute limit (server.Gunicorn)."""
    from survey_app.services.api_keys import create_api_key

    _key, secret = create_api_key("reliability clients", "submit_responses", unit, created_by=None)
    db.session.commit()
    return secret


def expected_answer_rows(payload: dict) -> int:
    """How many `answers` rows a stored payload must have: one per value, one per option."""
    rows = 0
    for value in payload["answers"].values():
        if isinstance(value, list):
            rows += len(value)
        elif isinstance(value, str):
            rows += bool(value.strip())
        elif value is not None:
            rows += 1
    return rows


@dataclass
class Ledger:
    """What the kiosks sent and what the server told them, shared by every kiosk thread."""

    sent: dict[str, dict] = field(default_factory=dict)  # every id sent at least once
    acknowledged: set[str] = field(default_factory=set)  # 201 or 200 (replay) received
    statuses: Counter = field(default_factory=Counter)  # every HTTP status seen; 0 = no answer
    attempts: int = 0
    refusals: list[tuple[int, bytes]] = field(default_factory=list)  # unexpected 4xx
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, payload_id: str, payload: dict, status: int, body: bytes) -> None:
        with self.lock:
            self.attempts += 1
            self.sent.setdefault(payload_id, payload)
            self.statuses[status] += 1
            if status in (200, 201):
                self.acknowledged.add(payload_id)
            elif 400 <= status < 500:
                self.refusals.append((status, body[:300]))

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def run_kiosk(
    base_url: str,
    ledger: Ledger,
    *,
    key: str,
    seed: int,
    responses: int,
    stop_at: float,
    stop: threading.Event,
) -> None:
    """Submit `responses` responses one after another, each retried until acknowledged.

    A broken connection or a 5xx means "not acknowledged": the kiosk sends the same payload (same
    id) again after a short back-off, as a real kiosk replays its queue. It gives up only at
    `stop_at` (monotonic) or when `stop` is set, leaving that response unacknowledged.
    """
    rng = random.Random(seed)
    for _ in range(responses):
        payload = make_payload(rng)
        body = json.dumps(payload).encode()
        backoff = 0.02
        while not stop.is_set() and time.monotonic() < stop_at:
            reply = request(
                base_url,
                "POST",
                "/api/v1/responses",
                body,
                timeout=15,
                headers={"Authorization": f"Bearer {key}"},
            )
            ledger.record(payload["id"], payload, reply.status, reply.body)
            if reply.status in (200, 201) or 400 <= reply.status < 500:
                break
            time.sleep(backoff * (0.5 + rng.random()))
            backoff = min(backoff * 2, 0.5)
        else:
            return


@dataclass(frozen=True)
class Audit:
    sent: int
    acknowledged: int
    stored: int
    duplicates: int  # rows beyond one per id, or responses with more answer rows than sent
    lost: int  # acknowledged but not stored
    partial: int  # stored with fewer answer rows than sent
    stored_unacknowledged: int  # stored while the client never heard back (in flight at a kill)
    unknown: int  # stored ids no kiosk ever sent
    count_differences: list
    left_pending: int = 0  # acknowledged and stored, not yet settled when the audit began


def audit(ledger: Ledger) -> Audit:
    """Compare the ledger with the committed database (call inside an app context), after
    settling what the server left pending (as any reader does first)."""
    db.session.rollback()  # read what the server committed, not an old snapshot
    left_pending = settle_pending()
    per_response = dict(
        db.session.execute(
            select(Response.id, func.count(Answer.response_id))
            .outerjoin(Answer, Answer.response_id == Response.id)
            .group_by(Response.id)
        ).all()
    )
    stored_rows = db.session.scalar(select(func.count()).select_from(Response))
    stored = {str(key): n for key, n in per_response.items()}
    duplicates = stored_rows - len(stored)
    partial = 0
    for response_id, rows in stored.items():
        payload = ledger.sent.get(response_id)
        if payload is None:
            continue
        expected = expected_answer_rows(payload)
        duplicates += rows > expected
        partial += rows < expected
    _, differences = compare_answer_counts()
    return Audit(
        sent=len(ledger.sent),
        acknowledged=len(ledger.acknowledged),
        stored=len(stored),
        duplicates=duplicates,
        lost=len(ledger.acknowledged - stored.keys()),
        partial=partial,
        stored_unacknowledged=len(stored.keys() - ledger.acknowledged),
        unknown=len(stored.keys() - ledger.sent.keys()),
        count_differences=differences,
        left_pending=left_pending,
    )
