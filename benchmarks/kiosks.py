"""A paced background load: `clients` threads that together submit `rate` responses per second to
the app, as a burst of kiosks would, while another benchmark measures something else."""

import http.client
import json
import random
import threading
import time
import uuid
from urllib.parse import urlsplit


class Kiosks:
    def __init__(
        self,
        base: str,
        version: int,
        targets,
        *,
        authorizations: list[str],
        rate: float,
        clients: int = 8,
    ):
        self.address = urlsplit(base)
        self.authorizations = authorizations  # API keys for submit_responses, one per client
        self.version, self.targets = version, targets
        self.interval = clients / rate if rate > 0 else None
        self.clients = clients
        self.stop_event = threading.Event()
        self.ok = self.errors = 0
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.started = self.stopped = 0.0

    def _payload(self, rng: random.Random) -> bytes:
        unit, counter = rng.choice(self.targets)
        answers = {f"c9_{n}": rng.randint(3, 5) for n in range(24, 40)}
        answers["overall"] = rng.randint(3, 5)
        return json.dumps(
            {
                "id": str(uuid.uuid4()),
                "questionnaire": "sipas-counter",
                "version": self.version,
                "unit": unit,
                "counter": counter,
                "channel": "web",
                "answers": answers,
            }
        ).encode()

    def _client(self, number: int) -> None:
        rng = random.Random(number)
        next_at = time.monotonic() + rng.random() * (self.interval or 0)
        while not self.stop_event.is_set():
            if self.interval:
                delay = next_at - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    break
                next_at += self.interval
            connection = http.client.HTTPConnection(
                self.address.hostname, self.address.port, timeout=10
            )
            try:
                connection.request(
                    "POST",
                    "/api/v1/responses",
                    body=self._payload(rng),
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": self.authorizations[number % len(self.authorizations)],
                    },
                )
                status = connection.getresponse().status
                ok = status == 201
            except OSError:
                ok = False
            finally:
                connection.close()
            with self.lock:
                if ok:
                    self.ok += 1
                else:
                    self.errors += 1

    def __enter__(self) -> "Kiosks":
        self.started = time.monotonic()
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=15)
        self.stopped = time.monotonic()

    @property
    def achieved_rate(self) -> float:
        elapsed = (self.stopped or time.monotonic()) - self.started
        return self.ok / elapsed if elapsed else 0.0
